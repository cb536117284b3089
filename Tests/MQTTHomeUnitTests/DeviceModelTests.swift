import Testing

@testable import MQTTHome

@Suite("Device model and state merge rules")
struct DeviceModelTests {
    @Test("slugs are topic-safe", arguments: [
        ("Living Room Lamp", "living_room_lamp"), ("  Küche / Sensor #2 ", "k_che_sensor_2"), ("温度计", "device"),
        ("plug-01", "plug-01"),
    ])
    func slug(name: String, expected: String) {
        #expect(Device.slug(name) == expected)
        #expect(Device.isValidID(Device.slug(name)))
    }

    @Test("a JSON object payload is merged key by key, as Zigbee2MQTT state topics work")
    func mergeObject() {
        var state = DeviceState(values: JSONObject([("temperature", 20), ("battery", 90)]))
        let changed = state.apply(
            payload: Array(#"{"temperature":21.5,"humidity":40}"#.utf8),
            entityKey: "temperature",
            at: "t1",
            hasAvailability: false
        )
        #expect(changed)
        #expect(state.values == JSONObject([("temperature", 21.5), ("battery", 90), ("humidity", 40)]))
        #expect(state.lastSeen == "t1")
        #expect(state.online)
    }

    @Test("a scalar payload becomes the entity's value; numbers stay numbers", arguments: [
        ("21.5", JSONValue.double(21.5)), ("7", .int(7)), ("ON", .string("ON")), ("true", .bool(true)),
        ("\"quoted\"", .string("quoted")), ("", .null), ("not json {", .string("not json {")), ("[1,2]", JSONValue.array([1, 2])),
    ])
    func scalar(payload: String, expected: JSONValue) {
        var state = DeviceState()
        state.apply(payload: Array(payload.utf8), entityKey: "value", at: "t", hasAvailability: false)
        #expect(state.values["value"] == expected)
    }

    @Test("an unchanged value reports no change; availability-managed devices are not marked online by data")
    func unchangedAndAvailability() {
        var state = DeviceState(values: JSONObject([("state", "ON")]))
        let changed = state.apply(payload: Array("ON".utf8), entityKey: "state", at: "t", hasAvailability: true)
        #expect(!changed)
        #expect(!state.online)
    }

    @Test("state and entity JSON round-trip through their stored form")
    func roundTrips() {
        let state = DeviceState(values: JSONObject([("t", 1)]), lastSeen: "x", online: true)
        #expect(DeviceState(json: state.json) == state)
        let entity = Entity(
            key: "t", name: "T", platform: "sensor", stateTopic: "a/b", commandTopic: "a/b/set",
            availability: .init(topic: "a/avail", payloadAvailable: "up"), unit: "°C", deviceClass: "temperature"
        )
        #expect(Entity(json: entity.json) == entity)
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test("RFC 3339 UTC with milliseconds, the cached prefix matching a full format")
    func format() {
        let now = Timestamp.now()
        #expect(now.count == 24 && now.hasSuffix("Z") && now.dropFirst(10).first == "T")
        let full = Timestamp.iso8601(secondsSinceEpoch: Timestamp.currentSeconds())
        #expect(now.prefix(16) == full.prefix(16))
        #expect(Timestamp.iso8601(secondsSinceEpoch: 0.5) == "1970-01-01T00:00:00.500Z")
    }
}
