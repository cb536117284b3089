import Synchronization

/// The plugin API's reads: one sensor by the words a person or an agent would use, and its recent history.
extension DeviceRegistry {
    /// Something on a device that has a value: an entity, or a field of a JSON state no entity claims (a manual
    /// device added on a Zigbee2MQTT topic gets `humidity`, `battery`, … from the payload).
    struct SensorCandidate {
        var key: String
        var name: String
        var entity: Entity?

        var label: String { name == key ? key : "\(key) (\(name))" }
    }

    /// How a query found its sensor, from most to least specific; each level is tried in turn and the first that
    /// matches exactly one sensor wins. Several at one level is an ambiguity for the caller to resolve.
    enum SensorMatch: String, CaseIterable {
        case key
        case name
        case normalized
        case alias
        case aliasGroup = "alias_group"
    }

    func sensorCandidates(_ device: Device, _ state: DeviceState) -> [SensorCandidate] {
        var candidates = device.entities.map { SensorCandidate(key: $0.key, name: $0.name, entity: $0) }
        let owned = Set(device.entities.map(\.key))
        for key in state.values.keys where !owned.contains(key) {
            candidates.append(SensorCandidate(key: key, name: key, entity: nil))
        }
        return candidates
    }

    /// The sensor `query` names on `device`: key, name (with or without the device name in front), spelling
    /// variants, then aliases (`温度` → `temperature`, preferring the entity keyed exactly so over e.g.
    /// `device_temperature`).
    func resolveSensor(_ query: String, device: Device, state: DeviceState) throws(RPCError) -> (SensorCandidate, SensorMatch) {
        let candidates = sensorCandidates(device, state)
        let wanted = query.trimmed.lowercased()
        let normalizedQuery = SensorAliases.normalized(wanted)
        let group = SensorAliases.group(of: wanted)
        let canonical = SensorAliases.canonical(wanted).map(SensorAliases.normalized)
        let devicePrefix = device.name.lowercased() + " "
        func matches(_ candidate: SensorCandidate, _ level: SensorMatch) -> Bool {
            let name = candidate.name.lowercased()
            switch level {
            case .key: return candidate.key.lowercased() == wanted
            case .name: return name == wanted || (name.hasPrefix(devicePrefix) && name.dropFirst(devicePrefix.count) == wanted)
            case .normalized:
                return SensorAliases.normalized(candidate.key) == normalizedQuery || SensorAliases.normalized(candidate.name) == normalizedQuery
            case .alias:
                return canonical != nil && SensorAliases.normalized(candidate.key) == canonical
            case .aliasGroup:
                guard let group else { return false }
                return [candidate.key, candidate.name, candidate.entity?.deviceClass ?? ""]
                    .contains { SensorAliases.group(of: $0) == group || SensorAliases.group(of: String($0.lowercased().split(separator: " ").last ?? "")) == group }
            }
        }
        for level in SensorMatch.allCases {
            let found = candidates.filter { matches($0, level) }
            if found.count == 1 { return (found[0], level) }
            if found.count > 1 { throw .ambiguousSensor(device: device.id, query: query, candidates: found.map(\.key)) }
        }
        throw .entityNotFound(device: device.id, entity: query, available: candidates.map(\.label))
    }

    /// `sensors/read`: the value, unit, class and age of one sensor; stale when older than the entity's
    /// `expire_after`, else `staleAfter`.
    public func readSensor(device query: String, sensor: String, staleAfter: Duration, now: Double = Timestamp.currentSeconds()) throws(RPCError) -> JSONValue {
        let (device, state) = try find(query)
        let (candidate, match) = try resolveSensor(sensor, device: device, state: state)
        let expireAfter = table.withLock { $0.behaviors[device.id]?[candidate.key]?.expireAfter ?? 0 }
        let limit = expireAfter > 0 ? expireAfter : staleAfter.seconds
        let updated = state.updated(candidate.key)
        let age = updated.flatMap(Timestamp.seconds(from:)).map { max(0, now - $0) }
        var result = JSONObject()
        result["device"] = .string(device.id)
        result["device_name"] = .string(device.name)
        result["sensor"] = .string(candidate.key)
        result["name"] = .string(candidate.name)
        result["value"] = state.values[candidate.key] ?? .null
        result["unit"] = candidate.entity?.unit.map(JSONValue.string) ?? .null
        result["device_class"] = (candidate.entity?.deviceClass ?? SensorAliases.canonical(candidate.key)).map(JSONValue.string) ?? .null
        result["updated_at"] = updated.map(JSONValue.string) ?? .null
        result["age_s"] = age.map { .double(($0 * 10).rounded() / 10) } ?? .null
        // Never heard from counts as stale: there is no value to trust.
        result["stale"] = .bool(age.map { $0 > limit } ?? true)
        result["stale_after_s"] = EntityBehavior.number(limit)
        result["online"] = .bool(state.online)
        result["matched_by"] = .string(match.rawValue)
        return .object(result)
    }

    /// A sensor's values from the device's stored message log (received messages, newest first), each read the way
    /// ingest reads it (templates included): `sensors/history`'s answer for sensors with no numeric history.
    func sensorLogHistory(
        device: Device,
        state: DeviceState,
        candidate: SensorCandidate,
        since: Double?,
        limit: Int,
        store: DeviceStore
    ) async throws(RPCError) -> [JSONValue] {
        let behavior = table.withLock { $0.behaviors[device.id]?[candidate.key] }
        let entries: [DeviceStore.LogEntry]
        do {
            entries = try await store.log(deviceID: device.id, limit: 1000, direction: "rx", before: nil)
        } catch {
            throw .internalError("cannot read the log: \(error)")
        }
        var items: [JSONValue] = []
        var budget = ReplyBudget()
        for entry in entries {
            if let since, let at = Timestamp.seconds(from: entry.at), at < since { break }
            guard let value = Self.historyValue(entry, candidate: candidate, behavior: behavior) else { continue }
            let item: JSONValue = ["at": .string(entry.at), "value": value]
            guard budget.admit(item) else { break }
            items.append(item)
            if items.count == limit { break }
        }
        return items
    }

    /// What one logged message said about the sensor, or nil when it said nothing.
    static func historyValue(_ entry: DeviceStore.LogEntry, candidate: SensorCandidate, behavior: EntityBehavior?) -> JSONValue? {
        if let behavior {
            var fields = JSONObject()
            var scalar: JSONValue?
            let json = EntityBehavior.json(entry.payload)
            for input in behavior.inputs where input.topic == entry.topic {
                guard case .success(let value?) = behavior.value(of: input, payload: entry.payload, json: json) else { continue }
                if let field = input.field { fields[field] = value } else { scalar = value }
            }
            if let scalar { return scalar }
            return fields.isEmpty ? Optional<JSONValue>.none : .object(fields)
        }
        if let topic = candidate.entity?.stateTopic {
            let isFilter = candidate.entity?.stateTopicIsFilter ?? false
            guard isFilter ? TopicRules.matches(filter: topic, topic: entry.topic) : topic == entry.topic else { return nil }
        }
        let decoded = DeviceState.decode(entry.payload)
        if case .object(let object) = decoded { return object[candidate.key] }
        // A plain payload is the entity's value; a field candidate only exists inside JSON objects.
        return candidate.entity == nil ? Optional<JSONValue>.none : decoded
    }
}
