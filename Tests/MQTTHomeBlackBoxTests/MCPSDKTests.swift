import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// `mqtt-home mcp` driven by the official MCP Python SDK (`mcp` 2.3.0 from PyPI, in the venv scripts/test makes):
/// a client nobody here wrote, which waits for each reply before it sends more — what stalled the server before.
/// Each scenario is `Tests/Fixtures/mcp-sdk-client.py <scenario>`, which prints what it saw as JSON. scripts/test runs
/// the suite in its own phase (`MQTT_HOME_SERIAL=1`), so the Python processes do not slow the time-limited tests.
@Suite(
    "mqtt-home mcp with the official MCP Python SDK",
    .serialPhase,
    .timeLimit(.minutes(3))
)
struct MCPSDKTests {
    static var python: String { ProcessInfo.processInfo.environment["MQTT_HOME_PYTHON"] ?? "python3" }

    /// A daemon with a reporting sensor, a light whose device echoes commands, and a plug that never answers.
    func home() async throws -> (DaemonHarness, MessageCollector, Task<Void, Never>) {
        let harness = try await DaemonHarness.start()
        _ = try await harness.call("devices/add", ["name": "Kitchen sensor", "type": "sensor", "state_topic": "zigbee2mqtt/kitchen", "unit": "°C", "device_class": "temperature"])
        _ = try await harness.call("devices/add", ["name": "Hall light", "type": "light", "state_topic": "hall/light", "command_topic": "hall/light/set", "area": "Hall"])
        _ = try await harness.call("devices/add", ["name": "Silent plug", "type": "switch", "state_topic": "plug/state", "command_topic": "plug/set"])
        let device = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["hall/light/set"])
        try await device.client.publishAndWait("zigbee2mqtt/kitchen", payload: Array(#"{"temperature":21.5,"humidity":40}"#.utf8))
        try await device.client.publishAndWait("hall/light", payload: Array("OFF".utf8))
        try await device.client.publishAndWait("plug/state", payload: Array("OFF".utf8))
        let echo = device.echoingCommands()
        for _ in 0..<100 {
            if (try? await harness.call("sensors/read", ["device": "kitchen_sensor", "sensor": "temperature"]))?["value"] == 21.5 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (harness, device, echo)
    }

    func run(_ name: String, _ harness: DaemonHarness) async throws -> JSONValue {
        let result = try await ProcessRunner.run(
            Self.python, [Fixtures.path("mcp-sdk-client.py"), Products.cli, String(harness.broker.port), name], timeout: 100
        )
        #expect(result.exitCode == 0, "\(name): \(result.standardError.suffix(2000))")
        let line = result.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        return try JSONParser.parse(line)
    }

    func stop(_ home: (DaemonHarness, MessageCollector, Task<Void, Never>)) async {
        home.2.cancel()
        await home.2.value
        await home.1.close()
        await home.0.shutdown()
    }

    @Test("ten sessions in a row complete, in the SDK's default mode (2026-07-28) and in the handshake (2025-11-25)")
    func sessions() async throws {
        let home = try await home()
        for (scenario, version) in [("sessions-auto", "2026-07-28"), ("sessions-legacy", "2025-11-25")] {
            let seen = try await run(scenario, home.0)["sessions"]?.arrayValue ?? []
            #expect(seen.count == 10, "\(scenario): \(seen.count) of 10 sessions completed")
            #expect(seen.first?["tools"] == 10, "every tool listed")
            for session in seen {
                #expect(session["version"] == .string(version) && session["value"] == 21.5 && session["is_error"] == false, "\(session.jsonString)")
                #expect((session["seconds"]?.doubleValue ?? 99) < 5)
            }
        }
        await stop(home)
    }

    @Test("every tool works and says the truth in its annotations; structured results pass the SDK's outputSchema check")
    func everyTool() async throws {
        let home = try await home()
        for scenario in ["tools-auto", "tools-legacy"] {
            let tools = try await run(scenario, home.0)
            for name in ["list_devices", "get_device", "read_sensor", "sensor_history", "set_device", "control_device", "broker_status", "list_areas", "set_area", "sensor_statistics"] {
                let tool = try #require(tools[name], "\(scenario): \(name) missing")
                #expect(tool["is_error"] == false, "\(scenario) \(name): \(tool["text"]?.stringValue ?? "")")
                #expect(tool["title"]?.stringValue?.isEmpty == false)
                let readOnly = !["set_device", "control_device", "set_area"].contains(name)
                #expect(tool["annotations"]?["readOnlyHint"] == .bool(readOnly), "\(name)")
                #expect(tool["annotations"]?["destructiveHint"] == false)
                #expect(tool["has_output_schema"] == true, "\(name) has no outputSchema")
            }
            #expect(tools["set_device"]?["structured"]?["status"] == "confirmed")
            #expect(tools["control_device"]?["structured"]?["status"] == "confirmed")
            #expect(tools["read_sensor"]?["structured"]?["value"] == 40)
            #expect(tools["list_areas"]?["structured"]?["areas"]?[0]?["area"] == "Hall")
            #expect(tools["sensor_statistics"]?["structured"]?["items"]?[0]?["max"] == 21.5, "\(tools["sensor_statistics"]?.jsonString ?? "")")
            #expect(tools["sensor_history"]?["structured"]?["items"]?[0]?["value"] == 21.5)
            #expect(tools["set_area"]?["structured"]?["confirmed"] == 1, "\(tools["set_area"]?.jsonString ?? "")")
        }
        await stop(home)
    }

    @Test("a ping and tools/list are answered while set_device waits; a cancelled call frees the session at once")
    func concurrencyAndCancellation() async throws {
        let home = try await home()
        let ping = try await run("ping", home.0)
        #expect((ping["ping_seconds"]?.doubleValue ?? 99) < 0.5, "\(ping.jsonString)")
        #expect((ping["list_seconds"]?.doubleValue ?? 99) < 0.5)
        #expect(ping["set_status"] == "unconfirmed" && (ping["set_seconds"]?.doubleValue ?? 0) >= 2.9)
        for scenario in ["cancel-auto", "cancel-legacy"] {
            let cancelled = try await run(scenario, home.0)
            #expect(cancelled["cancelled"] == true, "\(scenario): \(cancelled.jsonString)")
            #expect((cancelled["next_seconds"]?.doubleValue ?? 99) < 1, "\(scenario): the next call waited behind the cancelled one")
            #expect(cancelled["next_value"] == 21.5)
        }
        await stop(home)
    }

    @Test("--read-only offers only the tools that change nothing, and refuses the others")
    func readOnly() async throws {
        let home = try await home()
        let result = try await run("read-only", home.0)
        #expect(result["tools"] == ["broker_status", "get_device", "list_areas", "list_devices", "read_sensor", "sensor_history", "sensor_statistics"])
        #expect(result["set_refused"]?["code"] == -32602)
        await stop(home)
    }
}
