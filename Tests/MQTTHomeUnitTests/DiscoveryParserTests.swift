import Testing

@testable import MQTTHome

@Suite("Discovery parser: topics, abbreviations, '~', device-based discovery, refusals")
struct DiscoveryParserTests {
    private func parse(_ topic: String, _ payload: String) -> DiscoveryParser.Message? {
        DiscoveryParser.parse(topic: topic, payload: Array(payload.utf8), prefix: "homeassistant")
    }

    private func single(_ topic: String, _ payload: String) throws -> DiscoveryParser.Component {
        guard case .configs(let components, _)? = parse(topic, payload), components.count == 1 else {
            throw ParserTestFailure(message: "not one config: \(String(describing: parse(topic, payload)))")
        }
        return components[0]
    }

    struct ParserTestFailure: Error { var message: String }

    @Test("'~' is replaced only at the start or end of *topic values, and in availability[].topic")
    func baseTopic() throws {
        let component = try single(
            "homeassistant/switch/x/config",
            #"{"~":"base","cmd_t":"~/set","stat_t":"pre/~","json_attr_t":"a/~/b","name":"~/x","avty":[{"t":"~/avail"}],"t":"~/y/~"}"#
        )
        #expect(component.config["command_topic"] == "base/set")
        #expect(component.config["state_topic"] == "pre/base")
        #expect(component.config["json_attributes_topic"] == "a/~/b")
        #expect(component.config["name"] == "~/x")
        #expect(component.config["availability"]?[0]?["topic"] == "base/avail")
        // `t` expands to `topic`, which ends in "topic"; both tests use the original value: leading '~' wins.
        #expect(component.config["topic"] == "base/y/~")
    }

    @Test("abbreviations expand at the root, in device, origin and availability; unknown keys are kept")
    func abbreviations() throws {
        let component = try single(
            "homeassistant/sensor/node/obj/config",
            #"{"stat_t":"s","uniq_id":"u","dev":{"ids":"i","mf":"M","cns":[["mac","AA"]]},"o":{"name":"p","sw":"1"},"avty":[{"t":"a","pl_avail":"up"}],"custom_key":1,"pl_hi_spd":"old"}"#
        )
        #expect(component.discoveryID == "node obj")
        #expect(component.key == "sensor node obj")
        #expect(component.config["unique_id"] == "u")
        #expect(component.config["device"]?["identifiers"] == "i")
        #expect(component.config["device"]?["manufacturer"] == "M")
        #expect(component.config["origin"]?["sw_version"] == "1")
        #expect(component.config["availability"]?[0]?["payload_available"] == "up")
        #expect(component.config["custom_key"] == 1)
        #expect(component.config["pl_hi_spd"] == "old")
    }

    @Test("an abbreviated key wins over its full form, as in Home Assistant")
    func abbreviationWins() throws {
        let component = try single("homeassistant/sensor/x/config", #"{"state_topic":"long","stat_t":"short"}"#)
        #expect(component.config["state_topic"] == "short")
    }

    @Test(
        "invalid configs are refused with a reason",
        arguments: [
            ("homeassistant/sensor/x/config", "not json", "not JSON"),
            ("homeassistant/sensor/x/config", "[1]", "not a JSON object"),
            ("homeassistant/sensor/x/config", #"{"name":"no state topic"}"#, "sensor needs 'state_topic'"),
            ("homeassistant/switch/x/config", #"{"stat_t":"s"}"#, "switch needs 'command_topic'"),
            ("homeassistant/switch/x/config", #"{"cmd_t":"a/+/b"}"#, "'command_topic' must not contain '+' or '#'"),
            ("homeassistant/sensor/x/config", #"{"stat_t":"a/#/b"}"#, "'#' must be a whole level"),
            ("homeassistant/sensor/x/config", #"{"stat_t":5}"#, "must be a string"),
            ("homeassistant/sensor/x/config", #"{"stat_t":"s","avty_t":"a","avty":[{"t":"b"}]}"#, "must not both be set"),
            ("homeassistant/sensor/x/config", #"{"stat_t":"s","o":{"sw":"1"}}"#, "'origin' needs a 'name'"),
            ("homeassistant/sensor/bad id!/config", #"{"stat_t":"s"}"#, "illegal discovery topic"),
            ("homeassistant/a/b/c/d/config", #"{"stat_t":"s"}"#, "illegal discovery topic"),
            ("homeassistant/frobnicator/x/config", #"{"stat_t":"s"}"#, "not a platform"),
            ("homeassistant/device/x/config", #"{"dev":{"ids":"1"},"o":{"name":"p"},"cmps":{"a":{"p":"sensor","stat_t":"s"}}}"#, "needs 'unique_id'"),
            ("homeassistant/device/x/config", #"{"dev":{"ids":"1"},"cmps":{}}"#, "needs 'origin'"),
        ]
    )
    func invalid(topic: String, payload: String, reason: String) {
        switch parse(topic, payload) {
        case .invalid(let problem)?, .unknownPlatform(_, let problem)?:
            #expect(problem.contains(reason), "\(problem)")
        case let other:
            Issue.record("not refused: \(String(describing: other))")
        }
    }

    @Test("topics outside discovery are not discovery messages; empty payloads remove; migrate_discovery migrates")
    func lifecycle() {
        #expect(parse("homeassistant/switch/x/state", "ON") == nil)
        #expect(parse("other/switch/x/config", "{}") == nil)
        guard case .removal(let address)? = parse("homeassistant/switch/node/x/config", "") else {
            Issue.record("empty payload is not a removal")
            return
        }
        #expect(address.nodeID == "node" && address.objectID == "x" && address.component == "switch")
        guard case .migration? = parse("homeassistant/switch/x/config", #"{"migr_discvry":true}"#) else {
            Issue.record("migrate_discovery not recognized")
            return
        }
    }

    @Test("device-based discovery: shared options inherited, component overrides kept, {platform} alone removes")
    func deviceBased() {
        let payload = #"""
            {"dev":{"ids":"d1"},"o":{"name":"gen"},"stat_t":"shared/state","avty_t":"shared/avail","qos":1,
             "cmps":{"t":{"p":"sensor","uniq_id":"t1","val_tpl":"{{ value_json.t }}"},
                     "r":{"p":"switch","uniq_id":"r1","cmd_t":"own/set","stat_t":"own/state"},
                     "gone":{"p":"sensor"}}}
            """#
        guard case .configs(let components, let removed)? = parse("homeassistant/device/node/dev1/config", payload) else {
            Issue.record("not parsed")
            return
        }
        #expect(removed == ["sensor dev1 node gone"])
        #expect(components.map(\.key) == ["sensor dev1 node t", "switch dev1 node r"])
        #expect(components[0].config["state_topic"] == "shared/state")
        #expect(components[0].config["availability_topic"] == "shared/avail")
        #expect(components[0].config["qos"] == 1)
        #expect(components[0].config["device"]?["identifiers"] == "d1")
        #expect(components[1].config["state_topic"] == "own/state")
        #expect(components[1].config["platform"] == nil)
    }

    /// Three shapes from Home Assistant's own discovery tests that HA accepts (ensure_list on availability, root
    /// abbreviations shared with components, `platform` spelled out in a component).
    @Test("availability as one object, root 'avty' in device-based discovery, and 'platform' spelled out are accepted")
    func shapesHomeAssistantAccepts() throws {
        let single = try single("homeassistant/sensor/x/config", #"{"stat_t":"s","avty":{"t":"a","pl_avail":"up"}}"#)
        #expect(single.config["availability"] == [["topic": "a", "payload_available": "up"]])
        let payload = #"""
            {"dev":{"ids":"d1"},"o":{"name":"gen"},"avty":[{"t":"dev/avail"}],"avty_mode":"all",
             "cmps":{"a":{"platform":"sensor","unique_id":"a1","state_topic":"a/state"},
                     "b":{"p":"binary_sensor","uniq_id":"b1","stat_t":"b/state","avty":{"topic":"b/avail"}}}}
            """#
        guard case .configs(let components, _)? = parse("homeassistant/device/dev1/config", payload) else {
            Issue.record("not parsed: \(String(describing: parse("homeassistant/device/dev1/config", payload)))")
            return
        }
        let byID = Dictionary(uniqueKeysWithValues: components.map { ($0.objectID, $0) })
        #expect(byID["a"]?.platform == "sensor")
        #expect(byID["a"]?.config["availability"] == [["topic": "dev/avail"]])
        #expect(byID["a"]?.config["availability_mode"] == "all")
        #expect(byID["b"]?.config["availability"] == [["topic": "b/avail"]])
    }

    @Test("an unknown platform is refused by name, in a topic and in a component")
    func unknownPlatform() {
        guard case .unknownPlatform("teleporter", let reason)? = parse("homeassistant/teleporter/x/config", #"{"stat_t":"s"}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(reason.contains("'teleporter'"))
        let payload = #"{"dev":{"ids":"d"},"o":{"name":"g"},"cmps":{"x":{"p":"teleporter","uniq_id":"u"}}}"#
        guard case .unknownPlatform("teleporter", let inComponent)? = parse("homeassistant/device/d/config", payload) else {
            Issue.record("accepted")
            return
        }
        #expect(inComponent.contains("'teleporter'"))
    }
}
