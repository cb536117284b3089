import Mosquitto
import Curl

/// What `health` reports: every component's counters, read from memory. Built once the components exist and
/// registered as the `health` method; it holds the RPC counters (not the server, which routes `health` itself).
struct DaemonHealth: Sendable {
    let configuration: HomeConfiguration
    let link: BrokerLink
    let host: String
    let port: Int
    let rpcCounters: RPCCounters
    let registry: DeviceRegistry
    let writer: StoreWriter
    let board: BrokerStatusBoard
    let poller: EMQXPoller?
    let sysCollector: SysTopicCollector?
    let setTopic: DeviceSetTopic
    let birth: HomeAssistantBirth?
    let started: ContinuousClock.Instant

    /// The `health` result, from memory only (no I/O); every field is documented in topics.md.
    func report() -> JSONValue {
        let rpc = rpcCounters.statistics
        let uptime = ContinuousClock.now - started
        let ingest = registry.ingestStatistics(writer: writer)
        let discovery = configuration.discoveryPrefix == nil ? JSONValue.null : registry.discoveryStatistics()
        let bridge = Self.bridgeHealth(board: board, poller: poller, sysCollector: sysCollector)
        let history = Self.historyHealth(writer: writer)
        let client = link.client
        let stats = client.statistics
        var mqtt = JSONObject([
            ("connected", .bool(client.isConnected)),
            ("protocol", .string(client.protocolVersion.rawValue)),
            ("fell_back_to_3_1_1", .bool(client.fellBackToV311)),
            ("broker", .string("\(host):\(port)")),
            ("embedded_broker", .bool(link.embeddedBroker)),
            ("client_id", .string(client.configuration.clientID)),
            ("tls", .bool(client.configuration.tls != nil)),
            ("connections", JSONValue(stats.connections)),
            ("reconnects", JSONValue(max(0, stats.connections - 1))),
            ("failed_connection_attempts", JSONValue(stats.failedAttempts)),
            ("messages_received", JSONValue(stats.messagesReceived)),
            ("messages_dropped", JSONValue(stats.messagesDropped)),
            ("dropped_by_kind", DaemonLanes.dropped(stats)),
            ("messages_published", JSONValue(stats.messagesPublished)),
        ])
        if let error = client.lastError { mqtt["last_error"] = .string(error.description) }
        let rpcObject: JSONValue = [
            "received": JSONValue(rpc.received ),
            "succeeded": JSONValue(rpc.succeeded ),
            "failed": JSONValue(rpc.failed ),
            "unanswered": JSONValue(rpc.unanswered ),
            "rejected_busy": JSONValue(rpc.rejectedBusy ),
            "in_flight": JSONValue(rpc.inFlight ),
            "max_in_flight": JSONValue(configuration.rpc.maxInFlight),
            "max_payload_bytes": JSONValue(configuration.rpc.maxPayloadBytes),
            "share_group": JSONValue(configuration.rpc.shareGroup),
            "rate_limit_per_s": EntityBehavior.number(configuration.rpc.rateLimit),
            "rate_limited": JSONValue(rpc.rateLimited ),
            "rate_burst": EntityBehavior.number(configuration.rpc.rateBurst),
            "rate_limit_overflow": JSONValue(rpc.rateLimitOverflow ),
            "reply_topics": .array((configuration.rpc.replyTopics ?? ReplyPolicy.defaultAllowed(configuration.topics)).map(JSONValue.string)),
            "refused_reply_topics": JSONValue(rpc.refusedReplyTopics ),
        ]
        return [
            "version": .string(MQTTHomeVersion.current),
            "started_at": .string(link.startedAt),
            "uptime_s": .double(((Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18) * 1000).rounded() / 1000),
            "base_topic": .string(configuration.baseTopic),
            "mqtt": .object(mqtt),
            "rpc": rpcObject,
            "devices": JSONValue(registry.count),
            "ingest": ingest,
            "discovery": discovery,
            "ha_discovery": announcementHealth(),
            "set_topic": setTopic.statistics,
            "broker_bridge": bridge,
            "history": history,
            "libmosquitto": .string(MosquittoLibrary.version),
            "libcurl": CurlLibrary.loadedVersion.map { .string($0) } ?? .null,
        ]
    }

    /// `health.ha_discovery`: what was announced to Home Assistant, and how often it asked again.
    func announcementHealth() -> JSONValue {
        var object = registry.announcementStatistics().objectValue ?? JSONObject()
        object["births"] = JSONValue(birth?.births ?? 0)
        return .object(object)
    }

    /// `health.history`: what the sensor history recorded and what retention did (null when `HISTORY_DAYS` is 0).
    /// From memory only: `health` does no I/O.
    static func historyHealth(writer: StoreWriter) -> JSONValue {
        guard writer.settings.recordsHistory else { return .null }
        let counters = writer.historyStatistics
        return [
            "history_days": JSONValue(writer.settings.historyDays),
            "statistics_days": JSONValue(writer.settings.statisticsDays),
            "series": JSONValue(counters.series),
            "rows_recorded": JSONValue(counters.recorded),
            "rows_dropped": JSONValue(counters.dropped),
            "open_buckets": JSONValue(counters.openBuckets),
            "pruned_history_rows": JSONValue(counters.prunedHistory),
            "pruned_statistics_rows": JSONValue(counters.prunedStatistics),
            "last_prune": JSONValue(counters.lastPrune),
        ]
    }

    /// `health.broker_bridge`: where the broker status comes from and how its reading goes.
    static func bridgeHealth(board: BrokerStatusBoard, poller: EMQXPoller?, sysCollector: SysTopicCollector?) -> JSONValue {
        let status = board.status
        var object = JSONObject([
            ("source", .string(status.source.rawValue)),
            ("state", .string(status.state.rawValue)),
            ("updated_at", status.updatedAt.map(JSONValue.string) ?? .null),
            ("publishes", JSONValue(board.publishes)),
        ])
        if let poller {
            let statistics = poller.statistics
            object["url"] = .string(poller.client.settings.baseURL)
            object["poll_interval_s"] = .double(poller.client.settings.pollInterval.seconds)
            object["polls"] = JSONValue(statistics.polls)
            object["failed_polls"] = JSONValue(statistics.failures)
            object["consecutive_failures"] = JSONValue(statistics.consecutiveFailures)
            object["last_poll_ms"] = statistics.lastPollMilliseconds.map(JSONValue.double) ?? .null
        }
        if let sysCollector { object["sys_messages"] = JSONValue(sysCollector.received) }
        if let error = status.error { object["error"] = .string(error) }
        return .object(object)
    }
}
