/// Where the daemon may publish an RPC reply. The caller chooses the reply topic and part of the reply's content
/// (the echoed `id`), while the daemon publishes with its own broad broker rights: without this rule a read-only
/// user could make the daemon write on a lock's command topic, a discovery config or `<base>/status`.
///
/// A reply topic must match one of `RPC_REPLY_TOPICS` (default `<base>/reply/#`), and is refused whatever that
/// setting says when it is a `$` topic, inside `<base>/` but outside `<base>/reply/`, under the discovery prefix, or a
/// topic that a known device reads or is commanded on.
public struct ReplyPolicy: Sendable {
    public let allowed: [String]
    let topics: Topics
    let discoveryPrefix: String

    public init(allowed: [String], topics: Topics, discoveryPrefix: String) {
        self.allowed = allowed
        self.topics = topics
        self.discoveryPrefix = discoveryPrefix
    }

    /// The default filters: `<base>/reply/#`.
    public static func defaultAllowed(_ topics: Topics) -> [String] { ["\(topics.base)/reply/#"] }

    /// Why a reply may not go to `topic`. `kind` groups refusals for logging (one line per kind and topic pattern).
    public struct Refusal: Sendable, Hashable {
        public var reason: String
        public var kind: String
    }

    /// The refusal for `topic`, or nil when a reply may go there. `deviceUsing` names a device that reads or is
    /// commanded on a topic (nil when none does).
    public func refusal(_ topic: String, deviceUsing: (String) -> String?) -> Refusal? {
        if topic.hasPrefix("$") {
            return Refusal(reason: "is a broker topic ('$…')", kind: "dollar")
        }
        let base = topics.base
        if topic == base || topic.hasPrefix(base + "/"), !topic.hasPrefix(base + "/reply/") {
            return Refusal(reason: "is inside the daemon's own tree \(base)/ outside \(base)/reply/", kind: "own-tree")
        }
        if topic == discoveryPrefix || topic.hasPrefix(discoveryPrefix + "/") {
            return Refusal(reason: "is under the discovery prefix \(discoveryPrefix)/", kind: "discovery")
        }
        // No device may use a topic inside <base>/ (DeviceTopicPolicy; stored ones that did are quarantined at load),
        // so the reply subtree needs no look-up in the registry.
        if !topic.hasPrefix(base + "/reply/"), let device = deviceUsing(topic) {
            return Refusal(reason: "is a topic device '\(device)' reads or is commanded on", kind: "device")
        }
        if !allowed.contains(where: { TopicRules.matches(filter: $0, topic: topic) }) {
            return Refusal(
                reason: "matches none of RPC_REPLY_TOPICS (\(allowed.joined(separator: ", "))); use a reply topic under \(base)/reply/<your client id>/",
                kind: "not-allowed"
            )
        }
        return nil
    }

    /// A coarse pattern of a refused topic, so a caller varying its topic per request is logged once: the first two
    /// levels, then `#`.
    public static func pattern(_ topic: String) -> String {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard levels.count > 2 else { return topic }
        return levels.prefix(2).joined(separator: "/") + "/#"
    }
}
