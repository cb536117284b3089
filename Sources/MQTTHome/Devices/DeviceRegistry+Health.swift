import Synchronization

/// The registry's counters as `health` and `dashboard` report them (every field is in topics.md).
extension DeviceRegistry {
    /// Ingest counters shared by `health` and `dashboard`: what arrived, what was persisted, what was dropped.
    func ingestStatistics(writer: StoreWriter) -> JSONValue {
        let store = writer.statistics
        let ingest = statistics
        let publishing = publisher.statistics
        return [
            "messages_matched": JSONValue(ingest.matched),
            "messages_unmatched": JSONValue(ingest.unmatched),
            "store_rows_enqueued": JSONValue(store.enqueued),
            "store_log_rows_persisted": JSONValue(store.persisted),
            "store_rows_dropped": JSONValue(store.dropped),
            "store_rows_queued": JSONValue(store.queued),
            "store_flushes": JSONValue(store.flushes),
            "store_failed_flushes": JSONValue(store.failedFlushes),
            "store_error": JSONValue(store.lastError),
            "state_publishes_requested": JSONValue(publishing.requested),
            "state_publishes_sent": JSONValue(publishing.published),
            "busiest_devices": busiestDevices(),
            "oversized": JSONValue(oversized.load(ordering: .relaxed)),
            "state_payload_limit": JSONValue(limits.statePayloadBytes),
            "state_keys_dropped": JSONValue(stateKeysDropped.load(ordering: .relaxed)),
            "unsubscribe_failures": JSONValue(unsubscribeFailures.load(ordering: .relaxed)),
        ]
    }

    /// Counters for `health`.
    func discoveryStatistics() -> JSONValue {
        let (devices, entities) = table.withLock { table in
            (table.behaviors.count, table.behaviors.values.reduce(0) { $0 + $1.count })
        }
        return [
            "prefix": .string(discoveryPrefix),
            "configs_received": JSONValue(discoveryCounters.configs.load(ordering: .relaxed)),
            "invalid_configs": JSONValue(discoveryCounters.invalid.load(ordering: .relaxed)),
            "unknown_platforms": .object(JSONObject(discoveryCounters.unknownPlatforms.withLock { $0 }.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })),
            "removals": JSONValue(discoveryCounters.removals.load(ordering: .relaxed)),
            "devices": JSONValue(devices),
            "entities": JSONValue(entities),
            "template_errors": JSONValue(discoveryCounters.templateErrors.load(ordering: .relaxed)),
            "max_entities": JSONValue(limits.discoveryMaxEntities),
            "refused_over_limit": JSONValue(discoveryCounters.overLimit.load(ordering: .relaxed)),
            "shared_command_topics": JSONValue(sharedCommandTopics),
        ]
    }
}
