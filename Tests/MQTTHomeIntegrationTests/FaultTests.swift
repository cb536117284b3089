import Foundation
import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// What a home daemon lives through: the broker dying under it, being killed itself mid-ingest, a full or read-only
/// disk, and a device flooding its topic. Each test is bounded in time and cleans up its processes.
/// Runs in scripts/test's serial phase (`MQTT_HOME_SERIAL=1`): a 10,000 msg/s flood, 20 broker kills and 10 daemon
/// kills take both cores, and alongside the parallel suite they and the time-limited tests of others starved each
/// other (the flood's own RPC p99 went past its bound).
@Suite(
    "Fault injection",
    .serialPhase,
    .timeLimit(.minutes(3)),
    .awaitedCleanup
)
struct FaultTests {
    static let deviceCount = 20

    func addDevices(_ harness: DaemonHarness) async throws {
        for index in 0..<Self.deviceCount {
            _ = try await harness.call("devices/add", ["name": .string("Sensor \(index)"), "type": "sensor", "state_topic": .string("faults/\(index)")])
        }
    }

    /// A client that keeps reconnecting, for producers that must outlive broker restarts.
    func producer(port: Int) async throws -> MosquittoClient {
        let client = try MosquittoClient(
            configuration: .init(host: "127.0.0.1", port: port, clientID: RPCClient.uniqueClientID(prefix: "producer"), reconnectDelayCap: .milliseconds(200)),
            logger: Logger(label: "producer")
        )
        try await client.connect()
        return client
    }

    func value(_ harness: DaemonHarness, device: Int) async throws -> JSONValue? {
        try await harness.call("devices/get", ["id": .string("sensor_\(device)")])["state"]?["seq"]
    }

    @Test("the broker killed and restarted 20 times under a steady stream: online within 5 s each time, everything republished, no duplicates", arguments: [false, true])
    func brokerRestarts(persistence: Bool) async throws {
        let broker = try await TestBroker.start(persistence: persistence)
        let harness = try await DaemonHarness.start(broker: broker)
        try await addDevices(harness)
        let stream = try await producer(port: broker.port)
        // A steady stream: every device, every 20 ms, a rising sequence number.
        let streaming = Task {
            var seq = 0
            while !Task.isCancelled {
                seq += 1
                for index in 0..<Self.deviceCount {
                    _ = try? stream.publish("faults/\(index)", payload: Array(#"{"seq":\#(seq)}"#.utf8))
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        var worst = Duration.zero
        for round in 1...20 {
            await broker.kill()
            try await Task.sleep(for: .milliseconds(50))
            try await broker.restart()
            let restarted = ContinuousClock.now
            let watcher = try await MessageCollector.connect(port: broker.port, subscribeTo: ["mqtt-home/status", "mqtt-home/devices/+"])
            let online = await watcher.waitFor(topic: "mqtt-home/status", timeout: 5) { $0.json?["state"] == "online" }
            let took = ContinuousClock.now - restarted
            #expect(online != nil, "round \(round): not online within 5 s; log:\n\(harness.daemon.log.suffix(2000))")
            worst = max(worst, took)
            if !persistence {
                // The broker came back empty: every device document is there again, put back by the daemon.
                var documents = 0
                for _ in 0..<100 {
                    documents = Set(watcher.messages.filter { $0.topic.hasPrefix("mqtt-home/devices/") }.map(\.topic)).count
                    if documents == Self.deviceCount { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(documents == Self.deviceCount, "round \(round): \(documents) device documents republished")
            }
            await watcher.close()
            // Ingest resumes: a newer sequence number than before the restart reaches the registry.
            let before = try await value(harness, device: 7)?.intValue ?? 0
            var after = before
            for _ in 0..<150 where after <= before {
                try await Task.sleep(for: .milliseconds(20))
                after = try await value(harness, device: 7)?.intValue ?? 0
            }
            #expect(after > before, "round \(round): ingest did not resume")
        }
        streaming.cancel()
        await streaming.value
        let listed = try await harness.call("devices/list", ["limit": 1000])
        #expect(listed["items"]?.arrayValue?.count == Self.deviceCount, "duplicates or losses after 20 restarts")
        let health = try await harness.call("health")
        #expect((health["mqtt"]?["reconnects"]?.intValue ?? 0) >= 20)
        #expect(worst < .seconds(5))
        print("broker restarts (persistence \(persistence)): worst time to online \(worst)")
        await stream.disconnect()
        await harness.shutdown()
    }

    @Test("mqtt-homed SIGKILLed mid-ingest 10 times: the database passes integrity_check, acknowledged changes survive, at most a flush window is lost")
    func killedMidIngest() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let directory = try TemporaryDirectory(prefix: "sigkill")
        defer { directory.remove() }
        let stream = try await producer(port: broker.port)
        var acknowledged: [String] = []
        var worstLoss = Duration.zero
        for round in 1...10 {
            let harness = try await DaemonHarness.start(broker: broker, directory: directory)
            // An RPC-acknowledged change each round: it must be on disk when the answer arrives.
            let added = try await harness.call("devices/add", ["name": .string("Meter \(round)"), "type": "sensor", "state_topic": "sigkill/meter"])
            acknowledged.append(try #require(added["id"]?.stringValue))
            // Ingest at a steady pace; remember when each sequence number was sent.
            var sent: [(seq: Int, at: ContinuousClock.Instant)] = []
            for seq in 1...150 {
                try stream.publish("sigkill/meter", payload: Array(#"{"seq":\#(seq)}"#.utf8))
                sent.append((seq, .now))
                try await Task.sleep(for: .milliseconds(2))
            }
            harness.daemon.signal(SIGKILL)
            _ = await harness.daemon.waitForExit()
            let killedAt = ContinuousClock.now
            await harness.status.close()

            let store = try DeviceStore(directory: directory.path + "/data")
            #expect(try await store.integrityCheck() == "ok", "round \(round)")
            let stored = try await store.loadAll()
            let ids = Set(stored.map(\.0.id))
            for id in acknowledged { #expect(ids.contains(id), "round \(round): acknowledged device \(id) lost") }
            // The newest state on disk against the newest sent: what was lost is how long before the kill it arrived.
            let persisted = stored.first { $0.0.id == acknowledged.last }?.1.values["seq"]?.intValue ?? 0
            let lostFrom = sent.first { $0.seq == Int(persisted) + 1 }?.at
            let loss = lostFrom.map { killedAt - $0 } ?? .zero
            worstLoss = max(worstLoss, loss)
        }
        // Documented in the README: STORE_FLUSH_MS (25 ms) plus one transaction, with scheduling slack.
        #expect(worstLoss < .milliseconds(250), "lost \(worstLoss) of state messages at a kill")
        print("SIGKILL mid-ingest: worst loss window \(worstLoss)")
        let harness = try await DaemonHarness.start(broker: broker, directory: directory)
        let listed = try await harness.call("devices/list", ["limit": 1000])
        #expect(Set(listed["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []) == Set(acknowledged))
        await harness.shutdown()
        await stream.disconnect()
    }

    @Test("a device flooding its topic at 10,000 msg/s: RPC stays fast and the flood is named in health")
    func flood() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        try await addDevices(harness)
        let flooder = try await producer(port: harness.broker.port)
        let flooding = Task {
            var seq = 0
            let clock = ContinuousClock()
            let start = clock.now
            while !Task.isCancelled {
                // 10,000 per second, in bursts of 100 every 10 ms.
                for _ in 0..<100 {
                    seq += 1
                    _ = try? flooder.publish("faults/3", payload: Array(#"{"seq":\#(seq)}"#.utf8))
                }
                let due = start + .milliseconds(Int64(seq / 10))
                if due > clock.now { try? await Task.sleep(until: due, clock: clock) }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let rpc = try await harness.rpcClient()
        var latencies: [Duration] = []
        for _ in 0..<100 {
            let started = ContinuousClock.now
            _ = try await rpc.result("devices/get", params: ["id": "sensor_5"])
            latencies.append(ContinuousClock.now - started)
        }
        latencies.sort()
        let p99 = latencies[98]
        // Bounded, not starved: the suite shares two cores with dozens of other tests, so this is a ceiling, not a
        // figure. Alone, the same test measures p99 ≈ 3 ms (README, Durability).
        #expect(p99 < .seconds(2), "RPC p99 \(p99) under a 10k msg/s flood")
        var busiest: JSONValue = .null
        for _ in 0..<30 {
            busiest = try await rpc.result("health")["ingest"]?["busiest_devices"]?[0] ?? .null
            if busiest["id"] == "sensor_3" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(busiest["id"] == "sensor_3")
        #expect((busiest["per_s"]?.doubleValue ?? 0) > 1000, "\(busiest)")
        print("flood: RPC p50 \(latencies[50]), p99 \(p99); busiest \(busiest.jsonString)")
        flooding.cancel()
        await flooding.value
        await rpc.close()
        await flooder.disconnect()
    }

    /// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, as on the CI machine); the disk tests need it.
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        let probe = "/tmp/mqtt-home-mount-probe-\(getpid())"
        mkdir(probe, 0o755)
        defer { rmdir(probe) }
        guard system("mount -t tmpfs -o size=64k tmpfs \(probe) 2>/dev/null") == 0 else { return false }
        _ = system("umount \(probe)")
        return true
    }()

    @Test(
        "a full disk: the daemon serves from memory, shows the store error, retries and recovers without loss",
        .enabled(if: FaultTests.canMount, "needs root to mount a small tmpfs")
    )
    func diskFullAndReadOnly() async throws {
        let broker = try await TestBroker.start()
        let directory = try TemporaryDirectory(prefix: "diskfull")
        let data = directory.path + "/data"
        mkdir(data, 0o755)
        #expect(system("mount -t tmpfs -o size=1m tmpfs \(data)") == 0)
        defer {
            _ = system("umount -l \(data)")
            directory.remove()
        }
        let harness = try await DaemonHarness.start(environment: ["LOG_LIMIT_PER_DEVICE": "100000"], broker: broker, directory: directory)
        _ = try await harness.call("devices/add", ["name": "Meter", "type": "sensor", "state_topic": "disk/meter"])
        let status = try await MessageCollector.connect(port: broker.port, subscribeTo: ["mqtt-home/status"])
        let stream = try await producer(port: broker.port)
        let padding = String(repeating: "x", count: 2000)
        func storeError() async throws -> JSONValue? { try await harness.call("health")["ingest"]?["store_error"] }

        // Fill the disk with logged messages until writes fail.
        var seq = 0
        var failing = false
        while !failing && seq < 5000 {
            for _ in 0..<50 {
                seq += 1
                try stream.publish("disk/meter", payload: Array(#"{"seq":\#(seq),"pad":"\#(padding)"}"#.utf8))
            }
            try await Task.sleep(for: .milliseconds(30))
            failing = !((try await storeError())?.isNull ?? true)
        }
        #expect(failing, "the 1 MiB disk never filled")
        let error = try await storeError()?.stringValue ?? ""
        #expect(error.contains("full") || error.contains("FULL") || error.contains("disk"), "\(error)")
        #expect(await status.waitFor(topic: "mqtt-home/status") { $0.json?["store_error"] != nil } != nil, "store error not on <base>/status")
        // Still serving from memory: the newest state is there, and RPC answers.
        seq += 1
        try stream.publish("disk/meter", payload: Array(#"{"seq":\#(seq)}"#.utf8))
        var current: JSONValue? = nil
        for _ in 0..<100 where current?.intValue != Int64(seq) {
            current = try await harness.call("devices/get", ["id": "meter"])["state"]?["seq"]
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(current?.intValue == Int64(seq))
        // A change that cannot be saved is refused, not half-applied.
        let refused = try await harness.callError("devices/add", ["name": "Ghost", "type": "sensor", "state_topic": "disk/ghost"])
        #expect(refused?.code == -32003)
        #expect(try await harness.callError("devices/get", ["id": "ghost"])?.code == -32004)

        // Room again: writes resume within the retry cap (5 s), the error clears everywhere.
        status.clear()
        #expect(system("mount -o remount,size=64m \(data)") == 0)
        var recovered = false
        for _ in 0..<100 where !recovered {
            try await Task.sleep(for: .milliseconds(100))
            recovered = (try await storeError())?.isNull ?? true
        }
        #expect(recovered, "the store did not recover after space was freed")
        #expect(await status.waitFor(topic: "mqtt-home/status") { $0.json?["state"] == "online" && $0.json?["store_error"] == nil } != nil)

        // Nothing it held was lost: after a clean restart the newest state is the one that arrived while the disk was
        // full. (A live tmpfs cannot be remounted read-only while SQLite holds it open — EBUSY — so the read-only
        // case is the same code path, not tested separately.)
        await harness.daemon.stop()
        await harness.status.close()
        let again = try await DaemonHarness.start(broker: broker, directory: directory)
        #expect(try await again.call("devices/get", ["id": "meter"])["state"]?["seq"]?.intValue == Int64(seq))
        await again.daemon.stop()
        await again.status.close()
        await status.close()
        await stream.disconnect()
        await broker.shutdown()
    }
}
