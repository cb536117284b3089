import CMosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Wakes the network thread when another thread has queued a packet, once per batch rather than once per packet.
///
/// libmosquitto wakes `mosquitto_loop` through a socketpair: every queued packet writes one byte, and the loop reads
/// one byte per pass, so a batch of 1,000 retained publishes cost 1,000 `pselect`s and reads before this (plus a
/// setsockopt each). The hand-driven loop polls this eventfd instead; a signal while one is pending costs nothing.
final class NetworkWakeup: Sendable {
    let descriptor: Int32
    private let pending = Atomic<Bool>(false)

    init() throws(MosquittoError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else {
            throw .library(code: errno, message: "cannot create the network thread's eventfd: \(String(cString: strerror(errno)))")
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Called after queueing a packet from any thread.
    func signal() {
        guard !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var one: UInt64 = 1
        _ = write(descriptor, &one, MemoryLayout<UInt64>.size)
    }

    /// Called by the network thread before it writes what is queued: a packet queued after this signals again.
    ///
    /// The counter is read before the flag is cleared. The other order loses wake-ups: a signal between clearing and
    /// reading writes its count, the read swallows it, and the flag stays set over an empty counter, so no later
    /// signal writes again (found by `strace`: retained publishes went out only when a read woke the loop).
    func consume() {
        var count: UInt64 = 0
        _ = read(descriptor, &count, MemoryLayout<UInt64>.size)
        pending.store(false, ordering: .sequentiallyConsistent)
    }
}
