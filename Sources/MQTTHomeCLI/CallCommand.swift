import ArgumentParser
import MQTTHome

struct CallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call",
        abstract: "Call any RPC method with JSON parameters and print the result.",
        discussion: """
            Like mosquitto_rr against mqtt-home/rpc/<method>, with a unique reply topic and a timeout.

            Examples:
              mqtt-home call health
              mqtt-home call rpc/methods
              mqtt-home call health '{}' --json
              mqtt-home call sensors/read '{"device":"weather","sensor":"温度"}'

            With --json the result is printed exactly as the daemon returned it; an error reply prints its
            error object ({"code","message","data"}) and exits 1.
            """
    )

    @Argument(help: "The method, e.g. health or rpc/methods (the topic suffix after <base>/rpc/).")
    var method: String

    @Argument(help: "Parameters as one JSON object (default {}).")
    var params: String?

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if method.isEmpty || method.contains("+") || method.contains("#") {
            throw ValidationError("method must be a plain topic suffix without '+' or '#', got '\(method)'")
        }
        _ = try parsedParams()
    }

    func parsedParams() throws -> JSONObject {
        guard let params, !params.allSatisfy(\.isWhitespace) else { return JSONObject() }
        let value: JSONValue
        do {
            value = try JSONParser.parse(params)
        } catch {
            throw ValidationError("params are not valid JSON: \(error)")
        }
        guard let object = value.objectValue else {
            throw ValidationError("params must be a JSON object like '{\"key\": \"value\"}', got \(value.typeName)")
        }
        return object
    }

    func run() async throws {
        let result = try await connection.result(method, try parsedParams())
        output.emit(result) { result.prettyJSONString }
    }
}
