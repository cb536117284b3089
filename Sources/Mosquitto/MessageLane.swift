/// A class of incoming messages with a queue of its own, so that one kind of traffic cannot push out another:
/// a flood of device state must not drop RPC requests or discovery configs.
///
/// The client puts each message in the first lane whose `matches` accepts its topic, else in the default lane
/// (``MosquittoClient/messages``); each lane is bounded by count and bytes and counts what it drops.
public struct MessageLane: Sendable {
    public var name: String
    /// Messages waiting at most; beyond it the oldest are dropped (and counted).
    public var limit: Int
    /// Topic + payload bytes waiting at most.
    public var byteLimit: Int
    public var matches: @Sendable (String) -> Bool

    public init(name: String, limit: Int, byteLimit: Int, matches: @escaping @Sendable (String) -> Bool) {
        self.name = name
        self.limit = max(1, limit)
        self.byteLimit = max(1, byteLimit)
        self.matches = matches
    }

    /// Everything no other lane takes.
    public static func `default`(limit: Int, byteLimit: Int) -> MessageLane {
        MessageLane(name: "default", limit: limit, byteLimit: byteLimit) { _ in true }
    }
}
