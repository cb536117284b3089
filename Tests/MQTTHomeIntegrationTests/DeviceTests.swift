import MQTTHome
import Mosquitto
import TestSupport
import Testing

@Suite("Devices over a real broker: registry, retained topics, commands, restarts", .timeLimit(.minutes(2)), .awaitedCleanup)
struct DeviceTests {
    static let lamp: JSONObject = [
        "name": "Living Room Lamp", "type": "light", "state_topic": "z2m/lamp", "command_topic": "z2m/lamp/set",
    ]

    @Test("add, then state on the device's topic becomes normalized retained topics")
    func addAndIngest() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let watcher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/#"])
        let added = try await harness.call("devices/add", Self.lamp)
        #expect(added["id"] == "living_room_lamp")
        #expect(added["version"] == 1)
        try await watcher.client.publishAndWait("z2m/lamp", payload: Array(#"{"state":"ON","brightness":120}"#.utf8))
        let state = try #require(
            await watcher.waitFor(topic: "mqtt-home/devices/living_room_lamp/state") { $0.json?["state"] == "ON" }
        )
        #expect(state.json?["brightness"] == 120)
        #expect(state.json?["online"] == true)
        #expect(state.json?["last_seen"]?.stringValue != nil)
        // Added with no data yet it is offline; its first state (it has no availability topic) makes it online.
        _ = try #require(await watcher.waitFor(topic: "mqtt-home/devices/living_room_lamp/availability") { $0.payloadString == "online" })
        let availability = watcher.messages.filter { $0.topic == "mqtt-home/devices/living_room_lamp/availability" }.map(\.payloadString)
        #expect(availability == ["offline", "online"])
        // Everything is retained: a late subscriber sees document, state and availability.
        let late = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/devices/#"])
        let document = try #require(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp"))
        #expect(document.retain && document.json?["entities"]?[0]?["command_topic"] == "z2m/lamp/set")
        #expect(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp/state") { $0.json?["state"] == "ON" } != nil)
        #expect(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp/availability") { $0.payloadString == "online" } != nil)
        let event = await watcher.waitFor(topic: "mqtt-home/events") { $0.json?["event"] == "device_added" }
        #expect(event?.json?["id"] == "living_room_lamp")
        await late.close()
        await watcher.close()
    }

    @Test("a scalar payload becomes the entity's value; two devices may share a topic")
    func scalarAndSharedTopic() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", ["name": "Kitchen T", "type": "sensor", "state_topic": "home/kitchen/t", "device_class": "temperature", "unit": "°C"])
        _ = try await harness.call("devices/add", ["name": "Kitchen T copy", "type": "sensor", "state_topic": "home/kitchen/t"])
        let publisher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        try await publisher.client.publishAndWait("home/kitchen/t", payload: Array("21.5".utf8))
        try await Task.sleep(for: .milliseconds(100))
        let first = try await harness.call("devices/get", ["id": "kitchen_t"])
        #expect(first["state"]?["temperature"] == 21.5)
        let second = try await harness.call("devices/get", ["id": "Kitchen T copy"])
        #expect(second["state"]?["value"] == 21.5)
        await publisher.close()
    }

    @Test("devices/command publishes to the command topic and logs it as tx")
    func command() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", Self.lamp)
        let device = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["z2m/lamp/set"])
        let sent = try await harness.call("devices/command", ["id": "living_room_lamp", "payload": ["state": "OFF"]])
        #expect(sent["topic"] == "z2m/lamp/set")
        let received = try #require(await device.waitFor(topic: "z2m/lamp/set"))
        #expect(received.json == ["state": "OFF"])
        let text = try await harness.call("devices/command", ["id": "Living Room Lamp", "payload": "TOGGLE", "qos": 0])
        #expect(text["payload"] == "TOGGLE")
        #expect(await device.waitFor(topic: "z2m/lamp/set") { $0.payloadString == "TOGGLE" } != nil)
        let logs = try await harness.call("devices/logs", ["id": "living_room_lamp", "direction": "tx"])
        #expect(logs["items"]?.arrayValue?.count == 2)
        #expect(logs["items"]?[0]?["payload"] == "TOGGLE")
        await device.close()
    }

    @Test("errors name the problem: unknown device, duplicate name, no command topic, bad topic, bad type")
    func errors() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", Self.lamp)
        _ = try await harness.call("devices/add", ["name": "Sensor", "type": "sensor", "state_topic": "s/1"])
        let unknown = try #require(try await harness.callError("devices/get", ["id": "lamp"]))
        #expect(unknown.code == -32004)
        #expect(unknown.data?["suggestions"] == ["living_room_lamp"])
        let duplicate = try #require(try await harness.callError("devices/add", ["name": "living room LAMP", "type": "light", "state_topic": "x"]))
        #expect(duplicate.code == -32009 && duplicate.data?["id"] == "living_room_lamp")
        let noCommand = try #require(try await harness.callError("devices/command", ["id": "sensor", "payload": "x"]))
        #expect(noCommand.code == -32010)
        for (params, field) in [
            (["name": "A", "type": "light", "state_topic": "a/#"] as JSONObject, "state_topic"),
            (["name": "A", "type": "lamp", "state_topic": "a"], "type"),
            (["type": "light", "state_topic": "a"], "name"),
            (["name": "A", "type": "light", "state_topic": "a", "command_topic": "$SYS/x"], "command_topic"),
            (["name": "A", "type": "light", "state_topic": "a", "id": "Bad Id"], "id"),
        ] {
            let error = try #require(try await harness.callError("devices/add", params))
            #expect(error.code == -32602 && error.data?["parameter"] == .string(field), "\(params): \(error)")
        }
        // A filter is accepted when the caller says so.
        let filtered = try await harness.call("devices/add", ["name": "All plugs", "type": "switch", "state_topic": "plugs/+/state", "state_topic_filter": true])
        #expect(filtered["entities"]?[0]?["state_topic_is_filter"] == true)
    }

    @Test("remove clears every retained topic and announces it")
    func remove() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", Self.lamp)
        let publisher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/events"])
        try await publisher.client.publishAndWait("z2m/lamp", payload: Array(#"{"state":"ON"}"#.utf8))
        try await Task.sleep(for: .milliseconds(100))
        let removed = try await harness.call("devices/remove", ["id": "living_room_lamp"])
        #expect(removed["removed"] == true)
        #expect(await publisher.waitFor(topic: "mqtt-home/events") { $0.json?["event"] == "device_removed" } != nil)
        try await Task.sleep(for: .milliseconds(200))
        let late = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/devices/#"])
        #expect(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp", timeout: 0.5) == nil)
        #expect(late.messages.isEmpty, "stale retained topics: \(late.messages.map(\.topic))")
        #expect(try await harness.callError("devices/get", ["id": "living_room_lamp"])?.code == -32004)
        await late.close()
        await publisher.close()
    }

    @Test("list filters by type, name and online, and pages with next_cursor")
    func listAndPaging() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        for n in 1...5 {
            _ = try await harness.call("devices/add", ["name": "Plug \(n)", "type": "switch", "state_topic": "plugs/\(n)"])
        }
        _ = try await harness.call("devices/add", ["name": "Hall light", "type": "light", "state_topic": "hall"])
        let lights = try await harness.call("devices/list", ["type": "light"])
        #expect(lights["items"]?.arrayValue?.map { $0["id"] } == ["hall_light"])
        var seen: [JSONValue] = []
        var cursor: JSONValue = .null
        repeat {
            var params: JSONObject = ["name": "plug", "limit": 2]
            if cursor != .null { params["cursor"] = cursor }
            let page = try await harness.call("devices/list", params)
            seen += page["items"]?.arrayValue?.compactMap { $0["id"] } ?? []
            cursor = page["next_cursor"] ?? .null
        } while cursor != .null
        #expect(seen == ["plug_1", "plug_2", "plug_3", "plug_4", "plug_5"])
        let publisher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [])
        try await publisher.client.publishAndWait("plugs/3", payload: Array("ON".utf8))
        try await Task.sleep(for: .milliseconds(100))
        let online = try await harness.call("devices/list", ["online": true])
        #expect(online["items"]?.arrayValue?.map { $0["id"] } == ["plug_3"])
        let dashboard = try await harness.call("dashboard")
        #expect(dashboard["devices"] == 6 && dashboard["online"] == 1 && dashboard["by_type"]?["switch"] == 5)
        await publisher.close()
    }

    @Test("an availability topic drives online/offline with HA's default payloads")
    func availability() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", ["name": "Plug", "type": "switch", "state_topic": "p/state", "availability_topic": "p/avail"])
        let watcher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/devices/plug/availability"])
        try await watcher.client.publishAndWait("p/avail", payload: Array("online".utf8))
        #expect(await watcher.waitFor(topic: "mqtt-home/devices/plug/availability") { $0.payloadString == "online" } != nil)
        watcher.clear()
        try await watcher.client.publishAndWait("p/avail", payload: Array("offline".utf8))
        #expect(await watcher.waitFor(topic: "mqtt-home/devices/plug/availability") { $0.payloadString == "offline" } != nil)
        // Data alone does not bring an availability-managed device online.
        try await watcher.client.publishAndWait("p/state", payload: Array("ON".utf8))
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await harness.call("devices/get", ["id": "plug"])["online"] == false)
        await watcher.close()
    }

    @Test("a daemon restart brings back devices and their last state, and republishes them")
    func restart() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-homed-restart")
        let broker = try await TestBroker.start()
        let first = try await DaemonHarness.start(broker: broker, directory: directory)
        _ = try await first.call("devices/add", Self.lamp)
        let publisher = try await MessageCollector.connect(port: broker.port, subscribeTo: [])
        try await publisher.client.publishAndWait("z2m/lamp", payload: Array(#"{"state":"ON","brightness":7}"#.utf8))
        try await Task.sleep(for: .milliseconds(150))
        await first.daemon.stop()
        await first.status.close()
        // Clear what the broker retained, so whatever comes back was republished by the daemon.
        for topic in ["mqtt-home/devices/living_room_lamp", "mqtt-home/devices/living_room_lamp/state", "mqtt-home/devices/living_room_lamp/availability"] {
            try await publisher.client.publishAndWait(topic, payload: [], retain: true)
        }
        let second = try await DaemonHarness.start(broker: broker, directory: directory)
        cleanup { await second.shutdown(); directory.remove() }
        let device = try await second.call("devices/get", ["id": "living_room_lamp"])
        #expect(device["state"]?["brightness"] == 7)
        let late = try await MessageCollector.connect(port: broker.port, subscribeTo: ["mqtt-home/devices/#"])
        #expect(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp/state") { $0.json?["brightness"] == 7 } != nil)
        #expect(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp") != nil)
        let logs = try await second.call("devices/logs", ["id": "living_room_lamp"])
        #expect(logs["items"]?.arrayValue?.count == 1)
        // And it still follows the device.
        try await publisher.client.publishAndWait("z2m/lamp", payload: Array(#"{"brightness":8}"#.utf8))
        #expect(await late.waitFor(topic: "mqtt-home/devices/living_room_lamp/state") { $0.json?["brightness"] == 8 } != nil)
        await late.close()
        await publisher.close()
    }

    @Test("a broker restarted without persistence gets every retained topic back within 5 s, online last")
    func brokerRestartRepublishes() async throws {
        let harness = try await DaemonHarness.start(environment: ["MQTT_RECONNECT_MAX_DELAY": "1"])
        cleanup { await harness.shutdown() }
        for n in 1...20 {
            _ = try await harness.call("devices/add", ["name": "Sensor \(n)", "type": "sensor", "state_topic": "s/\(n)"])
        }
        await harness.status.close()
        await harness.broker.kill()
        try await harness.broker.restart()
        let clock = ContinuousClock()
        let restarted = clock.now
        let watcher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/#"])
        let online = await watcher.waitFor(topic: "mqtt-home/status", timeout: 5) { $0.json?["state"] == "online" }
        #expect(online != nil)
        #expect(clock.now - restarted < .seconds(5))
        try await Task.sleep(for: .milliseconds(200))
        let documents = Set(watcher.messages.map(\.topic).filter { $0.hasPrefix("mqtt-home/devices/") && !$0.hasSuffix("/state") && !$0.hasSuffix("/availability") })
        #expect(documents.count == 20)
        // Every device topic was published before online.
        let topics = watcher.messages.map(\.topic)
        if let onlineIndex = topics.firstIndex(of: "mqtt-home/status") {
            #expect(topics[..<onlineIndex].filter { $0.hasPrefix("mqtt-home/devices/") }.count >= 60)
        }
        await watcher.close()
    }

    @Test("a burst on one topic is coalesced: far fewer retained publishes, and the newest value wins")
    func coalescing() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", ["name": "Meter", "type": "sensor", "state_topic": "meter"])
        let publisher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/devices/meter/state"])
        for n in 1...2000 { try publisher.client.publish("meter", payload: Array("\(n)".utf8)) }
        #expect(await publisher.waitFor(topic: "mqtt-home/devices/meter/state", timeout: 10) { $0.json?["value"] == 2000 } != nil)
        let ingest = try await harness.call("health")["ingest"]
        #expect(ingest?["messages_matched"] == 2000)
        let sent = ingest?["state_publishes_sent"]?.intValue ?? 0
        #expect(sent < 1000, "\(sent) retained publishes for 2000 messages")
        #expect(ingest?["store_rows_dropped"] == 0)
        await publisher.close()
    }
}
