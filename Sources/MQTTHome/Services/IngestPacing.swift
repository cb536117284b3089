/// Decides when the router waits a moment before reading the state lane again, so that a busy bus is read in
/// batches instead of one task wake-up per message.
///
/// Reading one message at a time costs the network thread a continuation resume and the router a context switch per
/// message (at 10,000 msg/s, ten thousand wake-ups a second). When messages have been arriving faster than
/// `busyRate` and the last read found only a few, the router lingers `linger` so the next read takes what arrived
/// meanwhile. A quiet home (below `busyRate`) never waits: a single sensor update is applied at once.
struct IngestPacing: Sendable {
    /// Messages per second above which reading waits for a batch.
    var busyRate: Int
    /// How long to wait; bounded well below the state publisher's 100 ms window, so no published state is later.
    var linger: Duration
    /// A read that found at least this many messages already was a batch: read again at once.
    var fullBatch: Int

    private var windowStart: ContinuousClock.Instant?
    private var windowCount = 0
    private var previousRate = 0

    init(busyRate: Int = 2_000, linger: Duration = .milliseconds(2), fullBatch: Int = 64) {
        self.busyRate = busyRate
        self.linger = linger
        self.fullBatch = fullBatch
    }

    /// The wait before the next read, after a read of `count` messages at `now` (nil: read again at once).
    mutating func wait(afterReading count: Int, at now: ContinuousClock.Instant) -> Duration? {
        let window = Duration.milliseconds(100)
        if let start = windowStart, now - start < window {
            windowCount += count
        } else {
            // The last full window's rate (a window that ended long ago says the bus went quiet).
            if let start = windowStart, now - start < window * 2 {
                previousRate = windowCount * 10
            } else {
                previousRate = 0
            }
            windowStart = now
            windowCount = count
        }
        let rate = max(previousRate, windowCount * 10)
        guard rate >= busyRate, count < fullBatch else { return nil }
        return linger
    }
}
