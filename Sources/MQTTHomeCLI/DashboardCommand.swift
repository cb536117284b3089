import ArgumentParser
import MQTTHome

/// `mqtt-home dashboard`: the home and the broker in one screen.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Totals at a glance: devices online and offline, by type, recent activity, broker status.",
        discussion: """
            Examples:
              mqtt-home dashboard
              mqtt-home dashboard --json | jq .online
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let (result, broker) = try await connection.withSession { session in
            (try await session.call("dashboard"), try? await session.call("broker/status"))
        }
        output.emit(result) {
            func counts(_ value: JSONValue?) -> String {
                (value?.objectValue ?? JSONObject()).map { "\($0.key) \(Display.value($0.value))" }.joined(separator: ", ")
            }
            var pairs: [(String, String)] = [
                ("devices", "\(Display.value(result["devices"])) (● \(Display.value(result["online"])) online, ○ \(Display.value(result["offline"])) offline)"),
                ("by type", counts(result["by_type"])),
                ("by origin", counts(result["by_origin"])),
            ]
            if let broker {
                pairs.append(("broker", BrokerStatusCommand.headline(broker)))
            }
            var text = Display.fields(pairs)
            let recent = result["recent_activity"]?.arrayValue ?? []
            if !recent.isEmpty {
                text += "\n\nrecent activity\n" + Display.table(
                    ["when", "device", "dir", "topic", "payload"],
                    recent.map {
                        [
                            Display.ago($0["at"]?.stringValue), $0["device_id"]?.stringValue ?? "", $0["direction"]?.stringValue ?? "",
                            $0["topic"]?.stringValue ?? "", Display.truncated($0["payload"]?.stringValue ?? "", 40),
                        ]
                    }
                )
            }
            return text
        }
    }
}
