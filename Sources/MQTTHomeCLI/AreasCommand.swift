import ArgumentParser
import MQTTHome

/// `mqtt-home areas`: the home by room, and acting on a room at once.
struct AreasCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "areas",
        abstract: "Areas (rooms): what is in each, and set every device in one at once.",
        discussion: """
            Examples:
              mqtt-home areas
              mqtt-home areas set kitchen state=OFF --type light
              mqtt-home devices list --area kitchen
            """,
        subcommands: [AreasList.self, AreasSet.self],
        defaultSubcommand: AreasList.self
    )
}

struct AreasList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every area with its devices, how many are online, and how many of each type.",
        discussion: """
            Examples:
              mqtt-home areas
              mqtt-home areas list --json | jq '.areas[].area'
            Give a device an area with: mqtt-home devices update hall_light --area Hall
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let result = try await connection.result("areas/list")
        output.emit(result) {
            let areas = result["areas"]?.arrayValue ?? []
            guard !areas.isEmpty else { return "no areas yet; give a device one with: mqtt-home devices update <id> --area Kitchen" }
            let rows = areas.map { area -> [String] in
                let types = (area["by_type"]?.objectValue ?? JSONObject()).map { "\($0.value.intValue ?? 0) \($0.key)" }.joined(separator: ", ")
                return [
                    area["area"]?.stringValue ?? "?", String(area["devices"]?.intValue ?? 0), String(area["online"]?.intValue ?? 0), types,
                ]
            }
            let unassigned = result["unassigned"]?.intValue ?? 0
            return Display.table(["area", "devices", "online", "types"], rows)
                + (unassigned > 0 ? "\n\(unassigned) device\(unassigned == 1 ? "" : "s") without an area" : "")
        }
    }
}

struct AreasSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set every controllable device in an area (of one type, with --type), and wait for their confirmations.",
        discussion: """
            The same fields as devices set; devices that take no commands (sensors) are skipped. At most 50 devices.

            Examples:
              mqtt-home areas set kitchen state=OFF --type light
              mqtt-home areas set "living room" state=ON brightness=80
            Exit 5 when a device did not confirm within --wait; 1 when a device failed.
            """
    )

    @Argument(help: "Area name (case-insensitive).") var area: String
    @OptionGroup var set: SetFields
    @Option(help: "Only devices of this type, e.g. light.") var type: String?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var params = try set.params()
        params["area"] = .string(area)
        if let type { params["type"] = .string(type) }
        let result = try await connection.result("devices/set", params, wait: set.wait)
        let results = result["results"]?.arrayValue ?? []
        output.emit(result) {
            var rows = results.map { item -> [String] in
                let status = item["status"]?.stringValue ?? "?"
                let detail = status == "error" ? (item["error"]?["message"]?.stringValue ?? "") : Display.value(item["value"] ?? item["last_value"] ?? .null)
                return [item["id"]?.stringValue ?? "?", status, detail]
            }
            rows += (result["skipped"]?.arrayValue ?? []).map { [$0["id"]?.stringValue ?? "?", "skipped", $0["reason"]?.stringValue ?? ""] }
            return Display.table(["device", "status", "value"], rows)
        }
        if (result["failed"]?.intValue ?? 0) > 0 {
            throw CLIExit(code: .rpcError, message: "\(result["failed"]?.intValue ?? 0) of \(results.count) devices failed")
        }
        if (result["unconfirmed"]?.intValue ?? 0) > 0 {
            throw CLIExit(code: .unconfirmed, message: "\(result["unconfirmed"]?.intValue ?? 0) of \(results.count) devices did not confirm within the wait; the commands were sent")
        }
    }
}
