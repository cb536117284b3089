import Foundation
import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// The broker's ACL is mqtt-home's access control: a read-only user reaches the read methods and the retained
/// device topics, and nothing else; the daemon never sees what the broker refused. The ACL here is the README's
/// mosquitto recipe, verbatim.
@Suite("Broker ACL: read-only, operator and daemon users", .timeLimit(.minutes(1)))
struct ACLTests {
    static let users = ["homed": "daemon-pass", "viewer": "viewer-pass", "operator": "operator-pass", "sensor": "sensor-pass"]

    static let acl = """
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

        # Operator: every method.
        user operator
        topic read mqtt-home/#
        topic write mqtt-home/rpc/#

        # A device that only publishes its own state.
        user sensor
        topic write zigbee2mqtt/#

        # Everyone gets answers on a reply topic named after their client id (what mqtt-home and mosquitto_rr use).
        pattern read mqtt-home/reply/%c/#
        """

    func client(_ user: String, port: Int) async throws -> RPCClient {
        let rpc = try RPCClient(
            configuration: .init(
                host: "127.0.0.1", port: port, clientID: RPCClient.uniqueClientID(prefix: user),
                username: user, password: Self.users[user], reconnect: false
            ),
            topics: Topics(base: "mqtt-home"),
            logger: Logger(label: user)
        )
        try await rpc.connect()
        return rpc
    }

    @Test("viewer lists and reads but cannot remove or command; the daemon never receives the refused requests")
    func readOnlyUser() async throws {
        let directory = try TemporaryDirectory(prefix: "acl")
        defer { directory.remove() }
        for (index, user) in Self.users.keys.sorted().enumerated() {
            let create = index == 0 ? ["-c"] : []
            let made = try await ProcessRunner.run("/usr/bin/mosquitto_passwd", ["-b"] + create + [directory.path + "/passwd", user, Self.users[user]!])
            #expect(made.exitCode == 0, "\(made.standardError)")
        }
        try Self.acl.write(toFile: directory.path + "/acl", atomically: true, encoding: .utf8)
        let broker = try await TestBroker.start(extraConfiguration: ["password_file \(directory.path)/passwd", "acl_file \(directory.path)/acl"])
        let harness = try await DaemonHarness.start(environment: ["MQTT_USERNAME": "homed", "MQTT_PASSWORD": "daemon-pass"], broker: broker)
        defer { Task { await harness.shutdown() } }

        let operatorClient = try await client("operator", port: broker.port)
        _ = try await operatorClient.result("devices/add", params: ["name": "Kitchen sensor", "type": "sensor", "state_topic": "zigbee2mqtt/kitchen", "command_topic": "zigbee2mqtt/kitchen/set"])
        // The daemon's own user subscribes and ingests: a device's state arrives.
        let sensor = try MosquittoClient(
            configuration: .init(host: "127.0.0.1", port: broker.port, clientID: "sensor-1", username: "sensor", password: "sensor-pass", reconnect: false),
            logger: Logger(label: "sensor")
        )
        try await sensor.connect()
        try await sensor.publishAndWait("zigbee2mqtt/kitchen", payload: Array(#"{"temperature":21.5}"#.utf8))

        let viewer = try await client("viewer", port: broker.port)
        var listed: JSONValue = .null
        for _ in 0..<50 {
            listed = try await viewer.result("devices/list")
            if listed["items"]?[0]?["state"]?["temperature"] == 21.5 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(listed["items"]?[0]?["state"]?["temperature"] == 21.5)
        #expect(try await viewer.result("sensors/read", params: ["device": "kitchen_sensor", "sensor": "temperature"])["value"] == 21.5)

        let receivedBefore = try await operatorClient.result("health")["rpc"]?["received"]?.intValue ?? 0
        for method in ["devices/remove", "devices/command"] {
            do {
                _ = try await viewer.result(method, params: ["id": "kitchen_sensor", "payload": "ON"], timeout: .seconds(1))
                Issue.record("the viewer's \(method) was answered")
            } catch let error as RPCError {
                Issue.record("the daemon answered the viewer's \(method): \(error)")
            } catch {
                // Refused by the broker (PUBACK 0x87) or never answered: either way it never reached the daemon.
            }
        }
        let receivedAfter = try await operatorClient.result("health")["rpc"]?["received"]?.intValue ?? 0
        #expect(receivedAfter == receivedBefore + 1, "only the operator's own health call arrived in between")
        #expect(try await operatorClient.result("devices/get", params: ["id": "kitchen_sensor"])["id"] == "kitchen_sensor")

        // Nor can the viewer listen in on other callers' requests: mosquitto grants the subscription but delivers
        // nothing the ACL does not allow.
        let snoop = try MosquittoClient(
            configuration: .init(host: "127.0.0.1", port: broker.port, clientID: "viewer-snoop", username: "viewer", password: "viewer-pass", reconnect: false),
            logger: Logger(label: "snoop")
        )
        try await snoop.connect()
        try? await snoop.subscribe("mqtt-home/rpc/#", qos: .atLeastOnce)
        let messages = snoop.messages
        let overheard = Task { () -> Int in
            var count = 0
            for await _ in messages { count += 1 }
            return count
        }
        _ = try await operatorClient.result("devices/get", params: ["id": "kitchen_sensor"])
        try await Task.sleep(for: .milliseconds(300))
        await snoop.disconnect()
        #expect(await overheard.value == 0, "the viewer overheard RPC requests")
        #expect(!harness.daemon.log.contains("daemon-pass"))
        await viewer.close()
        await operatorClient.close()
        await sensor.disconnect()
    }
}
