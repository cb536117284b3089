import Foundation
import MQTTHome
import TestSupport
import Testing

/// mqtt-homed as a real Home Assistant sees it: pip `homeassistant` 2025.4.4 on Python 3.13, headless (HTTP on
/// 127.0.0.1), its broker set through its own MQTT config flow, checked over its REST API
/// (`Tests/Fixtures/home-assistant-acceptance.py`: entities, states, units, areas, HA's services reaching devices
/// through `<base>/devices/<id>/set`, no duplicate of a device that announces itself, unavailable when the daemon
/// stops, gone when the device is removed).
///
/// scripts/test makes the venv (`.build-havenv`) and runs this in its serial phase with `MQTT_HOME_HA_PYTHON`;
/// without that Python the test fails rather than pass unchecked.
@Suite(
    "Home Assistant acceptance: a real Home Assistant",
    .serialPhase,
    .timeLimit(.minutes(10)),
    .awaitedCleanup
)
struct HomeAssistantTests {
    @Test("Home Assistant shows, controls and loses mqtt-home's devices as it should")
    func acceptance() async throws {
        let python = try #require(
            ProcessInfo.processInfo.environment["MQTT_HOME_HA_PYTHON"],
            "MQTT_HOME_HA_PYTHON is not set: scripts/test makes a Python 3.13 venv with homeassistant for this test"
        )
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let result = try await ProcessRunner.run(
            python,
            [Fixtures.path("home-assistant-acceptance.py")],
            environment: ["MQTT_PORT": String(broker.port), "MQTT_HOMED": Products.daemon],
            timeout: 540
        )
        let lines = result.standardOutput.split(separator: "\n").filter { $0.hasPrefix("ok ") || $0.hasPrefix("FAIL") || $0.hasPrefix("PASS") }
        #expect(result.exitCode == 0 && result.standardOutput.contains("PASS Home Assistant acceptance"), "\(result.standardOutput)\n\(result.standardError)")
        #expect(lines.filter { $0.hasPrefix("ok ") }.count >= 10, "\(lines.joined(separator: "\n"))")
    }
}
