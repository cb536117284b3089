/// Topics and filters in a level trie that answers "does anything stored overlap this filter?" by walking only the
/// branches the filter can reach, where comparing a new state filter with every device's topics one by one made each
/// check cost the whole registry (and an import of filter devices the square of its size).
///
/// Overlap is ``TopicRules/overlaps(_:_:)``'s: some topic matches both; a plain topic is a filter matching itself.
struct TopicOverlapIndex<Value: Equatable & Sendable>: Sendable {
    private struct Node: Sendable {
        var children: [Substring: Node] = [:]
        /// Values stored under the topic or filter that ends at this node.
        var here: [Value] = []
        /// Values stored under this node's path followed by `/#` (at the root: `#`).
        var below: [Value] = []
        var isEmpty: Bool { children.isEmpty && here.isEmpty && below.isEmpty }
    }

    private var root = Node()
    /// Stored values in all.
    private(set) var count = 0

    init() {}

    mutating func insert(_ value: Value, for topic: String) {
        Self.insert(value, levels: topic.split(separator: "/", omittingEmptySubsequences: false)[...], into: &root)
        count += 1
    }

    private static func insert(_ value: Value, levels: ArraySlice<Substring>, into node: inout Node) {
        guard let level = levels.first else { return node.here.append(value) }
        if level == "#" && levels.count == 1 { return node.below.append(value) }
        insert(value, levels: levels.dropFirst(), into: &node.children[level, default: Node()])
    }

    /// Removes one occurrence of `value` stored under `topic`, if there is one.
    mutating func remove(_ value: Value, for topic: String) {
        if Self.remove(value, levels: topic.split(separator: "/", omittingEmptySubsequences: false)[...], from: &root) { count -= 1 }
    }

    private static func remove(_ value: Value, levels: ArraySlice<Substring>, from node: inout Node) -> Bool {
        guard let level = levels.first else { return removeFirst(value, from: &node.here) }
        if level == "#" && levels.count == 1 { return removeFirst(value, from: &node.below) }
        guard var child = node.children[level] else { return false }
        let removed = remove(value, levels: levels.dropFirst(), from: &child)
        node.children[level] = child.isEmpty ? nil : child
        return removed
    }

    private static func removeFirst(_ value: Value, from values: inout [Value]) -> Bool {
        guard let index = values.firstIndex(of: value) else { return false }
        values.remove(at: index)
        return true
    }

    /// The first stored value that `accept`s whose topic or filter overlaps `filter` (a topic or a filter), or nil.
    func first(overlapping filter: String, where accept: (Value) -> Bool) -> Value? {
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        return Self.search(levels[...], node: root, atRoot: true, dollar: filter.hasPrefix("$"), accept)
    }

    /// `levels` is what is left of the query below `node`. At the root, a `$` query level meets no stored wildcard
    /// and a wildcard query level meets no stored `$` level (MQTT: `$` topics never match a leading wildcard).
    private static func search(
        _ levels: ArraySlice<Substring>,
        node: Node,
        atRoot: Bool,
        dollar: Bool,
        _ accept: (Value) -> Bool
    ) -> Value? {
        // A stored `path/#` matches everything from here on, and the path itself.
        if !(atRoot && dollar), let value = node.below.first(where: accept) { return value }
        guard let level = levels.first else { return node.here.first(where: accept) }
        if level == "#" && levels.count == 1 { return firstInSubtree(node, atRoot: atRoot, accept) }
        if level == "+" {
            for (key, child) in node.children where !(atRoot && key.hasPrefix("$")) {
                if let value = search(levels.dropFirst(), node: child, atRoot: false, dollar: dollar, accept) { return value }
            }
            return nil
        }
        if let child = node.children[level], let value = search(levels.dropFirst(), node: child, atRoot: false, dollar: dollar, accept) {
            return value
        }
        if !(atRoot && dollar), let child = node.children["+"] {
            return search(levels.dropFirst(), node: child, atRoot: false, dollar: dollar, accept)
        }
        return nil
    }

    /// A query ending in `#` at `node` overlaps everything stored at or below it.
    private static func firstInSubtree(_ node: Node, atRoot: Bool, _ accept: (Value) -> Bool) -> Value? {
        if let value = node.here.first(where: accept) ?? node.below.first(where: accept) { return value }
        for (key, child) in node.children where !(atRoot && key.hasPrefix("$")) {
            if let value = firstInSubtree(child, atRoot: false, accept) { return value }
        }
        return nil
    }
}
