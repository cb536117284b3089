import ArgumentParser
import Foundation
import MQTTHome

/// `mqtt-home devices import FILE`: many devices at once through `devices/import`, from JSON (a list of
/// `devices/add` objects, or `{"devices": [...]}`) or CSV with a header row (`name,type,state_topic,command_topic`,
/// any other `devices/add` parameter as a further column).
struct DevicesImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add many devices at once from a JSON or CSV file (- reads standard input).",
        discussion: """
            The file is sent in parts of at most \(maxItems) devices and \(maxBytes / 1024) KiB (under the daemon's
            RPC_MAX_PAYLOAD_BYTES); each part is checked as one and committed in one transaction. Devices that fail are
            listed with the reason; the others are added (--atomic: a part with any failure adds nothing).

            Examples:
              mqtt-home devices import devices.json
              mqtt-home devices import devices.csv
              mqtt-home devices import --format csv - < devices.txt

            devices.json: [{"name":"Kitchen sensor","type":"sensor","state_topic":"zigbee2mqtt/kitchen"}, …]
            devices.csv:  name,type,state_topic,command_topic
                          Hall light,light,hall/light,hall/light/set
            """
    )

    static let maxItems = 2_000
    static let maxBytes = 200 * 1024

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, csv
    }

    @Argument(help: "The file (- for standard input).") var file: String
    @Option(help: "json or csv (default: from the file name's extension, else json).") var format: Format?
    @Flag(help: "Add none of a part unless every device in it is valid.") var atomic = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIExit(code: .usage, message: "cannot read \(file)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let chosen = format ?? (file.lowercased().hasSuffix(".csv") ? .csv : .json)
        let devices: [JSONValue]
        do {
            devices = chosen == .csv ? try Self.parseCSV(text) : try Self.parseJSON(text)
        } catch let error as ImportFileError {
            throw CLIExit(code: .usage, message: "\(file): \(error.message)")
        }
        guard !devices.isEmpty else { throw CLIExit(code: .usage, message: "\(file): no devices in it") }

        var results: [JSONValue] = []
        var added = 0
        var failed = 0
        try await connection.withSession { session in
            var offset = 0
            for part in Self.parts(devices) {
                var params: JSONObject = ["devices": .array(part)]
                if atomic { params["atomic"] = true }
                let reply = try await session.call("devices/import", params, wait: 30)
                added += reply["added"]?.intValue.map(Int.init) ?? 0
                failed += reply["failed"]?.intValue.map(Int.init) ?? 0
                for result in reply["results"]?.arrayValue ?? [] {
                    // Indices in the reply count from the part; shift them to the file's.
                    var object = result.objectValue ?? JSONObject()
                    if let index = object["index"]?.intValue { object["index"] = .int(index + Int64(offset)) }
                    results.append(.object(object))
                }
                offset += part.count
            }
        }
        let summary: JSONValue = ["added": JSONValue(added), "failed": JSONValue(failed), "results": .array(results)]
        output.emit(summary) {
            var lines = ["added \(added) of \(devices.count) devices" + (failed > 0 ? "; \(failed) failed:" : "")]
            for result in results where result["status"]?.stringValue != "added" {
                let index = (result["index"]?.intValue ?? 0) + (chosen == .csv ? 2 : 1)
                let name = devices[Int(result["index"]?.intValue ?? 0)]["name"]?.stringValue ?? "?"
                let reason = result["error"]?["message"]?.stringValue ?? result["reason"]?.stringValue ?? "?"
                lines.append("  \(chosen == .csv ? "line" : "item") \(index) (\(name)): \(reason)")
            }
            return lines.joined(separator: "\n")
        }
        if failed > 0 { throw CLIExit(code: .rpcError, message: "\(failed) of \(devices.count) devices were not added") }
    }

    /// Parts of at most `maxItems` devices and about `maxBytes` of JSON each.
    static func parts(_ devices: [JSONValue]) -> [[JSONValue]] {
        var parts: [[JSONValue]] = []
        var current: [JSONValue] = []
        var bytes = 0
        for device in devices {
            let size = device.jsonBytes.count + 1
            if !current.isEmpty && (current.count >= maxItems || bytes + size > maxBytes) {
                parts.append(current)
                current = []
                bytes = 0
            }
            current.append(device)
            bytes += size
        }
        if !current.isEmpty { parts.append(current) }
        return parts
    }

    struct ImportFileError: Error {
        var message: String
    }

    static func parseJSON(_ text: String) throws -> [JSONValue] {
        let value: JSONValue
        do {
            value = try JSONParser.parse(text)
        } catch {
            throw ImportFileError(message: "not valid JSON: \(error)")
        }
        if let list = value.arrayValue { return list }
        if let list = value["devices"]?.arrayValue { return list }
        throw ImportFileError(message: "expected a JSON list of devices or {\"devices\": [...]}")
    }

    /// CSV with a header row naming `devices/add` parameters; quoted fields ("a, b" and "" for a quote) allowed.
    /// Empty cells are left out; `true`/`false` become booleans for `retain` and `state_topic_filter`.
    static func parseCSV(_ text: String) throws -> [JSONValue] {
        var rows = csvRows(text).filter { !$0.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }
        guard !rows.isEmpty else { return [] }
        let header = rows.removeFirst().map { $0.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: " ", with: "_") }
        for required in ["name", "type", "state_topic"] where !header.contains(required) {
            throw ImportFileError(message: "the header row needs a '\(required)' column (it has: \(header.joined(separator: ", ")))")
        }
        let booleans: Set<String> = ["retain", "state_topic_filter"]
        return try rows.enumerated().map { number, row in
            guard row.count <= header.count else {
                throw ImportFileError(message: "line \(number + 2) has \(row.count) cells; the header has \(header.count)")
            }
            var object = JSONObject()
            for (column, cell) in zip(header, row) {
                let value = cell.trimmingCharacters(in: .whitespaces)
                guard !value.isEmpty else { continue }
                if booleans.contains(column), let flag = Bool(value.lowercased()) {
                    object[column] = .bool(flag)
                } else {
                    object[column] = .string(value)
                }
            }
            return .object(object)
        }
    }

    static func csvRows(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var cell = ""
        var quoted = false
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            index += 1
            if quoted {
                guard character == "\"" else {
                    cell.append(character)
                    continue
                }
                // `""` inside quotes is a quote; a single one closes the quoted part of the cell.
                if index < characters.count && characters[index] == "\"" {
                    cell.append("\"")
                    index += 1
                } else {
                    quoted = false
                }
            } else if character == "\"" && cell.isEmpty {
                quoted = true
            } else if character == "," {
                row.append(cell)
                cell = ""
            } else if character == "\n" || character == "\r\n" {
                row.append(cell)
                rows.append(row)
                row = []
                cell = ""
            } else {
                cell.append(character)
            }
        }
        if !cell.isEmpty || !row.isEmpty {
            row.append(cell)
            rows.append(row)
        }
        return rows
    }
}
