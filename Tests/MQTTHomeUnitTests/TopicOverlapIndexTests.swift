import Testing

@testable import MQTTHome

@Suite("Topic overlap index")
struct TopicOverlapIndexTests {
    @Test(
        "answers as comparing with every stored topic would (TopicRules.overlaps), on random topics and filters",
        arguments: [1, 2, 3, 4, 5, 6, 7, 8]
    )
    func agreesWithPairwiseOverlap(seed: UInt64) {
        var random = FuzzInput(seed: seed)
        // Few distinct levels, so that overlaps, `$` roots and empty levels are common.
        let levels = ["a", "b", "", "$s", "+", "#"]
        func filter() -> String {
            let count = Int(random.next() % 4) + 1
            var parts: [String] = []
            for position in 0..<count {
                var level = levels[Int(random.next() % UInt64(levels.count))]
                if level == "#" && position != count - 1 { level = "+" }
                if level == "$s" && position != 0 { level = "a" }
                parts.append(level)
            }
            return parts.joined(separator: "/")
        }
        for _ in 0..<40 {
            let stored = (0..<Int(random.next() % 12)).map { _ in filter() }
            var index = TopicOverlapIndex<Int>()
            for (position, topic) in stored.enumerated() { index.insert(position, for: topic) }
            for _ in 0..<30 {
                let query = filter()
                let expected = Set(stored.indices.filter { TopicRules.overlaps(query, stored[$0]) })
                // Asking for each stored value in turn finds exactly the overlapping ones.
                let found = Set(stored.indices.filter { wanted in index.first(overlapping: query, where: { $0 == wanted }) != nil })
                #expect(found == expected, "query '\(query)' against \(stored)")
            }
        }
    }

    @Test("removing takes one occurrence out and prunes the branch; the rest still answer")
    func removal() {
        var index = TopicOverlapIndex<String>()
        index.insert("kitchen", for: "home/kitchen/state")
        index.insert("kitchen", for: "home/kitchen/set")
        index.insert("hall", for: "home/+/state")
        index.insert("hall", for: "home/+/state")
        #expect(index.count == 4)
        #expect(index.first(overlapping: "home/#", where: { $0 == "kitchen" }) == "kitchen")
        index.remove("kitchen", for: "home/kitchen/state")
        index.remove("kitchen", for: "home/kitchen/set")
        index.remove("nobody", for: "home/kitchen/set")
        #expect(index.count == 2)
        #expect(index.first(overlapping: "home/#", where: { $0 == "kitchen" }) == nil)
        index.remove("hall", for: "home/+/state")
        #expect(index.first(overlapping: "home/kitchen/state", where: { _ in true }) == "hall")
        index.remove("hall", for: "home/+/state")
        #expect(index.count == 0)
        #expect(index.first(overlapping: "#", where: { _ in true }) == nil)
    }
}
