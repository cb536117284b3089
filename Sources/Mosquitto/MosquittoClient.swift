import CMosquitto
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An MQTT client backed by one libmosquitto handle, driven by a network thread of its own.
///
/// The thread connects, reconnects with exponential backoff (also after DNS and TLS failures, where
/// `mosquitto_loop_forever` would give up), falls back from MQTT 5 to 3.1.1 when the broker refuses 5, and restores
/// every subscription after each connect. Messages arrive on ``messages`` and connection changes on ``events``.
/// Call ``disconnect()`` to stop the thread; until then it keeps the client alive.
public final class MosquittoClient: Sendable {
    public let configuration: Configuration
    /// Incoming messages no other lane takes; iterate from one task.
    public let messages: MQTTMessages
    /// Every lane's queue: the configured lanes in order, then the default lane.
    let queues: [MessageQueue]
    /// Connection changes; iterate from one task (or not at all: the buffer keeps only the newest 64).
    public let events: MQTTConnectionEvents

    let logger: Logger
    let handle: Handle
    let eventContinuation: AsyncStream<MQTTConnectionEvent>.Continuation
    let state: Mutex<State>
    let counters = Counters()
    /// Signalled after every packet queued off the network thread (``serveConnection(_:)`` polls it).
    let wakeup: NetworkWakeup

    /// The `struct mosquitto *`. libmosquitto is thread-safe for publish/subscribe/disconnect after
    /// `mosquitto_threaded_set(true)`; everything else touches it only from the network thread.
    struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Lock-free counters read by `statistics`, written on the network thread.
    final class Counters: Sendable {
        let received = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        let published = Atomic<Int>(0)
    }

    /// - Parameters:
    ///   - configuration: where and how to connect.
    ///   - logger: the wrapper's own logger; C-callback threads do not see task-local loggers.
    public init(configuration: Configuration, logger: Logger) throws(MosquittoError) {
        MosquittoLibrary.ensureInitialized()
        self.configuration = configuration
        self.logger = logger
        // When a consumer falls behind, the oldest messages of its lane go: for device state the newest value matters.
        let lanes = configuration.messageLanes + [.default(limit: configuration.messageBufferLimit, byteLimit: configuration.messageBufferBytes)]
        self.queues = lanes.map(MessageQueue.init(lane:))
        let (eventStream, eventContinuation) = AsyncStream.makeStream(
            of: MQTTConnectionEvent.self,
            bufferingPolicy: .bufferingNewest(64)
        )
        self.messages = MQTTMessages(queue: queues[queues.count - 1])
        self.events = MQTTConnectionEvents(stream: eventStream)
        self.eventContinuation = eventContinuation
        self.state = Mutex(State(protocolVersion: configuration.protocolVersion))
        self.wakeup = try NetworkWakeup()

        guard let pointer = mosquitto_new(configuration.clientID, true, nil) else {
            throw MosquittoError(code: Int32(MOSQ_ERR_ERRNO.rawValue))
        }
        self.handle = Handle(pointer: pointer)
        // Userdata is set after init: `self` must be fully initialized before it can be passed as a pointer.
        mosquitto_user_data_set(pointer, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_threaded_set(pointer, true)
        installCallbacks()
        try applyConfiguration()
    }

    deinit {
        mosquitto_destroy(handle.pointer)
    }

    private func applyConfiguration() throws(MosquittoError) {
        let pointer = handle.pointer
        try check(
            mosquitto_int_option(
                pointer,
                MOSQ_OPT_PROTOCOL_VERSION,
                configuration.protocolVersion.libraryValue
            )
        )
        // Request/response traffic is small packets in both directions: Nagle plus delayed ACKs adds ~40 ms per hop.
        try check(mosquitto_int_option(pointer, MOSQ_OPT_TCP_NODELAY, 1))
        if configuration.username != nil || configuration.password != nil {
            try check(mosquitto_username_pw_set(pointer, configuration.username, configuration.password))
        }
        if let will = configuration.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set_v5(
                    pointer,
                    will.topic,
                    Int32(bytes.count),
                    bytes.baseAddress,
                    will.qos.rawValue,
                    will.retain,
                    nil
                )
            }
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                throw .invalidArgument("invalid last will on '\(will.topic)': \(MosquittoError(code: rc))")
            }
        }
        if let tls = configuration.tls {
            let caPath = tls.caFile == nil && tls.caPath == nil ? "/etc/ssl/certs" : tls.caPath
            for (name, path) in [("CA file", tls.caFile), ("certificate file", tls.certFile), ("key file", tls.keyFile)] {
                if let path, access(path, R_OK) != 0 {
                    throw .invalidArgument("TLS \(name) '\(path)' cannot be read: \(String(cString: strerror(errno)))")
                }
            }
            let rc = mosquitto_tls_set(pointer, tls.caFile, caPath, tls.certFile, tls.keyFile, nil)
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                throw .invalidArgument("TLS settings rejected by libmosquitto: \(MosquittoError(code: rc))")
            }
            try check(mosquitto_tls_insecure_set(pointer, tls.insecure))
        }
    }

    // MARK: - State

    enum Phase: Sendable {
        case idle, running, stopping, stopped
    }

    struct State: ~Copyable {
        var phase: Phase = .idle
        var connected = false
        var protocolVersion: MQTTProtocolVersion
        var fellBack = false
        var connectionCount = 0
        /// Restored after every connect; a dictionary so that 10,000 device topics cost O(1) each.
        var subscriptions: [String: QoS] = [:]
        /// Filter of each SUBSCRIBE in flight, to name it when the broker refuses it.
        var subscribeFilters: [Int32: String] = [:]
        /// Filters subscribed ahead of the queue, also at every reconnect (``subscribeWithoutWaiting(_:qos:paced:)``).
        var unpacedFilters: Set<String> = []
        /// SUBSCRIBE packets waiting for the one in flight (MosquittoClient+SubscribeQueue.swift).
        var subscribeQueue: [PendingSubscribe] = []
        /// The queue's SUBSCRIBE in flight: its message id and the entries it carries.
        var subscribeInFlight: (mid: Int32, entries: [InFlightEntry])?
        /// Queued or in-flight SUBSCRIBEs of exact topics, and who waits for none to be left.
        var exactSubscribesPending = 0
        var subscriptionWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextSubscribeKey: Int32 = -1
        /// Topic of each awaited PUBLISH in flight, to name it when the broker refuses it.
        var publishTopics: [Int32: String] = [:]
        var ackWaiters: [Int32: CheckedContinuation<Void, any Error>] = [:]
        /// Message ids of awaited operations sent and not yet waited for: only their acks are kept when they arrive
        /// first (the callback can win the race with the caller, and a caller may publish a lot before it waits).
        var expectedAcks: Set<Int32> = []
        /// Acks of `expectedAcks` that arrived before their waiter registered, with their result.
        var earlyAcks: [Int32: MosquittoError?] = [:]
        var connectWaiters: [UInt64: CheckedContinuation<MQTTConnectionInfo, any Error>] = [:]
        var nextWaiterID: UInt64 = 0
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// The last failure logged at warning level; a repeat is logged at debug so retries don't flood.
        var lastLoggedFailure: String?
        var failedAttempts = 0
        var lastError: MosquittoError?
        // Per connection attempt, set by callbacks and read by the network thread.
        var attemptAccepted = false
        var attemptRefusal: MosquittoError?
        var retryImmediately = false
    }

    // MARK: - Public surface

    /// Counters since the client was created.
    public struct Statistics: Sendable, Hashable {
        public var messagesReceived: Int
        /// Messages dropped because a lane's consumer fell more than its limit behind (all lanes).
        public var messagesDropped: Int
        /// The same, per lane name (`default` included).
        public var droppedByLane: [String: Int]
        public var messagesPublished: Int
        /// Accepted connections, the first included.
        public var connections: Int
        public var failedAttempts: Int
    }

    public var statistics: Statistics {
        let (connections, failed) = state.withLock { ($0.connectionCount, $0.failedAttempts) }
        return Statistics(
            messagesReceived: counters.received.load(ordering: .relaxed),
            messagesDropped: counters.dropped.load(ordering: .relaxed),
            droppedByLane: Dictionary(queues.map { ($0.lane.name, $0.dropped) }, uniquingKeysWith: +),
            messagesPublished: counters.published.load(ordering: .relaxed),
            connections: connections,
            failedAttempts: failed
        )
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    /// The number of the current connection (1 for the first accepted one), nil while disconnected: tells a
    /// publish made on this connection from one made on an earlier one.
    public var connection: Int? { state.withLock { $0.connected ? $0.connectionCount : nil } }

    /// The messages of the lane named `name` (one of `messageLanes`, or `default`), nil for an unknown name.
    public func messages(lane name: String) -> MQTTMessages? {
        queues.first { $0.lane.name == name }.map(MQTTMessages.init(queue:))
    }

    /// The protocol of the current (or next) connection.
    public var protocolVersion: MQTTProtocolVersion { state.withLock { $0.protocolVersion } }

    /// True once the broker refused MQTT 5 and the client switched to 3.1.1.
    public var fellBackToV311: Bool { state.withLock { $0.fellBack } }

    /// The most recent connection failure, cleared by a successful connect.
    public var lastError: MosquittoError? { state.withLock { $0.lastError } }

    /// Starts the network thread, which connects and keeps reconnecting. Returns at once.
    public func start() throws(MosquittoError) {
        let shouldStart = state.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard shouldStart else { return }
        try NetworkThread.start { self.runNetworkLoop() }
    }

    /// Starts the client if needed and waits for the broker to accept the connection.
    ///
    /// With `reconnect == false` the first failure is thrown; otherwise this waits through retries until the
    /// connection is up or the calling task is cancelled.
    @discardableResult
    public func connect() async throws -> MQTTConnectionInfo {
        try start()
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MQTTConnectionInfo, any Error>) in
                state.withLock { state in
                    if state.connected {
                        continuation.resume(returning: state.connectionInfo)
                    } else if state.phase == .stopped || state.phase == .stopping {
                        continuation.resume(throwing: state.lastError ?? MosquittoError.notConnected)
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        state.connectWaiters[id] = continuation
                    }
                }
            }
        } onCancel: {
            state.withLock { $0.connectWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Subscribes now if connected (waiting for the SUBACK), and after every future reconnect.
    public func subscribe(_ filter: String, qos: QoS = .atMostOnce) async throws {
        try await subscribe([filter], qos: qos)
    }

    /// Subscribes to many filters in few packets (200 filters each, one packet at a time), waiting for every SUBACK
    /// when connected; all of them are restored after every future reconnect.
    public func subscribe(_ filters: [String], qos: QoS = .atMostOnce) async throws {
        try await confirm(requestSubscription(filters, qos: qos))
    }

    /// Queues the SUBSCRIBE packets for `filters` (when connected) without waiting, and restores them after every
    /// future reconnect. They go one at a time, each when the broker has answered the last, so a broker holds about two
    /// packets' retained replay at most (MosquittoClient+SubscribeQueue.swift). Pass the receipt to
    /// ``confirm(_:)`` exactly once; a send that fails ends its wait with the error.
    public func requestSubscription(_ filters: [String], qos: QoS = .atMostOnce) -> SubscriptionReceipt {
        requestSubscription(filters, qos: qos, ahead: true)
    }

    /// `ahead`: queued before the entries nobody waits for (see ``State/queueSubscriptions(_:qos:expected:ahead:)``).
    func requestSubscription(_ filters: [String], qos: QoS, ahead: Bool) -> SubscriptionReceipt {
        guard !filters.isEmpty else { return SubscriptionReceipt(messageIDs: []) }
        let (keys, settled) = state.withLock { state -> ([Int32], Settled) in
            for filter in filters {
                state.subscriptions[filter] = qos
                state.unpacedFilters.remove(filter)
            }
            guard state.connected else { return ([], Settled()) }
            let keys = state.queueSubscriptions(filters, qos: qos, expected: true, ahead: ahead)
            return (keys, state.pumpSubscriptions(client: self))
        }
        settled.complete(on: self)
        return SubscriptionReceipt(messageIDs: keys)
    }

    /// Subscribes to `filters` now when connected and restores them after every reconnect, with nobody waiting for
    /// the SUBACKs (a refusal is logged): what is subscribed at every connect, and at start-up while the connection
    /// may already be up, where a wait would hold back what follows behind the broker's reply. `paced: false` sends
    /// them ahead of the queue, also at every reconnect: for the few filters that must be in place before what the
    /// caller publishes next (the daemon's RPC topic before its `online`), whose replays are small.
    public func subscribeWithoutWaiting(_ filters: [String], qos: QoS, paced: Bool) throws(MosquittoError) {
        guard !paced else {
            let receipt = requestSubscription(filters, qos: qos, ahead: false)
            state.withLock { state in for key in receipt.messageIDs { state.forgetAck(key) } }
            return
        }
        guard !filters.isEmpty else { return }
        try state.withLock { state throws(MosquittoError) in
            for filter in filters {
                state.subscriptions[filter] = qos
                state.unpacedFilters.insert(filter)
            }
            guard state.connected else { return }
            for chunk in Self.chunks(filters) {
                let mid = try sendSubscribe(filters: chunk, qos: qos)
                state.subscribeFilters[mid] = Self.describe(chunk)
            }
        }
    }

    /// Waits for the SUBACKs of a ``requestSubscription(_:qos:)``; throws the broker's refusal, a lost connection,
    /// or `CancellationError`.
    public func confirm(_ receipt: SubscriptionReceipt) async throws {
        for (position, mid) in receipt.messageIDs.enumerated() {
            do {
                try await awaitAck(mid)
            } catch {
                // The acks not waited for are no longer expected.
                state.withLock { state in
                    for mid in receipt.messageIDs[(position + 1)...] { state.forgetAck(mid) }
                }
                throw error
            }
        }
    }

    /// Stops restoring `filter` after reconnects and unsubscribes now if connected.
    public func unsubscribe(_ filter: String) throws(MosquittoError) {
        let connected = state.withLock { state -> Bool in
            state.subscriptions.removeValue(forKey: filter)
            state.unpacedFilters.remove(filter)
            return state.connected
        }
        guard connected else { return }
        var mid: Int32 = 0
        try check(mosquitto_unsubscribe_v5(handle.pointer, &mid, filter, nil))
        wakeup.signal()
    }

    /// Queues a message for sending and returns its message id. Properties are dropped on a 3.1.1 connection.
    @discardableResult
    public func publish(
        _ topic: String,
        payload: [UInt8],
        qos: QoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) throws(MosquittoError) -> Int32 {
        let version = state.withLock { $0.protocolVersion }
        let mid = try sendPublish(
            topic,
            payload: payload,
            qos: qos,
            retain: retain,
            properties: properties,
            protocolVersion: version
        )
        counters.published.add(1, ordering: .relaxed)
        return mid
    }

    /// Publishes and waits until the broker acknowledged it (QoS 1/2) or it was written to the socket (QoS 0).
    public func publishAndWait(
        _ topic: String,
        payload: [UInt8],
        qos: QoS = .atLeastOnce,
        retain: Bool = false,
        properties: MQTTProperties = MQTTProperties()
    ) async throws {
        let mid = try state.withLock { state throws(MosquittoError) -> Int32 in
            guard state.connected else { throw MosquittoError.notConnected }
            do throws(MosquittoError) {
                let mid = try sendPublish(
                    topic,
                    payload: payload,
                    qos: qos,
                    retain: retain,
                    properties: properties,
                    protocolVersion: state.protocolVersion
                )
                state.publishTopics[mid] = topic
                state.expectedAcks.insert(mid)
                return mid
            } catch {
                throw error
            }
        }
        counters.published.add(1, ordering: .relaxed)
        try await awaitAck(mid)
    }

    /// Sends DISCONNECT (so the broker does not publish the will), stops the network thread and waits for it.
    public func disconnect() async {
        let running = state.withLock { state -> Bool in
            switch state.phase {
            case .idle:
                state.phase = .stopped
                return false
            case .stopped:
                return false
            case .running, .stopping:
                state.phase = .stopping
                return true
            }
        }
        guard running else { return }
        _ = mosquitto_disconnect(handle.pointer)
        wakeup.signal()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.phase == .stopped { return true }
                state.stopWaiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Closes the socket without DISCONNECT, as a crash or network loss would; the broker then sends the will.
    @_spi(Testing) public func dropConnectionWithoutDisconnect() {
        let fd = mosquitto_socket(handle.pointer)
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
    }

    // MARK: - Internals shared with the callbacks and the network thread

    /// Sends one SUBSCRIBE for all `filters`; safe under `state`'s lock (libmosquitto only queues the packet).
    func sendSubscribe(filters: ArraySlice<String>, qos: QoS) throws(MosquittoError) -> Int32 {
        var mid: Int32 = 0
        let pointers: [UnsafeMutablePointer<CChar>?] = filters.map { strdup($0) }
        defer { for pointer in pointers { free(pointer) } }
        let rc = pointers.withUnsafeBufferPointer { buffer in
            mosquitto_subscribe_multiple(handle.pointer, &mid, Int32(buffer.count), buffer.baseAddress, qos.rawValue, 0, nil)
        }
        try check(rc)
        wakeup.signal()
        return mid
    }

    private func sendPublish(
        _ topic: String,
        payload: [UInt8],
        qos: QoS,
        retain: Bool,
        properties: MQTTProperties,
        protocolVersion: MQTTProtocolVersion
    ) throws(MosquittoError) -> Int32 {
        var list: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&list) }
        if !properties.isEmpty && protocolVersion == .v5 {
            try Self.build(properties, into: &list)
        }
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish_v5(
                handle.pointer,
                &mid,
                topic,
                Int32(bytes.count),
                bytes.baseAddress,
                qos.rawValue,
                retain,
                list
            )
        }
        try check(rc)
        wakeup.signal()
        return mid
    }

    private static func build(_ properties: MQTTProperties, into list: inout OpaquePointer?) throws(MosquittoError) {
        if let topic = properties.responseTopic {
            try check(mosquitto_property_add_string(&list, Int32(MQTT_PROP_RESPONSE_TOPIC.rawValue), topic))
        }
        if let data = properties.correlationData {
            guard data.count <= Int(UInt16.max) else {
                throw .invalidArgument("correlation data is \(data.count) bytes; MQTT allows at most 65535")
            }
            let rc = data.withUnsafeBytes { bytes in
                mosquitto_property_add_binary(
                    &list,
                    Int32(MQTT_PROP_CORRELATION_DATA.rawValue),
                    bytes.baseAddress,
                    UInt16(bytes.count)
                )
            }
            try check(rc)
        }
        if let contentType = properties.contentType {
            try check(mosquitto_property_add_string(&list, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), contentType))
        }
        for pair in properties.userProperties {
            try check(
                mosquitto_property_add_string_pair(&list, Int32(MQTT_PROP_USER_PROPERTY.rawValue), pair.name, pair.value)
            )
        }
        if let expiry = properties.messageExpiryInterval {
            try check(mosquitto_property_add_int32(&list, Int32(MQTT_PROP_MESSAGE_EXPIRY_INTERVAL.rawValue), expiry))
        }
    }

    /// Waits for the ack of `mid`, which the caller put in `expectedAcks` when it sent it.
    private func awaitAck(_ mid: Int32) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { state in
                    state.expectedAcks.remove(mid)
                    if let early = state.earlyAcks.removeValue(forKey: mid) {
                        if let error = early { continuation.resume(throwing: error) } else { continuation.resume() }
                    } else if Task.isCancelled {
                        // Checked under the lock: a cancellation that ran before the waiter was registered found
                        // nothing to resume, so it is honoured here instead of waiting for an ack forever.
                        continuation.resume(throwing: CancellationError())
                    } else if !state.connected {
                        continuation.resume(throwing: MosquittoError.connectionLost)
                    } else {
                        state.ackWaiters[mid] = continuation
                    }
                }
            }
        } onCancel: {
            state.withLock { $0.ackWaiters.removeValue(forKey: mid) }?.resume(throwing: CancellationError())
        }
    }

    /// Called by the ack callbacks: resume the waiter, or remember the result if the waiter is not there yet.
    func completeAck(_ mid: Int32, _ result: MosquittoError?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiter = state.ackWaiters.removeValue(forKey: mid) { return waiter }
            if state.expectedAcks.contains(mid) { state.earlyAcks[mid] = .some(result) }
            return nil
        }
        if let error = result { waiter?.resume(throwing: error) } else { waiter?.resume() }
    }

    /// Logs a failure at warning level the first time, at debug level while it repeats.
    func logFailure(_ message: String, metadata: Logger.Metadata = [:]) {
        let repeated = state.withLock { state -> Bool in
            defer { state.lastLoggedFailure = message }
            return state.lastLoggedFailure == message
        }
        var metadata = metadata
        metadata["mqtt.broker"] = "\(configuration.host):\(configuration.port)"
        if repeated {
            logger.debug("\(message)", metadata: metadata)
        } else {
            logger.warning("\(message)", metadata: metadata)
        }
    }
}

extension MosquittoClient.State {
    /// Stops expecting the ack of `mid` (its wait will not happen).
    mutating func forgetAck(_ mid: Int32) {
        expectedAcks.remove(mid)
        earlyAcks.removeValue(forKey: mid)
    }

    var connectionInfo: MQTTConnectionInfo {
        MQTTConnectionInfo(protocolVersion: protocolVersion, fellBackFromV5: fellBack, reconnectCount: connectionCount - 1)
    }
}

/// Turns a `MOSQ_ERR_*` return code into a thrown ``MosquittoError``.
@inline(__always)
func check(_ rc: Int32) throws(MosquittoError) {
    if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) { throw MosquittoError(code: rc) }
}
