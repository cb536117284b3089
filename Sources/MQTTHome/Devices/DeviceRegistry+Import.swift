import Logging
import Mosquitto
import Synchronization

/// `devices/import`: many `devices/add` in one change — every item checked as `devices/add` checks it (also against
/// the other items: names, ids, command topics), the valid ones committed in one transaction, subscribed in one
/// SUBSCRIBE exchange, answered per item.
extension DeviceRegistry {
    /// Devices one import may carry (the RPC payload limit bounds it too; the CLI splits larger files).
    public static let importLimit = 10_000

    public func importDevices(_ items: [JSONValue], atomic: Bool) async throws(RPCError) -> JSONValue {
        guard !items.isEmpty else { throw .invalidParams("devices", "must list at least one device") }
        guard items.count <= Self.importLimit else {
            throw .invalidParams("devices", "\(items.count) devices; one call imports at most \(Self.importLimit)")
        }
        return try await change { () throws(RPCError) -> (JSONValue, SubscriptionReceipt) in
            let now = Timestamp.now()
            var results = [JSONValue](repeating: .null, count: items.count)
            var accepted: [(index: Int, device: Device)] = []
            var batch = NewDeviceBatch(origin: .importList)
            for (index, item) in items.enumerated() {
                do throws(RPCError) {
                    let device = try checkedNewDevice(try Self.importedSpec(item), at: now, batch: &batch)
                    batch.accept(device)
                    accepted.append((index, device))
                } catch {
                    results[index] = ["index": JSONValue(index), "status": "error", "error": error.json]
                }
            }
            let failed = items.count - accepted.count
            if atomic && failed > 0 {
                for (index, device) in accepted {
                    results[index] = [
                        "index": JSONValue(index), "id": .string(device.id), "status": "not_added",
                        "reason": "atomic: \(failed) other device\(failed == 1 ? " is" : "s are") invalid",
                    ]
                }
                return (Self.importSummary(results, added: 0, failed: failed), SubscriptionReceipt(messageIDs: []))
            }
            let devices = accepted.map(\.device)
            if !devices.isEmpty {
                try await save { store, db in
                    for device in devices { try store.save(device, in: db) }
                }
            }
            let (filters, inserted) = table.withLock { table in
                let filters = devices.flatMap { table.insert($0, state: DeviceState()) }
                return (filters, devices.map { table.devices[$0.id] ?? $0 })
            }
            let receipt = requestSubscription(filters)
            for device in inserted {
                publishRetained(device, state: DeviceState())
                publishEvent("device_added", id: device.id)
            }
            for (index, device) in accepted { results[index] = ["index": JSONValue(index), "id": .string(device.id), "status": "added"] }
            logger.info("devices imported", metadata: ["devices.added": "\(devices.count)", "devices.failed": "\(failed)"])
            return (Self.importSummary(results, added: devices.count, failed: failed), receipt)
        }
    }

    /// One import item as `devices/add` takes its parameters.
    private static func importedSpec(_ item: JSONValue) throws(RPCError) -> DeviceSpec {
        guard let object = item.objectValue else { throw .invalidParams("devices", "each device must be an object, not \(item.typeName)") }
        try RPCRouter.check(object, against: DeviceSpec.addParameters, of: "devices/add")
        return try DeviceSpec.parse(RPCParams(object), adding: true)
    }

    /// The manual device `spec` describes, checked as `devices/add` checks it: against the registry and against the
    /// devices accepted before it in `batch`.
    func checkedNewDevice(_ spec: DeviceSpec, at now: String, batch: inout NewDeviceBatch) throws(RPCError) -> Device {
        guard let name = spec.name, let type = spec.type, let stateTopic = spec.stateTopic else { throw .invalidParams("name", "required") }
        if let earlier = batch.names[name.lowercased()] {
            switch batch.origin {
            case .importList: throw .invalidParams("name", "'\(name)' is already the name of an earlier device in this import")
            case .concurrentAdds: throw .duplicateName(name, existingID: earlier)
            }
        }
        let id = try table.withLock { table throws(RPCError) -> String in
            if let existing = table.id(named: name) { throw .duplicateName(name, existingID: existing) }
            if let requested = spec.id {
                if table.devices[requested] != nil || batch.ids.contains(requested) {
                    throw RPCError.invalidParams("id", "a device with id '\(requested)' already exists")
                }
                return requested
            }
            let base = Device.slug(name)
            var candidate = table.freeID(base)
            var suffix = 2
            while batch.ids.contains(candidate) || table.devices[candidate] != nil {
                candidate = "\(base)_\(suffix)"
                suffix += 1
            }
            return candidate
        }
        let device = Self.newDevice(spec, id: id, name: name, type: type, stateTopic: stateTopic, at: now)
        try checkTopics(device)
        for entity in device.entities {
            for (key, topic) in entity.commandTopics {
                if let owner = batch.commandTopics[topic] {
                    throw .invalidParams(key, "'\(topic)' is already the command topic of '\(owner)' \(batch.clashContext); two devices cannot be commanded on one topic")
                }
            }
            // The overlaps checked above against the registry, now against the batch.
            for (key, topic) in entity.allTopics {
                if entity.stateTopicIsFilter && key == "state_topic" {
                    if let other = batch.topic(overlapping: topic) {
                        throw .invalidParams(key, "filter '\(topic)' would also match '\(other.deviceID)''s topic '\(other.topic)' \(batch.clashContext)")
                    }
                } else if let other = batch.stateFilter(matching: topic) {
                    throw .invalidParams(key, "'\(topic)' would also be matched by '\(other.deviceID)''s state filter '\(other.topic)' \(batch.clashContext)")
                }
            }
        }
        return device
    }

    private static func importSummary(_ results: [JSONValue], added: Int, failed: Int) -> JSONValue {
        ["added": JSONValue(added), "failed": JSONValue(failed), "results": .array(results)]
    }
}
