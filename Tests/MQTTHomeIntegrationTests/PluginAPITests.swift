import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// The plugin API over a real broker: `sensors/read` by the words people use, `sensors/history`, and
/// `devices/control` (the original plugin contract) with confirmation.
@Suite("Plugin API: sensors/read, sensors/history, devices/control", .timeLimit(.minutes(2)), .awaitedCleanup)
struct PluginAPITests {
    static func sensor(_ key: String, deviceClass: String?, unit: String?, device: String = "0xabc", name: String = "weather", extra: JSONObject = [:]) -> JSONValue {
        var config: JSONObject = [
            "value_template": .string("{{ value_json.\(key) }}"), "state_topic": .string("zigbee2mqtt/\(name)"),
            "unique_id": .string("\(device)_\(key)_zigbee2mqtt"), "name": .string(key.replacingOccurrences(of: "_", with: " ").capitalized),
            "device": ["identifiers": [.string("zigbee2mqtt_\(device)")], "name": .string(name)],
        ]
        if let deviceClass { config["device_class"] = .string(deviceClass) }
        if let unit { config["unit_of_measurement"] = .string(unit) }
        for (key, value) in extra { config[key] = value }
        return .object(config)
    }

    func publish(_ client: MosquittoClient, _ topic: String, _ payload: JSONValue, retain: Bool = true) async throws {
        try await client.publishAndWait(topic, payload: payload.stringValue.map { Array($0.utf8) } ?? payload.jsonBytes, retain: retain)
    }

    func waitFor(_ harness: DaemonHarness, _ method: String, _ params: JSONObject, until predicate: @Sendable (JSONValue) -> Bool) async throws -> JSONValue? {
        for _ in 0..<200 {
            if let result = try? await harness.call(method, params), predicate(result) { return result }
            try await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }

    @Test("sensors/read finds a sensor by key, name, device class and English or Chinese word; ambiguity and unknowns are errors")
    func readByAlias() async throws {
        let harness = try await DaemonHarness.start(environment: ["SENSOR_STALE_AFTER": "1"])
        cleanup { await harness.shutdown() }
        let producer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        try await publish(producer.client, "homeassistant/sensor/0xabc/temperature/config", Self.sensor("temperature", deviceClass: "temperature", unit: "°C"))
        try await publish(producer.client, "homeassistant/sensor/0xabc/device_temperature/config", Self.sensor("device_temperature", deviceClass: "temperature", unit: "°C"))
        try await publish(producer.client, "homeassistant/sensor/0xabc/humidity/config", Self.sensor("humidity", deviceClass: "humidity", unit: "%"))
        try await publish(producer.client, "homeassistant/sensor/0xabc/battery/config", Self.sensor("battery", deviceClass: "battery", unit: "%", extra: ["expire_after": 3600]))
        // A second device with two temperatures and neither keyed "temperature": 温度 is ambiguous there.
        try await publish(producer.client, "homeassistant/sensor/0xdef/indoor/config", Self.sensor("indoor", deviceClass: "temperature", unit: "°C", device: "0xdef", name: "thermo"))
        try await publish(producer.client, "homeassistant/sensor/0xdef/outdoor/config", Self.sensor("outdoor", deviceClass: "temperature", unit: "°C", device: "0xdef", name: "thermo"))
        #expect(try await waitFor(harness, "devices/get", ["id": "weather"]) { $0["entities"]?.arrayValue?.count == 4 } != nil)
        #expect(try await waitFor(harness, "devices/get", ["id": "thermo"]) { $0["entities"]?.arrayValue?.count == 2 } != nil)
        try await publish(producer.client, "zigbee2mqtt/weather", ["temperature": 21.5, "device_temperature": 33, "humidity": 40, "battery": 90], retain: false)
        try await publish(producer.client, "zigbee2mqtt/thermo", ["indoor": 20.5, "outdoor": 3], retain: false)

        let chinese = try #require(try await waitFor(harness, "sensors/read", ["device": "weather", "sensor": "温度"]) { $0["value"] == 21.5 })
        #expect(chinese["sensor"] == "temperature")
        #expect(chinese["unit"] == "°C")
        #expect(chinese["device_class"] == "temperature")
        #expect(chinese["stale"] == false)
        #expect(chinese["matched_by"] == "alias")
        #expect(chinese["updated_at"]?.stringValue?.hasSuffix("Z") == true)
        for (word, key, value) in [("湿度", "humidity", 40.0), ("humidity", "humidity", 40), ("电量", "battery", 90), ("Battery", "battery", 90), ("Device temperature", "device_temperature", 33)] {
            let read = try await harness.call("sensors/read", ["device": "zigbee2mqtt_0xabc", "sensor": .string(word)])
            #expect(read["sensor"] == .string(key), "\(word)")
            #expect(read["value"]?.doubleValue == value, "\(word)")
        }
        // The battery's own expire_after (1 h) wins over SENSOR_STALE_AFTER (1 s).
        #expect(try await harness.call("sensors/read", ["device": "weather", "sensor": "battery"])["stale_after_s"] == 3600)

        let ambiguous = try #require(try await harness.callError("sensors/read", ["device": "thermo", "sensor": "温度"]))
        #expect(ambiguous.code == -32014)
        #expect(ambiguous.data?["candidates"] == ["indoor", "outdoor"])
        #expect(try await harness.call("sensors/read", ["device": "thermo", "sensor": "outdoor"])["value"] == 3)
        let unknownSensor = try #require(try await harness.callError("sensors/read", ["device": "weather", "sensor": "wind"]))
        #expect(unknownSensor.code == -32005)
        #expect(unknownSensor.message.contains("humidity"))
        let unknownDevice = try #require(try await harness.callError("sensors/read", ["device": "wether", "sensor": "温度"]))
        #expect(unknownDevice.code == -32004)
        #expect(unknownDevice.data?["suggestions"]?.arrayValue?.first == "zigbee2mqtt_0xabc")

        try await Task.sleep(for: .milliseconds(1300))
        let stale = try await harness.call("sensors/read", ["device": "weather", "sensor": "temperature"])
        #expect(stale["stale"] == true)
        #expect((stale["age_s"]?.doubleValue ?? 0) >= 1)
        #expect(try await harness.call("sensors/read", ["device": "weather", "sensor": "battery"])["stale"] == false)
        await producer.close()
    }

    @Test("a manual device's JSON fields are sensors too (PM2.5, 二氧化碳), with their history")
    func manualFieldsAndHistory() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", ["name": "Air monitor", "type": "sensor", "state_topic": "home/air"])
        let producer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        // A second apart: the sensor history keeps at most one row a second per sensor.
        for (index, temperature) in [20, 21, 22].enumerated() {
            try await publish(producer.client, "home/air", ["pm25": .int(Int64(12 + index)), "co2": 600, "temperature": .int(Int64(temperature))], retain: false)
            if index < 2 { try await Task.sleep(for: .milliseconds(1050)) }
        }
        let pm = try #require(try await waitFor(harness, "sensors/read", ["device": "Air monitor", "sensor": "PM2.5"]) { $0["value"] == 14 })
        #expect(pm["sensor"] == "pm25")
        #expect(pm["device_class"] == "pm25")
        #expect(try await harness.call("sensors/read", ["device": "air_monitor", "sensor": "二氧化碳"])["value"] == 600)

        let history = try await harness.call("sensors/history", ["device": "air_monitor", "sensor": "温度"])
        #expect(history["sensor"] == "temperature")
        #expect(history["items"]?.arrayValue?.map { $0["value"] } == [22, 21, 20])
        let limited = try await harness.call("sensors/history", ["device": "air_monitor", "sensor": "temperature", "limit": 2, "since": "1h"])
        #expect(limited["items"]?.arrayValue?.count == 2)
        let future = try await harness.call("sensors/history", ["device": "air_monitor", "sensor": "temperature", "since": "2999-01-01T00:00:00Z"])
        #expect(future["items"]?.arrayValue?.isEmpty == true)
        let bad = try #require(try await harness.callError("sensors/history", ["device": "air_monitor", "sensor": "temperature", "since": "yesterday"]))
        #expect(bad.code == -32602)
        #expect(bad.message.contains("since"))
        await producer.close()
    }

    @Test("devices/control: the n-th led of a discovered JSON light and a manual relay, confirmed by their state topics")
    func controlPorts() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let producer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        let bulbLight: JSONValue = [
            "schema": "json", "name": "Bulb", "command_topic": "zigbee2mqtt/bulb/set", "state_topic": "zigbee2mqtt/bulb",
            "brightness": true, "supported_color_modes": ["brightness"], "unique_id": "0xb01_light_zigbee2mqtt",
            "device": ["identifiers": ["zigbee2mqtt_0xb01"], "name": "bulb"],
        ]
        try await publish(producer.client, "homeassistant/light/0xb01/light/config", bulbLight)
        _ = try await harness.call("devices/add", ["name": "Relay board", "type": "switch", "state_topic": "relay/1/state", "command_topic": "relay/1/set"])
        #expect(try await waitFor(harness, "devices/get", ["id": "bulb"]) { $0["entities"]?.arrayValue?.count == 1 } != nil)

        // Devices that answer: the bulb reports its JSON state, the relay echoes its payload.
        let devices = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["zigbee2mqtt/bulb/set", "relay/1/set"])
        let echo = Task {
            var bulb: JSONObject = ["state": "OFF", "brightness": 0]
            while !Task.isCancelled {
                guard let command = devices.messages.first else {
                    try? await Task.sleep(for: .milliseconds(5))
                    continue
                }
                devices.clear()
                if command.topic == "zigbee2mqtt/bulb/set" {
                    for (key, value) in command.json?.objectValue ?? [:] { bulb[key] = value }
                    _ = try? devices.client.publish("zigbee2mqtt/bulb", payload: JSONValue.object(bulb).jsonBytes)
                } else {
                    _ = try? devices.client.publish("relay/1/state", payload: command.payload)
                }
            }
        }
        let on = try await harness.call("devices/control", ["device_uuid": "bulb", "port_type": "led", "port_id": 1, "action": "on"])
        #expect(on["status"] == "confirmed", "\(on)")
        #expect(on["port"]?["platform"] == "light")
        #expect(on["port"]?["entity"] == "light")
        let dim = try await harness.call("devices/control", ["device_uuid": "bulb", "port_type": "light", "port_id": "1", "action": 128])
        #expect(dim["status"] == "confirmed", "\(dim)")
        #expect(dim["published"]?[0]?["payload"]?.stringValue?.contains("\"brightness\":128") == true)

        let toggled = try await harness.call("devices/control", ["device_uuid": "Relay board", "port_type": "relay", "port_id": 1, "action": "toggle"])
        #expect(toggled["status"] == "confirmed", "\(toggled)")
        #expect(toggled["value"] == "ON")
        let off = try await harness.call("devices/control", ["device_uuid": "relay_board", "port_type": "继电器", "port_id": "state", "action": "关"])
        #expect(off["status"] == "confirmed", "\(off)")
        #expect(off["value"] == "OFF")
        echo.cancel()
        await echo.value
        let silent = try await harness.call("devices/control", ["device_uuid": "relay_board", "port_type": "relay", "port_id": 1, "action": "on", "confirm_timeout_ms": 300])
        #expect(silent["status"] == "unconfirmed")
        #expect(silent["last_value"] == "OFF")

        let noPort = try #require(try await harness.callError("devices/control", ["device_uuid": "relay_board", "port_type": "relay", "port_id": 2, "action": "on"]))
        #expect(noPort.code == -32602)
        #expect(noPort.message.contains("ports count from 1; this device has 1"))
        let noType = try #require(try await harness.callError("devices/control", ["device_uuid": "relay_board", "port_type": "curtain", "port_id": 1, "action": "open"]))
        #expect(noType.message.contains("no curtain port"))
        let badAction = try #require(try await harness.callError("devices/control", ["device_uuid": "relay_board", "port_type": "relay", "port_id": 1, "action": 50]))
        #expect(badAction.code == -32602)
        await devices.close()
        await producer.close()
    }
}
