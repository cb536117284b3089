import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// RPC as a client nobody here wrote speaks it: paho-mqtt (PyPI, in the venv scripts/test makes), against mosquitto
/// with the README's password file and ACL. scripts/test runs it in its own phase (`MQTT_HOME_SERIAL=1`, with
/// `MQTT_HOME_PYTHON` pointing at the venv), so the Python processes do not slow the time-limited tests.
@Suite(
    "Third-party clients: paho-mqtt",
    .serialPhase,
    .timeLimit(.minutes(1)),
    .awaitedCleanup
)
struct ThirdPartyClientTests {
    static var python: String { ProcessInfo.processInfo.environment["MQTT_HOME_PYTHON"] ?? "python3" }

    func paho(_ port: Int, _ user: String, protocol version: String, _ method: String, _ params: String, reply: String, timeout: Double = 5) async throws -> JSONValue {
        let result = try await ProcessRunner.run(
            Self.python,
            [Fixtures.path("paho-rpc.py"), String(port), user, SecuredBroker.users[user] ?? "", version, method, params, reply, String(timeout)],
            timeout: timeout + 10
        )
        #expect(result.exitCode == 0, "\(result.standardError)")
        return try JSONParser.parse(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("paho-mqtt gets answers on its own reply subtree (MQTT 5 and 3.1.1), and none where the policy refuses")
    func pahoRPC() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let port = secured.broker.port

        let v5 = try await paho(port, "viewer", protocol: "5", "health", "{}", reply: "mqtt-home/reply/{client}/1")
        #expect(v5["answered"] == true && v5["correlation_ok"] == true, "\(v5.jsonString)")
        #expect(v5["reply"]?["result"]?["version"] == .string(MQTTHomeVersion.current))
        let v311 = try await paho(port, "viewer", protocol: "311", "devices/list", "{}", reply: "mqtt-home/reply/{client}/1")
        #expect(v311["answered"] == true && v311["reply"]?["id"] == "paho-311", "\(v311.jsonString)")

        // The operator may read mqtt-home/#, so it would see a reply on mqtt-home/status: the daemon sends none.
        let watcher = try await secured.watcher(["mqtt-home/status", "zigbee2mqtt/#"])
        let refused = try await paho(port, "operator", protocol: "5", "health", "{}", reply: "mqtt-home/status", timeout: 1)
        #expect(refused["answered"] == false, "\(refused.jsonString)")
        let elsewhere = try await paho(port, "operator", protocol: "311", "health", "{}", reply: "mqtt-home/status", timeout: 1)
        #expect(elsewhere["answered"] == false)
        #expect(watcher.messages.allSatisfy { !$0.payloadString.contains("jsonrpc") }, "a reply landed on a refused topic")
        let rpc = try await secured.rpc("operator")
        #expect(try await rpc.result("health")["rpc"]?["refused_reply_topics"] == 2)
        await rpc.close()
        await watcher.close()
    }
}
