import Configuration
import Logging
import Mosquitto
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Everything the daemon and the CLI read from the environment, `.env` and defaults.
///
/// Keys (ENV form; dotted form in parentheses), all optional:
/// - `MQTT_HOST` (`mqtt.host`): broker host. Unset: the daemon starts its own loopback mosquitto.
/// - `MQTT_PORT` (`mqtt.port`, 1–65535): broker port; default 1883 (8883 with TLS); with no host, the embedded port.
/// - `MQTT_USERNAME`, `MQTT_PASSWORD` (secret): credentials.
/// - `MQTT_CLIENT_ID`: default `mqtt-homed-<hostname>-<pid>`.
/// - `MQTT_KEEPALIVE` (seconds, 5–3600, default 30), `MQTT_RECONNECT_MAX_DELAY` (seconds, 1–3600, default 30).
/// - `MQTT_PROTOCOL` (`5` or `3.1.1`, default `5`; 5 falls back to 3.1.1 when the broker refuses it).
/// - `MQTT_TLS_CA_FILE`, `MQTT_TLS_CERT_FILE`, `MQTT_TLS_KEY_FILE`, `MQTT_TLS_INSECURE` (bool): TLS; any one turns it on.
/// - `BASE_TOPIC` (default `mqtt-home`), `DATA_DIR` (default `./data`), `LOG_LEVEL` (trace…critical, default info).
/// - `DISCOVERY_PREFIX` (default `homeassistant`): where Home Assistant discovery configs are read;
///   `DISCOVERY_ENABLED` (bool, default true). `HA_DISCOVERY_PUBLISH` (bool, default true): announce every device that
///   did not come from discovery to Home Assistant (retained configs under the same prefix).
/// - `RPC_MAX_IN_FLIGHT` (1–10000, default 64), `RPC_MAX_PAYLOAD_BYTES` (default 262144), `RPC_SHARE_GROUP`,
///   `RPC_RATE_LIMIT` (requests per second per caller, 0–100000, default 50; 0 = no limit), `RPC_RATE_BURST`
///   (default 200), `RPC_REPLY_TOPICS` (comma-separated filters replies may go to, default `<base>/reply/#`).
/// - `HISTORY_DAYS` (0–3650, default 10; 0: no sensor history or statistics), `STATISTICS_DAYS` (1–36500, default 365).
/// - `LOG_LIMIT_PER_DEVICE` (1–100000, default 100), `STORE_QUEUE_LIMIT` (1000–10000000, default 100000),
///   `STORE_FLUSH_MS` (1–1000, default 25), `STATE_PUBLISH_INTERVAL_MS` (0–10000, default 100),
///   `MQTT_MESSAGE_BUFFER` (1000–10000000, default 100000), `MQTT_MESSAGE_BUFFER_BYTES` (1 MiB–4 GiB, default 64 MiB).
/// - `EMQX_API_URL` (e.g. `http://127.0.0.1:18083/api/v5`), `EMQX_API_KEY`, `EMQX_API_SECRET` (secret): bridge the
///   EMQX REST API; unset, the broker's status comes from mosquitto's `$SYS`. `EMQX_POLL_INTERVAL` (seconds,
///   0.1–3600, default 10), `EMQX_TIMEOUT` (seconds, 0.1–300, default 5).
/// - `STATE_PAYLOAD_LIMIT` (bytes, 256–16777216, default 65536): larger state messages are counted, not applied;
///   `COMMAND_PAYLOAD_LIMIT` (bytes, 16–16777216, default 65536); `DISCOVERY_MAX_ENTITIES` (1–1000000, default 20000).
/// - `SENSOR_STALE_AFTER` (seconds, 1–2592000, default 3600): `sensors/read` calls a value stale past this age
///   unless its entity has its own `expire_after`.
public struct HomeConfiguration: Sendable {
    public var mqtt: MQTTSettings
    public var baseTopic: String
    /// Nil when discovery is off.
    public var discoveryPrefix: String?
    /// `DISCOVERY_PREFIX` whether or not discovery is read: where configs are announced.
    public var discoveryTopicPrefix: String
    /// `HA_DISCOVERY_PUBLISH`: announce manual devices to Home Assistant.
    public var publishesDiscovery: Bool
    public var dataDirectory: String
    public var logLevel: Logger.Level
    public var rpc: RPCSettings
    public var store: StoreWriter.Settings
    /// Coalescing window of retained state publishes.
    public var statePublishInterval: Duration
    /// Incoming messages buffered for the router before new ones are dropped (counted in `health`).
    public var messageBufferLimit: Int
    /// Topic + payload bytes of device state buffered for the router (`MQTT_MESSAGE_BUFFER_BYTES`).
    public var messageBufferBytes: Int
    /// Age past which `sensors/read` reports a value as stale (unless the entity has `expire_after`).
    public var sensorStaleAfter: Duration
    /// Nil: no EMQX API; the broker bridge reads mosquitto's `$SYS` instead.
    public var emqx: EMQXClient.Settings?
    /// Bounds on what devices and producers send.
    public var limits = DeviceRegistry.Limits()

    public struct MQTTSettings: Sendable {
        /// Nil means: start the embedded broker.
        public var host: String?
        /// Nil means: the default for the situation (1883, 8883 with TLS, a free port for the embedded broker).
        public var port: Int?
        public var username: String?
        public var password: String?
        public var clientID: String
        public var keepAlive: Int
        public var reconnectMaxDelay: Int
        public var protocolVersion: MQTTProtocolVersion
        public var tls: MosquittoClient.Configuration.TLS?

        /// The port to connect to on an external broker.
        public var effectivePort: Int { port ?? (tls == nil ? 1883 : 8883) }
    }

    public struct RPCSettings: Sendable {
        public var maxInFlight: Int
        public var maxPayloadBytes: Int
        public var shareGroup: String?
        /// Requests per second per caller (see ``CallerRateLimiter``); 0 means no limit.
        public var rateLimit: Double = 50
        /// Requests a caller may send at once before the rate applies.
        public var rateBurst: Double = 200
        /// Filters a reply topic must match (``ReplyPolicy``); nil: `<base>/reply/#`.
        public var replyTopics: [String]?

        public init(
            maxInFlight: Int,
            maxPayloadBytes: Int,
            shareGroup: String?,
            rateLimit: Double = 50,
            rateBurst: Double = 200,
            replyTopics: [String]? = nil
        ) {
            self.maxInFlight = maxInFlight
            self.maxPayloadBytes = maxPayloadBytes
            self.shareGroup = shareGroup
            self.rateLimit = rateLimit
            self.rateBurst = rateBurst
            self.replyTopics = replyTopics
        }
    }

    public var topics: Topics { Topics(base: baseTopic) }

    /// Reads and validates every key; the first bad value throws an error naming its key.
    public init(reader config: ConfigReader) throws(HomeError) {
        let values = Values(config: config)
        let tlsCA = try values.string("mqtt.tls.ca.file")
        let tlsCert = try values.string("mqtt.tls.cert.file")
        let tlsKey = try values.string("mqtt.tls.key.file")
        let tlsInsecure = try values.bool("mqtt.tls.insecure") ?? false
        var tls: MosquittoClient.Configuration.TLS? = nil
        if tlsCA != nil || tlsCert != nil || tlsKey != nil || tlsInsecure {
            if (tlsCert == nil) != (tlsKey == nil) {
                throw HomeError.configuration(key: tlsCert == nil ? "MQTT_TLS_CERT_FILE" : "MQTT_TLS_KEY_FILE",
                    problem: "must be set together with \(tlsCert == nil ? "MQTT_TLS_KEY_FILE" : "MQTT_TLS_CERT_FILE")"
                )
            }
            tls = .init(caFile: tlsCA, certFile: tlsCert, keyFile: tlsKey, insecure: tlsInsecure)
        }
        let protocolText = try values.string("mqtt.protocol") ?? "5"
        let protocolVersion: MQTTProtocolVersion
        switch protocolText {
        case "5", "v5", "5.0": protocolVersion = .v5
        case "3.1.1", "311", "v311", "4": protocolVersion = .v311
        default: throw HomeError.configuration(key: "MQTT_PROTOCOL", problem: "must be 5 or 3.1.1, got '\(protocolText)'")
        }
        mqtt = MQTTSettings(
            host: try values.string("mqtt.host"),
            port: try values.int("mqtt.port", in: 1...65535),
            username: try values.string("mqtt.username"),
            password: try values.string("mqtt.password", isSecret: true),
            clientID: try values.string("mqtt.client.id") ?? Self.defaultClientID(),
            keepAlive: try values.int("mqtt.keepalive", in: 5...3600) ?? 30,
            reconnectMaxDelay: try values.int("mqtt.reconnect.max.delay", in: 1...3600) ?? 30,
            protocolVersion: protocolVersion,
            tls: tls
        )
        if mqtt.clientID.utf8.count > 65_535 || mqtt.clientID.isEmpty {
            throw HomeError.configuration(key: "MQTT_CLIENT_ID", problem: "must be 1 to 65535 bytes")
        }
        baseTopic = try values.string("base.topic") ?? "mqtt-home"
        if let problem = Topics.baseTopicProblem(baseTopic) {
            throw HomeError.configuration(key: "BASE_TOPIC", problem: "\(problem), got '\(baseTopic)'")
        }
        let prefix = try values.string("discovery.prefix") ?? "homeassistant"
        if let problem = Topics.baseTopicProblem(prefix) {
            throw HomeError.configuration(key: "DISCOVERY_PREFIX", problem: "\(problem), got '\(prefix)'")
        }
        discoveryPrefix = try values.bool("discovery.enabled") ?? true ? prefix : nil
        discoveryTopicPrefix = prefix
        publishesDiscovery = try values.bool("ha.discovery.publish") ?? true
        dataDirectory = try values.string("data.dir") ?? "./data"
        let levelText = (try values.string("log.level") ?? "info").lowercased()
        guard let level = Logger.Level(rawValue: levelText == "warn" ? "warning" : levelText) else {
            throw HomeError.configuration(key: "LOG_LEVEL",
                problem: "must be one of trace, debug, info, notice, warning, error, critical; got '\(levelText)'"
            )
        }
        logLevel = level
        let shareGroup = try values.string("rpc.share.group")
        if let shareGroup, shareGroup.isEmpty || shareGroup.contains(where: { "/+#".contains($0) }) {
            throw HomeError.configuration(key: "RPC_SHARE_GROUP",
                problem: "must be a non-empty name without '/', '+' or '#', got '\(shareGroup)'"
            )
        }
        store = StoreWriter.Settings(
            queueLimit: try values.int("store.queue.limit", in: 1000...10_000_000) ?? 100_000,
            flushInterval: .milliseconds(try values.int("store.flush.ms", in: 1...1000) ?? 25),
            logLimitPerDevice: try values.int("log.limit.per.device", in: 1...100_000) ?? 100,
            historyDays: try values.int("history.days", in: 0...3650) ?? 10,
            statisticsDays: try values.int("statistics.days", in: 1...36_500) ?? 365
        )
        statePublishInterval = .milliseconds(try values.int("state.publish.interval.ms", in: 0...10_000) ?? 100)
        messageBufferLimit = try values.int("mqtt.message.buffer", in: 1000...10_000_000) ?? 100_000
        messageBufferBytes = try values.int("mqtt.message.buffer.bytes", in: 1 << 20...4 << 30) ?? 64 << 20
        emqx = try Self.emqxSettings(values)
        sensorStaleAfter = try values.seconds("sensor.stale.after", in: 1...2_592_000) ?? .seconds(3600)
        limits.statePayloadBytes = try values.int("state.payload.limit", in: 256...16_777_216) ?? limits.statePayloadBytes
        limits.commandPayloadBytes = try values.int("command.payload.limit", in: 16...16_777_216) ?? limits.commandPayloadBytes
        limits.discoveryMaxEntities = try values.int("discovery.max.entities", in: 1...1_000_000) ?? limits.discoveryMaxEntities
        rpc = RPCSettings(
            maxInFlight: try values.int("rpc.max.in.flight", in: 1...10_000) ?? 64,
            maxPayloadBytes: try values.int("rpc.max.payload.bytes", in: 2...268_435_455) ?? 262_144,
            shareGroup: shareGroup,
            rateLimit: try values.number("rpc.rate.limit", in: 0...100_000) ?? 50,
            rateBurst: try values.number("rpc.rate.burst", in: 1...100_000) ?? 200,
            replyTopics: try Self.replyTopics(values)
        )
    }

    /// `RPC_REPLY_TOPICS`: comma-separated MQTT filters, each valid and not a `$` filter.
    static func replyTopics(_ values: Values) throws(HomeError) -> [String]? {
        guard let text = try values.string("rpc.reply.topics") else { return nil }
        let filters = text.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
        guard !filters.isEmpty else { return nil }
        for filter in filters {
            if let problem = TopicRules.filterProblem(filter) {
                throw HomeError.configuration(key: "RPC_REPLY_TOPICS", problem: "filter '\(filter)' \(problem)")
            }
            if filter.hasPrefix("$") {
                throw HomeError.configuration(key: "RPC_REPLY_TOPICS", problem: "filter '\(filter)' must not start with '$'")
            }
        }
        return filters
    }

    static func emqxSettings(_ values: Values) throws(HomeError) -> EMQXClient.Settings? {
        let key = try values.string("emqx.api.key")
        let secret = try values.string("emqx.api.secret", isSecret: true)
        guard var url = try values.string("emqx.api.url") else {
            if key != nil || secret != nil {
                throw HomeError.configuration(key: "EMQX_API_URL",
                    problem: "must be set when EMQX_API_KEY or EMQX_API_SECRET is, e.g. http://127.0.0.1:18083/api/v5")
            }
            return nil
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.split(separator: "/").count >= 2 else {
            throw HomeError.configuration(key: "EMQX_API_URL",
                problem: "must be an http:// or https:// URL such as http://127.0.0.1:18083/api/v5, got '\(url)'")
        }
        while url.hasSuffix("/") { url.removeLast() }
        if let authority = url.split(separator: "/").dropFirst().first, authority.contains("@") {
            // The URL is logged; credentials inside it would be too.
            throw HomeError.configuration(key: "EMQX_API_URL",
                problem: "must not contain credentials; put them in EMQX_API_KEY and EMQX_API_SECRET")
        }
        guard let key, let secret else {
            throw HomeError.configuration(key: key == nil ? "EMQX_API_KEY" : "EMQX_API_SECRET",
                problem: "must be set with EMQX_API_URL: create an API key in the EMQX dashboard (System → API Key)")
        }
        return EMQXClient.Settings(
            baseURL: url,
            apiKey: key,
            apiSecret: secret,
            pollInterval: try values.seconds("emqx.poll.interval", in: 0.1...3600) ?? .seconds(10),
            timeout: try values.seconds("emqx.timeout", in: 0.1...300) ?? .seconds(5)
        )
    }

    static func defaultClientID() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&buffer, buffer.count) == 0
            ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        return "mqtt-homed-\(host)-\(getpid())"
    }

    /// The environment-variable spelling of a dotted key, as swift-configuration maps it.
    static func envName(_ key: String) -> String {
        String(key.uppercased().map { $0 == "." ? "_" : $0 })
    }

    /// Reads every key as a string and parses it here, so a bad value is an error rather than a silent default.
    struct Values {
        let config: ConfigReader

        func string(_ key: String, isSecret: Bool = false) throws(HomeError) -> String? {
            guard let value = config.string(forKey: ConfigKey(key), isSecret: isSecret) else { return nil }
            let trimmed = value.trimmed
            return trimmed.isEmpty ? nil : trimmed
        }

        func int(_ key: String, in range: ClosedRange<Int>) throws(HomeError) -> Int? {
            guard let text = try string(key) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw HomeError.configuration(key: HomeConfiguration.envName(key),
                    problem: "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'"
                )
            }
            return value
        }

        /// A number, with a fraction if wanted.
        func number(_ key: String, in range: ClosedRange<Double>) throws(HomeError) -> Double? {
            guard let text = try string(key) else { return nil }
            guard let value = Double(text), value.isFinite, range.contains(value) else {
                throw HomeError.configuration(key: HomeConfiguration.envName(key),
                    problem: "must be a number from \(EntityBehavior.number(range.lowerBound).jsonString) to \(EntityBehavior.number(range.upperBound).jsonString), got '\(text)'"
                )
            }
            return value
        }

        /// Seconds, with a fraction if wanted: `10`, `0.5`.
        func seconds(_ key: String, in range: ClosedRange<Double>) throws(HomeError) -> Duration? {
            guard let text = try string(key) else { return nil }
            guard let value = Double(text), value.isFinite, range.contains(value) else {
                throw HomeError.configuration(key: HomeConfiguration.envName(key),
                    problem: "must be a number of seconds from \(range.lowerBound) to \(range.upperBound), got '\(text)'"
                )
            }
            return .milliseconds(Int64((value * 1000).rounded()))
        }

        func bool(_ key: String) throws(HomeError) -> Bool? {
            guard let text = try string(key) else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default:
                throw HomeError.configuration(key: HomeConfiguration.envName(key),
                    problem: "must be true or false, got '\(text)'"
                )
            }
        }
    }
}

extension HomeConfiguration {
    /// The usual providers: real environment > `.env` in the working directory > defaults.
    public static func standardReader(environmentFile: String = ".env") async throws -> ConfigReader {
        ConfigReader(providers: [
            EnvironmentVariablesProvider(),
            try await EnvironmentVariablesProvider(environmentFilePath: FilePath(environmentFile), allowMissing: true),
        ])
    }
}
