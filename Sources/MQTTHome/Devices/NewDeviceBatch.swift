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
    /// The accepted devices with a state filter: the only ones whose topics a later device can collide with beyond
    /// names, ids and command topics.
    private(set) var filtered: [Device] = []

    init(origin: Origin) {
        self.origin = origin
    }

    /// How a clash with an earlier device of the batch is worded.
    var clashContext: String { origin == .importList ? "in this import" : "(added at the same time)" }

    mutating func accept(_ device: Device) {
        devices.append(device)
        if device.entities.contains(where: \.stateTopicIsFilter) { filtered.append(device) }
        names[device.name.lowercased()] = device.id
        ids.insert(device.id)
        for entity in device.entities {
            for (_, topic) in entity.commandTopics { commandTopics[topic] = device.id }
        }
    }
}
