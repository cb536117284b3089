import Testing

@testable import MQTTHome

@Suite("Plugin API without a broker: aliases, times, suggestions, port actions")
struct PluginAPIUnitTests {
    @Test("aliases in English and Chinese reach the same measurement; spelling variants compare equal")
    func aliases() {
        #expect(SensorAliases.canonical("温度") == "temperature")
        #expect(SensorAliases.canonical("Temp") == "temperature")
        #expect(SensorAliases.canonical("湿度") == "humidity")
        #expect(SensorAliases.canonical("光照") == "illuminance")
        #expect(SensorAliases.canonical("电量") == "battery")
        #expect(SensorAliases.canonical("功率") == "power")
        #expect(SensorAliases.canonical("电压") == "voltage")
        #expect(SensorAliases.canonical("二氧化碳") == "carbon_dioxide")
        #expect(SensorAliases.canonical("CO2") == "carbon_dioxide")
        #expect(SensorAliases.canonical("PM2.5") == "pm25")
        #expect(SensorAliases.canonical("pm_2_5") == "pm25")
        #expect(SensorAliases.canonical("wind speed") == nil)
        #expect(SensorAliases.normalized("PM 2.5") == "pm25")
    }

    @Test("RFC 3339 times parse with fractions and offsets; garbage does not")
    func timestamps() {
        #expect(Timestamp.seconds(from: "1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.seconds(from: "1970-01-01T00:01:00.500Z") == 60.5)
        #expect(Timestamp.seconds(from: "1970-01-01T08:00:00+08:00") == 0)
        #expect(Timestamp.seconds(from: "1970-01-02") == 86400)
        let now = Timestamp.currentSeconds()
        #expect(abs((Timestamp.seconds(from: Timestamp.now()) ?? 0) - now) < 1)
        #expect(Timestamp.seconds(from: "yesterday") == nil)
        #expect(Timestamp.seconds(from: "2026-13-01T00:00:00Z") == nil)
        #expect(Timestamp.seconds(from: "2026-01-01T00:00:00Zjunk") == nil)
        #expect(PluginMethods.since("2h", now: 10_000) == 2800)
        #expect(PluginMethods.since("30m", now: 10_000) == 8200)
        #expect(PluginMethods.since("1d", now: 100_000) == 13600)
        #expect(PluginMethods.since("soon", now: 0) == nil)
    }

    @Test("did-you-mean: typos and fragments of ids or names, nothing for unrelated words")
    func suggestions() {
        let devices = [("kitchen_sensor", "Kitchen sensor"), ("living_room_lamp", "Living Room Lamp"), ("zigbee2mqtt_0xabc", "weather")]
        #expect(NameSuggestions.closest(to: "kitchn_sensor", among: devices) == ["kitchen_sensor"])
        #expect(NameSuggestions.closest(to: "Living Room Lamp ", among: devices) == ["living_room_lamp"])
        #expect(NameSuggestions.closest(to: "wether", among: devices) == ["zigbee2mqtt_0xabc"])
        #expect(NameSuggestions.closest(to: "lamp", among: devices) == ["living_room_lamp"])
        #expect(NameSuggestions.closest(to: "garage door", among: devices).isEmpty)
        #expect(NameSuggestions.distance("kitten", "sitting") == 3)
    }

    @Test("port actions become devices/set intents per platform; nonsense is -32602 naming the action")
    func portActions() throws {
        #expect(try DeviceRegistry.intent(for: "on", platform: "switch") == ["state": "ON"])
        #expect(try DeviceRegistry.intent(for: "关", platform: "light") == ["state": "OFF"])
        #expect(try DeviceRegistry.intent(for: "toggle", platform: "light") == ["state": "toggle"])
        #expect(try DeviceRegistry.intent(for: 128, platform: "light") == ["brightness": 128])
        #expect(try DeviceRegistry.intent(for: "40", platform: "cover") == ["position": 40])
        #expect(try DeviceRegistry.intent(for: "打开", platform: "cover") == ["state": "open"])
        #expect(try DeviceRegistry.intent(for: "stop", platform: "cover") == ["state": "stop"])
        #expect(try DeviceRegistry.intent(for: 21.5, platform: "climate") == ["temperature": 21.5])
        #expect(try DeviceRegistry.intent(for: "heat", platform: "climate") == ["mode": "heat"])
        #expect(try DeviceRegistry.intent(for: "unlock", platform: "lock") == ["state": "unlock"])
        #expect(try DeviceRegistry.intent(for: "press", platform: "button") == ["state": "press"])
        #expect(try DeviceRegistry.intent(for: "eco", platform: "select") == ["value": "eco"])
        #expect(try DeviceRegistry.intent(for: true, platform: "switch") == ["state": "ON"])
        #expect(throws: RPCError.self) { try DeviceRegistry.intent(for: 50, platform: "switch") }
        #expect(throws: RPCError.self) { try DeviceRegistry.intent(for: "dance", platform: "switch") }
        #expect(throws: RPCError.self) { try DeviceRegistry.intent(for: .null, platform: "switch") }
    }

    @Test("ports count from 1 or are named by key; out of range lists what there is")
    func ports() throws {
        let relays = [Entity(key: "l1", name: "Relay 1", platform: "switch"), Entity(key: "l2", name: "Relay 2", platform: "switch")]
        #expect(try DeviceRegistry.port(2, among: relays).key == "l2")
        #expect(try DeviceRegistry.port("1", among: relays).key == "l1")
        #expect(try DeviceRegistry.port("Relay 2", among: relays).key == "l2")
        do {
            _ = try DeviceRegistry.port(0, among: relays)
            Issue.record("port 0 was accepted")
        } catch {
            #expect(error.message.contains("1 = l1, 2 = l2"))
        }
    }
}

@Suite("Did-you-mean over words")
struct NameSuggestionWordTests {
    @Test("a typo of one word of a longer name still finds it")
    func wordTypo() {
        let devices = [("kitchen_sensor", "Kitchen sensor"), ("hall_light", "Hall light")]
        #expect(NameSuggestions.closest(to: "kitchn", among: devices) == ["kitchen_sensor"])
        #expect(NameSuggestions.closest(to: "hal lihgt", among: devices) == ["hall_light"])
    }
}

@Suite("Per-caller RPC rate limit")
struct CallerRateLimiterTests {
    @Test("a burst is admitted, then one request per 1/rate; callers are apart by reply topic without its last level")
    func tokenBucket() {
        let limiter = CallerRateLimiter(perSecond: 10, burst: 3)
        let start = ContinuousClock.now
        let cli = CallerRateLimiter.caller(replyTopic: "mqtt-home/reply/cli-1/7")
        #expect(cli == "mqtt-home/reply/cli-1")
        #expect(CallerRateLimiter.caller(replyTopic: "mqtt-home/reply/cli-1/8") == cli)
        for _ in 0..<3 { #expect(limiter.admit(cli, now: start) == nil) }
        let wait = limiter.admit(cli, now: start)
        #expect(wait == .milliseconds(100))
        #expect(limiter.admit("mqtt-home/reply/cli-2", now: start) == nil, "another caller has its own bucket")
        #expect(limiter.admit(cli, now: start + .milliseconds(100)) == nil)
        #expect(limiter.admit(cli, now: start + .milliseconds(100)) != nil)
        #expect(limiter.refused == 2)
        #expect(CallerRateLimiter.caller(replyTopic: nil) == "")
        #expect(CallerRateLimiter.caller(replyTopic: "flat") == "flat")
    }
}
