import Foundation
import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// The broker's ACL is mqtt-home's access control: a read-only user reaches the read methods and the retained
/// device topics, and nothing else; the daemon never sees what the broker refused. The ACL here is the README's
/// mosquitto recipe, verbatim.
@Suite("Broker ACL: read-only, operator and daemon users", .timeLimit(.minutes(1)), .awaitedCleanup)
struct ACLTests {
    static let users = SecuredBroker.users

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
        let secured = try await SecuredBroker.start()
        let broker = secured.broker
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }

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

    @Test("the set topic under the README's ACL: the viewer's command never reaches the daemon, Home Assistant's does")
    func setTopicACL() async throws {
        let secured = try await SecuredBroker.start()
        let broker = secured.broker
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let operatorClient = try await client("operator", port: broker.port)
        _ = try await operatorClient.result("devices/add", params: ["name": "Plug", "type": "switch", "state_topic": "zigbee2mqtt/plug", "command_topic": "zigbee2mqtt/plug/set"])
        let device = try await secured.watcher(["zigbee2mqtt/plug/set"])
        for user in ["viewer", "homeassistant"] {
            let publisher = try await secured.client(user)
            // The broker drops the viewer's publish (mosquitto answers QoS 1 with a PUBACK either way).
            try? await publisher.publishAndWait("mqtt-home/devices/plug/set", payload: Array("\(user == "viewer" ? "OFF" : "ON")".utf8))
            await publisher.disconnect()
        }
        #expect(await device.waitFor(topic: "zigbee2mqtt/plug/set") { $0.payloadString == "ON" } != nil)
        try await Task.sleep(for: .milliseconds(200))
        #expect(device.messages.map(\.payloadString) == ["ON"], "the viewer's command reached the device")
        #expect(try await operatorClient.result("health")["set_topic"]?["received"] == 1)
        await device.close()
        await operatorClient.close()
    }
}
