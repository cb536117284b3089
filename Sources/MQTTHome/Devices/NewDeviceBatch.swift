/// Manual devices about to be committed together — one `devices/import`, or `devices/add` calls that arrived while
/// another add was committing — with what the ones accepted so far claim: each next device is checked against these
/// as well as against the registry's table (names, ids, command topics, state filters).
struct NewDeviceBatch {
    enum Origin {
        /// One `devices/import` list: a clash names the earlier item.
        case importList
        /// Concurrent `devices/add` calls: a clash reads as if the earlier call had already committed.
        case concurrentAdds
    }

    let origin: Origin
    private(set) var devices: [Device] = []
    /// Lower-cased name → id of the accepted devices.
    private(set) var names: [String: String] = [:]
    private(set) var ids = Set<String>()
    /// Command topic → id of the accepted device commanded on it.
    private(set) var commandTopics: [String: String] = [:]
    /// Whether an accepted device has a state filter: until one does, no later device can fall under one.
    private var hasStateFilters = false
    /// The accepted devices' topics, built at the first overlap question and kept up to date from then on (an import
    /// without filters never builds it).
    private var topicUses: TopicOverlapIndex<DeviceTable.TopicUse>?

    init(origin: Origin) {
        self.origin = origin
    }

    /// How a clash with an earlier device of the batch is worded.
    var clashContext: String { origin == .importList ? "in this import" : "(added at the same time)" }

    mutating func accept(_ device: Device) {
        devices.append(device)
        if device.entities.contains(where: \.stateTopicIsFilter) { hasStateFilters = true }
        topicUses?.add(device)
        names[device.name.lowercased()] = device.id
        ids.insert(device.id)
        for entity in device.entities {
            for (_, topic) in entity.commandTopics { commandTopics[topic] = device.id }
        }
    }

    /// A topic of an accepted device that the state filter `filter` overlaps, if any.
    mutating func topic(overlapping filter: String) -> DeviceTable.TopicUse? {
        guard !devices.isEmpty else { return nil }
        return uses().first(overlapping: filter) { _ in true }
    }

    /// An accepted device's state filter that matches `topic`, if any.
    mutating func stateFilter(matching topic: String) -> DeviceTable.TopicUse? {
        guard hasStateFilters else { return nil }
        return uses().first(overlapping: topic, where: \.isStateFilter)
    }

    private mutating func uses() -> TopicOverlapIndex<DeviceTable.TopicUse> {
        if let topicUses { return topicUses }
        let built = DeviceTable.TopicUse.index(of: devices)
        topicUses = built
        return built
    }
}
