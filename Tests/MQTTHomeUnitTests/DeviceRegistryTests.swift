import Foundation
import Mosquitto
import Synchronization
import Testing

@testable import MQTTHome

/// The registry with fakes for the broker, the store and the publisher: ingest, changes, discovery grouping,
/// identity moves, removal and expiry, with no broker and no disk.
@Suite("Device registry without a broker")
struct DeviceRegistryTests {
    static func spec(_ name: String, state: String, command: String? = nil, availability: String? = nil) -> DeviceSpec {
        var spec = DeviceSpec()
        spec.name = name
        spec.type = command == nil ? "sensor" : "switch"
        spec.stateTopic = state
        if let command { spec.commandTopic = .some(command) }
        if let availability { spec.availabilityTopic = .some(availability) }
        return spec
    }

    @Test("add subscribes and publishes the device; state merges, is logged once and published; availability follows its topic")
    func addAndIngest() async throws {
        let fixture = try RegistryFixture()
        let added = try await fixture.registry.add(Self.spec("Hall Light", state: "z2m/hall", command: "z2m/hall/set", availability: "z2m/hall/availability"))
        #expect(added["id"] == "hall_light")
        #expect(fixture.bus.subscribed.sorted() == ["z2m/hall", "z2m/hall/availability"])
        #expect(fixture.bus.last("mqtt-home/devices/hall_light")?.retain == true)
        #expect(fixture.bus.last("mqtt-home/devices/hall_light/availability")?.payload == "offline")

        fixture.ingest("z2m/hall", #"{"state":"ON","brightness":120}"#)
        fixture.ingest("z2m/hall", #"{"brightness":80}"#)
        let device = try fixture.registry.get("hall_light")
        #expect(device["state"] == ["state": "ON", "brightness": 80])
        // It has an availability topic: data alone does not make it online.
        #expect(device["online"] == false)
        #expect(fixture.recorder.logs == 2)
        let published = try JSONParser.parse(try #require(fixture.publisher["mqtt-home/devices/hall_light/state"]))
        #expect(published["brightness"] == 80 && published["state"] == "ON")

        fixture.ingest("z2m/hall/availability", "online")
        #expect(try fixture.registry.get("hall_light")["online"] == true)
        #expect(fixture.publisher["mqtt-home/devices/hall_light/availability"] == "online")
        fixture.ingest("z2m/hall/availability", "garbage")
        #expect(try fixture.registry.get("hall_light")["online"] == true)
        fixture.ingest("elsewhere", "1")
        #expect(fixture.registry.statistics == (matched: 3, unmatched: 2))
    }

    @Test("devices/update keeps state that arrived while its commit ran (lost update)")
    func updateKeepsStateIngestedDuringCommit() async throws {
        let fixture = try RegistryFixture()
        _ = try await fixture.registry.add(Self.spec("Kitchen", state: "sensors/kitchen"))
        fixture.ingest("sensors/kitchen", #"{"temperature":20}"#)
        fixture.recorder.commits.close()
        let update = Task {
            var spec = DeviceSpec()
            spec.area = .some("Kitchen")
            return try await fixture.registry.update(id: "kitchen", spec)
        }
        try await fixture.recorder.commits.arrival()
        fixture.ingest("sensors/kitchen", #"{"temperature":23.5,"humidity":40}"#)
        fixture.recorder.commits.open()
        let reply = try await update.value
        #expect(reply["area"] == "Kitchen")
        #expect(reply["state"] == ["temperature": 23.5, "humidity": 40])
        #expect(try fixture.registry.get("kitchen")["state"] == ["temperature": 23.5, "humidity": 40])
    }

    @Test("a SUBACK that never comes delays only the change that waits for it")
    func stalledSubackDoesNotBlockOtherChanges() async throws {
        let fixture = try RegistryFixture(stalledPrefix: "stalled/")
        let stalled = Task { try await fixture.registry.add(Self.spec("Stalled", state: "stalled/topic")) }
        try await fixture.bus.suback.arrival()
        // The stalled SUBACK cannot arrive before the gate opens, so finishing at all proves these do not wait for
        // it; the timeouts only bound a hang.
        let other = try await withTimeout(.seconds(30)) {
            try await fixture.registry.add(Self.spec("Other", state: "ok/topic"))
        }
        #expect(other["id"] == "other")
        var rename = DeviceSpec()
        rename.name = "Renamed"
        let spec = rename
        _ = try await withTimeout(.seconds(30)) { try await fixture.registry.update(id: "other", spec) }
        #expect(fixture.registry.count == 2)
        #expect(fixture.bus.suback.waiting == 1, "the stalled add was no longer waiting for its SUBACK")
        fixture.bus.suback.open()
        #expect(try await stalled.value["id"] == "stalled")
    }

    @Test("remove clears the retained topics, unsubscribes what no device reads, and forgets the device")
    func removal() async throws {
        let fixture = try RegistryFixture()
        _ = try await fixture.registry.add(Self.spec("A", state: "shared/#"))
        _ = try await fixture.registry.add(Self.spec("B", state: "other/b"))
        _ = try await fixture.registry.remove(id: "b")
        #expect(fixture.bus.unsubscribed == ["other/b"])
        #expect(fixture.publisher["mqtt-home/devices/b"] == "")
        #expect(fixture.publisher["mqtt-home/devices/b/state"] == "")
        #expect(fixture.recorder.forgotten == ["b"])
        #expect(throws: RPCError.self) { try fixture.registry.get("b") }
        fixture.ingest("other/b", "1")
        #expect(fixture.registry.statistics.matched == 0)
        // The name is free again.
        _ = try await fixture.registry.add(Self.spec("B", state: "other/b2"))
    }

    static let sensorConfig = #"""
        {"name":"Temperature","uniq_id":"0x01_temperature","stat_t":"z2m/0x01","val_tpl":"{{ value_json.temperature }}",
         "unit_of_meas":"°C","dev_cla":"temperature","exp_aft":60,
         "dev":{"ids":["zigbee2mqtt_0x01"],"name":"Living Room Sensor","sa":"Living Room"}}
        """#
    static let humidityConfig = #"""
        {"name":"Humidity","uniq_id":"0x01_humidity","stat_t":"z2m/0x01","val_tpl":"{{ value_json.humidity }}",
         "unit_of_meas":"%","dev":{"ids":["zigbee2mqtt_0x01"],"name":"Living Room Sensor"}}
        """#

    @Test("discovery groups a device's entities by identifiers; one message feeds both; removal shrinks then removes")
    func discoveryGrouping() async throws {
        let fixture = try RegistryFixture()
        await fixture.discover("homeassistant/sensor/0x01/temperature/config", Self.sensorConfig)
        await fixture.discover("homeassistant/sensor/0x01/humidity/config", Self.humidityConfig)
        #expect(fixture.registry.count == 1)
        let id = "zigbee2mqtt_0x01"
        var device = try fixture.registry.get(id)
        #expect(device["name"] == "Living Room Sensor")
        #expect(device["area"] == "Living Room")
        #expect(device["entities"]?.arrayValue?.count == 2)
        // Both entities read the same topic: the second config subscribes again so the broker replays it.
        #expect(fixture.bus.subscribed.filter { $0 == "z2m/0x01" }.count == 2)

        fixture.ingest("z2m/0x01", #"{"temperature":21.5,"humidity":48}"#)
        device = try fixture.registry.get(id)
        #expect(device["state"] == ["temperature": 21.5, "humidity": 48])
        #expect(fixture.recorder.logs == 1)

        await fixture.discover("homeassistant/sensor/0x01/humidity/config", "")
        device = try fixture.registry.get(id)
        #expect(device["entities"]?.arrayValue?.map { $0["key"] } == ["temperature"])
        #expect(fixture.bus.unsubscribed.isEmpty, "the temperature entity still reads z2m/0x01")
        await fixture.discover("homeassistant/sensor/0x01/temperature/config", "")
        #expect(fixture.registry.count == 0)
        #expect(fixture.bus.unsubscribed == ["z2m/0x01"])
        #expect(fixture.publisher["mqtt-home/devices/\(id)"] == "")
    }

    @Test("an entity whose identifiers change moves to the other device; the old one loses it")
    func identityMove() async throws {
        let fixture = try RegistryFixture()
        await fixture.discover("homeassistant/sensor/0x01/temperature/config", Self.sensorConfig)
        await fixture.discover("homeassistant/sensor/0x01/humidity/config", Self.humidityConfig)
        let moved = Self.humidityConfig.replacingOccurrences(of: #""ids":["zigbee2mqtt_0x01"],"name":"Living Room Sensor""#, with: #""ids":["zigbee2mqtt_0x02"],"name":"Bedroom Sensor""#)
        await fixture.discover("homeassistant/sensor/0x01/humidity/config", moved)
        #expect(fixture.registry.count == 2)
        #expect(try fixture.registry.get("zigbee2mqtt_0x01")["entities"]?.arrayValue?.map { $0["key"] } == ["temperature"])
        let bedroom = try fixture.registry.get("Bedroom Sensor")
        #expect(bedroom["entities"]?.arrayValue?.map { $0["unique_id"] ?? $0["key"] }.count == 1)
        // Same unique_id under another topic updates the entity instead of duplicating it.
        await fixture.discover("homeassistant/sensor/0x02/humidity/config", moved)
        #expect(fixture.registry.count == 2)
        #expect(try fixture.registry.get("Bedroom Sensor")["entities"]?.arrayValue?.count == 1)
    }

    @Test("expire_after: no state for longer makes the device offline, published; a new value brings it back")
    func expiry() async throws {
        let fixture = try RegistryFixture()
        await fixture.discover("homeassistant/sensor/0x01/temperature/config", Self.sensorConfig)
        let id = "zigbee2mqtt_0x01"
        fixture.ingest("z2m/0x01", #"{"temperature":21.5}"#)
        #expect(try fixture.registry.get(id)["online"] == true)
        fixture.registry.expireStale(now: .now + .seconds(30))
        #expect(try fixture.registry.get(id)["online"] == true)
        fixture.registry.expireStale(now: .now + .seconds(61))
        #expect(try fixture.registry.get(id)["online"] == false)
        #expect(fixture.publisher["mqtt-home/devices/\(id)/availability"] == "offline")
        fixture.ingest("z2m/0x01", #"{"temperature":22}"#)
        #expect(try fixture.registry.get(id)["online"] == true)
        #expect(fixture.publisher["mqtt-home/devices/\(id)/availability"] == "online")
    }

    @Test("availability and attribute template errors are counted like value template errors")
    func availabilityTemplateErrors() async throws {
        let fixture = try RegistryFixture()
        await fixture.discover(
            "homeassistant/binary_sensor/door/config",
            #"{"name":"Door","uniq_id":"door","stat_t":"door/state","avty_t":"door/avail","avty_tpl":"{{ value_json.x | int(0) * 'a' }}","json_attr_t":"door/attrs","json_attr_tpl":"{{ value_json.y | int(0) * 'b' }}"}"#
        )
        fixture.ingest("door/avail", #"{"x": 100000}"#)
        fixture.ingest("door/attrs", #"{"y": 100000}"#)
        let discovery = fixture.registry.discoveryStatistics()
        #expect(discovery["template_errors"] == 2)
    }

    @Test("load: connected, each part is subscribed and published as it is read, and the republish after connect sends only the rest; a new connection gets everything")
    func loadPublishesWhileReading() async throws {
        let now = Timestamp.now()
        let devices = (0..<2_500).map { index in
            Device(
                id: "d\(index)", name: "Device \(index)", type: "sensor", createdAt: now, updatedAt: now,
                entities: [Entity(key: "value", name: "V", platform: "sensor", stateTopic: "s/\(index)")]
            )
        }
        func documents(_ bus: RecordingBus) -> [String] {
            bus.sent.map(\.topic).filter { $0.hasPrefix("mqtt-home/devices/") && $0.split(separator: "/").count == 3 }
        }

        // Connected from the start: every device published once while loading, nothing left for the republish.
        let connected = try RegistryFixture()
        try await connected.recorder.store.saveAll(devices)
        try await connected.registry.load()
        #expect(Set(connected.bus.subscribed).count == 2_500)
        #expect(documents(connected.bus).count == 2_500 && Set(documents(connected.bus)).count == 2_500)
        #expect(connected.bus.sent.filter { $0.topic.hasSuffix("/state") }.count == 2_500)
        connected.registry.republishAll()
        #expect(documents(connected.bus).count == 2_500, "the republish on the same connection sent them again")
        // The next (re)connect republishes everything.
        connected.bus.currentConnection.withLock { $0 = 2 }
        connected.registry.republishAll()
        #expect(documents(connected.bus).count == 5_000)

        // Not connected while loading: nothing published then, all of it by the republish after the connect.
        let offline = try RegistryFixture()
        offline.bus.currentConnection.withLock { $0 = nil }
        try await offline.recorder.store.saveAll(devices)
        try await offline.registry.load()
        #expect(documents(offline.bus).isEmpty && Set(offline.bus.subscribed).count == 2_500)
        offline.bus.currentConnection.withLock { $0 = 1 }
        offline.registry.republishAll()
        #expect(Set(documents(offline.bus)).count == 2_500)

        // The CONNACK between the first part and the second: the republish sends exactly the first part.
        let midway = try RegistryFixture()
        midway.bus.currentConnection.withLock { $0 = nil }
        midway.bus.connectAtSubscribe.withLock { $0 = 2 }
        try await midway.recorder.store.saveAll(devices)
        try await midway.registry.load()
        #expect(documents(midway.bus).count == 1_500)
        midway.registry.republishAll()
        #expect(documents(midway.bus).count == 2_500 && Set(documents(midway.bus)).count == 2_500)

        // Loaded on connection 1, republished on connection 2 (it dropped in between): everything again.
        let dropped = try RegistryFixture()
        try await dropped.recorder.store.saveAll(devices)
        try await dropped.registry.load()
        dropped.bus.currentConnection.withLock { $0 = 2 }
        dropped.registry.republishAll()
        #expect(documents(dropped.bus).count == 5_000)
    }

    @Test("load: a stored device using a refused topic loses that topic with a warning; a discovered entity using one is dropped; a clean device loads as stored")
    func loadQuarantinesRefusedTopics() async throws {
        let fixture = try RegistryFixture()
        let now = Timestamp.now()
        let clean = Device(
            id: "clean", name: "Clean", type: "switch", createdAt: now, updatedAt: now,
            entities: [Entity(key: "value", name: "Clean", platform: "switch", stateTopic: "s/clean", commandTopic: "s/clean/set")]
        )
        // Saved before the topic policy existed: a state topic inside the daemon's own tree, a discovered entity
        // whose config commands on a discovery config topic.
        let legacy = Device(
            id: "legacy", name: "Legacy", type: "switch", createdAt: now, updatedAt: now,
            entities: [
                Entity(key: "value", name: "Legacy", platform: "switch", stateTopic: "mqtt-home/devices/x/state", commandTopic: "l/set"),
                Entity(
                    key: "planted", name: "Planted", platform: "switch", stateTopic: "l/planted", commandTopic: "homeassistant/switch/p/config",
                    discovery: Entity.Discovery(
                        key: "planted", topic: "homeassistant/switch/p/config", uniqueID: "p", platform: "switch",
                        config: ["state_topic": "l/planted", "command_topic": "homeassistant/switch/p/config"]
                    )
                ),
            ]
        )
        try await fixture.recorder.store.saveAll([clean, legacy])
        try await fixture.registry.load()

        let loadedClean = try fixture.registry.get("clean")
        #expect(loadedClean["warnings"] == nil)
        #expect(loadedClean["entities"]?[0]?["state_topic"] == "s/clean")
        let loadedLegacy = try fixture.registry.get("legacy")
        let warnings = loadedLegacy["warnings"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(warnings.count == 2, "\(warnings)")
        #expect(warnings.contains { $0.contains("state_topic 'mqtt-home/devices/x/state'") && $0.contains("devices/update") })
        #expect(warnings.contains { $0.contains("entity 'planted'") })
        #expect(loadedLegacy["entities"]?.arrayValue?.count == 1)
        #expect(loadedLegacy["entities"]?[0]?["state_topic"] == .null)
        #expect(loadedLegacy["entities"]?[0]?["command_topic"] == "l/set")
        #expect(Set(fixture.bus.subscribed) == ["s/clean"])
    }

    @Test("a state filter may overlap no other device's topic, in either order of adding; an update is judged on the topics it brings")
    func stateFilterOverlaps() async throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        func filterSpec(_ name: String, _ filter: String) -> DeviceSpec {
            var spec = Self.spec(name, state: filter)
            spec.stateTopicIsFilter = true
            return spec
        }
        func refusal(_ spec: DeviceSpec) async -> RPCError? {
            do throws(RPCError) { _ = try await registry.add(spec) } catch { return error }
            return nil
        }
        _ = try await registry.add(Self.spec("Plug", state: "plugs/kitchen/state", command: "plugs/kitchen/set"))
        // Filter after topic: its command topic counts as well as its state topic.
        let broad = await refusal(filterSpec("All plugs", "plugs/+/set"))
        #expect(broad?.message.contains("would also match device 'plug''s topic 'plugs/kitchen/set'") == true, "\(String(describing: broad))")
        _ = try await registry.add(filterSpec("Hall plugs", "plugs/hall/+"))
        // Topic after filter: refused too, naming the filter.
        let late = await refusal(Self.spec("Hall lamp", state: "plugs/hall/lamp"))
        #expect(late?.message.contains("would also be matched by device 'hall_plugs''s state filter 'plugs/hall/+'") == true, "\(String(describing: late))")
        #expect(late?.json["data"]?["parameter"] == "state_topic")
        let command = await refusal(Self.spec("Hall switch", state: "switches/hall", command: "plugs/hall/set"))
        #expect(command?.json["data"]?["parameter"] == "command_topic")
        // Once a device is gone, nothing blocks its topics.
        _ = try await registry.remove(id: "hall_plugs")
        _ = try await registry.add(Self.spec("Hall lamp", state: "plugs/hall/lamp"))
        _ = try await registry.remove(id: "plug")
        _ = try await registry.add(filterSpec("Kitchen plugs", "plugs/kitchen/#"))

        // A pair accepted before this rule (stored, then loaded) does not block an unrelated update of either;
        // changing to a topic under another's filter still does.
        let now = Timestamp.now()
        let filterDevice = Device(
            id: "legacy_filter", name: "Legacy filter", type: "sensor", createdAt: now, updatedAt: now,
            entities: [Entity(key: "value", name: "Legacy filter", platform: "sensor", stateTopic: "legacy/+", stateTopicIsFilter: true)]
        )
        let covered = Device(
            id: "legacy_covered", name: "Legacy covered", type: "sensor", createdAt: now, updatedAt: now,
            entities: [Entity(key: "value", name: "Legacy covered", platform: "sensor", stateTopic: "legacy/a")]
        )
        let stored = try RegistryFixture()
        try await stored.recorder.store.saveAll([filterDevice, covered])
        try await stored.registry.load()
        var area = DeviceSpec()
        area.area = .some("Hall")
        #expect(try await stored.registry.update(id: "legacy_covered", area)["area"] == "Hall")
        #expect(try await stored.registry.update(id: "legacy_filter", area)["area"] == "Hall")
        var move = DeviceSpec()
        move.stateTopic = "legacy/b"
        await #expect(throws: RPCError.self) { try await stored.registry.update(id: "legacy_covered", move) }
    }

    @Test("devices/import: every item checked as devices/add (and against the other items), the valid ones in one transaction and one SUBSCRIBE")
    func importMany() async throws {
        let fixture = try RegistryFixture()
        _ = try await fixture.registry.add(Self.spec("Existing", state: "x/existing", command: "x/existing/set"))
        let before = fixture.recorder.transactions
        let items: [JSONValue] = [
            ["name": "Sensor A", "type": "sensor", "state_topic": "s/a"],
            ["name": "Sensor B", "type": "sensor", "state_topic": "s/b", "area": "Kitchen"],
            ["name": "sensor a", "type": "sensor", "state_topic": "s/a2"],  // duplicate of an earlier item, by case
            ["name": "Existing", "type": "sensor", "state_topic": "s/e"],  // duplicate of a registered device
            ["name": "Plug", "type": "switch", "state_topic": "p/1", "command_topic": "x/existing/set"],  // command topic taken
            ["name": "Lamp 1", "type": "light", "state_topic": "l/1", "command_topic": "l/set"],
            ["name": "Lamp 2", "type": "light", "state_topic": "l/2", "command_topic": "l/set"],  // taken earlier in this import
            ["name": "Bad", "type": "toaster", "state_topic": "b"],
            ["name": "Typo", "type": "sensor", "state_topic": "t", "unkown": 1],
            ["name": "Sensor A2", "type": "sensor", "state_topic": "s/#", "state_topic_filter": true],  // would match s/a, s/b
            "not an object",
            ["name": "Sensor B", "id": "sensor_a", "type": "sensor", "state_topic": "s/c"],
        ]
        let reply = try await fixture.registry.importDevices(items, atomic: false)
        #expect(reply["added"] == 3 && reply["failed"] == 9, "\(reply)")
        let statuses = reply["results"]?.arrayValue?.map { $0["status"]?.stringValue ?? "?" }
        #expect(statuses == ["added", "added", "error", "error", "error", "added", "error", "error", "error", "error", "error", "error"])
        let messages = reply["results"]?.arrayValue?.map { $0["error"]?["message"]?.stringValue ?? "" } ?? []
        #expect(messages[2].contains("earlier device in this import"))
        #expect(reply["results"]?[3]?["error"]?["code"] == -32009)
        #expect(messages[6].contains("in this import"))
        #expect(messages[8].contains("unkown"))
        #expect(messages[9].contains("would also match"))
        #expect(fixture.recorder.transactions == before + 1)
        #expect(fixture.registry.count == 4)
        #expect(try fixture.registry.get("Sensor B")["area"] == "Kitchen")
        #expect(Set(fixture.bus.subscribed).isSuperset(of: ["s/a", "s/b", "l/1"]))
        fixture.ingest("s/b", "21.5")
        #expect(try fixture.registry.get("sensor_b")["state"]?["value"] == 21.5)

        let atomic = try await fixture.registry.importDevices(
            [["name": "C", "type": "sensor", "state_topic": "c"], ["name": "Sensor A", "type": "sensor", "state_topic": "s/z"]], atomic: true
        )
        #expect(atomic["added"] == 0 && atomic["results"]?[0]?["status"] == "not_added")
        #expect(fixture.registry.count == 4)
        await #expect(throws: RPCError.self) { try await fixture.registry.importDevices([], atomic: false) }
    }

    @Test("devices/add calls that arrive during another's commit share one transaction and one SUBSCRIBE, each answered on its own")
    func concurrentAddsShareACommit() async throws {
        let fixture = try RegistryFixture(commitsOpen: false)
        let registry = fixture.registry
        // The first add holds the lock at its commit; seven more queue behind it, two of them clashing.
        let first = Task { try await registry.add(Self.spec("Sensor 0", state: "s/0")) }
        try await fixture.recorder.commits.arrival()
        var specs = (1...5).map { Self.spec("Sensor \($0)", state: "s/\($0)") }
        specs.append(Self.spec("sensor 1", state: "s/dup"))  // the name of another add of this batch
        specs.append(Self.spec("Sensor 0", state: "s/again"))  // the name of the add committing now
        let others = specs.map { spec in Task { () -> Result<JSONValue, RPCError> in
            do throws(RPCError) { return .success(try await registry.add(spec)) } catch { return .failure(error) }
        } }
        let deadline = ContinuousClock.now + .seconds(5)
        while registry.pendingAdds.withLock({ $0.count }) < specs.count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        fixture.recorder.commits.open()
        #expect(try await first.value["id"] == "sensor_0")
        var results: [Result<JSONValue, RPCError>] = []
        for task in others { results.append(await task.value) }
        for position in 0..<5 { #expect((try? results[position].get())?["id"] == .string("sensor_\(position + 1)")) }
        // The later clash is refused as if the earlier add had committed: the same error a sequential caller gets.
        for position in [5, 6] {
            guard case .failure(let error) = results[position] else {
                Issue.record("\(specs[position].name ?? "") was added")
                continue
            }
            #expect(error.code == -32009, "\(error)")
        }
        #expect(fixture.recorder.transactions == 2)
        #expect(registry.count == 6)
        #expect(Set(fixture.bus.subscribed) == Set((0...5).map { "s/\($0)" }))
        fixture.ingest("s/3", "7")
        #expect(try registry.get("sensor_3")["state"]?["value"] == 7)
    }

    @Test("an add cancelled while it waits for the lock is withdrawn: nothing is added behind the caller's back")
    func cancelledAddIsWithdrawn() async throws {
        let fixture = try RegistryFixture(commitsOpen: false)
        let registry = fixture.registry
        let first = Task { try await registry.add(Self.spec("Kept", state: "k")) }
        try await fixture.recorder.commits.arrival()
        let cancelled = Task { try await registry.add(Self.spec("Withdrawn", state: "w")) }
        let deadline = ContinuousClock.now + .seconds(5)
        while registry.pendingAdds.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
        }
        cancelled.cancel()
        await #expect(throws: RPCError.self) { try await cancelled.value }
        fixture.recorder.commits.open()
        _ = try await first.value
        // The next add commits alone and finds nothing else queued.
        _ = try await registry.add(Self.spec("Later", state: "l"))
        #expect(registry.count == 2)
        #expect(throws: RPCError.self) { try registry.get("Withdrawn") }
    }
}
