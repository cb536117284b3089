import Synchronization

/// Requests per second per caller, as a token bucket (`RPC_RATE_LIMIT` per second, bursts up to
/// `RPC_RATE_BURST`). A caller is its reply topic without the last level: `mqtt-home/reply/<client id>/<n>` is
/// one CLI client, `home/agent1/reply` the agent `home/agent1`. MQTT gives a subscriber no publisher identity; the
/// reply topic is what each caller owns. Requests without a reply route share one bucket.
public final class CallerRateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }
    private let buckets = Mutex<[String: Bucket]>([:])
    private let limited = Atomic<Int>(0)

    public init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = max(1, burst)
    }

    /// The key a reply topic stands for.
    public static func caller(replyTopic: String?) -> String {
        guard let replyTopic else { return "" }
        guard let slash = replyTopic.lastIndex(of: "/") else { return replyTopic }
        return String(replyTopic[..<slash])
    }

    /// Nil when the request may run; else how long until the caller has a token again.
    public func admit(_ caller: String, now: ContinuousClock.Instant = .now) -> Duration? {
        let wait = buckets.withLock { buckets -> Duration? in
            if buckets.count > 10_000 { buckets = buckets.filter { now - $0.value.updated < .seconds(60) } }
            var bucket = buckets[caller] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            bucket.tokens = min(burst, bucket.tokens + elapsed.seconds * perSecond)
            bucket.updated = now
            defer { buckets[caller] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return .milliseconds(Int64(((1 - bucket.tokens) / perSecond * 1000).rounded(.up)))
        }
        if wait != nil { limited.add(1, ordering: .relaxed) }
        return wait
    }

    /// Requests refused so far (for `health`).
    public var refused: Int { limited.load(ordering: .relaxed) }
}
