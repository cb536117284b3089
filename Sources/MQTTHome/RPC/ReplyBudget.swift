/// Bounds the size of a paged reply (`devices/list`, `devices/logs`, `sensors/history`): items are added until the
/// next one would take the page past ``maxBytes``, and the page then ends early with its usual next cursor. A page
/// always holds at least one item, so paging always advances.
struct ReplyBudget {
    /// One reply's items at most (about 1 MiB): large enough for any real page, small enough for any client.
    static let maxBytes = 1_048_576

    private var used = 0
    private var count = 0

    /// Whether `item` fits; counts it when it does.
    mutating func admit(_ item: JSONValue) -> Bool {
        let size = item.jsonBytes.count
        guard count == 0 || used + size <= Self.maxBytes else { return false }
        used += size
        count += 1
        return true
    }
}
