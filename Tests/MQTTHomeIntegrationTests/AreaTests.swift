import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// Areas (rooms) and acting on them: "turn off all lights in the kitchen", as people and agents say it.
/// Runs in scripts/test's serial phase (`MQTT_HOME_SERIAL=1`): its daemons, brokers and waits, added to the
/// parallel phase, pushed the time-limited tests of other suites past their bounds on 2 cores.
@Suite(
    "Areas and bulk control over a real broker",
    .serialPhase,
    .timeLimit(.minutes(2)),
    .awaitedCleanup
)
struct AreaTests {
    @Test("areas come from devices/add|update and discovery's suggested_area; a hand-set area wins over re-announces")
    func areas() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-homed-areas")
        let broker = try await TestBroker.start()
        let first = try await DaemonHarness.start(broker: broker, directory: directory)
        _ = try await first.call("devices/add", ["name": "Kitchen light", "type": "light", "state_topic": "k/light", "command_topic": "k/light/set", "area": "Kitchen"])
        _ = try await first.call("devices/add", ["name": "Kitchen sensor", "type": "sensor", "state_topic": "k/sensor", "area": "kitchen "])
        _ = try await first.call("devices/add", ["name": "Hall light", "type": "light", "state_topic": "h/light", "command_topic": "h/light/set"])
        #expect(try await first.call("devices/update", ["id": "hall_light", "area": "Hall"])["area"] == "Hall")
        let bridge = try await MessageCollector.connect(port: broker.port, subscribeTo: [])
        let config = #"{"name":"Lamp","uniq_id":"lr_lamp","stat_t":"z2m/lr","cmd_t":"z2m/lr/set","dev":{"ids":"lr1","name":"Living lamp","sa":"Living room"}}"#
        try await bridge.client.publishAndWait("homeassistant/switch/lr_lamp/config", payload: Array(config.utf8), retain: true)
        var discovered: JSONValue = .null
        for _ in 0..<100 {
            discovered = (try? await first.call("devices/get", ["id": "lr1"])) ?? .null
            if discovered["area"] == "Living room" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(discovered["area"] == "Living room", "\(discovered.jsonString)")
        _ = try await first.call("devices/update", ["id": "lr1", "area": "Den"])
        try await bridge.client.publishAndWait("homeassistant/switch/lr_lamp/config", payload: Array(config.replacingOccurrences(of: "Lamp", with: "Lamp 2").utf8), retain: true)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await first.call("devices/get", ["id": "lr1"])["area"] == "Den", "a re-announce does not undo a hand-set area")

        let areas = try await first.call("areas/list")
        let names = areas["areas"]?.arrayValue?.compactMap { $0["area"]?.stringValue } ?? []
        #expect(names == ["Den", "Hall", "Kitchen"], "\(areas.jsonString)")
        let kitchen = areas["areas"]?.arrayValue?.first { $0["area"] == "Kitchen" }
        #expect(kitchen?["devices"] == 2 && kitchen?["by_type"]?["light"] == 1 && kitchen?["by_type"]?["sensor"] == 1)
        #expect(try await first.call("devices/list", ["area": "KITCHEN"])["items"]?.arrayValue?.count == 2)
        do {
            _ = try await first.call("devices/update", ["id": "hall_light", "area": "Bad\u{1B}[0m"])
            Issue.record("an area with an escape sequence was accepted")
        } catch let error as RPCError {
            #expect(error.code == -32602)
        }

        // Areas survive a restart, with who set them.
        await first.daemon.stop()
        await first.status.close()
        let second = try await DaemonHarness.start(broker: broker, directory: directory)
        cleanup { await second.shutdown(); directory.remove() }
        #expect(try await second.call("devices/get", ["id": "kitchen_light"])["area"] == "Kitchen")
        try await bridge.client.publishAndWait("homeassistant/switch/lr_lamp/config", payload: Array(config.utf8), retain: true)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await second.call("devices/get", ["id": "lr1"])["area"] == "Den")
        await bridge.close()
    }

    @Test("devices/set on an area or a list answers per device: confirmed, unconfirmed, skipped, errors; bounded")
    func bulkControl() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        for (name, type, topic) in [("Ceiling", "light", "k/ceiling"), ("Counter", "light", "k/counter"), ("Plug", "switch", "k/plug")] {
            _ = try await harness.call("devices/add", ["name": .string(name), "type": .string(type), "state_topic": .string(topic), "command_topic": .string(topic + "/set"), "area": "Kitchen"])
        }
        _ = try await harness.call("devices/add", ["name": "Thermometer", "type": "sensor", "state_topic": "k/t", "area": "Kitchen"])
        // The ceiling light and the plug echo their commands; the counter light never answers.
        let devices = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["k/ceiling/set", "k/plug/set"])
        let echo = devices.echoingCommands()
        defer { echo.cancel() }

        let all = try await harness.call("devices/set", ["area": "kitchen", "state": "ON", "confirm_timeout_ms": 600])
        let results = all["results"]?.arrayValue ?? []
        let status = Dictionary(uniqueKeysWithValues: results.compactMap { result in result["id"]?.stringValue.map { ($0, result["status"]?.stringValue ?? "") } })
        #expect(status == ["ceiling": "confirmed", "counter": "unconfirmed", "plug": "confirmed"], "\(all.jsonString)")
        #expect(all["skipped"]?[0]?["id"] == "thermometer")
        #expect(all["count"] == 3 && all["confirmed"] == 2 && all["unconfirmed"] == 1)
        // In parallel: three devices, one of them silent for 600 ms, take about one timeout, not three.
        let lights = try await harness.call("devices/set", ["area": "Kitchen", "type": "light", "state": "OFF", "confirm_timeout_ms": 600])
        #expect(lights["count"] == 2)
        let listed = try await harness.call("devices/set", ["ids": ["plug", "nope"], "state": "OFF"])
        #expect(listed["results"]?[0]?["status"] == "confirmed")
        #expect(listed["results"]?[1]?["error"]?["code"] == -32004)
        #expect(listed["failed"] == 1)

        for (params, parameter) in [
            (["state": "ON"] as JSONObject, "id"), (["id": "plug", "area": "Kitchen", "state": "ON"], "area"),
            (["area": "Garage", "state": "ON"], "area"), (["type": "light", "id": "plug", "state": "ON"], "type"),
            (["ids": .array((0..<51).map { .string("d\($0)") }), "state": "ON"], "ids"),
        ] {
            let error = try await harness.callError("devices/set", params)
            #expect(error?.code == -32602 && error?.data?["parameter"] == .string(parameter), "\(JSONValue.object(params).jsonString): \(String(describing: error))")
        }
        await devices.close()
    }
}
