import GRDB
import Testing

@testable import MQTTHome

@Suite("SQLite store")
struct DeviceStoreTests {
    static func device(_ id: String, name: String? = nil) -> Device {
        Device(
            id: id,
            name: name ?? id,
            type: "sensor",
            createdAt: "2026-01-01T00:00:00.000Z",
            updatedAt: "2026-01-01T00:00:00.000Z",
            entities: [Entity(key: "value", name: "Value", platform: "sensor", stateTopic: "home/\(id)")]
        )
    }

    @Test("migrations apply from empty; devices, entities and state survive a reload")
    func saveAndLoad() async throws {
        let store = try DeviceStore.inMemory()
        var device = Self.device("a")
        device.entities.append(Entity(key: "b", name: "B", platform: "binary_sensor", availability: .init(topic: "av")))
        try await store.write { [device] db in
            try store.save(device, in: db)
            try store.saveState(deviceID: "a", state: StateSnapshot(DeviceState(values: JSONObject([("value", 3)]), lastSeen: "t", online: true)), in: db)
        }
        let loaded = try await store.loadAll()
        #expect(loaded.count == 1)
        #expect(loaded[0].0 == device)
        #expect(loaded[0].1.values["value"] == 3)
        #expect(loaded[0].1.online)
        #expect(try await store.integrityCheck() == "ok")
    }

    @Test("names are unique regardless of case")
    func uniqueNames() async throws {
        let store = try DeviceStore.inMemory()
        try await store.write { db in try store.save(Self.device("a", name: "Lamp"), in: db) }
        await #expect(throws: (any Error).self) {
            try await store.write { db in try store.save(Self.device("b", name: "lamp"), in: db) }
        }
    }

    @Test("the log keeps the newest rows after pruning; deleting a device removes its log")
    func logCap() async throws {
        let store = try DeviceStore.inMemory()
        try await store.write { db in
            try store.save(Self.device("a"), in: db)
            for n in 0..<30 {
                try store.append(.init(deviceID: "a", at: "t\(n)", direction: n % 2 == 0 ? "rx" : "tx", topic: "x", payload: Array("\(n)".utf8)), in: db)
            }
            try store.pruneLog(deviceID: "a", keep: 10, in: db)
        }
        let entries = try await store.log(deviceID: "a", limit: 100, direction: nil, before: nil)
        #expect(entries.count == 10)
        #expect(entries.first?.payload == Array("29".utf8))
        #expect(entries.last?.payload == Array("20".utf8))
        let tx = try await store.log(deviceID: "a", limit: 100, direction: "tx", before: nil)
        #expect(tx.allSatisfy { $0.direction == "tx" } && tx.count == 5)
        let page = try await store.log(deviceID: "a", limit: 3, direction: nil, before: entries[2].id)
        #expect(page.map(\.payload) == [Array("26".utf8), Array("25".utf8), Array("24".utf8)])
        try await store.write { db in try store.delete(deviceID: "a", in: db) }
        #expect(try await store.recentActivity(limit: 10).isEmpty)
    }
}

@Suite("SQLite store: damaged rows")
struct DeviceStoreDamageTests {
    @Test("a stored JSON column that no longer parses loads empty with a warning naming it")
    func corruptJSONIsNotSilent() async throws {
        let store = try DeviceStore.inMemory()
        var device = DeviceStoreTests.device("a")
        device.entities[0].discovery = Entity.Discovery(key: "sensor a", topic: "homeassistant/sensor/a/config", uniqueID: "a", platform: "sensor", config: ["state_topic": "home/a"])
        try await store.saveAll([device, DeviceStoreTests.device("b")])
        try await store.write { db in
            try db.execute(sql: "UPDATE device SET attributes = '{not json', state = '[1,' WHERE id = 'a'")
            try db.execute(sql: "UPDATE entity SET config = '42' WHERE device_id = 'a'")
        }
        let loaded = try await store.loadAll()
        let a = try #require(loaded.first { $0.0.id == "a" })
        #expect(a.0.attributes.isEmpty && a.1.values.isEmpty)
        #expect(a.0.warnings.count == 3, "\(a.0.warnings)")
        #expect(a.0.warnings.contains { $0.contains("attributes") && $0.contains("not valid JSON") })
        #expect(a.0.warnings.contains { $0.contains("state") })
        #expect(a.0.warnings.contains { $0.contains("discovery config of entity 'value'") && $0.contains("not a JSON object") })
        #expect(loaded.first { $0.0.id == "b" }?.0.warnings.isEmpty == true)
    }
}
