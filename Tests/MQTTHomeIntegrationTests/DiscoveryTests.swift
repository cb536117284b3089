import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// Home Assistant discovery against a real broker and a real daemon: retained and live configs, updates,
/// removals, device-based discovery, re-announces, and `devices/set` confirmation.
@Suite("Discovery and structured control over a real broker", .timeLimit(.minutes(2)), .awaitedCleanup)
struct DiscoveryTests {
    static func sensorConfig(_ key: String, device: String = "0xabc", name: String = "weather") -> JSONValue {
        [
            "unit_of_measurement": "°C", "device_class": .string(key), "value_template": .string("{{ value_json.\(key) }}"),
            "state_topic": .string("zigbee2mqtt/\(name)"), "json_attributes_topic": .string("zigbee2mqtt/\(name)"),
            "unique_id": .string("\(device)_\(key)_zigbee2mqtt"),
            "device": ["identifiers": [.string("zigbee2mqtt_\(device)")], "name": .string(name), "manufacturer": "Xiaomi"],
            "availability": [["topic": "zigbee2mqtt/bridge/state"]],
        ]
    }

    static let plug: JSONValue = [
        "~": "tasmota/plug/", "name": "Plug", "cmd_t": "~cmnd/POWER", "stat_t": "~tele/STATE", "val_tpl": "{{value_json.POWER}}",
        "avty_t": "~tele/LWT", "pl_avail": "Online", "pl_not_avail": "Offline", "uniq_id": "A4CF12_RL_1",
        "dev": ["ids": ["A4CF12"], "name": "Tasmota plug"],
    ]

    private func publish(_ client: MosquittoClient, _ topic: String, _ payload: JSONValue?, retain: Bool = true) async throws {
        // A string is sent as its text (an LWT "Online"), anything else as JSON.
        let bytes = payload.map { $0.stringValue.map { Array($0.utf8) } ?? $0.jsonBytes } ?? []
        try await client.publishAndWait(topic, payload: bytes, retain: retain)
    }

    private func device(_ harness: DaemonHarness, _ id: String, until predicate: @Sendable (JSONValue) -> Bool) async throws -> JSONValue? {
        for _ in 0..<200 {
            if let result = try? await harness.call("devices/get", ["id": .string(id)]), predicate(result) { return result }
            try await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }

    @Test("retained configs present before start group into one device per identifiers, with state through templates")
    func retainedBeforeStart() async throws {
        let broker = try await TestBroker.start()
        let producer = try await MessageCollector.connect(port: broker.port, subscribeTo: [])
        for key in ["temperature", "humidity"] {
            try await publish(producer.client, "homeassistant/sensor/0xabc/\(key)/config", Self.sensorConfig(key))
        }
        try await publish(producer.client, "zigbee2mqtt/bridge/state", "online")
        try await publish(producer.client, "zigbee2mqtt/weather", ["temperature": 21.5, "humidity": 40, "battery": 90])
        let harness = try await DaemonHarness.start(broker: broker)
        cleanup { await harness.shutdown() }
        let device = try #require(await device(harness, "zigbee2mqtt_0xabc") { $0["state"]?["humidity"] == 40 && $0["online"] == true })
        #expect(device["name"] == "weather")
        #expect(device["origin"] == "ha_discovery")
        #expect(device["entities"]?.arrayValue?.map { $0["key"] } == ["temperature", "humidity"])
        #expect(device["state"]?["temperature"] == 21.5)
        #expect(device["state_attributes"]?["battery"] == 90)
        #expect(device["online"] == true)
        let listed = try await harness.call("devices/list", ["origin": "ha_discovery"])
        #expect(listed["items"]?.arrayValue?.count == 1)
        // Availability follows the bridge: offline makes the device offline and its availability topic says so.
        let watcher = try await MessageCollector.connect(port: broker.port, subscribeTo: ["mqtt-home/devices/zigbee2mqtt_0xabc/availability"])
        try await publish(producer.client, "zigbee2mqtt/bridge/state", "offline")
        #expect(await watcher.waitFor(topic: "mqtt-home/devices/zigbee2mqtt_0xabc/availability") { $0.payloadString == "offline" } != nil)
        let health = try await harness.call("health")
        #expect(health["discovery"]?["devices"] == 1)
        #expect(health["discovery"]?["entities"] == 2)
        await watcher.close()
        await producer.close()
    }

    @Test("3,000 retained configs on a broker with mosquitto's default queue (1,000): every one is registered at the first start")
    func largeRetainedDiscoveryOnStockQueue() async throws {
        // A stock mosquitto holds 20 in flight and 1,000 queued QoS 1 messages per client and drops the rest of a
        // replay; a QoS 0 subscription's replay is not held back that way.
        let broker = try await TestBroker.start(extraConfiguration: ["max_queued_messages 1000"])
        let producer = try await MessageCollector.connect(port: broker.port, subscribeTo: [])
        let count = 3000
        for n in 0..<count {
            let config: JSONValue = [
                "name": .string("s\(n)"), "stat_t": .string("bulk/\(n)"), "uniq_id": .string("bulk_\(n)"),
                "dev": ["ids": [.string("bulk_\(n / 10)")], "name": .string("Bulk \(n / 10)")],
            ]
            try producer.client.publish("homeassistant/sensor/bulk_\(n / 10)/s\(n)/config", payload: config.jsonBytes, qos: .atLeastOnce, retain: true)
        }
        try await producer.client.publishAndWait("bulk/done", payload: [1], retain: false)
        let harness = try await DaemonHarness.start(broker: broker)
        cleanup { await harness.shutdown() }
        var entities: JSONValue? = nil
        for _ in 0..<400 {
            entities = try await harness.call("health")["discovery"]?["entities"]
            if entities == .int(Int64(count)) { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(entities == .int(Int64(count)), "\(harness.daemon.log.suffix(2000))")
        #expect(try await harness.call("health")["discovery"]?["devices"] == .int(Int64(count / 10)))
        await producer.close()
    }

    @Test("live config, update on the same topic, re-announce under another topic, removal clears retained topics")
    func lifecycle() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let producer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        try await publish(producer.client, "homeassistant/switch/plug/config", Self.plug)
        let first = try #require(await device(harness, "a4cf12") { _ in true })
        #expect(first["entities"]?[0]?["command_topic"] == "tasmota/plug/cmnd/POWER")
        #expect(first["online"] == false, "availability configured: unavailable until the LWT says Online")
        try await publish(producer.client, "tasmota/plug/tele/LWT", "Online")
        try await publish(producer.client, "tasmota/plug/tele/STATE", ["POWER": "ON"])
        #expect(try await device(harness, "a4cf12") { $0["state"]?["plug"] == "ON" && $0["online"] == true } != nil)
        // Update: same topic, new name and unit-less config.
        var renamed = Self.plug.objectValue!
        renamed["name"] = "Desk plug"
        try await publish(producer.client, "homeassistant/switch/plug/config", .object(renamed))
        #expect(try await device(harness, "a4cf12") { $0["entities"]?[0]?["name"] == "Desk plug" } != nil)
        // Re-announce under another topic with the same unique_id: the same entity, no duplicate device.
        try await publish(producer.client, "homeassistant/switch/tasmota_A4CF12/relay1/config", .object(renamed))
        let after = try #require(await device(harness, "a4cf12") {
            $0["entities"]?[0]?["discovery"]?["topic"] == "homeassistant/switch/tasmota_A4CF12/relay1/config"
        })
        #expect(after["entities"]?.arrayValue?.count == 1)
        #expect(try await harness.call("devices/list")["items"]?.arrayValue?.count == 1)
        // The old topic's empty payload no longer names the entity; the new topic's removes it and the device.
        let watcher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/devices/a4cf12"])
        try await publish(producer.client, "homeassistant/switch/plug/config", nil)
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await harness.call("devices/list")["items"]?.arrayValue?.count == 1)
        try await publish(producer.client, "homeassistant/switch/tasmota_A4CF12/relay1/config", nil)
        #expect(await watcher.waitFor(topic: "mqtt-home/devices/a4cf12") { $0.payload.isEmpty } != nil)
        #expect(try await harness.callError("devices/get", ["id": "a4cf12"])?.code == -32004)
        await watcher.close()
        await producer.close()
    }

    @Test("device-based discovery with several components, a component removed, invalid configs counted")
    func deviceBased() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let producer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        let config: JSONValue = [
            "dev": ["ids": "ea334450945afc", "name": "Kitchen", "mf": "Bla electronics"], "o": ["name": "bla2mqtt"],
            "cmps": [
                "t": ["p": "sensor", "device_class": "temperature", "val_tpl": "{{ value_json.temperature | round(1) }}", "uniq_id": "temp01ae_t"],
                "h": ["p": "sensor", "device_class": "humidity", "val_tpl": "{{ value_json.humidity }}", "uniq_id": "temp01ae_h"],
                "r": ["p": "switch", "cmd_t": "kitchen/relay/set", "stat_t": "kitchen/relay", "uniq_id": "temp01ae_r"],
            ],
            "stat_t": "sensorBedroom/state",
        ]
        try await publish(producer.client, "homeassistant/device/0AFFD2/config", config)
        try await publish(producer.client, "sensorBedroom/state", ["temperature": 23.26, "humidity": 43.7])
        let device = try #require(await device(harness, "ea334450945afc") { $0["state"]?["h"] == 43.7 })
        #expect(device["state"]?["t"] == 23.3)
        #expect(device["type"] == "switch")
        #expect(device["entities"]?.arrayValue?.count == 3)
        #expect(device["online"] == true, "no availability configured: available")
        var reduced = config.objectValue!
        reduced["cmps"] = ["t": ["p": "sensor", "device_class": "temperature", "val_tpl": "{{ value_json.temperature }}", "uniq_id": "temp01ae_t"], "h": ["p": "sensor"]]
        try await publish(producer.client, "homeassistant/device/0AFFD2/config", .object(reduced))
        #expect(try await self.device(harness, "ea334450945afc") { $0["entities"]?.arrayValue?.count == 2 } != nil)
        try await publish(producer.client, "homeassistant/sensor/broken/config", ["not an object"])
        try await producer.client.publishAndWait("homeassistant/sensor/broken2/config", payload: Array("{".utf8))
        try await publish(producer.client, "homeassistant/sensor/bad/config", ["name": "no state topic"])
        var invalid: JSONValue?
        for _ in 0..<100 {
            invalid = try await harness.call("health")["discovery"]?["invalid_configs"]
            if invalid == 3 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(invalid == 3)
        #expect(harness.daemon.log.contains("ignoring an invalid discovery config"))
        await producer.close()
    }

    @Test("devices/set: confirmed by the state topic, unconfirmed on timeout, sent when optimistic, -32602 for a bad intent")
    func setWithConfirmation() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let producer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        let plug = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["tasmota/plug/cmnd/POWER"])
        try await publish(producer.client, "homeassistant/switch/plug/config", Self.plug)
        try await publish(producer.client, "homeassistant/button/restart/config", ["name": "Restart", "cmd_t": "tasmota/plug/cmnd/Restart", "uniq_id": "A4CF12_restart", "dev": ["ids": ["A4CF12"]]])
        #expect(try await device(harness, "a4cf12") { $0["entities"]?.arrayValue?.count == 2 } != nil)
        // A device that answers: echo POWER commands as its state.
        let echo = Task {
            while !Task.isCancelled {
                guard let command = await plug.waitFor(topic: "tasmota/plug/cmnd/POWER", timeout: 0.2) else { continue }
                plug.clear()
                _ = try? plug.client.publish("tasmota/plug/tele/STATE", payload: Array(#"{"POWER":"\#(command.payloadString)"}"#.utf8))
            }
        }
        let confirmed = try await harness.call("devices/set", ["id": "a4cf12", "entity": "plug", "state": "ON"])
        #expect(confirmed["status"] == "confirmed")
        #expect(confirmed["value"] == "ON")
        #expect(confirmed["published"]?[0]?["payload"] == "ON")
        echo.cancel()
        await echo.value
        let unconfirmed = try await harness.call("devices/set", ["id": "a4cf12", "entity": "plug", "state": "toggle", "confirm_timeout_ms": 300])
        #expect(unconfirmed["status"] == "unconfirmed")
        #expect(unconfirmed["expected"] == "OFF")
        #expect(unconfirmed["last_value"] == "ON")
        let sent = try await harness.call("devices/set", ["id": "a4cf12", "entity": "restart", "state": "press"])
        #expect(sent["status"] == "sent")
        #expect(sent["published"]?[0]?["payload"] == "PRESS")
        let bad = try #require(try await harness.callError("devices/set", ["id": "a4cf12", "entity": "plug", "brightness": 10]))
        #expect(bad.code == -32602)
        #expect(bad.message.contains("does not take brightness"))
        await plug.close()
        await producer.close()
    }
}
