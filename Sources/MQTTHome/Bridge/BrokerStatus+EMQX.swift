extension BrokerStatus {
    /// The normalized status from one poll of `/status?format=json`, `/stats?aggregate=true`,
    /// `/metrics?aggregate=true` and `/nodes` (protocols.md §4.3–4.6).
    ///
    /// An EMQX without `aggregate` support answers arrays, one object per node: those are summed.
    static func emqx(status: JSONValue, stats: JSONValue, metrics: JSONValue, nodes: JSONValue) -> BrokerStatus {
        var result = BrokerStatus(source: .emqx)
        result.state = .ok
        let stats = summed(stats)
        let metrics = summed(metrics)
        let nodeList = nodes.arrayValue ?? []
        let running = nodeList.filter { $0["node_status"]?.stringValue == "running" }
        if let release = status["rel_vsn"]?.stringValue {
            result.version = release.hasPrefix("v") ? String(release.dropFirst()) : release
        } else {
            result.version = running.first?["version"]?.stringValue
        }
        result.uptimeSeconds = running.compactMap { $0["uptime"]?.intValue }.max().map { Int($0 / 1000) }
        result.nodes = nodeList.isEmpty ? nil : running.count
        func count(_ name: String) -> Int? { stats[name + ".count"]?.intValue.map { Int($0) } }
        func counter(_ name: String) -> Int? { metrics[name]?.intValue.map { Int($0) } }
        result.connections = count("connections")
        result.liveConnections = count("live_connections")
        result.sessions = count("sessions") ?? count("cluster_sessions")
        result.subscriptions = count("subscriptions")
        result.topics = count("topics")
        result.retained = count("retained")
        result.messagesReceived = counter("messages.received")
        result.messagesSent = counter("messages.sent")
        result.messagesDropped = counter("messages.dropped")
        return result
    }

    /// One object from an aggregate object, or the per-key sum of a per-node array (the `node` key dropped).
    static func summed(_ value: JSONValue) -> JSONObject {
        if let object = value.objectValue { return object }
        var sums = JSONObject()
        for element in value.arrayValue ?? [] {
            for (key, value) in element.objectValue ?? JSONObject() {
                guard let number = value.intValue else { continue }
                sums[key] = .int((sums[key]?.intValue ?? 0) + number)
            }
        }
        return sums
    }

    /// `<base>/broker/nodes`: one small entry per cluster member, keyed by node name.
    static func emqxNodes(_ nodes: JSONValue, updatedAt: String) -> JSONValue {
        var members = JSONObject()
        for node in nodes.arrayValue ?? [] {
            guard let name = node["node"]?.stringValue else { continue }
            func copy(_ key: String) -> JSONValue { node[key] ?? .null }
            let fields: [(String, JSONValue)] = [
                ("status", copy("node_status")),
                ("role", copy("role")),
                ("version", copy("version")),
                ("uptime_s", node["uptime"]?.intValue.map { .int($0 / 1000) } ?? .null),
                ("load1", copy("load1")),
                ("load5", copy("load5")),
                ("load15", copy("load15")),
                ("memory_used", bytes(node["memory_used"])),
                ("memory_total", bytes(node["memory_total"])),
                ("connections", copy("connections")),
                ("live_connections", copy("live_connections")),
            ]
            // A stopped member reports only its name, status and role: leave out what it did not say.
            members[name] = .object(JSONObject(fields.filter { !$0.1.isNull }))
        }
        return ["nodes": .object(members), "updated_at": .string(updatedAt)]
    }

    /// Bytes from an integer or from EMQX's schema-example form `"512.00M"` (K, M, G, T; powers of 1024).
    static func bytes(_ value: JSONValue?) -> JSONValue {
        guard let value else { return .null }
        if let number = value.intValue { return .int(number) }
        guard var text = value.stringValue?.trimmed, !text.isEmpty else { return .null }
        var scale = 1.0
        if let unit = text.last, let power = ["K": 1.0, "M": 2.0, "G": 3.0, "T": 4.0][String(unit).uppercased()] {
            scale = Double(1 << (10 * Int(power)))
            text.removeLast()
        }
        guard let number = Double(text) else { return .null }
        return .int(Int64((number * scale).rounded()))
    }
}
