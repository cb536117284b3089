import Mosquitto

/// The daemon's incoming-message lanes: RPC requests and discovery configs each have a queue of their own, so a
/// flood of device state (the default lane) can never push them out, and each lane counts what it drops
/// (`health.mqtt.dropped_by_kind`).
enum DaemonLanes {
    static let rpc = "rpc"
    static let discovery = "discovery"
    /// The default lane, as `health` names it.
    static let state = "state"

    /// RPC: requests are answered, rate-limited or refused as busy as fast as they arrive; this bounds a burst the
    /// router has not read yet (a flood of 20,000 distinct callers fits, and the rate limiter sorts it out).
    static let rpcLimit = 100_000
    static let rpcBytes = 64 << 20
    /// Discovery: a start-up burst is every retained config at once (10,000 and more), each up to 256 KiB.
    static let discoveryLimit = 100_000
    static let discoveryBytes = 256 << 20

    static func lanes(topics: Topics, discoveryPrefix: String?) -> [MessageLane] {
        let rpcPrefix = topics.rpcPrefix
        // Set-topic commands share the RPC lane: they are requests without a reply.
        let devicesPrefix = "\(topics.base)/devices/"
        var lanes = [
            MessageLane(name: rpc, limit: rpcLimit, byteLimit: rpcBytes) { topic in
                topic.hasPrefix(rpcPrefix) || (topic.hasPrefix(devicesPrefix) && topic.hasSuffix("/set"))
            }
        ]
        if let discoveryPrefix {
            lanes.append(MessageLane(name: discovery, limit: discoveryLimit, byteLimit: discoveryBytes) { topic in
                DiscoveryParser.isConfigTopic(topic, prefix: discoveryPrefix)
            })
        }
        return lanes
    }

    /// Drops per lane, with the default lane called `state`.
    static func dropped(_ statistics: MosquittoClient.Statistics) -> JSONValue {
        var result = JSONObject()
        for name in [rpc, discovery, "default"] {
            result[name == "default" ? state : name] = JSONValue(statistics.droppedByLane[name] ?? 0)
        }
        return .object(result)
    }
}
