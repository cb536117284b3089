/// MQTT topic validity, as a broker would judge it, with a reason a person can act on.
public enum TopicRules {
    /// Why `topic` cannot be published to, or nil. `$`-topics are refused unless `allowDollar`.
    public static func publishTopicProblem(_ topic: String, allowDollar: Bool = false) -> String? {
        if topic.isEmpty { return "must not be empty" }
        if topic.utf8.count > 65_535 { return "must be at most 65535 bytes" }
        if topic.utf8.contains(0) { return "must not contain a NUL character" }
        if isFilter(topic) { return "must not contain '+' or '#' (wildcards)" }
        if !allowDollar && topic.hasPrefix("$") { return "must not start with '$' (reserved for the broker)" }
        return nil
    }

    /// Why `filter` cannot be subscribed to, or nil: `+` a whole level, `#` a whole last level.
    public static func filterProblem(_ filter: String) -> String? {
        if filter.isEmpty { return "must not be empty" }
        if filter.utf8.count > 65_535 { return "must be at most 65535 bytes" }
        if filter.utf8.contains(0) { return "must not contain a NUL character" }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || index != levels.count - 1) {
                return "'#' must be a whole level and the last one"
            }
            if level.contains("+") && level != "+" { return "'+' must be a whole level" }
        }
        return nil
    }

    /// Scans the UTF-8 bytes: `String.contains("+")` walks Characters (grapheme breaking), which was 6 % of loading
    /// 10,000 devices. Neither byte occurs inside a multi-byte UTF-8 sequence.
    public static func isFilter(_ topic: String) -> Bool { topic.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") } }

    /// Whether some topic matches both filters (a plain topic is a filter that matches only itself).
    public static func overlaps(_ first: String, _ second: String) -> Bool {
        // `$` topics never match a leading wildcard: a `$` side meets a wildcard-led side nowhere.
        if first.hasPrefix("$") != second.hasPrefix("$") {
            let other = first.hasPrefix("$") ? second : first
            if other.hasPrefix("+") || other.hasPrefix("#") { return false }
        }
        let a = first.split(separator: "/", omittingEmptySubsequences: false)
        let b = second.split(separator: "/", omittingEmptySubsequences: false)
        var index = 0
        while index < a.count && index < b.count {
            if a[index] == "#" || b[index] == "#" { return true }
            if a[index] != "+" && b[index] != "+" && a[index] != b[index] { return false }
            index += 1
        }
        if a.count == b.count { return true }
        // `x/#` also matches `x` itself.
        let longer = a.count > b.count ? a : b
        return longer.count == index + 1 && longer[index] == "#"
    }

    /// MQTT matching of a topic against a filter (`$`-topics never match a leading wildcard).
    public static func matches(filter: String, topic: String) -> Bool {
        if topic.hasPrefix("$") && (filter.hasPrefix("+") || filter.hasPrefix("#")) { return false }
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let topicLevels = topic.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in filterLevels.enumerated() {
            if level == "#" { return true }
            guard index < topicLevels.count else { return false }
            if level != "+" && level != topicLevels[index] { return false }
        }
        return filterLevels.count == topicLevels.count
    }
}
