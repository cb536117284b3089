import Logging
import Mosquitto
import ServiceLifecycle
import Synchronization

/// The daemon's connection to the broker, as a Service: presence on `<base>/status` and a clean goodbye.
///
/// The last will is a retained `{"state":"offline"}`; after every (re)connect the link publishes the retained
/// online document. On graceful shutdown — after every later service has stopped — it publishes offline itself
/// (QoS 1, waiting for the PUBACK), then disconnects.
public final class BrokerLink: Service, Sendable {
    public let client: MosquittoClient
    public let topics: Topics
    /// True when the daemon started the broker it talks to.
    public let embeddedBroker: Bool
    public let startedAt: String
    let logger: Logger
    private let connectHooks = Mutex<[@Sendable () -> Void]>([])
    private let onlineHooks = Mutex<[@Sendable () -> Void]>([])
    /// Shown on `<base>/status` while set: the store's last write error.
    private let storeError = Mutex<String?>(nil)

    public static let offlinePayload: JSONValue = ["state": "offline"]
    /// How long `online` waits for its PUBACK before the link carries on without it.
    let onlineAcknowledgementTimeout: Duration

    public init(
        configuration: MosquittoClient.Configuration,
        topics: Topics,
        embeddedBroker: Bool,
        onlineAcknowledgementTimeout: Duration = .seconds(10),
        logger: Logger
    ) throws(MosquittoError) {
        self.onlineAcknowledgementTimeout = onlineAcknowledgementTimeout
        var configuration = configuration
        configuration.will = .init(topic: topics.status, payload: Self.offlinePayload.jsonBytes, qos: .atLeastOnce, retain: true)
        self.client = try MosquittoClient(configuration: configuration, logger: logger)
        self.topics = topics
        self.embeddedBroker = embeddedBroker
        self.startedAt = Timestamp.now()
        self.logger = logger
    }

    /// Runs `hook` after every (re)connect, before `online` is published: for republishing retained topics, so a
    /// consumer that sees `online` can rely on everything else being there.
    public func beforeOnline(_ hook: @escaping @Sendable () -> Void) {
        connectHooks.withLock { $0.append(hook) }
    }

    /// Runs `hook` after every `online` publish (systemd's READY=1 waits for the first).
    public func afterOnline(_ hook: @escaping @Sendable () -> Void) {
        onlineHooks.withLock { $0.append(hook) }
    }

    /// The retained document on `<base>/status` while the daemon runs.
    public func onlinePayload(protocolVersion: MQTTProtocolVersion) -> JSONValue {
        var object: JSONObject = [
            "state": "online",
            "version": .string(MQTTHomeVersion.current),
            "started_at": .string(startedAt),
            "protocol": .string(protocolVersion.rawValue),
        ]
        if let error = storeError.withLock({ $0 }) { object["store_error"] = .string(error) }
        return .object(object)
    }

    /// Records the store's error (nil: writes work again) and republishes the status so every consumer sees it.
    public func setStoreError(_ error: String?) {
        let changed = storeError.withLock { current -> Bool in
            defer { current = error }
            return current != error
        }
        guard changed, client.isConnected else { return }
        do {
            try publishOnline(protocolVersion: client.protocolVersion)
        } catch {
            logger.warning("cannot republish the status", metadata: ["error": "\(error)"])
        }
    }

    private func publishOnline(protocolVersion: MQTTProtocolVersion) throws(MosquittoError) {
        try client.publish(
            topics.status,
            payload: onlinePayload(protocolVersion: protocolVersion).jsonBytes,
            qos: .atLeastOnce,
            retain: true
        )
    }

    public func run() async throws {
        try client.start()
        for await event in client.events.cancelOnGracefulShutdown() {
            guard case .connected(let info) = event else { continue }
            for hook in connectHooks.withLock({ $0 }) { hook() }
            do {
                // Acknowledged before the hooks run: what follows `online` (systemd's READY=1, 10,000 Home Assistant
                // configs to build) does not compete for the CPU with sending the republished topics before it. The
                // wait is bounded and ends with a shutdown: a broker that never acknowledges (mosquitto 2.0.11 lost
                // that PUBACK under a large in-flight window) must neither keep the daemon from serving nor from
                // stopping. Sent on a live connection, `online` reaches the broker before anything queued after it.
                let client = client
                let payload = onlinePayload(protocolVersion: info.protocolVersion).jsonBytes
                let status = topics.status
                let wait = onlineAcknowledgementTimeout
                try await cancelWhenGracefulShutdown {
                    // First every device topic subscribed (the client sends them one packet at a time), so a device
                    // publishing as soon as it sees `online` is heard.
                    let inPlace = (try? await withTimeout(wait, operation: { await client.subscriptionsInPlace() })) != nil
                    try Task.checkCancellation()
                    if !inPlace {
                        self.logger.warning("device subscriptions not all acknowledged within \(wait); publishing online")
                    }
                    do {
                        try await withTimeout(wait) {
                            try await client.publishAndWait(status, payload: payload, qos: .atLeastOnce, retain: true)
                        }
                    } catch is TimeoutError {
                        self.logger.warning(
                            "the broker did not acknowledge the online status within \(wait); carrying on",
                            metadata: ["mqtt.topic": "\(status)"]
                        )
                    }
                }
                if Task.isShuttingDownGracefully { break }
                logger.info(
                    "online",
                    metadata: ["mqtt.topic": "\(topics.status)", "mqtt.protocol": "\(info.protocolVersion.rawValue)"]
                )
                for hook in onlineHooks.withLock({ $0 }) { hook() }
            } catch {
                if Task.isShuttingDownGracefully { break }
                logger.error("cannot publish online status", metadata: ["error": "\(error)"])
            }
        }
        await goOffline()
    }

    private func goOffline() async {
        if client.isConnected {
            let client = client
            let status = topics.status
            do {
                try await withTimeout(.seconds(3)) {
                    try await client.publishAndWait(status, payload: Self.offlinePayload.jsonBytes, qos: .atLeastOnce, retain: true)
                }
                logger.info("offline", metadata: ["mqtt.topic": "\(status)"])
            } catch {
                logger.warning("could not confirm the offline status; the broker's will covers it", metadata: ["error": "\(error)"])
            }
        }
        await client.disconnect()
    }
}
