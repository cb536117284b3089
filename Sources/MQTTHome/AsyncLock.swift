import Synchronization

/// A FIFO lock that can be held across `await`: RPC changes to devices run one at a time, start to finish
/// (an actor would interleave them at every suspension point).
///
/// Waiting for it is cancellable: a caller that gives up (an RPC whose task is cancelled at shutdown) leaves the
/// queue with `CancellationError` instead of waiting behind a stalled holder. Hold it only across local work
/// (a disk commit), never across a round trip a peer controls.
public final class AsyncLock: Sendable {
    private struct State: ~Copyable {
        var locked = false
        var nextID: UInt64 = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let state = Mutex(State())

    public init() {}

    public func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// True while some task holds the lock (for tests and `health`).
    public var isLocked: Bool { state.withLock { $0.locked } }

    private func acquire() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case acquired, cancelled, queued }
                let outcome = state.withLock { state -> Outcome in
                    if !state.locked {
                        state.locked = true
                        return .acquired
                    }
                    // Checked under the lock: a cancellation that ran before the waiter was queued found nothing.
                    if Task.isCancelled { return .cancelled }
                    state.waiters.append((id, continuation))
                    return .queued
                }
                switch outcome {
                case .acquired: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: break
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
