import Synchronization

/// A Model Context Protocol server (stdio transport: one JSON-RPC message per line) whose tools are the daemon's
/// RPC methods, so Claude Desktop, Cursor and other MCP clients can read sensors and control devices.
///
/// Protocol revisions: the handshake era (2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25: `initialize`, then
/// requests) and the stateless 2026-07-28 revision (`server/discover`, the version in each request's `_meta`); a
/// request carrying `_meta["io.modelcontextprotocol/protocolVersion"]` is answered in that revision's form.
///
/// Requests run concurrently (at most ``maxConcurrentCalls`` tool calls at once): `ping` and `tools/list` are
/// answered while a `set_device` waits for its confirmation, and `notifications/cancelled` cancels a running call,
/// which then gets no reply. Tool failures (a device that does not exist, a value out of range, the daemon not
/// answering) are tool results with `isError: true` and the daemon's own message, so the model can correct itself;
/// only protocol mistakes are JSON-RPC errors.
public final class MCPServer: Sendable {
    /// Calls one daemon RPC method and returns its result; throws ``RPCError`` for an error reply and any other
    /// error (described for a person) when there was no reply.
    public typealias Call = @Sendable (_ method: String, _ params: JSONObject) async throws -> JSONValue

    /// Handshake-era revisions, newest first.
    public static let handshakeVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    /// Stateless revisions (`server/discover`, version per request).
    public static let modernVersions = ["2026-07-28"]
    public static var protocolVersions: [String] { modernVersions + handshakeVersions }
    public static let maxConcurrentCalls = 16

    static let versionKey = "io.modelcontextprotocol/protocolVersion"
    static let serverInfoKey = "io.modelcontextprotocol/serverInfo"

    let call: Call
    let tools: [MCPTool]
    /// Running tool calls by request id (its JSON text), so `notifications/cancelled` can reach them.
    private let running = Mutex<[String: Task<Void, Never>]>([:])

    /// - Parameter readOnly: offer only the tools that change nothing (`mqtt-home mcp --read-only`).
    public init(readOnly: Bool = false, call: @escaping Call) {
        self.call = call
        tools = MCPTool.all.filter { !readOnly || $0.annotations.readOnly }
    }

    /// Serves `lines` until they end, then waits for the calls still running. `write` gets each reply line; it is
    /// called from several tasks and must write whole lines (and flush only what it wrote).
    public func serve(lines: AsyncStream<String>, write: @escaping @Sendable (String) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var active = 0
            for await line in lines where !line.allSatisfy(\.isWhitespace) {
                let message: JSONValue
                do {
                    message = try JSONParser.parse(line)
                } catch {
                    write(Self.error(id: .null, code: -32700, message: "Parse error: \(error)").jsonString)
                    continue
                }
                switch classify(message) {
                case .answer(let reply):
                    if let reply { write(reply.jsonString) }
                case .toolCall(let id, let tool, let arguments, let modern):
                    if active >= Self.maxConcurrentCalls {
                        await group.next()
                        active -= 1
                    }
                    active += 1
                    let key = id.jsonString
                    group.addTask {
                        let task = Task {
                            let result = await self.run(tool, arguments)
                            // A cancelled request gets no reply (the client has stopped waiting for it).
                            guard !Task.isCancelled else { return }
                            write(Self.result(id: id, Self.stamped(result, modern: modern)).jsonString)
                        }
                        self.running.withLock { $0[key] = task }
                        await task.value
                        self.running.withLock { _ = $0.removeValue(forKey: key) }
                    }
                }
            }
            await group.waitForAll()
        }
    }

    /// One line in, the reply line out (nil for notifications and responses); tool calls run to their end here.
    public func handle(line: String) async -> String? {
        let message: JSONValue
        do {
            message = try JSONParser.parse(line)
        } catch {
            return Self.error(id: .null, code: -32700, message: "Parse error: \(error)").jsonString
        }
        switch classify(message) {
        case .answer(let reply): return reply?.jsonString
        case .toolCall(let id, let tool, let arguments, let modern):
            return Self.result(id: id, Self.stamped(await run(tool, arguments), modern: modern)).jsonString
        }
    }

    enum Disposition {
        /// Answered at once (or nothing to answer).
        case answer(JSONValue?)
        case toolCall(id: JSONValue, tool: MCPTool, arguments: JSONObject, modern: Bool)
    }

    /// Everything but tool calls is answered here, at once; tool calls are checked and handed back to run.
    func classify(_ message: JSONValue) -> Disposition {
        guard let request = message.objectValue else {
            return .answer(Self.error(id: .null, code: -32600, message: "Invalid Request: expected one JSON-RPC object (batches are not supported)"))
        }
        guard request["jsonrpc"] == "2.0" else {
            return .answer(Self.error(id: request["id"] ?? .null, code: -32600, message: "Invalid Request: jsonrpc must be \"2.0\""))
        }
        guard let method = request["method"]?.stringValue else {
            // A response to a request we never send, or junk with an id: answer only the latter.
            if request["result"] != nil || request["error"] != nil { return .answer(nil) }
            return .answer(Self.error(id: request["id"] ?? .null, code: -32600, message: "Invalid Request: no method"))
        }
        guard let id = request["id"] else {
            notification(method, request["params"])
            return .answer(nil)
        }
        switch id {
        case .string, .int: break
        case .null: return .answer(Self.error(id: .null, code: -32600, message: "Invalid Request: id must be a string or a number, not null (MCP)"))
        default: return .answer(Self.error(id: .null, code: -32600, message: "Invalid Request: id must be a string or a number"))
        }
        let params: JSONObject
        switch request["params"] {
        case nil, .null?: params = JSONObject()
        case .object(let object)?: params = object
        case let other?: return .answer(Self.error(id: id, code: -32602, message: "Invalid params: params must be an object, not \(other.typeName)"))
        }
        let requested = params["_meta"]?[Self.versionKey]?.stringValue
        if let requested, !Self.modernVersions.contains(requested) {
            return .answer(
                Self.error(
                    id: id, code: -32022, message: "Unsupported protocol version: \(requested)",
                    data: ["supported": .array(Self.modernVersions.map(JSONValue.string)), "requested": .string(requested)]
                )
            )
        }
        let modern = requested != nil
        func answer(_ result: JSONValue) -> Disposition { .answer(Self.result(id: id, Self.stamped(result, modern: modern))) }
        switch method {
        case "initialize":
            let asked = params["protocolVersion"]?.stringValue ?? ""
            // The client's revision when we speak it, else our newest handshake revision (the client decides).
            let version = Self.handshakeVersions.contains(asked) ? asked : Self.handshakeVersions[0]
            return .answer(
                Self.result(
                    id: id,
                    [
                        "protocolVersion": .string(version),
                        "capabilities": Self.capabilities,
                        "serverInfo": Self.serverInfo,
                        "instructions": .string(Self.instructions),
                    ]
                )
            )
        case "server/discover":
            return answer([
                "supportedVersions": .array(Self.protocolVersions.map(JSONValue.string)),
                "capabilities": Self.capabilities,
                "instructions": .string(Self.instructions),
                "ttlMs": 0,
                "cacheScope": "private",
            ])
        case "ping":
            return answer([:])
        case "tools/list":
            var result: JSONObject = ["tools": .array(tools.map(\.listing))]
            if modern {
                result["ttlMs"] = 0
                result["cacheScope"] = "private"
            }
            return answer(.object(result))
        case "tools/call":
            guard let name = params["name"]?.stringValue else {
                return .answer(Self.error(id: id, code: -32602, message: "Invalid params: tools/call needs a tool name"))
            }
            guard let tool = tools.first(where: { $0.name == name }) else {
                return .answer(Self.error(id: id, code: -32602, message: "Unknown tool: \(name); tools/list names them"))
            }
            let arguments: JSONObject
            switch params["arguments"] {
            case nil, .null?: arguments = JSONObject()
            case .object(let object)?: arguments = object
            case let other?:
                return .answer(Self.error(id: id, code: -32602, message: "Invalid params: arguments must be an object, not \(other.typeName)"))
            }
            return .toolCall(id: id, tool: tool, arguments: arguments, modern: modern)
        default:
            return .answer(Self.error(id: id, code: -32601, message: "Method not found: \(method)"))
        }
    }

    /// `notifications/cancelled` stops the named call; other notifications (`initialized`, …) need nothing.
    func notification(_ method: String, _ params: JSONValue?) {
        guard method == "notifications/cancelled", let requestID = params?["requestId"] else { return }
        let task = running.withLock { $0[requestID.jsonString] }
        task?.cancel()
    }

    /// A tool's outcome as MCP content: the result as JSON text (and `structuredContent`), or the error's words.
    func run(_ tool: MCPTool, _ arguments: JSONObject) async -> JSONValue {
        do {
            let params = try tool.params(arguments)
            let result = tool.shape(try await call(tool.method.name, params))
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

    static var capabilities: JSONValue { ["tools": ["listChanged": false]] }
    static var serverInfo: JSONValue {
        ["name": "mqtt-home", "title": "mqtt-home smart home", "version": .string(MQTTHomeVersion.current)]
    }

    /// 2026-07-28 results say they are complete and who answered (`_meta` serverInfo); older ones stay as they were.
    static func stamped(_ result: JSONValue, modern: Bool) -> JSONValue {
        guard modern, var object = result.objectValue else { return result }
        object["resultType"] = "complete"
        var meta = object["_meta"]?.objectValue ?? JSONObject()
        meta[serverInfoKey] = serverInfo
        object["_meta"] = .object(meta)
        return .object(object)
    }

    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: JSONValue, code: Int, message: String, data: JSONValue? = nil) -> JSONValue {
        var error: JSONObject = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { error["data"] = data }
        return ["jsonrpc": "2.0", "id": id, "error": .object(error)]
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
