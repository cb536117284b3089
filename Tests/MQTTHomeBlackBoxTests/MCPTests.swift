import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// `mqtt-home mcp` driven over stdin/stdout with real JSON-RPC messages, as an MCP client does.
@Suite("mqtt-home mcp over stdio", .timeLimit(.minutes(1)), .awaitedCleanup)
struct MCPTests {
    func mcp(_ port: Int, _ messages: [JSONValue]) async throws -> (replies: [JSONValue], result: ProcessResult) {
        let input = messages.map(\.jsonString).joined(separator: "\n") + "\n"
        let result = try await ProcessRunner.run(
            Products.cli,
            ["mcp", "--host", "127.0.0.1", "--port", String(port)],
            input: input,
            timeout: 20
        )
        let replies = result.standardOutput.split(separator: "\n").map { (try? JSONParser.parse(String($0))) ?? .string(String($0)) }
        return (replies, result)
    }

    static let initialize: JSONValue = [
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": ["protocolVersion": "2025-06-18", "capabilities": [:], "clientInfo": ["name": "test", "version": "1"]],
    ]

    @Test("initialize, tools/list, tools/call read_sensor and set_device, an unknown tool, bad arguments")
    func session() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", ["name": "Kitchen sensor", "type": "sensor", "state_topic": "zigbee2mqtt/kitchen", "unit": "°C", "device_class": "temperature"])
        try await harness.status.client.publishAndWait("zigbee2mqtt/kitchen", payload: Array(#"{"temperature":21.5,"humidity":40}"#.utf8))
        for _ in 0..<100 where (try? await harness.call("sensors/read", ["device": "kitchen_sensor", "sensor": "temperature"]))?["value"] != 21.5 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let (replies, result) = try await mcp(
            harness.broker.port,
            [
                Self.initialize,
                ["jsonrpc": "2.0", "method": "notifications/initialized"],
                ["jsonrpc": "2.0", "id": 2, "method": "tools/list"],
                ["jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": ["name": "read_sensor", "arguments": ["device": "Kitchen sensor", "sensor": "湿度"]]],
                ["jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": ["name": "open_garage"]],
                ["jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": ["name": "read_sensor", "arguments": ["device": "kitchen_sensor"]]],
                ["jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": ["name": "get_device", "arguments": ["device": "kitchn"]]],
                ["jsonrpc": "2.0", "id": "seven", "method": "ping"],
                ["jsonrpc": "2.0", "id": 8, "method": "resources/list"],
            ]
        )
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(replies.count == 8, "one reply per request, none for the notification: \(result.standardOutput)")
        let initialized = try #require(replies.first { $0["id"] == 1 })
        #expect(initialized["result"]?["protocolVersion"] == "2025-06-18")
        #expect(initialized["result"]?["capabilities"]?["tools"] != nil)
        #expect(initialized["result"]?["serverInfo"]?["name"] == "mqtt-home")

        let tools = try #require(replies.first { $0["id"] == 2 }?["result"]?["tools"]?.arrayValue)
        #expect(Set(tools.compactMap { $0["name"]?.stringValue }) == [
            "list_devices", "get_device", "read_sensor", "sensor_history", "sensor_statistics", "set_device", "set_area", "list_areas",
            "control_device", "broker_status",
        ])
        for tool in tools {
            #expect(tool["inputSchema"]?["type"] == "object")
            #expect((tool["description"]?.stringValue?.count ?? 0) > 60, "\(tool["name"] ?? .null) needs a description a model can choose by")
        }
        let readSensor = try #require(tools.first { $0["name"] == "read_sensor" })
        #expect(readSensor["inputSchema"]?["required"] == ["device", "sensor"])

        let read = try #require(replies.first { $0["id"] == 3 }?["result"])
        #expect(read["isError"] == false)
        #expect(read["structuredContent"]?["value"] == 40)
        #expect(read["content"]?[0]?["type"] == "text")
        #expect(read["content"]?[0]?["text"]?.stringValue?.contains("\"humidity\"") == true)

        let unknown = try #require(replies.first { $0["id"] == 4 })
        #expect(unknown["error"]?["code"] == -32602)
        let missing = try #require(replies.first { $0["id"] == 5 }?["result"])
        #expect(missing["isError"] == true)
        #expect(missing["content"]?[0]?["text"]?.stringValue?.contains("needs 'sensor'") == true)
        let noDevice = try #require(replies.first { $0["id"] == 6 }?["result"])
        #expect(noDevice["isError"] == true)
        #expect(noDevice["content"]?[0]?["text"]?.stringValue?.contains("did you mean 'kitchen_sensor'") == true)
        #expect(replies.first { $0["id"] == "seven" }?["result"] == [:])
        #expect(replies.first { $0["id"] == 8 }?["error"]?["code"] == -32601)
    }

    @Test("garbage and a dead broker: parse error replies, initialize still works, tools say what is wrong")
    func failures() async throws {
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let port = closed.port
        let input = [Self.initialize.jsonString, "{not json", #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"broker_status","arguments":{}}}"#]
        let result = try await ProcessRunner.run(
            Products.cli,
            ["mcp", "--host", "127.0.0.1", "--port", String(port), "--timeout", "1"],
            input: input.joined(separator: "\n") + "\n",
            timeout: 20
        )
        let replies = result.standardOutput.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        #expect(replies.count == 3, "\(result.standardOutput)")
        #expect(replies.first?["result"]?["serverInfo"]?["name"] == "mqtt-home")
        #expect(replies.dropFirst().first?["error"]?["code"] == -32700)
        let call = replies.last?["result"]
        #expect(call?["isError"] == true)
        #expect(call?["content"]?[0]?["text"]?.stringValue?.contains("cannot connect to the broker at 127.0.0.1:\(port)") == true)
    }
}
