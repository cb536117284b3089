/// Every topic the daemon owns, built from `BASE_TOPIC`. topics.md is the human copy of this table.
public struct Topics: Sendable, Hashable {
    public let base: String
    /// `<base>/rpc/`, stored because the router checks every incoming message against it.
    public let rpcPrefix: String

    public init(base: String) {
        self.base = base
        self.rpcPrefix = "\(base)/rpc/"
    }

    /// Retained presence: `{"state":"online",…}` while running, `{"state":"offline"}` otherwise (also the will).
    public var status: String { "\(base)/status" }

    /// Retained device document: `<base>/devices/<id>`.
    public func device(_ id: String) -> String { "\(base)/devices/\(id)" }
    /// Retained normalized state: `<base>/devices/<id>/state`.
    public func deviceState(_ id: String) -> String { "\(base)/devices/\(id)/state" }
    /// Retained `online`/`offline`: `<base>/devices/<id>/availability`.
    public func deviceAvailability(_ id: String) -> String { "\(base)/devices/\(id)/availability" }
    /// Retained normalized broker health (EMQX REST or mosquitto `$SYS`): `<base>/broker/status`.
    public var brokerStatus: String { "\(base)/broker/status" }
    /// Retained EMQX cluster members, keyed by node name: `<base>/broker/nodes`.
    public var brokerNodes: String { "\(base)/broker/nodes" }
    /// Not retained: `device_added`, `device_updated`, `device_removed`.
    public var events: String { "\(base)/events" }

    /// Requests arrive here; the method is the suffix: `<base>/rpc/health`.
    public var rpcFilter: String { "\(base)/rpc/#" }

    /// Where the CLI asks for answers: `<base>/reply/<client id>/<call>`; outside `rpcFilter`, so never a request.
    public func replyTopic(clientID: String, call: String) -> String { "\(base)/reply/\(clientID)/\(call)" }

    public func rpcTopic(method: String) -> String { rpcPrefix + method }

    /// The RPC filter, shared between daemons when a share group is set (`$share/<group>/<base>/rpc/#`).
    public func rpcSubscription(shareGroup: String?) -> String {
        guard let shareGroup else { return rpcFilter }
        return "$share/\(shareGroup)/\(rpcFilter)"
    }

    /// The method named by a request topic, or nil when the topic is not under `<base>/rpc/`.
    public func method(fromRPCTopic topic: String) -> String? {
        guard topic.hasPrefix(rpcPrefix) else { return nil }
        return String(topic.dropFirst(rpcPrefix.count))
    }

    /// Why `topic` cannot receive a reply, or nil when it can: replies go to plain topics outside our own RPC tree.
    public func replyTopicProblem(_ topic: String) -> String? {
        if topic.isEmpty { return "is empty" }
        if TopicRules.isFilter(topic) { return "contains a wildcard ('+' or '#')" }
        if topic.utf8.contains(0) { return "contains a NUL character" }
        if topic.utf8.count > 65_535 { return "is longer than 65535 bytes" }
        if topic.hasPrefix(rpcPrefix) || topic == "\(base)/rpc" { return "is inside \(rpcFilter), where it would be read as a request" }
        return nil
    }

    /// Why `base` cannot be a base topic, or nil when it can.
    public static func baseTopicProblem(_ base: String) -> String? {
        if base.isEmpty { return "must not be empty" }
        if base.contains("+") || base.contains("#") { return "must not contain '+' or '#'" }
        if base.hasPrefix("/") || base.hasSuffix("/") { return "must not start or end with '/'" }
        if base.hasPrefix("$") { return "must not start with '$' (reserved for the broker)" }
        if base.utf8.contains(0) { return "must not contain a NUL character" }
        return nil
    }
}
