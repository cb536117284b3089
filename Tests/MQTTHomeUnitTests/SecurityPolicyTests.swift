import Testing

@testable import MQTTHome

@Suite("Security policies: device topics, reply topics, names, template budgets")
struct SecurityPolicyTests {
    let policy = DeviceTopicPolicy(base: "mqtt-home", discoveryPrefix: "homeassistant")

    @Test("filters overlap when some topic matches both")
    func overlaps() {
        #expect(TopicRules.overlaps("#", "mqtt-home/#"))
        #expect(TopicRules.overlaps("+/#", "mqtt-home/#"))
        #expect(TopicRules.overlaps("+/devices/+/state", "mqtt-home/#"))
        #expect(TopicRules.overlaps("mqtt-home", "mqtt-home/#"), "x/# matches x itself")
        #expect(TopicRules.overlaps("z2m/+", "z2m/lamp"))
        #expect(!TopicRules.overlaps("z2m/+", "z2m/lamp/set"))
        #expect(!TopicRules.overlaps("zigbee2mqtt/#", "mqtt-home/#"))
        #expect(!TopicRules.overlaps("#", "$SYS/broker/uptime"), "a leading wildcard never matches $ topics")
        #expect(TopicRules.overlaps("$SYS/#", "$SYS/broker/uptime"))
        #expect(!TopicRules.overlaps("a/b", "a/c"))
    }

    @Test("the device-topic policy refuses the daemon's tree, discovery configs, $ topics and catch-alls")
    func deviceTopics() {
        for topic in [
            "mqtt-home/status", "mqtt-home/rpc/devices/set", "mqtt-home/devices/x/state", "mqtt-home", "$SYS/broker/uptime",
            "homeassistant/lock/backdoor/config", "homeassistant/device/x/config", "homeassistant/status", "#", "+/#",
            "+/devices/+/state", "homeassistant/#", "homeassistant/+/+/config",
        ] {
            #expect(policy.problem(topic) != nil, "\(topic) was allowed")
        }
        for topic in [
            "zigbee2mqtt/front_door", "zigbee2mqtt/front_door/set", "zigbee2mqtt/+", "tele/+/STATE", "mqtt-homes/x",
            "homeassistant/switch/irrigation/state", "homeassistant/switch/irrigation/set",
        ] {
            #expect(policy.problem(topic) == nil, "\(topic) was refused: \(policy.problem(topic) ?? "")")
        }
        #expect(policy.problem("#")?.contains("catch-all") == true)
    }

    @Test("replies never go to the daemon's tree, the discovery prefix, $ topics or device topics, whatever is allowed")
    func replyTopics() {
        let reply = ReplyPolicy(allowed: ["#"], topics: Topics(base: "mqtt-home"), discoveryPrefix: "homeassistant")
        let noDevice: (String) -> String? = { _ in nil }
        #expect(reply.refusal("mqtt-home/status", deviceUsing: noDevice)?.kind == "own-tree")
        #expect(reply.refusal("mqtt-home/devices/x", deviceUsing: noDevice)?.kind == "own-tree")
        #expect(reply.refusal("homeassistant/cover/x/config", deviceUsing: noDevice)?.kind == "discovery")
        #expect(reply.refusal("$SYS/x", deviceUsing: noDevice)?.kind == "dollar")
        #expect(reply.refusal("zigbee2mqtt/lock/set", deviceUsing: { $0 == "zigbee2mqtt/lock/set" ? "lock" : nil })?.kind == "device")
        #expect(reply.refusal("mqtt-home/reply/cli/1", deviceUsing: noDevice) == nil)
        #expect(reply.refusal("scripts/x", deviceUsing: noDevice) == nil)
        let strict = ReplyPolicy(allowed: ReplyPolicy.defaultAllowed(Topics(base: "mqtt-home")), topics: Topics(base: "mqtt-home"), discoveryPrefix: "homeassistant")
        #expect(strict.refusal("scripts/x", deviceUsing: noDevice)?.kind == "not-allowed")
        #expect(ReplyPolicy.pattern("zigbee2mqtt/front_door/set") == "zigbee2mqtt/front_door/#")
    }

    @Test("names refuse control and bidi characters; what the CLI prints shows them escaped")
    func names() {
        #expect(DisplayText.problem("Kitchen lamp") == nil)
        #expect(DisplayText.problem("温度 sensor") == nil)
        #expect(DisplayText.problem("a\u{1B}[2Jb")?.contains("U+001B") == true)
        #expect(DisplayText.problem("Invoice\u{202E}fdp.exe")?.contains("U+202E") == true)
        #expect(DisplayText.problem("nul\u{0}") != nil)
        #expect(DisplayText.problem("c1\u{9B}31m") != nil)
        #expect(DisplayText.sanitized("red\u{1B}[31m") == "red\\u{1B}[31m")
        #expect(DisplayText.sanitized("line\nnext", keepingNewlines: true) == "line\nnext")
        #expect(DisplayText.sanitized("cr\rover") == "cr\\u{D}over")
        #expect(DisplayText.stripped("Lamp\u{202E}") == "Lamp")
    }

    @Test("templates that multiply, double or replace beyond 64 KiB fail fast instead of allocating")
    func templateBudgets() throws {
        let context = Template.Context(payload: String(repeating: "v", count: 1000), json: nil)
        let bombs = [
            #"{{ "xxxxxxxx" * 1000000000 }}"#,
            #"{{ "x" * 9223372036854775807 }}"#,
            "{% set x = value ~ value %}" + String(repeating: "{% set x = x ~ x %}", count: 40) + "{{ x }}",
            #"{{ value.replace('', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}"#,
            "{% set x = 'abcdefgh' * 4000 %}" + String(repeating: "{{ x }}", count: 20),
        ]
        for source in bombs {
            let template = try Template.compile(source)
            let started = ContinuousClock.now
            #expect(throws: TemplateError.self, "\(source.prefix(60))") { try template.render(context) }
            #expect(ContinuousClock.now - started < .milliseconds(200))
        }
        // Within the budget, the same operations still work.
        #expect(try Template.compile(#"{{ "ab" * 3 }}"#).render(context) == "ababab")
        #expect(try Template.compile(#"{{ value | replace('v', 'w') | length }}"#).render(context) == "1000")
    }
}
