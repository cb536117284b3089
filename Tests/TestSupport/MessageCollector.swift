import Logging
import MQTTHome
import Mosquitto
import Synchronization

/// A test-side MQTT client that records everything it receives and waits for a matching message.
public final class MessageCollector: Sendable {
    public let client: MosquittoClient
    private let store = Store()

    private final class Store: Sendable {
        let messages = Mutex<[MQTTMessage]>([])
    }
    private let reader = Mutex<Task<Void, Never>?>(nil)

    public static func connect(
        port: Int,
        subscribeTo filters: [String],
        protocolVersion: MQTTProtocolVersion = .v5,
        username: String? = nil,
        password: String? = nil,
        qos: QoS = .atLeastOnce
    ) async throws -> MessageCollector {
        let collector = try MessageCollector(
            client: MosquittoClient(
                configuration: .init(
                    host: "127.0.0.1",
                    port: port,
                    clientID: RPCClient.uniqueClientID(prefix: "test-collector"),
                    username: username,
                    password: password,
                    protocolVersion: protocolVersion,
                    reconnect: false
                ),
                logger: Logger(label: "test-collector")
            )
        )
        try await collector.client.connect()
        for filter in filters { try await collector.client.subscribe(filter, qos: qos) }
        return collector
    }

    init(client: MosquittoClient) {
        self.client = client
        let messages = client.messages
        let task = Task { [store] in
            for await message in messages { store.messages.withLock { $0.append(message) } }
        }
        reader.withLock { $0 = task }
    }

    public var messages: [MQTTMessage] { store.messages.withLock { $0 } }

    /// The first message received (so far or within `timeout` seconds) on `topic` that satisfies `predicate`.
    public func waitFor(
        topic: String,
        timeout: Double = 5,
        where predicate: @Sendable (MQTTMessage) -> Bool = { _ in true }
    ) async -> MQTTMessage? {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int64(timeout * 1000))
        while clock.now < deadline {
            if let match = store.messages.withLock({ $0.first { $0.topic == topic && predicate($0) } }) { return match }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Forgets what was received, so the next `waitFor` sees only new messages.
    public func clear() { store.messages.withLock { $0.removeAll() } }

    public func close() async {
        await client.disconnect()
        await reader.withLock { $0 }?.value
    }
}

extension MQTTMessage {
    /// The payload as JSON, or nil.
    public var json: JSONValue? { try? JSONParser.parse(payload) }
}
