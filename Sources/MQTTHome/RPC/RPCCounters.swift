import Synchronization

/// The RPC server's request counters and per-caller rate limiter, reported by `health`.
public final class RPCCounters: Sendable {
    let received = Atomic<Int>(0)
    let succeeded = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let unanswered = Atomic<Int>(0)
    let rejectedBusy = Atomic<Int>(0)
    let inFlight = Atomic<Int>(0)
    let refusedReplyTopics = Atomic<Int>(0)
    /// Nil when `RPC_RATE_LIMIT` is 0 (no limit).
    let rateLimiter: CallerRateLimiter?

    public init(settings: HomeConfiguration.RPCSettings) {
        rateLimiter = settings.rateLimit > 0 ? CallerRateLimiter(perSecond: settings.rateLimit, burst: settings.rateBurst) : nil
    }

    public struct Statistics: Sendable, Hashable {
        public var received: Int
        /// Requests answered with a result.
        public var succeeded: Int
        /// Requests answered with an error (or that would have been, had they carried a reply route).
        public var failed: Int
        /// Requests with no usable reply route: executed (when valid) and logged, not answered.
        public var unanswered: Int
        public var rejectedBusy: Int
        public var inFlight: Int
        /// Requests refused by the per-caller rate limit.
        public var rateLimited: Int = 0
        /// Requests neither executed nor answered because their reply topic is refused by ``ReplyPolicy``.
        public var refusedReplyTopics: Int = 0
        /// Requests counted against the rate limiter's shared overflow bucket (no slot of their own).
        public var rateLimitOverflow: Int = 0
    }

    public var statistics: Statistics {
        Statistics(
            received: received.load(ordering: .relaxed),
            succeeded: succeeded.load(ordering: .relaxed),
            failed: failed.load(ordering: .relaxed),
            unanswered: unanswered.load(ordering: .relaxed),
            rejectedBusy: rejectedBusy.load(ordering: .relaxed),
            inFlight: inFlight.load(ordering: .relaxed),
            rateLimited: rateLimiter?.refused ?? 0,
            refusedReplyTopics: refusedReplyTopics.load(ordering: .relaxed),
            rateLimitOverflow: rateLimiter?.overflowRequests ?? 0
        )
    }
}
