import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// The daemon's side of Home Assistant discovery, over a real broker: configs for manual devices, kept current,
/// cleared, republished on HA's birth; and commands on `<base>/devices/<id>/set`.
@Suite("Home Assistant announcements and the set topic, over a real broker", .timeLimit(.minutes(2)), .awaitedCleanup)
struct HomeAssistantAnnouncementTests {
    static let relay: JSONObject = [
        "name": "Hall light", "type": "switch", "state_topic": "shelly/hall", "command_topic": "shelly/hall/set", "area": "Hall",
    ]
    static let configTopic = "homeassistant/device/mqtt_home_hall_light/config"

    @Test("a manual device gets a retained config; a change updates it, removal clears it, HA's birth republishes it")
    func lifecycle() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let ha = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["homeassistant/#"])
        // The bridge is announced right after `online`, before any device (live or retained, depending on whether
        // this subscription came first).
        let bridge = try #require(await ha.waitFor(topic: "homeassistant/device/mqtt_home/config"))
        #expect(bridge.json?["components"]?["connection_state"]?["state_topic"] == "mqtt-home/status")
        _ = try await harness.call("devices/add", Self.relay)
        let config = try #require(await ha.waitFor(topic: Self.configTopic))
        let json = try #require(config.json)
        #expect(json["device"]?["suggested_area"] == "Hall")
        #expect(json["device"]?["via_device"] == "mqtt_home_bridge")
        #expect(json["availability_mode"] == "all")
        #expect(json["availability"]?[0]?["topic"] == "mqtt-home/status")
        #expect(json["availability"]?[1]?["topic"] == "mqtt-home/devices/hall_light/availability")
        #expect(json["components"]?["state"]?["command_topic"] == "mqtt-home/devices/hall_light/set")
        // A late subscriber (Home Assistant starting later) gets it retained.
        let late = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [Self.configTopic, "homeassistant/device/mqtt_home/config"])
        #expect(await late.waitFor(topic: Self.configTopic) { $0.retain } != nil)
        #expect(await late.waitFor(topic: "homeassistant/device/mqtt_home/config") { $0.retain } != nil)
        await late.close()

        // Someone else writes on the daemon's topic: its own config is put back.
        ha.clear()
        try await ha.client.publishAndWait(Self.configTopic, payload: Array(#"{"dev":{"ids":["x"]},"o":{"name":"evil"},"cmps":{}}"#.utf8), retain: true)
        #expect(await ha.waitFor(topic: Self.configTopic) { $0.json?["origin"]?["name"] == "mqtt-home" } != nil)
        #expect(try await harness.call("health")["ha_discovery"]?["restored"] == 1)

        ha.clear()
        _ = try await harness.call("devices/update", ["id": "hall_light", "name": "Hallway light"])
        #expect(await ha.waitFor(topic: Self.configTopic) { $0.json?["device"]?["name"] == "Hallway light" } != nil)

        // Home Assistant's birth: every config again (after the debounce), the bridge included.
        ha.clear()
        try await ha.client.publishAndWait("homeassistant/status", payload: Array("online".utf8))
        #expect(await ha.waitFor(topic: Self.configTopic, timeout: 5) != nil)
        #expect(await ha.waitFor(topic: "homeassistant/device/mqtt_home/config") != nil)

        ha.clear()
        _ = try await harness.call("devices/remove", ["id": "hall_light"])
        #expect(await ha.waitFor(topic: Self.configTopic) { $0.payload.isEmpty } != nil)
        let health = try await harness.call("health")
        #expect(health["ha_discovery"]?["configs_cleared"] == 1)
        #expect(health["ha_discovery"]?["births"] == 1)
        #expect(health["ha_discovery"]?["republished_on_birth"] == 1)
        // The daemon reads its own configs back on the discovery prefix and makes no device of them.
        let devices = try await harness.call("devices/list")
        #expect(devices["items"]?.arrayValue?.count == 0)
        await ha.close()
    }

    @Test("a JSON sensor's known fields become entities as they appear; discovered devices are not announced again")
    func fieldsAndDiscoveredDevices() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let ha = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["homeassistant/device/#"])
        _ = try await harness.call("devices/add", ["name": "Kitchen sensor", "type": "sensor", "state_topic": "z2m/kitchen"])
        let topic = "homeassistant/device/mqtt_home_kitchen_sensor/config"
        _ = try #require(await ha.waitFor(topic: topic))
        try await ha.client.publishAndWait("z2m/kitchen", payload: Array(#"{"temperature":21.5}"#.utf8))
        let first = try #require(await ha.waitFor(topic: topic) { $0.json?["components"]?["temperature"] != nil })
        #expect(first.json?["components"]?["temperature"]?["unit_of_measurement"] == "°C")
        #expect(first.json?["components"]?["temperature"]?["device_class"] == "temperature")
        // The JSON sensor's own key never gets a value: no entity that would stay unknown.
        #expect(first.json?["components"]?["value"] == nil)
        try await ha.client.publishAndWait("z2m/kitchen", payload: Array(#"{"temperature":21.6,"humidity":40}"#.utf8))
        let second = try #require(await ha.waitFor(topic: topic) { $0.json?["components"]?["humidity"] != nil })
        #expect(second.json?["components"]?["humidity"]?["unit_of_measurement"] == "%")
        // A value that only changes publishes no new config.
        let count = ha.messages.filter { $0.topic == topic }.count
        try await ha.client.publishAndWait("z2m/kitchen", payload: Array(#"{"temperature":22,"humidity":41}"#.utf8))
        try await Task.sleep(for: .milliseconds(300))
        #expect(ha.messages.filter { $0.topic == topic }.count == count)

        // A Zigbee2MQTT-style discovered device: Home Assistant has it already.
        let discovered = #"{"dev":{"ids":"0x01"},"o":{"name":"z2m"},"cmps":{"t":{"p":"sensor","uniq_id":"t1","stat_t":"z2m/garden"}}}"#
        try await ha.client.publishAndWait("homeassistant/device/0x01/config", payload: Array(discovered.utf8), retain: true)
        try await Task.sleep(for: .milliseconds(300))
        let list = try await harness.call("devices/list")
        #expect(list["items"]?.arrayValue?.count == 2)
        #expect(!ha.messages.contains { $0.topic.hasPrefix("homeassistant/device/mqtt_home_0x01") })
        try await ha.client.publishAndWait("homeassistant/device/0x01/config", payload: [], retain: true)
        await ha.close()
    }

    @Test("<base>/devices/<id>/set runs devices/set: the device's command topic, confirmed; a refused payload is never forwarded")
    func setTopic() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-homed-set")
        let broker = try await TestBroker.start()
        let harness = try await DaemonHarness.start(broker: broker, directory: directory)
        _ = try await harness.call("devices/add", Self.relay)
        let device = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["shelly/hall/set"])
        let controller = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        // The device echoes what it is told, as a real relay reports its new state.
        let echo = Task {
            var answered = 0
            while !Task.isCancelled {
                let seen = device.messages.filter { $0.topic == "shelly/hall/set" }
                for message in seen.dropFirst(answered) {
                    try? await controller.client.publishAndWait("shelly/hall", payload: message.payload)
                }
                answered = seen.count
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        defer { echo.cancel() }
        try await controller.client.publishAndWait("mqtt-home/devices/hall_light/set", payload: Array(#"{"state":"ON"}"#.utf8))
        #expect(await device.waitFor(topic: "shelly/hall/set") { $0.payloadString == "ON" } != nil)
        // A bare word works as {"state": …}.
        try await controller.client.publishAndWait("mqtt-home/devices/hall_light/set", payload: Array("OFF".utf8))
        #expect(await device.waitFor(topic: "shelly/hall/set") { $0.payloadString == "OFF" } != nil)
        try await waitUntil { try await harness.call("health")["set_topic"]?["confirmed"] == 2 }

        // Refused: unknown fields, a payload the entity does not take, an unknown device, an oversized payload.
        device.clear()
        for payload in [#"{"state":"ON","rm":"-rf"}"#, #"{"brightness":300}"#, "[1,2]", String(repeating: "x", count: 20_000)] {
            try await controller.client.publishAndWait("mqtt-home/devices/hall_light/set", payload: Array(payload.utf8))
        }
        try await controller.client.publishAndWait("mqtt-home/devices/nobody/set", payload: Array(#"{"state":"ON"}"#.utf8))
        try await waitUntil { try await harness.call("health")["set_topic"]?["refused"] == 5 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(device.messages.isEmpty, "a refused set message reached the device: \(device.messages.map(\.payloadString))")
        let logs = try await harness.call("devices/logs", ["id": "hall_light", "direction": "tx"])
        #expect(logs["items"]?.arrayValue?.count == 2)
        #expect(harness.daemon.log.contains("set topic command refused"))

        // Retained: refused when it is delivered as retained (at the daemon's next subscribe).
        try await controller.client.publishAndWait("mqtt-home/devices/hall_light/set", payload: Array(#"{"state":"ON"}"#.utf8), retain: true)
        try await waitUntil { try await harness.call("health")["set_topic"]?["received"] == 8 }
        await harness.daemon.stop()
        await harness.status.close()
        device.clear()
        let restarted = try await DaemonHarness.start(broker: broker, directory: directory)
        cleanup { await restarted.shutdown(); directory.remove() }
        try await waitUntil { try await restarted.call("health")["set_topic"]?["refused"] == 1 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(device.messages.isEmpty)
        #expect(restarted.daemon.log.contains("retained set message"))
        try await controller.client.publishAndWait("mqtt-home/devices/hall_light/set", payload: [], retain: true)
        await device.close()
        await controller.close()
    }

    @Test("a config left by a device removed while the daemon was stopped is cleared; publishing off clears them all")
    func staleConfigs() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-homed-stale")
        let broker = try await TestBroker.start()
        let first = try await DaemonHarness.start(broker: broker, directory: directory)
        _ = try await first.call("devices/add", Self.relay)
        let watcher = try await MessageCollector.connect(port: broker.port, subscribeTo: ["homeassistant/#"])
        _ = try #require(await watcher.waitFor(topic: Self.configTopic))
        await first.daemon.stop()
        await first.status.close()
        // A config on the daemon's topic for a device it does not have (removed from its database meanwhile).
        let ghost = "homeassistant/device/mqtt_home_ghost/config"
        try await watcher.client.publishAndWait(ghost, payload: Array(#"{"dev":{"ids":["mqtt_home_ghost"]},"o":{"name":"mqtt-home"},"cmps":{}}"#.utf8), retain: true)
        // And one of its own configs overwritten meanwhile: the republish after `online` puts it back.
        try await watcher.client.publishAndWait(Self.configTopic, payload: Array(#"{"dev":{"ids":["x"]},"o":{"name":"evil"},"cmps":{}}"#.utf8), retain: true)
        watcher.clear()
        let second = try await DaemonHarness.start(broker: broker, directory: directory)
        #expect(await watcher.waitFor(topic: ghost) { $0.payload.isEmpty } != nil)
        #expect(await watcher.waitFor(topic: Self.configTopic) { $0.json?["origin"]?["name"] == "mqtt-home" } != nil)
        try await waitUntil { try await second.call("health")["ha_discovery"]?["stale_cleared"] == 1 }
        await second.daemon.stop()
        await second.status.close()

        watcher.clear()
        let third = try await DaemonHarness.start(environment: ["HA_DISCOVERY_PUBLISH": "false"], broker: broker, directory: directory)
        cleanup { await third.shutdown(); directory.remove() }
        #expect(await watcher.waitFor(topic: Self.configTopic) { $0.payload.isEmpty } != nil)
        #expect(await watcher.waitFor(topic: "homeassistant/device/mqtt_home/config") { $0.payload.isEmpty } != nil)
        let health = try await third.call("health")
        #expect(health["ha_discovery"]?["publishing"] == false)
        #expect(try await third.call("devices/list")["items"]?.arrayValue?.count == 1)
        await watcher.close()
    }
}
