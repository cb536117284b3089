import GRDB
import Logging
import Mosquitto
import Synchronization

/// RPC changes: each runs alone (``DeviceRegistry/mutations``), is committed to SQLite, then applied to the table,
/// its SUBSCRIBE sent and its retained topics published; the SUBACK is awaited after the lock is released, before
/// the reply (so a state published after the reply is seen). A change that cannot be saved is not applied.
extension DeviceRegistry {
    /// Adds a manual device. Calls that arrive while another add is committing wait for the lock together and are
    /// then checked, committed in one transaction and subscribed in one SUBSCRIBE by whichever gets it first, each
    /// answered on its own: concurrent adds share a commit instead of queueing for one each.
    public func add(_ spec: DeviceSpec) async throws(RPCError) -> JSONValue {
        let pending = PendingAdd(spec)
        pendingAdds.withLock { $0.append(pending) }
        let committed: (batch: [PendingAdd], results: [Result<JSONValue, RPCError>], receipt: SubscriptionReceipt)?
        do {
            committed = try await mutations.withLock {
                let batch = pendingAdds.withLock { queued in
                    defer { queued.removeAll() }
                    return queued
                }
                // Empty: an earlier holder took this call's add into its batch.
                guard !batch.isEmpty else { return nil }
                let (results, receipt) = await addTogether(batch)
                return (batch, results, receipt)
            }
        } catch {
            // Cancelled while waiting for the lock: withdrawn if no batch took it yet, else it runs to its end.
            let withdrawn = pendingAdds.withLock { queued -> Bool in
                guard let position = queued.firstIndex(where: { $0 === pending }) else { return false }
                queued.remove(at: position)
                return true
            }
            if withdrawn { throw .internalError("cancelled before the change could run (the daemon is stopping)") }
            committed = nil
        }
        if let committed {
            await confirmSubscription(committed.receipt)
            for (add, result) in zip(committed.batch, committed.results) { add.resolve(result) }
        }
        return try await pending.outcome.get()
    }

    /// Checks, commits and applies queued adds as one batch (under ``mutations``); the results in `batch`'s order.
    private func addTogether(_ batch: [PendingAdd]) async -> ([Result<JSONValue, RPCError>], SubscriptionReceipt) {
        let now = Timestamp.now()
        var results = [Result<JSONValue, RPCError>](repeating: .failure(.internalError("not added")), count: batch.count)
        var checked = NewDeviceBatch(origin: .concurrentAdds)
        var accepted: [(position: Int, device: Device)] = []
        for (position, add) in batch.enumerated() {
            do throws(RPCError) {
                let device = try checkedNewDevice(add.spec, at: now, batch: &checked)
                checked.accept(device)
                accepted.append((position, device))
            } catch {
                results[position] = .failure(error)
            }
        }
        let devices = checked.devices
        guard !devices.isEmpty else { return (results, SubscriptionReceipt(messageIDs: [])) }
        do throws(RPCError) {
            try await save { store, db in
                for device in devices { try store.save(device, in: db) }
            }
        } catch {
            for (position, _) in accepted { results[position] = .failure(error) }
            return (results, SubscriptionReceipt(messageIDs: []))
        }
        let (filters, inserted) = table.withLock { table in
            let filters = devices.flatMap { table.insert($0, state: DeviceState()) }
            return (filters, devices.map { (table.devices[$0.id] ?? $0, table.states[$0.id] ?? DeviceState()) })
        }
        let receipt = requestSubscription(filters)
        for ((position, _), (device, state)) in zip(accepted, inserted) {
            publishRetained(device, state: state)
            publishEvent("device_added", id: device.id)
            logger.info("device added", metadata: ["device.id": "\(device.id)", "device.name": "\(device.name)"])
            results[position] = .success(Self.describe(device, state))
        }
        return (results, receipt)
    }

    public func update(id query: String, _ spec: DeviceSpec) async throws(RPCError) -> JSONValue {
        try await change { () throws(RPCError) -> (JSONValue, SubscriptionReceipt) in
            let (old, state) = try find(query)
            var device = old
            if let name = spec.name, name != old.name {
                let owner = table.withLock { $0.id(named: name) }
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
            guard device != old else { return (Self.describe(old, state), SubscriptionReceipt(messageIDs: [])) }
            try checkTopics(device, replacing: old)
            device.warnings = []
            device.version += 1
            device.updatedAt = Timestamp.now()
            let saved = device
            try await save { store, db in try store.save(saved, in: db) }
            // The state is the table's at this moment, not `state` from before the commit: what was ingested
            // while the commit ran stays.
            let (stale, fresh, updated, current) = table.withLock { table in
                let (stale, fresh) = table.replace(old, with: saved)
                return (stale, fresh, table.devices[saved.id] ?? saved, table.states[saved.id] ?? DeviceState())
            }
            unsubscribe(stale)
            let receipt = requestSubscription(fresh)
            publishRetained(updated, state: current)
            publishEvent("device_updated", id: saved.id)
            return (Self.describe(updated, current), receipt)
        }
    }

    public func remove(id query: String) async throws(RPCError) -> JSONValue {
        try await change { () throws(RPCError) -> (JSONValue, SubscriptionReceipt) in
            let (device, _) = try find(query)
            try await save { store, db in try store.delete(deviceID: device.id, in: db) }
            forgetAndClear(device)
            logger.info("device removed", metadata: ["device.id": "\(device.id)"])
            return (["id": .string(device.id), "removed": true], SubscriptionReceipt(messageIDs: []))
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
            try client.send(topic, payload: payload, qos: qos, retain: retain)
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

    /// A new manual device as `devices/add` makes it from a validated spec.
    static func newDevice(_ spec: DeviceSpec, id: String, name: String, type: String, stateTopic: String, at now: String) -> Device {
        let key = spec.entityKey ?? (spec.deviceClass ?? nil).map(Device.slug) ?? (type == "sensor" ? "value" : "state")
        let entity = spec.applied(
            to: Entity(key: key, name: name, platform: type, stateTopic: stateTopic, stateTopicIsFilter: spec.stateTopicIsFilter ?? false)
        )
        var device = Device(
            id: id, name: name, type: type, origin: "manual", attributes: spec.attributes ?? JSONObject(),
            createdAt: now, updatedAt: now, version: 1, entities: [entity]
        )
        if let area = spec.area {
            device.area = area
            device.areaSetByHand = area != nil
        }
        return device
    }

    /// -32602 when a command payload is larger than `COMMAND_PAYLOAD_LIMIT`.
    func checkCommandPayload(_ size: Int, parameter: String) throws(RPCError) {
        guard size <= limits.commandPayloadBytes else {
            throw .invalidParams(parameter, "the command payload is \(size) bytes; COMMAND_PAYLOAD_LIMIT is \(limits.commandPayloadBytes)")
        }
    }

    /// Drops a removed device from memory and its subscriptions, and clears its retained topics with empty payloads
    /// (queued in the publisher, they also replace a state still waiting there and are kept across a disconnect).
    func forgetAndClear(_ device: Device) {
        let unused = table.withLock { $0.remove(device) }
        writer.forget(deviceID: device.id)
        unsubscribe(unused)
        publisher.publish(topics.deviceState(device.id), payload: [])
        publisher.publish(topics.deviceAvailability(device.id), payload: [])
        publisher.publish(topics.device(device.id), payload: [])
        withdraw(device)
        publishEvent("device_removed", id: device.id)
    }

    /// The entity `key` of a device, or -32005 listing the keys it has.
    func entity(_ key: String, of device: Device) throws(RPCError) -> Entity {
        guard let found = device.entity(key) else {
            throw .entityNotFound(device: device.id, entity: key, available: device.entities.map(\.key))
        }
        return found
    }

    /// Runs one change alone under ``mutations`` (commit and apply), then waits for its SUBACKs with the lock
    /// released: a broker that is slow to acknowledge delays this caller, not every other change.
    func change(_ body: () async throws(RPCError) -> (JSONValue, SubscriptionReceipt)) async throws(RPCError) -> JSONValue {
        let (result, receipt): (JSONValue, SubscriptionReceipt)
        do {
            (result, receipt) = try await mutations.withLock { try await body() }
        } catch let error as RPCError {
            throw error
        } catch is CancellationError {
            throw .internalError("cancelled before the change could run (the daemon is stopping)")
        } catch {
            throw .internalError("\(error)")
        }
        await confirmSubscription(receipt)
        return result
    }

    func save(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) async throws(RPCError) {
        do {
            try await writer.perform(body)
        } catch {
            throw .storage(error)
        }
    }

    /// Queues SUBSCRIBE for `filters` (under the caller's ``mutations``, so it keeps its order with UNSUBSCRIBEs: the
    /// client leaves out a queued filter unsubscribed meanwhile). A send that fails is logged by the client and ends
    /// the wait in ``confirmSubscription(_:)``.
    func requestSubscription(_ filters: [String]) -> SubscriptionReceipt {
        guard !filters.isEmpty else { return SubscriptionReceipt(messageIDs: []) }
        return client.requestSubscription(filters, qos: .atLeastOnce)
    }

    /// Waits for the SUBACKs of ``requestSubscription(_:)``; a refusal is logged (the filters stay in the client's
    /// list and are tried again at the next connect).
    func confirmSubscription(_ receipt: SubscriptionReceipt) async {
        guard !receipt.messageIDs.isEmpty else { return }
        do {
            try await client.confirm(receipt)
        } catch is CancellationError {
            return
        } catch {
            logger.warning("the broker did not accept a device subscription", metadata: ["error": "\(error)"])
        }
    }

    /// Unsubscribes filters no device reads any more; a failure is counted (`ingest.unsubscribe_failures`) and
    /// logged, since the filter keeps delivering messages nobody reads.
    func unsubscribe(_ filters: [String]) {
        for filter in filters {
            do {
                try client.unsubscribe(filter)
            } catch {
                unsubscribeFailures.add(1, ordering: .relaxed)
                logger.warning("cannot unsubscribe from a topic no device reads", metadata: ["mqtt.filter": "\(filter)", "error": "\(error)"])
            }
        }
    }
}
