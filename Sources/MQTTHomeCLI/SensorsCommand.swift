import ArgumentParser
import MQTTHome

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home sensors read|history`: the plugin API from a terminal.
struct SensorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensors",
        abstract: "Read a sensor by the word you would use for it, or its recent history.",
        discussion: """
            Examples:
              mqtt-home sensors read weather 温度
              mqtt-home sensors history weather temperature --since 2h
            """,
        subcommands: [SensorsRead.self, SensorsHistory.self]
    )
}

struct SensorsRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "One sensor's value with its unit and age.",
        discussion: """
            The sensor is an entity key, an entity name, a device class or a common word in English or Chinese
            (temperature/温度, humidity/湿度, illuminance/光照, battery/电量, power/功率, voltage/电压,
            co2/二氧化碳, pm25/PM2.5, …).

            Examples:
              mqtt-home sensors read weather temperature
              mqtt-home sensors read "Kitchen sensor" 温度
              mqtt-home sensors read weather humidity --json | jq .value
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @Argument(help: "Sensor: key, name, device class or alias.") var sensor: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let result = try await connection.result("sensors/read", ["device": .string(device), "sensor": .string(sensor)])
        output.emit(result) {
            let value = Display.value(result["value"], unit: result["unit"]?.stringValue)
            let deviceName = result["device_name"]?.stringValue ?? device
            // A manual device's single entity carries the device's name: show its key instead.
            let sensorName = result["name"]?.stringValue.flatMap { $0 == deviceName ? nil : $0 } ?? result["sensor"]?.stringValue ?? sensor
            var line = "\(deviceName) \(sensorName): \(value)"
            var notes = ["updated \(Display.ago(result["updated_at"]?.stringValue))"]
            if let deviceClass = result["device_class"]?.stringValue { notes.insert(deviceClass, at: 0) }
            if result["stale"]?.boolValue == true { notes.append("STALE (older than \(Display.value(result["stale_after_s"])) s)") }
            if result["online"]?.boolValue == false { notes.append("device offline") }
            line += " (\(notes.joined(separator: ", ")))"
            return line
        }
    }
}

struct SensorsHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "A sensor's past: raw values, or 5-minute, hourly or daily mean/min/max, newest first.",
        discussion: """
            On a terminal a sparkline of the values (oldest to newest) follows the table.

            Examples:
              mqtt-home sensors history weather temperature
              mqtt-home sensors history kitchen temperature --since -24h --resolution hour
              mqtt-home sensors history weather 温度 --since 2h --limit 50
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @Argument(help: "Sensor: key, name, device class or alias.") var sensor: String
    // `.unconditional`: `--since -24h` is a value, not another option.
    @Option(parsing: .unconditional, help: "From this RFC 3339 time or this long ago (-24h, 30m, 7d; default 24 h ago).") var since: String?
    @Option(parsing: .unconditional, help: "Up to this RFC 3339 time or age (default now).") var until: String?
    @Option(help: "raw, 5min, hour or day (default raw).") var resolution: String = "raw"
    @Option(help: "How many (1-10000, default 20; 24 for --resolution hour).") var limit: Int?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if let limit, !(1...10_000).contains(limit) { throw ValidationError("--limit must be from 1 to 10000") }
        if !["raw", "5min", "hour", "day"].contains(resolution) { throw ValidationError("--resolution must be raw, 5min, hour or day") }
    }

    func run() async throws {
        let count = limit ?? (resolution == "hour" ? 24 : 20)
        var params: JSONObject = ["device": .string(device), "sensor": .string(sensor), "limit": .int(Int64(count))]
        if let since { params["since"] = .string(since) }
        if let until { params["until"] = .string(until) }
        if resolution != "raw" { params["resolution"] = .string(resolution) }
        let result = try await connection.result("sensors/history", params)
        output.emit(result) {
            let items = result["items"]?.arrayValue ?? []
            guard !items.isEmpty else { return "no values of \(result["sensor"]?.stringValue ?? sensor) in that time" }
            let unit = result["unit"]?.stringValue
            var text: String
            var values: [Double]
            if resolution == "raw" {
                text = Display.table(
                    ["at", "when", "value"],
                    items.map { [$0["at"]?.stringValue ?? "", Display.ago($0["at"]?.stringValue), Display.value($0["value"], unit: unit)] }
                )
                values = items.compactMap { $0["value"]?.doubleValue }
            } else {
                text = Display.table(
                    ["start", "mean", "min", "max", "last", "count"],
                    items.map { item in
                        [
                            item["start"]?.stringValue ?? "", Display.value(item["mean"], unit: unit), Display.value(item["min"], unit: unit),
                            Display.value(item["max"], unit: unit), Display.value(item["last"], unit: unit), String(item["count"]?.intValue ?? 0),
                        ]
                    }
                )
                values = items.compactMap { $0["mean"]?.doubleValue }
            }
            if isatty(1) == 1, values.count > 1 { text += "\n" + Display.sparkline(values.reversed()) }
            return text
        }
    }
}
