import ArgumentParser
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home watch`: the normalized state, availability and events as they happen, like `mosquitto_sub`.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print devices' state, availability and events live, until Ctrl-C.",
        discussion: """
            Starts with the current (retained) state, then every change. With --json, one JSON object per line:
            {"at","topic","device","kind","retained","payload"}.

            Examples:
              mqtt-home watch
              mqtt-home watch living_room_lamp "Kitchen sensor"
              mqtt-home watch --json | jq -c 'select(.kind == "state")'
            """
    )

    @Argument(help: "Device ids or names (default: every device).") var devices: [String] = []
    @Option(help: "Stop after this many lines.") var count: Int?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        // Names become ids through the daemon, so a typo gets its "did you mean" before anything is watched.
        var ids: [String] = []
        if !devices.isEmpty {
            ids = try await connection.withSession { session in
                var ids: [String] = []
                for device in devices {
                    ids.append(try await session.call("devices/get", ["id": .string(device)])["id"]?.stringValue ?? device)
                }
                return ids
            }
        }
        let target = try await connection.target(clientID: RPCClient.uniqueClientID(prefix: "mqtt-home-watch"))
        let topics = target.topics
        let client = try MosquittoClient(configuration: target.configuration, logger: MQTTHomeCLI.logger)
        try await connection.connecting(target) { try await client.connect() }
        var filters = [topics.events]
        if ids.isEmpty {
            filters += [topics.deviceState("+"), topics.deviceAvailability("+")]
        } else {
            for id in ids { filters += [topics.deviceState(id), topics.deviceAvailability(id)] }
        }
        try await client.subscribe(filters, qos: .atMostOnce)
        // Ctrl-C ends a watch; that is its normal way out.
        signal(SIGINT) { _ in _exit(0) }
        var printed = 0
        let prefix = topics.base + "/devices/"
        for await message in client.messages {
            let kind: String
            var device: String?
            let payload = (try? JSONParser.parse(message.payload)) ?? .string(message.payloadString)
            if message.topic == topics.events {
                kind = "event"
                device = payload["id"]?.stringValue
                if !ids.isEmpty, let device, !ids.contains(device) { continue }
            } else if message.topic.hasPrefix(prefix) {
                let rest = message.topic.dropFirst(prefix.count).split(separator: "/")
                device = rest.first.map(String.init)
                kind = rest.count > 1 ? String(rest[1]) : "device"
            } else {
                continue
            }
            if message.payload.isEmpty && kind != "event" { continue }  // a removed device's cleared topics
            let at = Timestamp.now()
            if output.json {
                let line: JSONValue = [
                    "at": .string(at), "topic": .string(message.topic), "device": device.map(JSONValue.string) ?? .null,
                    "kind": .string(kind), "retained": .bool(message.retain), "payload": payload,
                ]
                print(line.jsonString)
            } else {
                let text: String
                switch kind {
                case "event": text = payload["event"]?.stringValue ?? payload.jsonString
                case "availability": text = Display.online(.bool(message.payloadString == "online"))
                default: text = Display.truncated(Self.stateText(payload), 100)
                }
                let line = "\(Self.clock(at))  \(Display.padded(device ?? "?", to: 20))  \(Display.padded(kind, to: 12))  \(text)"
                print(DisplayText.sanitized(line))
            }
            flushStandardOutput()  // one line at a time, also into a pipe
            printed += 1
            if let count, printed >= count { break }
        }
        await client.disconnect()
    }

    /// `temperature=21.5 humidity=40` without the bookkeeping fields.
    static func stateText(_ state: JSONValue) -> String {
        guard let object = state.objectValue else { return Display.value(state) }
        return object.filter { $0.key != "last_seen" && $0.key != "online" && $0.key != "attributes" }
            .map { "\($0.key)=\(Display.value($0.value))" }.joined(separator: " ")
    }

    /// `HH:MM:SS` in local time.
    static func clock(_ rfc3339: String) -> String {
        var seconds = time_t(Timestamp.seconds(from: rfc3339) ?? 0)
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}
