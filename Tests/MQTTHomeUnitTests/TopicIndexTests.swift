import Testing

@testable import MQTTHome

@Suite("Topic index and MQTT topic rules")
struct TopicIndexTests {
    @Test("exact topics, shared by several values, reference-counted")
    func exact() {
        var index = TopicIndex<String>()
        let result1 = index.insert("a", for: "home/t1")
        #expect(result1)
        let result2 = index.insert("b", for: "home/t1")
        #expect(!result2)
        #expect(Set(index.matches("home/t1")) == ["a", "b"])
        #expect(index.matches("home/t2").isEmpty)
        let result3 = index.remove("a", for: "home/t1")
        #expect(!result3)
        let result4 = index.remove("b", for: "home/t1")
        #expect(result4)
        #expect(index.matches("home/t1").isEmpty)
        #expect(index.filters.isEmpty)
    }

    @Test(
        "wildcard filters match as a broker matches",
        arguments: [
            ("a/+/c", "a/b/c", true), ("a/+/c", "a/b/d", false), ("a/+", "a/b/c", false), ("a/#", "a", true),
            ("a/#", "a/b/c", true), ("#", "x/y", true), ("#", "$SYS/x", false), ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/broker/uptime", true), ("a/+/+", "a//", true), ("+", "a/b", false),
        ]
    )
    func wildcards(filter: String, topic: String, expected: Bool) {
        var index = TopicIndex<Int>()
        index.insert(1, for: filter)
        #expect(!index.matches(topic).isEmpty == expected)
        #expect(TopicRules.matches(filter: filter, topic: topic) == expected)
    }

    @Test("exact and wildcard filters combine; removing the last value empties the trie")
    func combined() {
        var index = TopicIndex<Int>()
        index.insert(1, for: "z2m/lamp")
        index.insert(2, for: "z2m/+")
        index.insert(3, for: "z2m/#")
        #expect(Set(index.matches("z2m/lamp")) == [1, 2, 3])
        #expect(Set(index.filters) == ["z2m/lamp", "z2m/+", "z2m/#"])
        let result5 = index.remove(2, for: "z2m/+")
        #expect(result5)
        let result6 = index.remove(3, for: "z2m/#")
        #expect(result6)
        #expect(index.wildcardCount == 0)
        #expect(index.matches("z2m/lamp") == [1])
    }

    @Test(
        "publish topics: no wildcards, not empty, no leading $, at most 65535 bytes",
        arguments: ["", "a/+", "a/#", "$SYS/x", String(repeating: "a", count: 65_536), "a\u{0}b"]
    )
    func badPublishTopics(topic: String) {
        #expect(TopicRules.publishTopicProblem(topic) != nil)
    }

    @Test("filters: '+' and '#' must be whole levels, '#' last")
    func filters() {
        #expect(TopicRules.filterProblem("a/+/b/#") == nil)
        #expect(TopicRules.filterProblem("a/b#") != nil)
        #expect(TopicRules.filterProblem("a/#/b") != nil)
        #expect(TopicRules.filterProblem("a/x+") != nil)
    }

    @Test("hasValues asks about exactly one filter, exact or wildcard, not about matching topics")
    func hasValues() {
        var index = TopicIndex<String>()
        index.insert("a", for: "home/kitchen/state")
        index.insert("b", for: "home/+/state")
        index.insert("c", for: "z2m/#")
        #expect(index.hasValues(for: "home/kitchen/state"))
        #expect(index.hasValues(for: "home/+/state"))
        #expect(index.hasValues(for: "z2m/#"))
        #expect(!index.hasValues(for: "home/hall/state"), "matched by a wildcard, but not itself a filter")
        #expect(!index.hasValues(for: "home/#"))
        #expect(!index.hasValues(for: "z2m/bulb"))
        index.remove("b", for: "home/+/state")
        #expect(!index.hasValues(for: "home/+/state"))
    }
}
