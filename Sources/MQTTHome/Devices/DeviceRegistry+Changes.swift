import GRDB
import Logging
import Mosquitto
import Synchronization

/// RPC changes: each runs alone (``DeviceRegistry/mutations``), is committed to SQLite, then applied in memory,
/// subscribed and published. A change that cannot be saved is not applied.
extension DeviceRegistry {
    public func add(_ spec: DeviceSpec) async throws(RPCError) -> JSONValue {
        try await serialized { () throws(RPCError) -> JSONValue in
            guard let name = spec.name, let type = spec.type, let stateTopic = spec.stateTopic else {
                throw .invalidParams("name", "required")
            }
            let id = try contents.withLock { contents throws(RPCError) -> String in
                if let existing = contents.names[name.lowercased()] { throw .duplicateName(name, existingID: existing) }
                if let requested = spec.id {
                    if contents.devices[requested] != nil {
                        throw RPCError.invalidParams("id", "a device with id '\(requested)' already exists")
                    }
                    return requested
                }
                return Self.freeID(Device.slug(name), contents)
            }
            let now = Timestamp.now()
            let key = spec.entityKey ?? (spec.deviceClass ?? nil).map(Device.slug) ?? (type == "sensor" ? "value" : "state")
            let entity = spec.applied(
                to: Entity(key: key, name: name, platform: type, stateTopic: stateTopic, stateTopicIsFilter: spec.stateTopicIsFilter ?? false)
            )
            var created = Device(
                id: id,
                name: name,
                type: type,
                origin: "manual",
                attributes: spec.attributes ?? JSONObject(),
                createdAt: now,
                updatedAt: now,
                version: 1,
                entities: [entity]
            )
            if let area = spec.area {
                created.area = area
                created.areaSetByHand = area != nil
            }
            let device = created
            try checkTopics(device)
            try await save { store, db in try store.save(device, in: db) }
            let filters = contents.withLock { contents in
                let filters = Self.insert(device, state: DeviceState(), into: &contents)
                Self.refreshWarnings(device.id, &contents)
                return filters
            }
            await subscribe(filters)
            publishRetained(device, state: DeviceState())
            publishEvent("device_added", id: id)
            logger.info("device added", metadata: ["device.id": "\(id)", "device.name": "\(name)"])
            return Self.describe(device, DeviceState())
        }
    }

    public func update(id query: String, _ spec: DeviceSpec) async throws(RPCError) -> JSONValue {
        try await serialized { () throws(RPCError) -> JSONValue in
            let (old, state) = try find(query)
            var device = old
            if let name = spec.name, name != old.name {
                let owner = contents.withLock { $0.names[name.lowercased()] }
                if let owner, owner != old.id { throw .duplicateName(name, existingID: owner) }
                device.name = name
            }
            if let type = spec.type { device.type = type }
            if let attributes = spec.attributes { device.attributes = attributes }
            if let area = spec.area {
                // Set by hand: a discovered device's suggested_area no longer overrides it (null hands it back).
                device.area = area
                device.areaSetByHand = area != nil
            }
            let entityIndex: Int
            if let key = spec.entityKey {
                guard let index = device.entities.firstIndex(where: { $0.key == key }) else {
                    throw .entityNotFound(device: device.id, entity: key, available: device.entities.map(\.key))
                }
                entityIndex = index
            } else {
                entityIndex = 0
            }
            if !device.entities.isEmpty {
                device.entities[entityIndex] = spec.applied(to: device.entities[entityIndex])
                if device.entities.count == 1 { device.entities[0].platform = device.type }
            }
            guard device != old else { return Self.describe(old, state) }
            try checkTopics(device)
            device.warnings = []
            device.version += 1
            device.updatedAt = Timestamp.now()
            let saved = device
            try await save { store, db in try store.save(saved, in: db) }
            let (stale, fresh) = contents.withLock { contents in
                let stale = Self.remove(old, from: &contents)
                let fresh = Self.insert(saved, state: state, into: &contents)
                Self.refreshWarnings(saved.id, &contents)
                return (stale, fresh)
            }
            // `stale` filters have no route left, `fresh` ones are new; one that is both stays subscribed.
            for filter in stale where !fresh.contains(filter) {
                try? client.unsubscribe(filter)
            }
            await subscribe(fresh.filter { !stale.contains($0) })
            publishRetained(saved, state: state)
            publishEvent("device_updated", id: saved.id)
            return Self.describe(saved, state)
        }
    }

    public func remove(id query: String) async throws(RPCError) -> JSONValue {
        try await serialized { () throws(RPCError) -> JSONValue in
            let (device, _) = try find(query)
            try await save { store, db in try store.delete(deviceID: device.id, in: db) }
            forgetAndClear(device)
            logger.info("device removed", metadata: ["device.id": "\(device.id)"])
            return ["id": .string(device.id), "removed": true]
        }
    }

    /// Publishes `payload` to the command topic of the device (or of `entity`) and logs it as sent.
    public func command(
        id query: String,
        entity entityKey: String?,
        payload: [UInt8],
        qos: QoS,
        retain requested: Bool?
    ) throws(RPCError) -> JSONValue {
        let (device, _) = try find(query)
        let entity: Entity
        if let entityKey {
            entity = try self.entity(entityKey, of: device)
        } else {
            guard let first = device.entities.first(where: { $0.commandTopic != nil }) else {
                throw .noCommandTopic(device: device.id)
            }
            entity = first
        }
        guard let topic = entity.commandTopic else { throw .noCommandTopic(device: device.id) }
        // Retained commands outlive the call: only an entity configured to retain may have them.
        if requested == true && !entity.retainsCommands {
            throw .invalidParams(
                "retain",
                "entity '\(entity.key)' of '\(device.id)' is not configured to retain commands; omit retain, or set retain: true on the device with devices/update if it needs retained commands"
            )
        }
        let retain = requested ?? entity.retainsCommands
        try checkCommandPayload(payload.count, parameter: "payload")
        guard client.isConnected else { throw .notConnected("the command was not sent") }
        do {
            try client.publish(topic, payload: payload, qos: qos, retain: retain)
        } catch {
            throw .notConnected("the command was not sent: \(error)")
        }
        writer.enqueue(
            logs: [.init(deviceID: device.id, at: Timestamp.now(), direction: "tx", topic: topic, payload: payload)],
            states: []
        )
        return [
            "id": .string(device.id), "entity": .string(entity.key), "topic": .string(topic),
            "payload": .string(String(decoding: payload, as: UTF8.self)), "qos": .int(Int64(qos.rawValue)),
            "retain": .bool(retain),
        ]
    }

    // MARK: - Helpers

    /// -32602 when a command payload is larger than `COMMAND_PAYLOAD_LIMIT`.
    func checkCommandPayload(_ size: Int, parameter: String) throws(RPCError) {
        guard size <= limits.commandPayloadBytes else {
            throw .invalidParams(parameter, "the command payload is \(size) bytes; COMMAND_PAYLOAD_LIMIT is \(limits.commandPayloadBytes)")
        }
    }

    /// Drops a removed device from memory and its subscriptions, and clears its retained topics with empty payloads
    /// (queued in the publisher, they also replace a state still waiting there and are kept across a disconnect).
    func forgetAndClear(_ device: Device) {
        let unused = contents.withLock { contents in
            contents.states.removeValue(forKey: device.id)
            contents.tracking.removeValue(forKey: device.id)
            let unused = Self.remove(device, from: &contents)
            // The devices that shared a command topic with it lose that warning.
            for entity in device.entities {
                for (_, topic) in entity.commandTopics {
                    for other in contents.commandTopics[topic] ?? [] { Self.refreshWarnings(other, &contents) }
                }
            }
            return unused
        }
        writer.forget(deviceID: device.id)
        for filter in unused { try? client.unsubscribe(filter) }
        publisher.publish(topics.deviceState(device.id), payload: [])
        publisher.publish(topics.deviceAvailability(device.id), payload: [])
        publisher.publish(topics.device(device.id), payload: [])
        publishEvent("device_removed", id: device.id)
    }

    /// The entity `key` of a device, or -32005 listing the keys it has.
    func entity(_ key: String, of device: Device) throws(RPCError) -> Entity {
        guard let found = device.entity(key) else {
            throw .entityNotFound(device: device.id, entity: key, available: device.entities.map(\.key))
        }
        return found
    }

    private func serialized<T: Sendable>(_ body: () async throws(RPCError) -> T) async throws(RPCError) -> T {
        do {
            return try await mutations.withLock { try await body() }
        } catch let error as RPCError {
            throw error
        } catch {
            throw .internalError("\(error)")
        }
    }

    private func save(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) async throws(RPCError) {
        do {
            try await writer.perform(body)
        } catch {
            throw .storage(error)
        }
    }

    private func subscribe(_ filters: [String]) async {
        guard !filters.isEmpty else { return }
        do {
            try await client.subscribe(filters, qos: .atLeastOnce)
        } catch {
            logger.warning("cannot subscribe to device topics", metadata: ["mqtt.filter": "\(filters)", "error": "\(error)"])
        }
    }
}
