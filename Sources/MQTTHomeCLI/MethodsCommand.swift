import ArgumentParser
import MQTTHome

struct MethodsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "methods",
        abstract: "List every RPC method the daemon offers, with its parameters.",
        discussion: """
            Example:
              mqtt-home methods
              mqtt-home methods --json
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let result = try await connection.result(RPCRouter.introspectionMethod, JSONObject())
        output.emit(result) { Self.describe(result) }
    }

    static func describe(_ result: JSONValue) -> String {
        let methods = result["methods"]?.arrayValue ?? []
        let width = methods.map { ($0["name"]?.stringValue ?? "").count }.max() ?? 0
        var lines: [String] = []
        for method in methods {
            let name = method["name"]?.stringValue ?? "?"
            lines.append(name.padding(to: width) + "  " + (method["summary"]?.stringValue ?? ""))
            for parameter in method["params"]?.arrayValue ?? [] {
                let required = parameter["required"]?.boolValue == true ? "required" : "optional"
                let detail = "\(parameter["type"]?.stringValue ?? "?"), \(required)"
                lines.append(
                    String(repeating: " ", count: width + 4) + "\(parameter["name"]?.stringValue ?? "?") (\(detail)): "
                        + (parameter["description"]?.stringValue ?? "")
                )
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
