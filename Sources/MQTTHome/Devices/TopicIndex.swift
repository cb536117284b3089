/// Which subscribers a topic reaches, answered from memory: an exact-topic dictionary for the common case and a
/// level trie for filters with `+` and `#`. The ingest path asks this once per message instead of querying SQL.
///
/// Values are kept per filter with a reference count, so several devices can share one topic.
public struct TopicIndex<Value: Hashable & Sendable>: Sendable {
    private var exact: [String: [Value]] = [:]
    private var root = Node()
    public private(set) var wildcardCount = 0

    private struct Node: Sendable {
        var children: [Substring: Node] = [:]
        var values: [Value] = []  // for filters ending at this node
        var multiLevel: [Value] = []  // for filters ending in "/#" below this node
        var isEmpty: Bool { children.isEmpty && values.isEmpty && multiLevel.isEmpty }
    }

    public init() {}

    public mutating func reserveCapacity(forMoreTopics count: Int) { exact.reserveCapacity(exact.count + count) }

    /// Every distinct filter with at least one value, for (re)subscribing.
    public var filters: [String] {
        var result = Array(exact.keys)
        collect(root, path: [], into: &result)
        return result
    }

    private func collect(_ node: Node, path: [Substring], into result: inout [String]) {
        if !node.values.isEmpty { result.append(path.joined(separator: "/")) }
        if !node.multiLevel.isEmpty { result.append((path + ["#"]).joined(separator: "/")) }
        for (level, child) in node.children { collect(child, path: path + [level], into: &result) }
    }

    /// Whether some value is stored under exactly `filter` (not: whether a topic matches it).
    public func hasValues(for filter: String) -> Bool {
        guard TopicRules.isFilter(filter) else { return exact[filter] != nil }
        var node = root
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level == "#" && index == levels.count - 1 { return !node.multiLevel.isEmpty }
            guard let child = node.children[level] else { return false }
            node = child
        }
        return !node.values.isEmpty
    }

    /// Adds `value` under `filter`; returns true when the filter is new (the caller should subscribe to it).
    @discardableResult
    public mutating func insert(_ value: Value, for filter: String) -> Bool {
        guard TopicRules.isFilter(filter) else {
            let isNew = exact[filter] == nil
            exact[filter, default: []].append(value)
            return isNew
        }
        wildcardCount += 1
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        return Self.insert(value, levels: levels[...], into: &root)
    }

    private static func insert(_ value: Value, levels: ArraySlice<Substring>, into node: inout Node) -> Bool {
        guard let level = levels.first else {
            let isNew = node.values.isEmpty
            node.values.append(value)
            return isNew
        }
        if level == "#" {
            let isNew = node.multiLevel.isEmpty
            node.multiLevel.append(value)
            return isNew
        }
        return insert(value, levels: levels.dropFirst(), into: &node.children[level, default: Node()])
    }

    /// Removes one occurrence of `value` under `filter`; returns true when the filter has no values left
    /// (the caller should unsubscribe).
    @discardableResult
    public mutating func remove(_ value: Value, for filter: String) -> Bool {
        guard TopicRules.isFilter(filter) else {
            guard var values = exact[filter], let index = values.firstIndex(of: value) else { return false }
            values.remove(at: index)
            exact[filter] = values.isEmpty ? nil : values
            return values.isEmpty
        }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let (removed, nowEmpty) = Self.remove(value, levels: levels[...], from: &root)
        if removed { wildcardCount -= 1 }
        return removed && nowEmpty
    }

    private static func remove(_ value: Value, levels: ArraySlice<Substring>, from node: inout Node) -> (Bool, Bool) {
        guard let level = levels.first else {
            guard let index = node.values.firstIndex(of: value) else { return (false, false) }
            node.values.remove(at: index)
            return (true, node.values.isEmpty)
        }
        if level == "#" {
            guard let index = node.multiLevel.firstIndex(of: value) else { return (false, false) }
            node.multiLevel.remove(at: index)
            return (true, node.multiLevel.isEmpty)
        }
        guard var child = node.children[level] else { return (false, false) }
        let result = remove(value, levels: levels.dropFirst(), from: &child)
        node.children[level] = child.isEmpty ? nil : child
        return result
    }

    /// Every value whose filter matches `topic` (a value under several matching filters appears once per filter).
    public func matches(_ topic: String) -> [Value] {
        var result = exact[topic] ?? []
        guard wildcardCount > 0 else { return result }
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        // MQTT: a topic starting with '$' is not matched by a filter starting with a wildcard.
        Self.match(levels[...], node: root, isRoot: true, dollar: topic.hasPrefix("$"), into: &result)
        return result
    }

    private static func match(
        _ levels: ArraySlice<Substring>,
        node: Node,
        isRoot: Bool,
        dollar: Bool,
        into result: inout [Value]
    ) {
        let wildcardsAllowed = !(isRoot && dollar)
        if wildcardsAllowed { result.append(contentsOf: node.multiLevel) }
        guard let level = levels.first else {
            result.append(contentsOf: node.values)
            return
        }
        if let child = node.children[level] {
            match(levels.dropFirst(), node: child, isRoot: false, dollar: dollar, into: &result)
        }
        if wildcardsAllowed, let child = node.children["+"] {
            match(levels.dropFirst(), node: child, isRoot: false, dollar: dollar, into: &result)
        }
    }
}
