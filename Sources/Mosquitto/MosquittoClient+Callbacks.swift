import CMosquitto
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// Callbacks run on the network thread. They are non-capturing closure literals in a nonisolated type, so they
// never inherit main-actor isolation, and they recover the client from libmosquitto's userdata pointer.
extension MosquittoClient {
    static func from(_ userdata: UnsafeMutableRawPointer?) -> MosquittoClient {
        Unmanaged<MosquittoClient>.fromOpaque(userdata!).takeUnretainedValue()
    }

    func installCallbacks() {
        let pointer = handle.pointer
        mosquitto_connect_v5_callback_set(pointer) { _, userdata, reasonCode, _, _ in
            MosquittoClient.from(userdata).handleConnack(reasonCode: reasonCode)
        }
        mosquitto_disconnect_v5_callback_set(pointer) { _, userdata, reasonCode, _ in
            MosquittoClient.from(userdata).handleDisconnect(reasonCode: reasonCode)
        }
        mosquitto_message_v5_callback_set(pointer) { _, userdata, message, properties in
            guard let message else { return }
            MosquittoClient.from(userdata).handleMessage(message.pointee, properties: properties)
        }
        mosquitto_subscribe_v5_callback_set(pointer) { _, userdata, mid, count, grantedQoS, _ in
            let granted = (0..<Int(count)).map { grantedQoS![$0] }
            MosquittoClient.from(userdata).handleSuback(mid: mid, granted: granted)
        }
        mosquitto_publish_v5_callback_set(pointer) { _, userdata, mid, reasonCode, _ in
            MosquittoClient.from(userdata).handlePublishAck(mid: mid, reasonCode: reasonCode)
        }
    }

    // MARK: - Connection

    private func handleConnack(reasonCode: Int32) {
        if reasonCode == 0 {
            handleAccepted()
            return
        }
        let version = state.withLock { $0.protocolVersion }
        let protocolRefused = reasonCode == 1 || reasonCode == Int32(MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION.rawValue)
        if version == .v5 && protocolRefused && configuration.allowFallbackToV311 {
            state.withLock { state in
                state.protocolVersion = .v311
                state.fellBack = true
                state.retryImmediately = true
            }
            _ = mosquitto_int_option(handle.pointer, MOSQ_OPT_PROTOCOL_VERSION, MQTTProtocolVersion.v311.libraryValue)
            logger.warning(
                "broker refused MQTT 5; falling back to MQTT 3.1.1 (no response topics or correlation data)",
                metadata: ["mqtt.broker": "\(configuration.host):\(configuration.port)"]
            )
            return
        }
        let error = MosquittoError.refused(reasonCode: reasonCode, protocolVersion: version)
        state.withLock { $0.attemptRefusal = error }
    }

    private func handleAccepted() {
        var settled = Settled()
        let (info, waiters, hadFailures) = state.withLock {
            state -> (MQTTConnectionInfo, [CheckedContinuation<MQTTConnectionInfo, any Error>], Int) in
            state.connected = true
            state.attemptAccepted = true
            state.connectionCount += 1
            let failures = state.failedAttempts
            state.lastError = nil
            state.lastLoggedFailure = nil
            // Restore every subscription, grouped by QoS, many filters per packet; SUBACKs are checked in handleSuback.
            // The unpaced ones first and at once, the rest through the queue, one packet at a time, exact topics before
            // wildcard filters, whose replays have no bound. Nothing left from an earlier connection can be answered
            // on this one: the queue starts empty even if that connection ended without a disconnect callback.
            settled.waiters = state.clearSubscribeQueue()
            let byQoS = Dictionary(grouping: state.subscriptions.keys) { state.subscriptions[$0]! }
            var wildcards: [(QoS, [String])] = []
            for (qos, filters) in byQoS.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                let unpaced = filters.filter { state.unpacedFilters.contains($0) }.sorted()
                for chunk in Self.chunks(unpaced) {
                    do {
                        let mid = try sendSubscribe(filters: chunk, qos: qos)
                        state.subscribeFilters[mid] = Self.describe(chunk)
                    } catch {
                        logger.warning(
                            "cannot restore subscriptions",
                            metadata: ["mqtt.filter": "\(Self.describe(chunk))", "error": "\(error)"]
                        )
                    }
                }
                let paced = filters.filter { !state.unpacedFilters.contains($0) }.sorted()
                _ = state.queueSubscriptions(paced.filter(Self.isExact), qos: qos, expected: false, ahead: false)
                wildcards.append((qos, paced.filter { !Self.isExact($0) }))
            }
            for (qos, filters) in wildcards { _ = state.queueSubscriptions(filters, qos: qos, expected: false, ahead: false) }
            let first = state.pumpSubscriptions(client: self)
            settled.keys = first.keys
            settled.waiters += first.waiters
            let waiters = Array(state.connectWaiters.values)
            state.connectWaiters.removeAll()
            return (state.connectionInfo, waiters, failures)
        }
        logger.info(
            "connected to broker",
            metadata: [
                "mqtt.broker": "\(configuration.host):\(configuration.port)",
                "mqtt.protocol": "\(info.protocolVersion.rawValue)",
                "mqtt.reconnects": "\(info.reconnectCount)",
                "mqtt.failed_attempts": "\(hadFailures)",
            ]
        )
        settled.complete(on: self)
        eventContinuation.yield(.connected(info))
        for waiter in waiters { waiter.resume(returning: info) }
    }

    private func handleDisconnect(reasonCode: Int32) {
        var queueWaiters: [CheckedContinuation<Void, Never>] = []
        let (wasConnected, stopping, waiters) = state.withLock {
            state -> (Bool, Bool, [CheckedContinuation<Void, any Error>]) in
            let wasConnected = state.connected
            state.connected = false
            let waiters = Array(state.ackWaiters.values)
            state.ackWaiters.removeAll()
            // Acks sent but not yet waited for will never come on this connection: their waits end with the loss,
            // also if a reconnect happens first.
            for mid in state.expectedAcks { state.earlyAcks[mid] = .some(.connectionLost) }
            state.expectedAcks.removeAll()
            state.subscribeFilters.removeAll()
            queueWaiters = state.clearSubscribeQueue()
            state.publishTopics.removeAll()
            return (wasConnected, state.phase == .stopping, waiters)
        }
        for waiter in waiters { waiter.resume(throwing: MosquittoError.connectionLost) }
        for waiter in queueWaiters { waiter.resume() }
        guard wasConnected else { return }
        let reason = Self.disconnectReason(reasonCode)
        if stopping && reasonCode == 0 {
            logger.info("disconnected from broker", metadata: ["mqtt.broker": "\(configuration.host):\(configuration.port)"])
        } else {
            logFailure("connection to broker lost: \(reason)")
        }
        eventContinuation.yield(.disconnected(reason: reason))
    }

    /// libmosquitto passes a `MOSQ_ERR_*` for local causes and an MQTT 5 reason code (≥ 0x80) from the broker.
    static func disconnectReason(_ code: Int32) -> String {
        if code == 0 { return "client disconnected" }
        if code >= 0x80 { return "broker sent DISCONNECT: \(MosquittoError.reasonText(code))" }
        return MosquittoError(code: code).description
    }

    // MARK: - Messages and acks

    private func handleMessage(_ message: mosquitto_message, properties: OpaquePointer?) {
        let topic = String(cString: message.topic)
        let payload: [UInt8]
        if let bytes = message.payload, message.payloadlen > 0 {
            payload = Array(UnsafeRawBufferPointer(start: bytes, count: Int(message.payloadlen)))
        } else {
            payload = []
        }
        let copied = MQTTMessage(
            topic: topic,
            payload: payload,
            qos: QoS(rawValue: message.qos) ?? .atMostOnce,
            retain: message.retain,
            properties: properties.map(Self.readProperties) ?? MQTTProperties()
        )
        counters.received.add(1, ordering: .relaxed)
        let queue = queues.first { $0.lane.matches(topic) } ?? queues[queues.count - 1]
        let pushedOut = queue.push(copied)
        if pushedOut > 0 {
            let dropped = counters.dropped.add(pushedOut, ordering: .relaxed).newValue
            // Log the first drop and then every 1000th, so a flood is visible without flooding the log.
            if dropped == pushedOut || dropped / 1000 != (dropped - pushedOut) / 1000 {
                logger.warning(
                    "message queue full; dropping the oldest unprocessed messages",
                    metadata: [
                        "mqtt.lane": "\(queue.lane.name)", "mqtt.dropped": "\(dropped)", "mqtt.lane_limit": "\(queue.lane.limit)",
                        "mqtt.lane_bytes": "\(queue.lane.byteLimit)",
                    ]
                )
            }
        }
    }

    /// Copies the properties mqtt-home uses; libmosquitto hands back malloc'd copies that must be freed.
    static func readProperties(_ list: OpaquePointer) -> MQTTProperties {
        var result = MQTTProperties()
        var text: UnsafeMutablePointer<CChar>? = nil
        if mosquitto_property_read_string(list, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), &text, false) != nil,
            let value = text
        {
            result.responseTopic = String(cString: value)
            free(value)
        }
        text = nil
        if mosquitto_property_read_string(list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), &text, false) != nil,
            let value = text
        {
            result.contentType = String(cString: value)
            free(value)
        }
        var binary: UnsafeMutableRawPointer? = nil
        var length: UInt16 = 0
        if mosquitto_property_read_binary(list, Int32(MQTT_PROP_CORRELATION_DATA.rawValue), &binary, &length, false)
            != nil
        {
            if let binary {
                result.correlationData = Array(UnsafeRawBufferPointer(start: binary, count: Int(length)))
                free(binary)
            } else {
                result.correlationData = []
            }
        }
        var expiry: UInt32 = 0
        if mosquitto_property_read_int32(list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), &expiry, false) != nil {
            result.messageExpiryInterval = expiry
        }
        var name: UnsafeMutablePointer<CChar>? = nil
        var value: UnsafeMutablePointer<CChar>? = nil
        var cursor = mosquitto_property_read_string_pair(list, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, false)
        while cursor != nil {
            if let name, let value {
                result.userProperties.append(.init(name: String(cString: name), value: String(cString: value)))
            }
            free(name)
            free(value)
            name = nil
            value = nil
            cursor = mosquitto_property_read_string_pair(cursor, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, true)
        }
        return result
    }

    private func handleSuback(mid: Int32, granted: [Int32]) {
        // The queue's packet answered: the next one goes now. Each entry it carried gets its own share of the codes.
        let (filter, entries, settled) = state.withLock { state -> (String, [InFlightEntry], Settled) in
            let filter = state.subscribeFilters.removeValue(forKey: mid) ?? "?"
            guard let inFlight = state.subscribeInFlight, inFlight.mid == mid else { return (filter, [], Settled()) }
            state.subscribeInFlight = nil
            var settled = Settled()
            settled.waiters = state.finishSubscribes(exact: inFlight.entries.count { $0.exact })
            let next = state.pumpSubscriptions(client: self)
            settled.keys = next.keys
            settled.waiters += next.waiters
            return (filter, inFlight.entries, settled)
        }
        func result(_ codes: ArraySlice<Int32>, naming filter: String) -> MosquittoError? {
            guard let refused = codes.first(where: { $0 >= 0x80 }) else { return nil }
            let error = MosquittoError.subscriptionRefused(filter: filter, reasonCode: refused, message: MosquittoError.reasonText(refused))
            logFailure(error.description)
            return error
        }
        if entries.isEmpty {
            completeAck(mid, result(granted[...], naming: filter))
        } else {
            var start = 0
            for entry in entries {
                let end = min(start + entry.count, granted.count)
                completeAck(entry.key, result(granted[min(start, end)..<end], naming: entry.filter))
                start = end
            }
        }
        settled.complete(on: self)
    }

    private func handlePublishAck(mid: Int32, reasonCode: Int32) {
        // Only awaited publishes have a topic recorded; fire-and-forget ones (most replies) skip the lookup cost.
        let topic = state.withLock { $0.publishTopics.isEmpty ? nil : $0.publishTopics.removeValue(forKey: mid) }
        guard reasonCode >= 0x80 else {
            completeAck(mid, nil)
            return
        }
        let error = MosquittoError.publishRefused(
            topic: topic ?? "?",
            reasonCode: reasonCode,
            message: MosquittoError.reasonText(reasonCode)
        )
        logger.warning("\(error.description)")
        completeAck(mid, error)
    }
}
