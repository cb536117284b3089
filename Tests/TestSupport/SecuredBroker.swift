import Foundation
import Logging
import MQTTHome
import Mosquitto

/// A real mosquitto with `password_file` and `acl_file` set up as the README's "Security model" recipe says, plus
/// mqtt-homed connected to it as its own user: the setting of every test of what a caller may not do.
public struct SecuredBroker: Sendable {
    public static let users = [
        "homed": "daemon-pass", "viewer": "viewer-pass", "operator": "operator-pass", "sensor": "sensor-pass",
        "discovery": "discovery-pass", "homeassistant": "homeassistant-pass",
    ]

    /// The README's mosquitto ACL, verbatim (the README shows the same text).
    public static let acl = """
        # Anonymous clients: presence only.
        topic read mqtt-home/status

        # The daemon: every device topic (state in, commands out), its own tree, mosquitto's $SYS, HA discovery.
        user homed
        topic readwrite #
        topic read $SYS/broker/#

        # Read-only: browse devices and sensors, nothing that changes anything.
        user viewer
        topic read mqtt-home/status
        topic read mqtt-home/devices/#
        topic read mqtt-home/broker/#
        topic read mqtt-home/events
        topic write mqtt-home/rpc/health
        topic write mqtt-home/rpc/rpc/methods
        topic write mqtt-home/rpc/devices/list
        topic write mqtt-home/rpc/devices/get
        topic write mqtt-home/rpc/devices/logs
        topic write mqtt-home/rpc/sensors/read
        topic write mqtt-home/rpc/sensors/history
        topic write mqtt-home/rpc/dashboard
        topic write mqtt-home/rpc/broker/status

        # Operator: every method, and commands on the set topic.
        user operator
        topic read mqtt-home/#
        topic write mqtt-home/rpc/#
        topic write mqtt-home/devices/+/set

        # Home Assistant: discovery both ways, mqtt-home's devices (commanded through the set topic), its own birth,
        # and the Zigbee2MQTT devices it reads and commands directly.
        user homeassistant
        topic read homeassistant/#
        topic write homeassistant/status
        topic read mqtt-home/status
        topic read mqtt-home/devices/#
        topic write mqtt-home/devices/+/set
        topic readwrite zigbee2mqtt/#

        # A device that only publishes its own state.
        user sensor
        topic write zigbee2mqtt/#

        # A bridge that announces devices through Home Assistant discovery (Zigbee2MQTT, Tasmota, ESPHome).
        user discovery
        topic readwrite homeassistant/#
        topic write zigbee2mqtt/#

        # Everyone gets answers only on the reply subtree named after their client id (what mqtt-home and
        # mosquitto_rr use), and the daemon answers nowhere else.
        pattern read mqtt-home/reply/%c/#
        """

    public let broker: TestBroker
    public let directory: TemporaryDirectory

    public static func start() async throws -> SecuredBroker {
        let directory = try TemporaryDirectory(prefix: "secured")
        var lines = users.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: "\n")
        lines += "\n"
        try lines.write(toFile: directory.path + "/passwd", atomically: true, encoding: .utf8)
        let hashed = try await ProcessRunner.run("/usr/bin/mosquitto_passwd", ["-U", directory.path + "/passwd"])
        guard hashed.exitCode == 0 else { throw HarnessError(description: "mosquitto_passwd -U: \(hashed.standardError)") }
        try acl.write(toFile: directory.path + "/acl", atomically: true, encoding: .utf8)
        let broker = try await TestBroker.start(extraConfiguration: ["password_file \(directory.path)/passwd", "acl_file \(directory.path)/acl"])
        return SecuredBroker(broker: broker, directory: directory)
    }

    /// mqtt-homed on this broker as the `homed` user.
    public func daemon(environment: [String: String] = [:]) async throws -> DaemonHarness {
        try await DaemonHarness.start(environment: ["MQTT_USERNAME": "homed", "MQTT_PASSWORD": "daemon-pass"].merging(environment) { $1 }, broker: broker)
    }

    /// An RPC client logged in as `user`.
    public func rpc(_ user: String) async throws -> RPCClient {
        let client = try RPCClient(
            configuration: .init(
                host: "127.0.0.1", port: broker.port, clientID: RPCClient.uniqueClientID(prefix: user),
                username: user, password: Self.users[user], reconnect: false
            ),
            topics: Topics(base: "mqtt-home"),
            logger: Logger(label: user)
        )
        try await client.connect()
        return client
    }

    /// A plain MQTT client logged in as `user` (to publish hand-made requests or device messages).
    public func client(_ user: String, id: String? = nil, protocolVersion: MQTTProtocolVersion = .v5) async throws -> MosquittoClient {
        let client = try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1", port: broker.port, clientID: id ?? RPCClient.uniqueClientID(prefix: user),
                username: user, password: Self.users[user], protocolVersion: protocolVersion, allowFallbackToV311: false,
                reconnect: false
            ),
            logger: Logger(label: user)
        )
        try await client.connect()
        return client
    }

    /// Sees everything on the broker (as the daemon's own user): proof of what did and did not land.
    public func watcher(_ filters: [String] = ["#"]) async throws -> MessageCollector {
        try await MessageCollector.connect(port: broker.port, subscribeTo: filters, username: "homed", password: "daemon-pass")
    }

    public func shutdown() async {
        await broker.shutdown()
        directory.remove()
    }
}
