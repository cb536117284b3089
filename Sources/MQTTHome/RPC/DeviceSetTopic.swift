import Logging
import Mosquitto
import Synchronization

/// `<base>/devices/<id>/set`: the Zigbee2MQTT convention for commands, which Home Assistant's announced entities
/// use and `mosquitto_pub -t mqtt-home/devices/hall_light/set -m '{"state":"ON"}'` can too. The payload is a
/// `devices/set` intent (`{"state": "ON", "entity": "l2"}`; a bare `ON` means `{"state": "ON"}`) and runs exactly
/// as `devices/set` does: translated into the entity's dialect, checked against its topics and
/// `COMMAND_PAYLOAD_LIMIT`, logged as sent, confirmed by its state.
///
/// There is no reply: the outcome is logged (a refusal once per device and reason) and counted in
/// `health.set_topic`. Retained commands are refused (they would run again at every subscribe), and so is anything
/// but the intent's own fields.
public final class DeviceSetTopic: Sendable {
    let registry: DeviceRegistry
    let prefix: String
    let logger: Logger
    /// Commands waiting for their confirmation at once. Their own budget, so a flood of commands to devices that
    /// never confirm (each waits up to 3 s) cannot take the slots RPC requests need.
    let maxInFlight: Int
    private let inFlight = Atomic<Int>(0)
    /// A set payload is an intent of a few fields; anything larger is refused unread.
    static let payloadLimit = 16 << 10
    static let confirmTimeout = Duration.seconds(3)
    static let accepted: Set<String> = Set(ControlIntent.fields + ["entity"])

    let received = Atomic<Int>(0)
    let confirmed = Atomic<Int>(0)
    let unconfirmed = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let busy = Atomic<Int>(0)
    private let logged = Mutex<Set<String>>([])

    public init(registry: DeviceRegistry, topics: Topics, maxInFlight: Int = 32, logger: Logger) {
        self.registry = registry
        self.maxInFlight = max(1, maxInFlight)
        self.prefix = "\(topics.base)/devices/"
        self.logger = logger
    }

    /// The subscription: every device's set topic.
    public var filter: String { prefix + "+/set" }

    /// The device id a set topic names, nil for any other topic.
    public func deviceID(of topic: String) -> String? {
        guard topic.hasPrefix(prefix), topic.hasSuffix("/set") else { return nil }
        let id = topic.dropFirst(prefix.count).dropLast(4)
        return id.isEmpty || id.contains("/") ? nil : String(id)
    }

    /// The intent a payload carries, or why it is refused.
    static func intent(from payload: [UInt8]) throws(RPCError) -> (entity: String?, intent: JSONObject) {
        guard !payload.isEmpty else { throw .invalidParams("payload", "empty; send a devices/set intent such as {\"state\":\"ON\"}") }
        guard payload.count <= payloadLimit else { throw .invalidParams("payload", "\(payload.count) bytes; a set payload is at most \(payloadLimit)") }
        var intent: JSONObject
        switch try? JSONParser.parse(payload, maxDepth: 8) {
        case .object(let object)?:
            intent = object
        case .string(let text)?:
            intent = ["state": .string(text)]
        case .bool(let flag)?:
            intent = ["state": .bool(flag)]
        case nil:
            let text = String(decoding: payload, as: UTF8.self).trimmed
            guard !text.isEmpty, text.utf8.count <= 64, !text.contains(where: { $0.isNewline || $0 == "{" }) else {
                throw .invalidParams("payload", "not a JSON object; send a devices/set intent such as {\"state\":\"ON\"}")
            }
            intent = ["state": .string(text)]
        case let other?:
            throw .invalidParams("payload", "\(other.typeName); send a JSON object such as {\"state\":\"ON\"} or {\"brightness\":128}")
        }
        if let unknown = intent.keys.first(where: { !accepted.contains($0) }) {
            throw .invalidParams(unknown, "not a devices/set field; the set topic takes \(ControlIntent.fields.joined(separator: ", ")) and entity")
        }
        let entity: String?
        switch intent.removeValue(forKey: "entity") {
        case nil, .null?: entity = nil
        case .string(let key)?: entity = key
        case let other?: throw .invalidParams("entity", "expected a string, got \(other.typeName)")
        }
        return (entity, intent)
    }

    /// Admits one more command if fewer than ``maxInFlight`` are running; pair with ``release()``.
    public func tryReserve() -> Bool { inFlight.increment(below: maxInFlight) }

    public func release() { inFlight.subtract(1, ordering: .relaxed) }

    /// Runs one set message (the router holds one of ``maxInFlight`` for it).
    public func handle(_ message: MQTTMessage) async {
        received.add(1, ordering: .relaxed)
        guard let id = deviceID(of: message.topic) else { return }
        guard !message.retain else {
            refuse(id, message, .invalidParams("retain", "a retained set message would run again at every subscribe; it is ignored"))
            return
        }
        do {
            let (entity, intent) = try Self.intent(from: message.payload)
            let result = try await registry.set(id: id, entity: entity, intent: intent, timeout: Self.confirmTimeout)
            let status = result["status"]?.stringValue ?? "sent"
            switch status {
            case "confirmed": confirmed.add(1, ordering: .relaxed)
            case "unconfirmed": unconfirmed.add(1, ordering: .relaxed)
            default: sent.add(1, ordering: .relaxed)
            }
            logger.info(
                "set topic command",
                metadata: [
                    "device.id": "\(id)", "entity": "\(result["entity"]?.stringValue ?? "")", "status": "\(status)",
                    "published": "\((result["published"]?.arrayValue ?? []).compactMap { $0["topic"]?.stringValue })",
                ]
            )
        } catch {
            refuse(id, message, error)
        }
    }

    /// ``maxInFlight`` commands were waiting already: dropped and counted, like an RPC request refused as busy.
    public func rejectBusy(_ message: MQTTMessage) {
        received.add(1, ordering: .relaxed)
        busy.add(1, ordering: .relaxed)
        logOnce("busy", "set topic command dropped: \(maxInFlight) commands are waiting for confirmation already", ["mqtt.topic": "\(message.topic)"])
    }

    private func refuse(_ id: String, _ message: MQTTMessage, _ error: RPCError) {
        refused.add(1, ordering: .relaxed)
        // The id (a topic level) and the reason (which may quote a field name) are the publisher's: truncated, so
        // 10,000 remembered refusals stay a few MiB whatever they send.
        let device = String(id.prefix(64))
        let reason = String(error.message.prefix(300))
        logOnce(
            "\(device)\n\(error.code)\n\(reason)", "set topic command refused",
            ["device.id": "\(device)", "code": "\(error.code)", "reason": "\(reason)", "payload.bytes": "\(message.payload.count)"]
        )
    }

    private func logOnce(_ key: String, _ text: Logger.Message, _ metadata: Logger.Metadata) {
        let first = logged.withLock { logged -> Bool in
            if logged.count > 10_000 { logged.removeAll() }
            return logged.insert(key).inserted
        }
        if first { logger.warning(text, metadata: metadata) }
    }

    /// `health.set_topic`.
    public var statistics: JSONValue {
        [
            "topic": .string(filter),
            "received": JSONValue(received.load(ordering: .relaxed)),
            "confirmed": JSONValue(confirmed.load(ordering: .relaxed)),
            "unconfirmed": JSONValue(unconfirmed.load(ordering: .relaxed)),
            "sent": JSONValue(sent.load(ordering: .relaxed)),
            "refused": JSONValue(refused.load(ordering: .relaxed)),
            "rejected_busy": JSONValue(busy.load(ordering: .relaxed)),
            "in_flight": JSONValue(inFlight.load(ordering: .relaxed)),
            "max_in_flight": JSONValue(maxInFlight),
        ]
    }
}
