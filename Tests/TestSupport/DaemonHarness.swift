import Logging
import MQTTHome
import Mosquitto

/// A real broker plus a real `mqtt-homed` connected to it: the setting of most integration tests.
public struct DaemonHarness: Sendable {
    public let broker: TestBroker
    public let daemon: BackgroundProcess
    public let status: MessageCollector

    public static let statusTopic = "mqtt-home/status"

    /// Starts a broker, then the daemon against it, and waits (up to 10 s) for its retained `online`.
    public static func start(
        environment: [String: String] = [:],
        broker existing: TestBroker? = nil,
        directory: TemporaryDirectory? = nil
    ) async throws -> DaemonHarness {
        let broker: TestBroker
        if let existing { broker = existing } else { broker = try await TestBroker.start() }
        let status = try await MessageCollector.connect(port: broker.port, subscribeTo: [statusTopic])
        let daemon = try BackgroundProcess.daemon(
            environment: ["MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(broker.port), "LOG_LEVEL": "debug"]
                .merging(environment) { $1 },
            directory: directory
        )
        let harness = DaemonHarness(broker: broker, daemon: daemon, status: status)
        guard await harness.waitForStatus("online") != nil else {
            let log = daemon.log
            await harness.shutdown()
            throw HarnessError(description: "mqtt-homed did not publish online within 10 s; its log:\n\(log)")
        }
        return harness
    }

    /// The next status message with `state` (retained or live), or nil after `timeout` seconds.
    public func waitForStatus(_ state: String, timeout: Double = 10) async -> MQTTMessage? {
        await status.waitFor(topic: Self.statusTopic, timeout: timeout) { $0.json?["state"] == .string(state) }
    }

    /// An RPC client on the same broker.
    public func rpcClient(protocolVersion: MQTTProtocolVersion = .v5) async throws -> RPCClient {
        let client = try RPCClient(
            configuration: .init(
                host: "127.0.0.1",
                port: broker.port,
                clientID: RPCClient.uniqueClientID(prefix: "test-rpc"),
                protocolVersion: protocolVersion,
                allowFallbackToV311: false,
                reconnect: false
            ),
            topics: Topics(base: "mqtt-home"),
            logger: .init(label: "test-rpc")
        )
        try await client.connect()
        return client
    }

    /// Calls `method` and returns its result, failing the test with the daemon's error otherwise.
    public func call(_ method: String, _ params: JSONObject = JSONObject()) async throws -> JSONValue {
        let rpc = try await rpcClient()
        do {
            let result = try await rpc.result(method, params: params)
            await rpc.close()
            return result
        } catch {
            await rpc.close()
            throw error
        }
    }

    /// Calls `method` and returns the error reply's code and message (nil when it succeeded).
    public func callError(_ method: String, _ params: JSONObject) async throws -> RPCError? {
        do {
            _ = try await call(method, params)
            return nil
        } catch let error as RPCError {
            return error
        }
    }

    public func shutdown() async {
        await daemon.shutdown()
        await status.close()
        await broker.shutdown()
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
