import Synchronization
import Testing

@testable import MQTTHome

@Suite("MCP server: strict JSON-RPC, revisions, concurrency and cancellation")
struct MCPServerTests {
    /// A server whose daemon answers `sensors/read` at once and holds `devices/set` until cancelled.
    func server(readOnly: Bool = false) -> MCPServer {
        MCPServer(readOnly: readOnly) { method, _ in
            if method == "devices/set" {
                try await Task.sleep(for: .seconds(30))
                return ["status": "confirmed"]
            }
            return ["value": 21.5, "unit": "°C"]
        }
    }

    func reply(_ server: MCPServer, _ line: String) async -> JSONValue? {
        await server.handle(line: line).flatMap { try? JSONParser.parse($0) }
    }

    @Test("id null, a non-object params or arguments and a wrong jsonrpc are errors, not silence or {}")
    func strict() async {
        let server = server()
        let nullID = await reply(server, #"{"jsonrpc":"2.0","id":null,"method":"ping"}"#)
        #expect(nullID?["error"]?["code"] == -32600)
        let arrayArguments = await reply(server, #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_sensor","arguments":[1,2]}}"#)
        #expect(arrayArguments?["error"]?["code"] == -32602)
        #expect(arrayArguments?["id"] == 1)
        let arrayParams = await reply(server, #"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":[1]}"#)
        #expect(arrayParams?["error"]?["code"] == -32602)
        let version = await reply(server, #"{"jsonrpc":"1.0","id":3,"method":"ping"}"#)
        #expect(version?["error"]?["code"] == -32600)
        #expect(await server.handle(line: #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#) == nil)
    }

    @Test("initialize negotiates a handshake revision; server/discover and _meta speak 2026-07-28; others get -32022")
    func revisions() async {
        let server = server()
        for (asked, answered) in [("2025-11-25", "2025-11-25"), ("2024-11-05", "2024-11-05"), ("2099-01-01", "2025-11-25")] {
            let result = await reply(server, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"\(asked)\"}}")
            #expect(result?["result"]?["protocolVersion"] == .string(answered))
        }
        let meta = #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#
        let discover = await reply(server, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"server/discover\",\"params\":{\(meta)}}")
        #expect(discover?["result"]?["supportedVersions"]?.arrayValue?.contains("2026-07-28") == true)
        #expect(discover?["result"]?["resultType"] == "complete")
        #expect(discover?["result"]?["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == "mqtt-home")
        let call = await reply(server, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"read_sensor\",\"arguments\":{\"device\":\"k\",\"sensor\":\"t\"},\(meta)}}")
        #expect(call?["result"]?["structuredContent"]?["value"] == 21.5 && call?["result"]?["resultType"] == "complete")
        let unknown = await reply(server, #"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2030-01-01"}}}"#)
        #expect(unknown?["error"]?["code"] == -32022)
        #expect(unknown?["error"]?["data"]?["supported"] == ["2026-07-28"])
    }

    @Test("requests run side by side; a cancelled call gets no reply; --read-only hides what changes things")
    func concurrency() async throws {
        let server = server()
        let (lines, input) = AsyncStream.makeStream(of: String.self)
        let written = Mutex<[JSONValue]>([])
        let serving = Task { await server.serve(lines: lines) { line in written.withLock { $0.append(try! JSONParser.parse(line)) } } }
        input.yield(#"{"jsonrpc":"2.0","id":"set","method":"tools/call","params":{"name":"set_device","arguments":{"device":"plug","state":"ON"}}}"#)
        input.yield(#"{"jsonrpc":"2.0","id":"ping","method":"ping"}"#)
        input.yield(#"{"jsonrpc":"2.0","id":"read","method":"tools/call","params":{"name":"read_sensor","arguments":{"device":"k","sensor":"t"}}}"#)
        for _ in 0..<200 where written.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(Set(written.withLock { $0.compactMap { $0["id"]?.stringValue } }) == ["ping", "read"], "answered while set_device waits")
        input.yield(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"set","reason":"user"}}"#)
        input.finish()
        await serving.value  // ends only once the cancelled call has ended
        #expect(written.withLock { $0.count } == 2, "no reply for the cancelled call")

        let listed = await reply(self.server(readOnly: true), #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        let names = listed?["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(!names.contains("set_device") && !names.contains("control_device") && names.contains("read_sensor"))
    }

    @Test("each tool's inputSchema is its RPC method's declaration: same types, ranges and required parameters")
    func schemasDerive() throws {
        for tool in MCPTool.all {
            let schema = try #require(tool.listing["inputSchema"]?["properties"]?.objectValue)
            let required = tool.listing["inputSchema"]?["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            for parameter in tool.method.parameters where !tool.preset.keys.contains(parameter.name) {
                let argument = tool.renames.first { $0.value == parameter.name }?.key ?? parameter.name
                #expect(schema[argument] == parameter.schema, "\(tool.name).\(argument)")
                #expect(required.contains(argument) == (parameter.required || tool.alsoRequired.contains(argument)), "\(tool.name).\(argument) required")
            }
            #expect(schema.keys.count == tool.arguments.count)
        }
        let set = try #require(MCPTool.all.first { $0.name == "set_device" })
        #expect(set.listing["inputSchema"]?["properties"]?["brightness"]?["type"] == "integer")
        #expect(throws: RPCError.self) { try set.params(["device": "lamp", "brightness": 300]) }
        #expect(throws: RPCError.self) { try set.params(["device": "lamp", "brightness": "bright"]) }
        #expect(try set.params(["device": "lamp", "brightness": 128]) == ["id": "lamp", "brightness": 128])
        let list = try #require(MCPTool.all.first { $0.name == "list_devices" })
        #expect(try list.params([:]) == ["limit": 1000])
    }

    @Test("the router validates types and ranges from the same declaration")
    func routerValidates() async throws {
        var router = RPCRouter()
        router.register(RPCMethod(DeviceMethods.set) { _ throws(RPCError) in .null })
        await #expect(throws: RPCError.invalidParams("brightness", "must be at most 255, got 300")) {
            try await router.call("devices/set", params: ["id": "lamp", "brightness": 300])
        }
        await #expect(throws: RPCError.self) { try await router.call("devices/set", params: ["id": "lamp", "rgb": "red"]) }
        #expect(try await router.call("devices/set", params: ["id": "lamp", "brightness": 255, "state": true]) == .null)
    }
}
