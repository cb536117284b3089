/// "Did you mean …?": the device ids closest to a name that matched nothing, by edit distance over ids and names
/// (so `kitchn` finds `kitchen_sensor` and `Living Room Lamp` finds `living_room_lamp`).
enum NameSuggestions {
    static func closest(to query: String, among devices: [(id: String, name: String)], limit: Int = 3) -> [String] {
        let needle = SensorAliases.normalized(query)
        guard !needle.isEmpty else { return [] }
        var scored: [(score: Int, id: String)] = []
        for device in devices {
            // The whole id and name, and each word of the name: "kitchn" is close to the word "kitchen".
            let words = device.name.lowercased().split(whereSeparator: { " _-./".contains($0) }).map(String.init)
                + device.id.split(whereSeparator: { "_-.".contains($0) }).map(String.init)
            let forms = [SensorAliases.normalized(device.id), SensorAliases.normalized(device.name)] + words.map(SensorAliases.normalized)
            var best = Int.max
            for form in forms where !form.isEmpty {
                if form.contains(needle) || needle.contains(form) {
                    best = min(best, abs(form.count - needle.count) / 4)  // a fragment of a name is a good hint
                } else {
                    best = min(best, distance(needle, form))
                }
            }
            if best <= max(2, needle.count / 3) { scored.append((best, device.id)) }
        }
        return scored.sorted { ($0.score, $0.id) < ($1.score, $1.id) }.prefix(limit).map(\.id)
    }

    /// Levenshtein distance over characters.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
