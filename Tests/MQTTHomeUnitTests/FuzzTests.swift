import Foundation
import Mosquitto
import TestSupport
import Testing

@testable import MQTTHome

/// Seeded fuzzing of everything that reads untrusted bytes: the RPC request decoder, the discovery parser, the
/// set topic's payloads (through to the commands they become), the template compiler and evaluator, and the
/// state merge. 100,000 inputs per target, reproducible from the seed
/// (`FUZZ_SEED`, `FUZZ_COUNT` override). Inputs mix generated JSON (deep nesting, huge strings, numbers at the
/// edges, unknown keys), byte-level mutations of real payloads (invalid UTF-8, truncation, splices) and templates
/// built from the supported grammar and beyond it. "Passes" means: no crash, no hang (the time limit), and memory
/// that stays bounded. Inputs that once broke something live in `Tests/Fixtures/fuzz` and run first.
@Suite(
    "Fuzzing: RPC decoder, discovery parser, set topic, templates, state merge",
    // Minutes of CPU: scripts/test runs it on its own after the rest (MQTT_HOME_FUZZ=1), so it cannot starve the
    // time-limited broker tests; a bare `swift test` skips it.
    .enabled(if: ProcessInfo.processInfo.environment["MQTT_HOME_FUZZ"] == "1"),
    // A hang guard, not a speed bound (each template evaluation's time is asserted on its own): the targets
    // share 2 cores and took 200-306 s in this session's runs as the machine's speed drifted.
    .timeLimit(.minutes(10))
)
struct FuzzTests {
    static var count: Int { ProcessInfo.processInfo.environment["FUZZ_COUNT"].flatMap(Int.init) ?? 100_000 }
    static var seed: UInt64 { ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap(UInt64.init) ?? 0x6D71_7474_686F_6D65 }

    /// Regression inputs: every file under Tests/Fixtures/fuzz/<target>/.
    static func regressions(_ target: String) -> [[UInt8]] {
        let directory = Fixtures.path("fuzz/\(target)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { FileManager.default.contents(atPath: directory + "/" + $0).map { Array($0) } }
    }

    static func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// Runs `body` over the regressions and `count` generated inputs; memory may grow by at most `limitMiB`.
    func fuzz(_ target: String, seed offset: UInt64, limitMiB: Int = 256, generate: (inout FuzzInput) -> [UInt8], body: ([UInt8]) -> Void) {
        for input in Self.regressions(target) { body(input) }
        var generator = FuzzInput(seed: Self.seed &+ offset)
        let before = Self.residentKiB()
        for _ in 0..<Self.count { body(generate(&generator)) }
        let grown = (Self.residentKiB() - before) / 1024
        #expect(grown < limitMiB, "\(target): resident memory grew by \(grown) MiB over \(Self.count) inputs")
    }

    @Test("RPC request decoder: any payload is a request or a precise rejection")
    func rpcDecoder() {
        let topics = Topics(base: "mqtt-home")
        var decoded = 0
        fuzz("rpc", seed: 1, generate: { $0.rpcPayload() }) { payload in
            let message = MQTTMessage(
                topic: "mqtt-home/rpc/devices/list",
                payload: payload,
                properties: MQTTProperties(responseTopic: "reply/1", correlationData: Array(payload.prefix(8)))
            )
            switch RPCRequest.decode(message, topics: topics, maxPayloadBytes: 262_144) {
            case .success: decoded += 1
            case .failure(let rejection): #expect((-32700 ... -32000).contains(rejection.error.code))
            }
        }
        #expect(decoded > 0, "the generator never produced a valid request")
    }

    @Test("discovery parser: any config is configs, a removal or an invalid one with its reason")
    func discoveryParser() {
        var valid = 0
        fuzz("discovery", seed: 2, generate: { $0.discoveryPayload() }) { payload in
            guard let message = DiscoveryParser.parse(topic: "homeassistant/sensor/node/object/config", payload: payload, prefix: "homeassistant") else { return }
            if case .configs(let configs, _) = message, !configs.isEmpty { valid += 1 }
            _ = DiscoveryParser.parse(topic: "homeassistant/device/node/config", payload: payload, prefix: "homeassistant")
        }
        #expect(valid > 0, "the generator never produced a valid config")
    }

    @Test("set topic: any payload is an intent of devices/set fields or a -32602 naming the problem, and translates or is refused")
    func setTopic() {
        let entities = [
            Entity(key: "state", name: "relay", platform: "switch", stateTopic: "r/state", commandTopic: "r/set"),
            Entity(key: "state", name: "bulb", platform: "light", stateTopic: "b/state", commandTopic: "b/set"),
            Entity(key: "state", name: "valve", platform: "valve", stateTopic: "v/state", commandTopic: "v/set"),
            Entity(key: "state", name: "siren", platform: "siren", stateTopic: "s/state", commandTopic: "s/set"),
        ]
        var accepted = 0
        // Counted, not #expect-ed per input: 400,000 expectations cost more than the code they check.
        var violations: [String] = []
        let fields = ControlIntent.fields + ["entity", "x"]
        let values = FuzzInput.edgeNumbers + [
            #""ON""#, #""off""#, #""toggle""#, #""open""#, #""stop""#, #""press""#, #""install""#, "true", "null", "[1,2,3]", "[255,0,0]",
            #""2026-05-01""#, #""25:00""#, #""2026-05-01T07:30:00+02:00""#, #""ping""#, "{}", #""\u0000""#,
        ]
        // Intents built from the fields and the values at their edges (the generator's nested JSON is the RPC
        // target's cost, not this one's), and the RPC target's payloads.
        fuzz("set", seed: 5, generate: { generator in
            guard generator.chance(70) else { return generator.rpcPayload() }
            let members = (0..<generator.int(1...4)).map { _ in "\"\(generator.pick(fields))\":\(generator.pick(values))" }
            let text = generator.chance(10) ? generator.pick(["ON", "OFF", "toggle", " on ", "{", "ON\nOFF"]) : "{" + members.joined(separator: ",") + "}"
            return generator.chance(10) ? generator.mutate(Array(text.utf8)) : Array(text.utf8)
        }) { payload in
            do throws(RPCError) {
                let (_, intent) = try DeviceSetTopic.intent(from: payload)
                if !intent.keys.allSatisfy({ ControlIntent.fields.contains($0) }) { violations.append("fields \(intent.keys)") }
                for entity in entities {
                    do throws(RPCError) {
                        let translation = try ControlIntent(entity: entity, intent: intent, current: nil)
                        if !translation.publishes.allSatisfy({ $0.topic == entity.commandTopic }) { violations.append("topic \(translation.publishes)") }
                        accepted += 1
                    } catch {
                        if error.code != -32602 { violations.append("\(entity.platform): \(error)") }
                    }
                }
            } catch {
                if error.code != -32602 { violations.append("\(error)") }
            }
        }
        #expect(violations.isEmpty, "\(violations.prefix(5))")
        #expect(accepted > 0, "the generator never produced an intent an entity accepts")
    }

    @Test("templates: compile and render anything without crashing; errors are TemplateErrors")
    func templates() {
        var rendered = 0
        let context = Template.Context(payload: "21.5", json: ["temperature": 21.5, "a": ["b": [1, 2, 3]], "k-ey": "x", "s": "ON"])
        // Each regression once overflowed the parser's stack; now each is refused with a reason.
        for bytes in Self.regressions("template") {
            #expect(throws: TemplateError.self) { try Template.compile(String(decoding: bytes, as: UTF8.self)) }
        }
        // Per evaluation, not only in total: every render ends within 100 ms with at most Template.maxValueBytes of
        // output, however the template multiplies, doubles or replaces (a config is anyone's who may publish one).
        var slowest: Duration = .zero
        var largest = 0
        var budgetErrors = 0
        fuzz("template", seed: 3, generate: { $0.template() }) { bytes in
            let source = String(decoding: bytes, as: UTF8.self)
            guard let template = try? Template.compile(source) else { return }
            let started = ContinuousClock.now
            let output: String?
            do {
                output = try template.render(context)
            } catch let error as TemplateError {
                output = nil
                if error.description.contains("a template value may have at most") || error.description.contains("evaluation steps") {
                    budgetErrors += 1
                }
            } catch {
                output = nil
            }
            let elapsed = ContinuousClock.now - started
            slowest = max(slowest, elapsed)
            if let output {
                rendered += 1
                largest = max(largest, output.utf8.count)
            }
        }
        #expect(rendered > 0, "the generator never produced a renderable template")
        #expect(slowest < .milliseconds(100), "the slowest render took \(slowest)")
        #expect(largest <= Template.maxValueBytes, "a render produced \(largest) bytes")
        #expect(budgetErrors > 0, "the generator never hit the output or step budget")
    }

    @Test("state merge: every payload merges exactly as the model says, within the key bound, and reads back")
    func stateMerge() {
        var state = DeviceState()
        let maxKeys = 64
        var mismatches: [String] = []
        var merged = 0
        var checked = 0
        fuzz("state", seed: 4, generate: { $0.statePayload() }) { payload in
            let before = state.values
            var dropped = 0
            state.apply(payload: payload, entityKey: "state", at: "2026-11-23T00:00:00.000Z", hasAvailability: false, maxKeys: maxKeys, droppedKeys: &dropped)
            // The model: an object merges key by key (reserved keys ignored, new keys only while there is room);
            // anything else replaces the entity's own value; nothing else changes.
            var expected = before
            var expectedDropped = 0
            switch DeviceState.decode(payload) {
            case .object(let object):
                merged += 1
                for (key, value) in object where !DeviceState.reserved.contains(key) {
                    if expected[key] == nil && expected.count >= maxKeys {
                        expectedDropped += 1
                    } else {
                        expected[key] = value
                    }
                }
            case let value:
                if expected["state"] == nil && expected.count >= maxKeys { expectedDropped += 1 } else { expected["state"] = value }
            }
            if state.values != expected || dropped != expectedDropped || !state.online {
                if mismatches.count < 3 { mismatches.append(String(decoding: payload.prefix(200), as: UTF8.self)) }
            }
            // What is published reads back as the same state (every 64th input: serializing is the slow part).
            checked += 1
            guard checked % 64 == 0 else {
                if state.values.count >= maxKeys { state = DeviceState() }
                return
            }
            let reread = DeviceState(json: (try? JSONParser.parse(state.json.jsonString)) ?? .null)
            if reread.values != state.values, mismatches.count < 3 { mismatches.append("round trip: \(String(decoding: payload.prefix(200), as: UTF8.self))") }
            if state.values.count >= maxKeys { state = DeviceState() }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        #expect(merged > 0, "the generator never produced an object payload")
    }
}

/// A reproducible source of hostile inputs (SplitMix64).
struct FuzzInput {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }

    static let keys = [
        "id", "reply_to", "name", "limit", "cursor", "state_topic", "stat_t", "~", "value_template", "val_tpl", "device", "dev",
        "ids", "identifiers", "unique_id", "uniq_id", "availability", "avty", "cmps", "platform", "p", "command_topic",
        "cmd_t", "json_attributes_topic", "expire_after", "payload_on", "o", "origin", "temperature", "state", "online",
        "last_seen", "attributes", "k-ey", "__proto__", "", "\u{0}", "温度", String(repeating: "k", count: 300),
    ]

    static let edgeNumbers = [
        "0", "-0", "1e308", "-1e308", "1e309", "4.9e-324", "1e-400", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "0.1", "123456789012345678901234567890", "1E2", "-", "01", "1.",
        ".5", "NaN", "Infinity", "1e", "0x10",
    ]

    mutating func string() -> String {
        switch int(0...9) {
        case 0: return String(repeating: pick(["a", "é", "温", "\\", "\"", "{", "~", "/"]), count: chance(5) ? int(0...100_000) : int(0...500))
        case 1: return "~/" + pick(Self.keys)
        case 2: return pick(["ON", "OFF", "online", "offline", "None", "true", "{{ value }}", "homeassistant/sensor/x/config"])
        default: return String((0..<int(0...12)).map { _ in Character(Unicode.Scalar(UInt8(int(32...126)))) })
        }
    }

    mutating func json(depth: Int = 0) -> String {
        let deep = depth > 6
        switch deep ? int(0...3) : int(0...7) {
        case 0: return pick(["null", "true", "false"])
        case 1: return pick(Self.edgeNumbers)
        case 2, 3: return "\"" + string().replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case 4: return "[" + (0..<int(0...4)).map { _ in json(depth: depth + 1) }.joined(separator: ",") + "]"
        default:
            let members = (0..<int(0...6)).map { _ in "\"\(pick(Self.keys).replacingOccurrences(of: "\u{0}", with: "\\u0000"))\":\(json(depth: depth + 1))" }
            return "{" + members.joined(separator: ",") + "}"
        }
    }

    /// Deep nesting well past any sane limit.
    mutating func nested() -> String {
        // Mostly past the parsers' limits (128 for JSON) by a little, now and then by a lot.
        let depth = chance(2) ? int(10_000...100_000) : int(100...1_000)
        let open = pick(["[", "{\"a\":"])
        let close = open == "[" ? "]" : "}"
        return String(repeating: open, count: depth) + "1" + String(repeating: close, count: chance(50) ? depth : depth / 2)
    }

    /// Byte-level damage: flips, truncation, invalid UTF-8, splices.
    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<int(1...4) {
            guard !bytes.isEmpty else { break }
            switch int(0...5) {
            case 0: bytes[int(0...(bytes.count - 1))] = UInt8(truncatingIfNeeded: next())
            case 1: bytes = Array(bytes.prefix(int(0...bytes.count)))
            case 2: bytes.insert(contentsOf: pick([[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x00]]), at: int(0...bytes.count))
            case 3: bytes.insert(contentsOf: Array(json().utf8), at: int(0...bytes.count))
            case 4: bytes.remove(at: int(0...(bytes.count - 1)))
            default: bytes += bytes.prefix(int(0...min(64, bytes.count)))
            }
        }
        return bytes
    }

    static let seeds: [[UInt8]] = {
        let directory = Fixtures.path("discovery")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: directory + "/" + name),
                let fixture = try? JSONParser.parse(Array(data)), let payload = fixture["payload"]
            else { return nil }
            return payload.jsonBytes
        }
    }()

    mutating func rpcPayload() -> [UInt8] {
        switch int(0...9) {
        case 0: return Array(nested().utf8)
        case 1: return mutate(Array(#"{"id":7,"reply_to":"a/b","limit":10,"cursor":"x"}"#.utf8))
        case 2: return (0..<int(0...64)).map { _ in UInt8(truncatingIfNeeded: next()) }
        case 3: return Array("{\"id\":\(pick(Self.edgeNumbers)),\"reply_to\":\(json())}".utf8)
        default: return Array(json().utf8)
        }
    }

    mutating func discoveryPayload() -> [UInt8] {
        switch int(0...9) {
        case 0: return Array(nested().utf8)
        case 1, 2, 3: return mutate(pick(Self.seeds))
        case 4:
            // Device-based discovery with a random component table.
            return Array("{\"dev\":{\"ids\":\(json())},\"o\":{\"name\":\"x\"},\"cmps\":{\"a\":\(json()),\"b\":{\"p\":\"sensor\",\"stat_t\":\"~/s\",\"~\":\(json())}}}".utf8)
        case 5:
            return Array("{\"~\":\"base/\",\"name\":\"n\",\"stat_t\":\"~\(string())\",\"uniq_id\":\"u\",\"val_tpl\":\"\(string())\",\"avty\":[\(json()),{\"t\":\"~/a\"}]}".utf8)
        default: return Array(json().utf8)
        }
    }

    static let templatePieces = [
        "{{ value }}", "{{ value_json.temperature }}", "{{ value_json['k-ey'] }}", "{{ value_json.a.b[1] }}", "| float", "| int",
        "| round(1)", "| lower", "| upper", "| float(0)", "| default('x')", "| timestamp_local", "| is_defined", " + 1", " * 2.5",
        " / 0", " // 0", " % 0", "'ON' if value_json.s == 'ON' else 'OFF'", "{% if value_json.temperature > 20 %}hot{% else %}cold{% endif %}",
        "{% if", "{{", "}}", "{%", "%}", "(", ")", "[", "]", "'", "\"", "value_json", ".", "|", "not ", " and ", " or ", " in ",
        "{{ value | regex_replace('a', 'b') }}", "{{ states('sensor.x') }}", "{% for x in y %}{{ x }}{% endfor %}", "{{ 1e400 }}",
        "{{ -9223372036854775808 - 1 }}", "{{ 'a' * 100000 }}", "{{ value_json.a.b[99999999999] }}",
    ]

    mutating func template() -> [UInt8] {
        switch int(0...10) {
        case 0:
            let depth = int(10...50_000)
            return Array(("{{ " + String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth) + " }}").utf8)
        case 1:
            let depth = int(10...20_000)
            return Array((String(repeating: "{% if true %}", count: depth) + "x" + String(repeating: "{% endif %}", count: depth)).utf8)
        case 2: return mutate(Array(pick(Self.templatePieces).utf8))
        case 3: return Array(("{{ " + (0..<int(1...2000)).map { _ in "value_json.a" }.joined(separator: " + ") + " }}").utf8)
        case 4: return Array(("{{ value" + String(repeating: " | float", count: int(1...20_000)) + " }}").utf8)
        case 5: return Array(("{{ " + String(repeating: "not ", count: int(1...50_000)) + "true }}").utf8)
        case 6:
            // Amplifiers: repetition, doubling through {% set %}, replace between every character, long outputs.
            switch int(0...4) {
            case 0: return Array("{{ \"\(String(repeating: "x", count: int(1...64)))\" * \(pick(["1000", "100000", "1000000000", "9223372036854775807", "-5"])) }}".utf8)
            case 1: return Array(("{% set x = value ~ value %}" + String(repeating: "{% set x = x ~ x %}", count: int(1...60)) + "{{ x }}").utf8)
            case 2: return Array("{{ value_json.s.replace('', '\(String(repeating: "y", count: int(1...40_000)))') }}".utf8)
            case 3: return Array(("{% set x = 'abcdefgh' * 4000 %}" + String(repeating: "{{ x }}", count: int(1...200))).utf8)
            default: return Array("{{ (value ~ value) * \(int(1...100_000)) }}{{ value | replace('1', '\(String(repeating: "z", count: int(1...2000)))') }}".utf8)
            }
        default: return Array((0..<int(1...8)).map { _ in pick(Self.templatePieces) }.joined().utf8)
        }
    }

    mutating func statePayload() -> [UInt8] {
        switch int(0...9) {
        case 0: return Array(nested().utf8)
        case 1: return (0..<int(0...64)).map { _ in UInt8(truncatingIfNeeded: next()) }
        case 2: return mutate(Array(#"{"temperature":21.5,"state":"ON","last_seen":"x","online":false}"#.utf8))
        default: return Array(json().utf8)
        }
    }
}
