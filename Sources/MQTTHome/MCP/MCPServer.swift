/// A Model Context Protocol server (stdio transport: one JSON-RPC message per line) whose tools are the daemon's
/// RPC methods, so Claude Desktop, Cursor and other MCP clients can read sensors and control devices.
///
/// It implements what an MCP tool server needs — `initialize`, `ping`, `tools/list`, `tools/call`, notifications —
/// for protocol versions 2024-11-05, 2025-03-26 and 2025-06-18. Tool failures (a device that does not exist, a
/// value out of range, the daemon not answering) are tool results with `isError: true` and the daemon's own
/// message, so the model can read them and correct itself; only protocol mistakes are JSON-RPC errors.
public struct MCPServer: Sendable {
    /// Calls one daemon RPC method and returns its result; throws ``RPCError`` for an error reply and any other
    /// error (described for a person) when there was no reply.
    public typealias Call = @Sendable (_ method: String, _ params: JSONObject) async throws -> JSONValue

    public static let protocolVersions = ["2025-06-18", "2025-03-26", "2024-11-05"]

    let call: Call

    public init(call: @escaping Call) { self.call = call }

    /// One line from the client in; the line to answer with, or nil for notifications and responses.
    public func handle(line: String) async -> String? {
        let message: JSONValue
        do {
            message = try JSONParser.parse(line)
        } catch {
            return Self.error(id: .null, code: -32700, message: "Parse error: \(error)").jsonString
        }
        return await handle(message)?.jsonString
    }

    func handle(_ message: JSONValue) async -> JSONValue? {
        guard let request = message.objectValue else {
            return Self.error(id: .null, code: -32600, message: "Invalid Request: expected one JSON-RPC object (batches are not supported)")
        }
        let id = request["id"]
        guard let method = request["method"]?.stringValue else {
            // A response to a request we never send, or junk with an id: answer only the latter.
            if request["result"] != nil || request["error"] != nil { return nil }
            return Self.error(id: id ?? .null, code: -32600, message: "Invalid Request: no method")
        }
        guard let id, !id.isNull else { return nil }  // notifications (initialized, cancelled) need no answer
        let params = request["params"]?.objectValue ?? JSONObject()
        switch method {
        case "initialize":
            let asked = params["protocolVersion"]?.stringValue ?? ""
            let version = Self.protocolVersions.contains(asked) ? asked : Self.protocolVersions[0]
            return Self.result(
                id: id,
                [
                    "protocolVersion": .string(version),
                    "capabilities": ["tools": ["listChanged": false]],
                    "serverInfo": ["name": "mqtt-home", "title": "mqtt-home smart home", "version": .string(MQTTHomeVersion.current)],
                    "instructions": .string(Self.instructions),
                ]
            )
        case "ping":
            return Self.result(id: id, [:])
        case "tools/list":
            return Self.result(id: id, ["tools": .array(MCPTool.all.map(\.listing))])
        case "tools/call":
            guard let name = params["name"]?.stringValue else {
                return Self.error(id: id, code: -32602, message: "Invalid params: tools/call needs a tool name")
            }
            guard let tool = MCPTool.all.first(where: { $0.name == name }) else {
                return Self.error(id: id, code: -32602, message: "Unknown tool: \(name); tools/list names them")
            }
            let arguments = params["arguments"]?.objectValue ?? JSONObject()
            return Self.result(id: id, await run(tool, arguments))
        default:
            return Self.error(id: id, code: -32601, message: "Method not found: \(method)")
        }
    }

    /// A tool's outcome as MCP content: the result as JSON text (and `structuredContent`), or the error's words.
    func run(_ tool: MCPTool, _ arguments: JSONObject) async -> JSONValue {
        do {
            let params = tool.params(try tool.checked(arguments))
            let result = tool.shape(try await call(tool.method, params))
            var content: JSONObject = ["content": [["type": "text", "text": .string(result.prettyJSONString)]], "isError": false]
            if result.objectValue != nil { content["structuredContent"] = result }
            return .object(content)
        } catch let error as RPCError {
            var text = "error \(error.code): \(error.message)"
            if let data = error.data, !data.isNull { text += "\ndata: \(data.jsonString)" }
            return ["content": [["type": "text", "text": .string(text)]], "isError": true]
        } catch {
            return ["content": [["type": "text", "text": .string("\(error)")]], "isError": true]
        }
    }

    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: JSONValue, code: Int, message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": ["code": .int(Int64(code)), "message": .string(message)]]
    }

    static let instructions = """
        mqtt-home is the user's smart home on their MQTT broker. Start with list_devices to learn device ids and \
        what they report. Read measurements with read_sensor (it accepts plain words such as temperature, \
        humidity, battery, or 温度, 湿度), and check `stale` before trusting a value. Change devices with \
        set_device (structured fields) or control_device (port type and number); both report `confirmed` only \
        when the device itself reported the new state, `unconfirmed` when it did not within the wait, and `sent` \
        for devices that report nothing.
        """
}
