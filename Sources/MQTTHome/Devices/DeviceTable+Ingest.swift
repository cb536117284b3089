import Mosquitto

/// Applying one incoming message to the table: the hot path, with no I/O — what it changed comes back as an
/// ``IngestOutcome`` for the registry to log, persist and publish.
extension DeviceTable {
    /// What one message changed.
    struct IngestOutcome {
        /// Devices whose state changed, in route order, with their new state.
        var changed: [(String, DeviceState)] = []
        var availabilityChanged: [(String, Bool)] = []
        /// One received-log row per device the message fed.
        var logs: [DeviceStore.LogEntry] = []
        /// `devices/set` callers the message confirmed.
        var confirmed: [(StateWaiter, JSONValue?)] = []
        var templateErrors = 0
        /// The first few failures (device, entity, error), for a log line each.
        var templateFailures: [(String, String, TemplateError)] = []
        var droppedKeys = 0
        /// Devices that give the history a sample for this message (at most one a second each).
        var sampled: [String] = []
        /// Manual devices whose state gained a key (a field Home Assistant may show as a new entity).
        var grew: [String] = []

        /// What a template produced for `route`: the value, or nil for nothing — a failure is counted and the first
        /// few kept for a log line each.
        mutating func rendered<Value>(_ result: Result<Value?, TemplateError>, for route: Route) -> Value? {
            switch result {
            case .success(let value):
                return value
            case .failure(let error):
                templateErrors += 1
                if templateFailures.count < 4 { templateFailures.append((route.deviceID, route.entityKey, error)) }
                return nil
            }
        }
    }

    /// Bounds and clock for ``apply(_:at:sampleAt:stateKeys:)``.
    struct IngestContext {
        /// The message's time as stored and published.
        var now: String
        /// Milliseconds since 1970 when the history records samples, nil when it does not.
        var sampleAt: Int64?
        var stateKeys: Int
    }

    /// Applies a message to every device whose state or availability topic it matches.
    mutating func apply(_ message: MQTTMessage, _ context: IngestContext) -> IngestOutcome {
        var outcome = IngestOutcome()
        let routes = index.matches(message.topic)
        guard !routes.isEmpty else { return outcome }
        let now = context.now
        // Parsed at most once per message, however many discovered entities read it (Zigbee2MQTT: all of a device's).
        var parsed: JSONValue?? = nil
        func json() -> JSONValue? {
            if let parsed { return parsed }
            let value = EntityBehavior.json(message.payload)
            parsed = .some(value)
            return value
        }
        var touched: [String] = []
        var attributesMerged: Set<String> = []
        for route in routes {
            guard let device = devices[route.deviceID] else { continue }
            let wasOnline = states[route.deviceID]?.online ?? false
            switch route.kind {
            case .state:
                let keys = states[route.deviceID]?.values.count ?? 0
                // Mutated in place through the dictionary: no copy of the state per message.
                states[route.deviceID, default: DeviceState()].apply(
                    payload: message.payload,
                    entityKey: route.entityKey,
                    at: now,
                    hasAvailability: device.hasAvailability,
                    maxKeys: context.stateKeys,
                    droppedKeys: &outcome.droppedKeys
                )
                if (states[route.deviceID]?.values.count ?? 0) > keys, !outcome.grew.contains(route.deviceID) { outcome.grew.append(route.deviceID) }
                // A manual device confirms `devices/set` through the same state topic it reports on.
                if waiters[route.deviceID] != nil {
                    let current = states[route.deviceID]?.values[route.entityKey]
                    outcome.confirmed += takeWaiters(route.deviceID, route.entityKey, current)
                }
            case .availability:
                guard let availability = device.entity(route.entityKey)?.availability else { continue }
                let text = message.payloadString
                if text == availability.payloadAvailable {
                    states[route.deviceID, default: DeviceState()].online = true
                } else if text == availability.payloadNotAvailable {
                    states[route.deviceID, default: DeviceState()].online = false
                } else {
                    continue
                }
            case .input(let index):
                guard let behavior = behaviors[route.deviceID]?[route.entityKey], behavior.inputs.indices.contains(index) else { continue }
                let input = behavior.inputs[index]
                guard let value = outcome.rendered(behavior.value(of: input, payload: message.payload, json: json()), for: route) else { continue }
                states[route.deviceID, default: DeviceState()].set(value, entity: route.entityKey, field: input.field, at: now)
                tracking[route.deviceID]?[route.entityKey]?.lastUpdate = .now
                if tracking[route.deviceID]?[route.entityKey]?.expired == true {
                    tracking[route.deviceID]?[route.entityKey]?.expired = false
                    updateOnline(route.deviceID)
                }
                let current = states[route.deviceID]?.values[route.entityKey]
                outcome.confirmed += takeWaiters(route.deviceID, route.entityKey, current)
            case .attributes:
                // Attributes are merged per device: one merge per message and template, not one per entity.
                guard let behavior = behaviors[route.deviceID]?[route.entityKey],
                    attributesMerged.insert("\(route.deviceID)\n\(behavior.attributesTemplate?.source ?? "")").inserted
                else { continue }
                guard let attributes = outcome.rendered(behavior.attributes(payload: message.payload, json: json()), for: route) else { continue }
                var state = states[route.deviceID] ?? DeviceState()
                for (key, value) in attributes { state.attributes[key] = value }
                state.lastSeen = now
                states[route.deviceID] = state
            case .availabilitySource(let index):
                guard let behavior = behaviors[route.deviceID]?[route.entityKey], behavior.availability.indices.contains(index) else { continue }
                guard let available = outcome.rendered(behavior.availabilityValue(source: index, payload: message.payload, json: json()), for: route)
                else { continue }
                tracking[route.deviceID]?[route.entityKey]?.sources[index] = available
                tracking[route.deviceID]?[route.entityKey]?.latest = available
                updateOnline(route.deviceID)
            }
            let online = states[route.deviceID]?.online ?? false
            if online != wasOnline { outcome.availabilityChanged.append((route.deviceID, online)) }
            if !touched.contains(route.deviceID) {
                touched.append(route.deviceID)
                messageCounts[route.deviceID, default: 0] += 1
                outcome.logs.append(.init(deviceID: route.deviceID, at: now, direction: "rx", topic: message.topic, payload: message.payload))
            }
        }
        outcome.changed = touched.map { ($0, states[$0]!) }
        if let milliseconds = context.sampleAt {
            // At most one history sample a second per device: a device flooding its topic costs the history
            // (and this path) nothing more than one reporting every second.
            for id in touched where milliseconds - (lastSampled[id] ?? Int64.min / 2) >= 1000 {
                lastSampled[id] = milliseconds
                outcome.sampled.append(id)
            }
        }
        return outcome
    }
}
