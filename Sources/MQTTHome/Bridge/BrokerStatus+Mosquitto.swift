extension BrokerStatus {
    /// The normalized status from mosquitto's `$SYS/broker/...` values (protocols.md §5), keyed by the topic after
    /// `$SYS/broker/` — e.g. `uptime` → `"93 seconds"`, `retained messages/count` (with its space) → `"40"`.
    ///
    /// The load averages (`load/...`) are mosquitto's own moving averages; the rates come from the counters instead,
    /// the same way as for EMQX.
    static func mosquitto(_ values: [String: String]) -> BrokerStatus {
        var result = BrokerStatus(source: .mosquitto)
        result.state = .ok
        func integer(_ key: String) -> Int? {
            guard let text = values[key]?.trimmed else { return nil }
            return Int(text) ?? Double(text).map { Int($0) }
        }
        if let version = values["version"] {
            // "mosquitto version 2.0.11"
            result.version = version.split(separator: " ").last.map(String.init) ?? version
        }
        if let uptime = values["uptime"] {
            result.uptimeSeconds = uptime.split(separator: " ").first.flatMap { Int($0) }
        }
        result.nodes = 1
        result.liveConnections = integer("clients/connected") ?? integer("clients/active")
        result.connections = integer("clients/total")
        result.sessions = integer("clients/total")
        result.subscriptions = integer("subscriptions/count")
        result.retained = integer("retained messages/count")
        result.messagesReceived = integer("publish/messages/received")
        result.messagesSent = integer("publish/messages/sent")
        result.messagesDropped = integer("publish/messages/dropped")
        return result
    }
}
