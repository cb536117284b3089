import Foundation
import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("mqtt-homed lifecycle: presence, signals, broker loss", .timeLimit(.minutes(2)), .awaitedCleanup)
struct DaemonLifecycleTests {
    @Test("SIGTERM publishes retained offline, disconnects cleanly and exits 0")
    func sigterm() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        harness.status.clear()
        harness.daemon.signal(SIGTERM)
        #expect(await harness.daemon.waitForExit() == 0)
        let offline = try #require(await harness.waitForStatus("offline", timeout: 5))
        #expect(offline.json == ["state": "offline"])
        let log = harness.daemon.log
        #expect(log.contains("offline"))
        #expect(!log.contains("error"))
    }

    @Test("SIGINT stops it the same way")
    func sigint() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        harness.status.clear()
        harness.daemon.signal(SIGINT)
        #expect(await harness.daemon.waitForExit() == 0)
        #expect(await harness.waitForStatus("offline", timeout: 5) != nil)
    }

    @Test("kill -9: the broker delivers the retained offline will")
    func killNine() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        harness.status.clear()
        harness.daemon.signal(SIGKILL)
        await harness.daemon.waitForExit()
        #expect(await harness.waitForStatus("offline", timeout: 5) != nil)
        let late = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [DaemonHarness.statusTopic])
        let retained = try #require(await late.waitFor(topic: DaemonHarness.statusTopic))
        #expect(retained.retain && retained.json?["state"] == "offline")
        await late.close()
    }

    @Test("broker killed and restarted on the same port: online again and answering within 5 s")
    func brokerRestart() async throws {
        let harness = try await DaemonHarness.start(environment: ["MQTT_RECONNECT_MAX_DELAY": "2"])
        cleanup { await harness.shutdown() }
        await harness.status.close()
        await harness.broker.kill()
        try await Task.sleep(for: .milliseconds(300))
        try await harness.broker.restart()
        let clock = ContinuousClock()
        let restarted = clock.now
        // The broker had no persistence: the retained online must come from the daemon's republish.
        let watcher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [DaemonHarness.statusTopic])
        let online = await watcher.waitFor(topic: DaemonHarness.statusTopic, timeout: 5) { $0.json?["state"] == "online" }
        #expect(online != nil, "no online within 5 s; daemon log:\n\(harness.daemon.log)")
        let rpc = try await harness.rpcClient()
        let health = try await rpc.result("health")
        #expect(clock.now - restarted < .seconds(5))
        #expect(health["mqtt"]?["reconnects"] == 1)
        #expect(harness.daemon.log.components(separatedBy: "connection to broker lost").count == 2)
        await rpc.close()
        await watcher.close()
    }

    @Test("a dead broker is retried with backoff and the reason logged once, not per attempt")
    func deadBrokerLoggedOnce() async throws {
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let daemon = try BackgroundProcess.daemon(environment: [
            "MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(closed.port), "MQTT_RECONNECT_MAX_DELAY": "1",
        ])
        cleanup { await daemon.shutdown() }
        try await Task.sleep(for: .seconds(3))
        #expect(daemon.isRunning)
        let log = daemon.log
        #expect(log.components(separatedBy: "cannot connect to broker: Connection refused").count == 2, "\(log)")
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
    }

    @Test("a broker that never acknowledges online: the daemon says so, carries on after 10 s, and still stops on SIGTERM")
    func onlineNeverAcknowledged() async throws {
        let broker = try await TestBroker.start()
        let proxy = try BackgroundProcess.start(
            "/usr/bin/env",
            ["python3", Fixtures.path("mqtt-lost-puback-proxy.py"), "0", String(broker.port), DaemonHarness.statusTopic]
        )
        cleanup { await proxy.shutdown() }
        let port = try #require(await proxy.waitForReadyPort(), "\(proxy.log)")
        let daemon = try BackgroundProcess.daemon(environment: ["MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(port)])
        cleanup { await daemon.shutdown(); await broker.shutdown() }
        #expect(await proxy.waitForLog("dropped a PUBACK", timeout: 15), "\(proxy.log)")
        // Stopping while the wait is on: the wait ends with the shutdown, not with its timeout.
        let clock = ContinuousClock()
        let start = clock.now
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: 8) == 0, "\(daemon.log)")
        #expect(clock.now - start < .seconds(8))
        #expect(!daemon.log.contains("] online"), "\(daemon.log)")

        // Left alone, it carries on: `online` (which the broker has) is logged and the configs follow.
        let second = try BackgroundProcess.daemon(environment: ["MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(port)], directory: daemon.directory)
        cleanup { await second.shutdown() }
        #expect(await second.waitForLog("the broker did not acknowledge the online status within 10", timeout: 20), "\(second.log)")
        #expect(await second.waitForLog("] online", timeout: 5), "\(second.log)")
        let status = try await MessageCollector.connect(port: broker.port, subscribeTo: [DaemonHarness.statusTopic])
        #expect(await status.waitFor(topic: DaemonHarness.statusTopic) { $0.json?["state"] == "online" } != nil)
        await status.close()
        second.signal(SIGTERM)
        #expect(await second.waitForExit(timeout: 10) == 0, "\(second.log)")
    }

    @Test("behind a broker that refuses MQTT 5 it runs on 3.1.1 and says so in the log and in health")
    func fallbackTo311() async throws {
        let broker = try await TestBroker.start()
        let proxy = try await V311OnlyProxy.start(upstreamPort: broker.port)
        let proxyPort = proxy.port
        cleanup { await proxy.shutdown() }
        let daemon = try BackgroundProcess.daemon(environment: ["MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(proxyPort)])
        cleanup { await daemon.shutdown(); await broker.shutdown() }
        let status = try await MessageCollector.connect(port: broker.port, subscribeTo: [DaemonHarness.statusTopic])
        let online = try #require(await status.waitFor(topic: DaemonHarness.statusTopic) { $0.json?["state"] == "online" })
        #expect(online.json?["protocol"] == "3.1.1")
        #expect(daemon.log.contains("broker refused MQTT 5; falling back to MQTT 3.1.1"))
        let rpc = try RPCClient(
            configuration: .init(host: "127.0.0.1", port: proxyPort, clientID: RPCClient.uniqueClientID(), reconnect: false),
            topics: Topics(base: "mqtt-home"),
            logger: .init(label: "t")
        )
        try await rpc.connect()
        let health = try await rpc.result("health")
        #expect(health["mqtt"]?["protocol"] == "3.1.1")
        #expect(health["mqtt"]?["fell_back_to_3_1_1"] == true)
        await rpc.close()
        await status.close()
    }
}
