import Mosquitto
import Synchronization

/// `devices/set`: a structured intent published in the entity's own dialect, confirmed by its state topic.
extension DeviceRegistry {
    public func set(
        id query: String,
        entity entityKey: String?,
        intent: JSONObject,
        timeout: Duration
    ) async throws(RPCError) -> JSONValue {
        let (device, state) = try find(query)
        let entity: Entity
        if let entityKey {
            entity = try self.entity(entityKey, of: device)
        } else {
            // The entity that best matches the device's type, among those that take commands.
            let controllable = device.entities.filter {
                $0.commandTopic != nil || $0.discovery?.config.keys.contains { $0.hasSuffix("command_topic") } == true
            }
            guard let first = controllable.first(where: { $0.platform == device.type }) ?? controllable.first else {
                throw .noCommandTopic(device: device.id)
            }
            entity = first
        }
        let current = state.values[entity.key]
        let translation = try ControlIntent(entity: entity, intent: intent, current: current)
        for publish in translation.publishes { try checkCommandPayload(publish.payload.utf8.count, parameter: "value") }
        guard client.isConnected else { throw .notConnected("the command was not sent") }
        let optimistic = entity.discovery?.optimistic ?? (entity.stateTopic == nil)
        let waiter: StateWaiter? = optimistic ? nil : translation.expected.map { StateWaiter(entityKey: entity.key, expected: $0) }
        if let waiter { table.withLock { $0.waiters[device.id, default: []].append(waiter) } }
        let started = ContinuousClock.now
        var logs: [DeviceStore.LogEntry] = []
        for publish in translation.publishes {
            do {
                try client.send(publish.topic, payload: Array(publish.payload.utf8), qos: .atLeastOnce, retain: entity.retainsCommands)
            } catch {
                if let waiter { cancel(waiter, deviceID: device.id) }
                throw .notConnected("the command was not sent: \(error)")
            }
            logs.append(.init(deviceID: device.id, at: Timestamp.now(), direction: "tx", topic: publish.topic, payload: Array(publish.payload.utf8)))
        }
        writer.enqueue(logs: logs, states: [])
        var result: JSONObject = [
            "id": .string(device.id), "entity": .string(entity.key),
            "published": .array(translation.publishes.map { ["topic": .string($0.topic), "payload": .string($0.payload)] }),
        ]
        guard let waiter else {
            result["status"] = "sent"
            result["reason"] = .string(
                optimistic ? "the entity has no state topic (optimistic): nothing can confirm it" : "nothing the entity reports can confirm this command"
            )
            return .object(result)
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            guard let self else { return }
            let last = self.cancel(waiter, deviceID: device.id)
            waiter.resolve(confirmed: false, value: last)
        }
        let (confirmed, value) = await waiter.result()
        timer.cancel()
        let elapsed = ContinuousClock.now - started
        result["status"] = .string(confirmed ? "confirmed" : "unconfirmed")
        result["expected"] = translation.expected ?? .null
        result[confirmed ? "value" : "last_value"] = value ?? .null
        result["elapsed_ms"] = .int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
        return .object(result)
    }

    /// Removes a waiter (timeout, failed publish) and returns the entity's value now.
    @discardableResult
    private func cancel(_ waiter: StateWaiter, deviceID: String) -> JSONValue? {
        table.withLock { $0.removeWaiter(waiter, deviceID: deviceID) }
    }
}

/// `devices/set` on several devices at once: "turn off the lights in the kitchen".
extension DeviceRegistry {
    /// Devices one bulk call may set; beyond it the call is refused before anything is sent.
    public static let bulkLimit = 50

    public enum BulkTarget: Sendable {
        case ids([String])
        /// Every device in the area that takes commands, of `type` when given.
        case area(String, type: String?)
    }

    /// Sets every target device in parallel and answers per device: its `devices/set` result, or its error.
    public func setMany(_ target: BulkTarget, entity: String?, intent: JSONObject, timeout: Duration) async throws(RPCError) -> JSONValue {
        let ids: [String]
        var skipped: [JSONValue] = []
        switch target {
        case .ids(let queries):
            guard !queries.isEmpty else { throw .invalidParams("ids", "must name at least one device") }
            var seen = Set<String>()
            ids = queries.filter { seen.insert($0).inserted }
        case .area(let area, let type):
            let members = table.withLock { table in
                table.devices.values.filter { $0.isIn(area: area) && (type == nil || $0.type == type) }.sorted { $0.id < $1.id }
            }
            guard !members.isEmpty else {
                let known = table.withLock { Set($0.devices.values.compactMap { $0.area?.trimmed }) }.sorted()
                throw .invalidParams(
                    "area",
                    "no device\(type.map { " of type \($0)" } ?? "") in area '\(area)'; areas: \(known.isEmpty ? "none yet (set one with devices/update {area})" : known.joined(separator: ", "))"
                )
            }
            // Sensors in the room are not an error of "turn everything off": they are listed as skipped.
            let controllable = members.filter { device in
                device.entities.contains { $0.commandTopic != nil || $0.discovery?.config.keys.contains { $0.hasSuffix("command_topic") } == true }
            }
            skipped = members.filter { member in !controllable.contains { $0.id == member.id } }
                .map { ["id": .string($0.id), "reason": "takes no commands"] }
            ids = controllable.map(\.id)
        }
        guard ids.count <= Self.bulkLimit else {
            throw .invalidParams(target.parameter, "\(ids.count) devices; one call sets at most \(Self.bulkLimit)")
        }
        let outcomes = await withTaskGroup(of: (Int, JSONValue).self) { group in
            for (index, id) in ids.enumerated() {
                group.addTask {
                    do throws(RPCError) {
                        return (index, try await self.set(id: id, entity: entity, intent: intent, timeout: timeout))
                    } catch {
                        return (index, ["id": .string(id), "status": "error", "error": error.json])
                    }
                }
            }
            var results = [JSONValue](repeating: .null, count: ids.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
        var counts: [String: Int] = [:]
        for outcome in outcomes { counts[outcome["status"]?.stringValue ?? "error", default: 0] += 1 }
        return [
            "results": .array(outcomes),
            "skipped": .array(skipped),
            "count": JSONValue(outcomes.count),
            "confirmed": JSONValue(counts["confirmed"] ?? 0),
            "unconfirmed": JSONValue(counts["unconfirmed"] ?? 0),
            "sent": JSONValue(counts["sent"] ?? 0),
            "failed": JSONValue(counts["error"] ?? 0),
        ]
    }
}

extension DeviceRegistry.BulkTarget {
    var parameter: String {
        switch self {
        case .ids: "ids"
        case .area: "area"
        }
    }
}
