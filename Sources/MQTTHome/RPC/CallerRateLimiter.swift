import Synchronization

/// Requests per second per caller, as token buckets (`RPC_RATE_LIMIT` per second, bursts up to `RPC_RATE_BURST`),
/// kept in a fixed-size table so that no flood of new callers can grow it or make a request cost more than O(1).
///
/// A caller is the first level of its reply topic that the allowed reply filter leaves open
/// (``caller(replyTopic:allowed:)``): with `mqtt-home/reply/#`, `mqtt-home/reply/<client id>/<n>` is the caller
/// `<client id>`, whatever `<n>` it picks per request — the level that the broker's ACL pattern
/// (`pattern read mqtt-home/reply/%u/#`) binds to one user. MQTT gives a subscriber no publisher identity, so this
/// is a fairness device, not authentication: the broker's per-connection limits are (README, "Security model").
///
/// The table is 4-way set associative: a caller's key hashes (with a per-process random seed) to one set of four
/// slots. A slot is free for another caller once its own has been idle for ``idleEviction`` and its bucket has
/// refilled (a fresh bucket is then identical). A caller that finds no free slot in its set shares the one overflow
/// bucket: that is how a flood of distinct callers (a new reply topic per request) is limited as a whole, while the
/// callers that were active before it keep their own slots and their own rate.
public final class CallerRateLimiter: Sendable {
    public let perSecond: Double
    public let burst: Double
    public static let sets = 1024
    public static let ways = 4
    /// How long a caller keeps its slot after its last request.
    public static let idleEviction: Duration = .seconds(30)

    private struct Slot {
        /// 0 marks an empty slot (a key hashing to 0 is stored as 1).
        var key: UInt64 = 0
        var tokens: Double = 0
        var updated: ContinuousClock.Instant = .now
    }

    private struct Table: ~Copyable {
        var slots: [Slot]
        var overflow: Slot
    }

    private let table: Mutex<Table>
    private let limited = Atomic<Int>(0)
    private let overflowed = Atomic<Int>(0)

    public init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = max(1, burst)
        table = Mutex(Table(slots: Array(repeating: Slot(), count: Self.sets * Self.ways), overflow: Slot(key: 1, tokens: max(1, burst))))
    }

    /// The caller a reply topic stands for: the topic up to and including the first level that the matching allowed
    /// filter leaves to a wildcard (`+` or `#`); without an allowed filter, the topic without its last level.
    public static func caller(replyTopic: String?, allowed: [String] = []) -> String {
        guard let replyTopic else { return "" }
        let levels = replyTopic.split(separator: "/", omittingEmptySubsequences: false)
        for filter in allowed where TopicRules.matches(filter: filter, topic: replyTopic) {
            let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
            if let open = filterLevels.firstIndex(where: { $0 == "+" || $0 == "#" }), open < levels.count {
                return levels[...open].joined(separator: "/")
            }
            return replyTopic
        }
        guard levels.count > 1 else { return replyTopic }
        return levels.dropLast().joined(separator: "/")
    }

    /// Nil when the request may run; else how long until the caller has a token again. O(1): one hash, four slots.
    public func admit(_ caller: String, now: ContinuousClock.Instant = .now) -> Duration? {
        var hasher = Hasher()
        hasher.combine(caller)
        let hash = UInt64(bitPattern: Int64(hasher.finalize()))
        let key = hash == 0 ? 1 : hash
        let set = Int(key % UInt64(Self.sets)) * Self.ways
        let (wait, shared) = table.withLock { table -> (Duration?, Bool) in
            var free: Int? = nil
            for index in set..<(set + Self.ways) {
                let slot = table.slots[index]
                if slot.key == key { return (Self.take(&table.slots[index], now: now, perSecond: perSecond, burst: burst), false) }
                if free == nil
                    && (slot.key == 0
                        || (now - slot.updated >= Self.idleEviction && Self.refilled(slot, now: now, perSecond: perSecond, burst: burst) >= burst))
                {
                    free = index
                }
            }
            if let free {
                table.slots[free] = Slot(key: key, tokens: burst, updated: now)
                return (Self.take(&table.slots[free], now: now, perSecond: perSecond, burst: burst), false)
            }
            return (Self.take(&table.overflow, now: now, perSecond: perSecond, burst: burst), true)
        }
        if shared { overflowed.add(1, ordering: .relaxed) }
        if wait != nil { limited.add(1, ordering: .relaxed) }
        return wait
    }

    private static func refilled(_ slot: Slot, now: ContinuousClock.Instant, perSecond: Double, burst: Double) -> Double {
        min(burst, slot.tokens + (now - slot.updated).seconds * perSecond)
    }

    private static func take(_ slot: inout Slot, now: ContinuousClock.Instant, perSecond: Double, burst: Double) -> Duration? {
        slot.tokens = refilled(slot, now: now, perSecond: perSecond, burst: burst)
        slot.updated = now
        if slot.tokens >= 1 {
            slot.tokens -= 1
            return nil
        }
        return .milliseconds(Int64(((1 - slot.tokens) / perSecond * 1000).rounded(.up)))
    }

    /// Requests refused so far (for `health`).
    public var refused: Int { limited.load(ordering: .relaxed) }

    /// Requests that found no slot of their own and were counted against the shared overflow bucket.
    public var overflowRequests: Int { overflowed.load(ordering: .relaxed) }
}
