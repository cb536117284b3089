import Logging
import Mosquitto
import Synchronization

/// The topic policy applied to devices (``DeviceTopicPolicy``), the questions the reply policy asks the registry,
/// and the bounds on what a device may send.
extension DeviceRegistry {
    /// Bounds on what peers send, so that no device or producer can grow the daemon without limit.
    public struct Limits: Sendable {
        /// State and availability messages larger than this are counted (`ingest.oversized`) and not applied.
        public var statePayloadBytes: Int = 65_536
        /// Largest command payload (`devices/command`, `devices/set`).
        public var commandPayloadBytes: Int = 65_536
        /// Discovered entities beyond this are refused and counted (`discovery.refused_over_limit`).
        public var discoveryMaxEntities: Int = 20_000
        /// Values a device's state may hold; keys beyond it are dropped and counted (`ingest.state_keys_dropped`).
        public var stateKeys: Int = 256
        /// Largest discovery config accepted.
        public var discoveryConfigBytes: Int = 262_144

        public init() {}
    }

    /// The device that reads `topic` (state, availability, attributes) or is commanded on it, if any.
    public func deviceUsing(_ topic: String) -> String? {
        table.withLock { $0.deviceUsing(topic) }
    }

    /// Refuses a manual device's topics that the policy forbids, a state filter that would also match another
    /// device's topics, a topic another device's state filter would match, and a command topic another device is
    /// already commanded on. The overlap checks judge only the topics `old` (the version being updated) did not have:
    /// a device is not refused a change of its area for a pairing that was accepted before.
    func checkTopics(_ device: Device, replacing old: Device? = nil) throws(RPCError) {
        for entity in device.entities {
            for (key, topic) in entity.allTopics {
                if let problem = policy.problem(topic) { throw .invalidParams(key, "'\(topic)' \(problem)") }
            }
        }
        let known = Set(old?.entities.flatMap { $0.allTopics.map(\.topic) } ?? [])
        let conflict = table.withLock { table -> RPCError? in
            for entity in device.entities {
                for (key, topic) in entity.allTopics where !known.contains(topic) {
                    if entity.stateTopicIsFilter && key == "state_topic" {
                        if let other = table.topic(overlapping: topic, except: device.id) {
                            return .invalidParams(
                                key,
                                "filter '\(topic)' would also match device '\(other.deviceID)''s topic '\(other.topic)'; narrow it so that it matches only this device's topics"
                            )
                        }
                    } else if let other = table.stateFilter(matching: topic, except: device.id) {
                        return .invalidParams(
                            key,
                            "'\(topic)' would also be matched by device '\(other.deviceID)''s state filter '\(other.topic)'; a topic can feed only the device whose filter matches it"
                        )
                    }
                }
            }
            for entity in device.entities {
                for (key, topic) in entity.commandTopics {
                    if let owner = table.devices(commandedOn: topic).first(where: { $0 != device.id }) {
                        return .invalidParams(key, "'\(topic)' is already the command topic of device '\(owner)'; two devices cannot be commanded on one topic")
                    }
                }
            }
            return nil
        }
        if let conflict { throw conflict }
    }

    /// Why a discovered entity's config cannot be used: a topic the policy refuses.
    func discoveryTopicProblem(_ entity: Entity) -> String? {
        for (key, topic) in entity.allTopics {
            if let problem = policy.problem(topic) { return "\(key) '\(topic)' \(problem)" }
        }
        return nil
    }

    /// A stored device with every topic the policy refuses taken out (manual) or its offending entities dropped
    /// (discovered: the producer's retained config is judged again when it arrives), each noted in `warnings`.
    func quarantined(_ device: Device) -> Device {
        // The common case, a device with nothing refused and nothing to warn about, is kept as loaded: no entity list
        // rebuilt for each of 10,000 devices at start-up.
        let refusesSome = device.entities.contains { entity in entity.allTopics.contains { policy.problem($0.topic) != nil } }
        if !refusesSome && device.warnings.isEmpty { return device }
        var checked = device
        var warnings: [String] = []
        checked.entities = device.entities.compactMap { entity -> Entity? in
            var entity = entity
            for (key, topic) in entity.allTopics {
                guard let problem = policy.problem(topic) else { continue }
                warnings.append("entity '\(entity.key)': \(key) '\(topic)' \(problem); it is not used. Fix it with devices/update")
                if entity.discovery != nil { return nil }
                switch key {
                case "state_topic": entity.stateTopic = nil
                case "command_topic": entity.commandTopic = nil
                case "availability_topic": entity.availability = nil
                default: break
                }
            }
            return entity
        }
        if !warnings.isEmpty {
            logger.warning(
                "a stored device uses topics the topic policy refuses; they are not used",
                metadata: ["device.id": "\(device.id)", "device.warnings": "\(warnings)"]
            )
        }
        if !device.warnings.isEmpty {
            logger.warning("a stored device did not load intact", metadata: ["device.id": "\(device.id)", "device.warnings": "\(device.warnings)"])
        }
        checked.warnings = device.warnings + warnings
        return checked
    }

    /// Command topics that more than one device is commanded on (for `health`).
    var sharedCommandTopics: Int { table.withLock { $0.sharedCommandTopics } }
}

extension DeviceRegistry {
    /// A state message over `STATE_PAYLOAD_LIMIT`: counted when a device reads its topic, never applied, never
    /// logged in full (one log line per topic).
    func rejectOversized(_ message: MQTTMessage) {
        let device = table.withLock { $0.routes(for: message.topic).first?.deviceID }
        guard let device else {
            unmatched.add(1, ordering: .relaxed)
            return
        }
        oversized.add(1, ordering: .relaxed)
        if firstProblem("oversized \(message.topic)") {
            logger.warning(
                "ignoring a state message larger than STATE_PAYLOAD_LIMIT",
                metadata: [
                    "device.id": "\(device)", "mqtt.topic": "\(message.topic)", "mqtt.payload_bytes": "\(message.payload.count)",
                    "limit": "\(limits.statePayloadBytes)",
                ]
            )
        }
    }

    /// A template that failed on a message: counted by the caller, logged once per entity; the entity keeps its
    /// last value and the raw message stays in the device's log.
    func templateFailed(deviceID: String, entityKey: String, _ error: TemplateError) {
        guard firstProblem("template \(deviceID) \(entityKey)") else { return }
        logger.warning(
            "a template failed; the entity keeps its last value",
            metadata: ["device.id": "\(deviceID)", "entity.key": "\(entityKey)", "error": "\(error)"]
        )
    }

    /// True the first time `key` is seen (up to 10,000 keys, then the set starts again).
    private func firstProblem(_ key: String) -> Bool {
        loggedIngestProblems.withLock { logged in
            if logged.count >= 10_000 { logged.removeAll() }
            return logged.insert(key).inserted
        }
    }
}
