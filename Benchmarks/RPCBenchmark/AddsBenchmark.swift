import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench adds <devices>`: `devices/add` from one caller one at a time (each waits for its reply: the
/// commit and the SUBACK of the device's topics), then as many again from 8 callers at once. Set
/// `MQTT_HOME_BENCH_BROKER=stock` for Debian's mosquitto defaults (Nagle on). Then ten times as many through
/// `devices/import`, and three times as many devices with a state filter.
enum AddsBenchmark {
    static func run(devices: Int) async throws {
        let callers = 8
        let directory = "/tmp/mqtt-home-adds-\(getpid())"
        let broker = EmbeddedBroker(options: Bench.brokerOptions(directory + "/broker"), logger: Bench.quietLogger)
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let setup = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        for _ in 0..<100 where (try? await setup.result("health")) == nil { try await Task.sleep(for: .milliseconds(20)) }
        print("adds: \(devices) devices/add, mosquitto on 127.0.0.1:\(port) (\(Bench.stockBroker ? "stock: set_tcp_nodelay false, max_queued_messages 1000" : "set_tcp_nodelay true"))")
        let clock = ContinuousClock()

        var latencies: [Double] = []
        let sequentialStart = clock.now
        for index in 0..<devices {
            let start = clock.now
            let reply = try await setup.call(
                "devices/add",
                params: ["name": "Sensor \(index)", "type": "sensor", "state_topic": "adds/sensor/\(index)"],
                timeout: .seconds(30)
            )
            precondition(reply["result"] != nil, "error reply: \(reply.jsonString)")
            latencies.append(Bench.milliseconds(clock.now - start) * 1000)
        }
        let sequentialSeconds = Bench.milliseconds(clock.now - sequentialStart) / 1000
        latencies.sort()
        print("  one caller, one at a time: \(devices) in \(Bench.format(sequentialSeconds * 1000)) ms; "
            + "p50 \(Bench.format(Bench.percentile(latencies, 0.5))) µs, p99 \(Bench.format(Bench.percentile(latencies, 0.99))) µs")

        var clients: [RPCClient] = []
        for _ in 0..<callers { clients.append(try await Bench.rpcClient(port: port, logger: Bench.quietLogger)) }
        let flushesBefore = try await setup.result("health")["ingest"]?["store_flushes"]?.intValue ?? 0
        let concurrentStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (caller, client) in clients.enumerated() {
                group.addTask {
                    for index in stride(from: caller, to: devices, by: callers) {
                        let reply = try await client.call(
                            "devices/add",
                            params: ["name": "Light \(index)", "type": "light", "state_topic": "adds/light/\(index)", "command_topic": "adds/light/\(index)/set"],
                            timeout: .seconds(30)
                        )
                        precondition(reply["result"] != nil, "error reply: \(reply.jsonString)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let concurrentSeconds = Bench.milliseconds(clock.now - concurrentStart) / 1000
        let flushes = (try await setup.result("health")["ingest"]?["store_flushes"]?.intValue ?? 0) - flushesBefore
        // Transactions include the periodic ones (history roll-ups): an upper bound on the adds' commits.
        print("  \(callers) callers at once: \(devices) in \(Bench.format(concurrentSeconds * 1000)) ms, in \(flushes) store transactions")
        // devices/import, in parts of 2,000 (what the CLI sends under the 256 KiB payload limit).
        let imported = devices * 10
        let importStart = clock.now
        var added = 0
        for start in stride(from: 0, to: imported, by: 2000) {
            let part: [JSONValue] = (start..<min(imported, start + 2000)).map { index in
                ["name": .string("Imported \(index)"), "type": "sensor", "state_topic": .string("adds/imported/\(index)")]
            }
            let reply = try await setup.result("devices/import", params: ["devices": .array(part)], timeout: .seconds(60))
            added += Int(reply["added"]?.intValue ?? 0)
        }
        let importSeconds = Bench.milliseconds(clock.now - importStart) / 1000
        print("  devices/import of \(imported) in parts of 2,000: \(Bench.format(importSeconds * 1000)) ms (\(added) added)")
        // Devices with a state filter: each is checked against every registered topic and every earlier item's.
        let filtered = devices * 3
        let filteredStart = clock.now
        var filteredAdded = 0
        for start in stride(from: 0, to: filtered, by: 1000) {
            let part: [JSONValue] = (start..<min(filtered, start + 1000)).map { index in
                [
                    "name": .string("Filtered \(index)"), "type": "sensor", "state_topic": .string("adds/filtered/\(index)/+"),
                    "state_topic_filter": true,
                ]
            }
            let reply = try await setup.result("devices/import", params: ["devices": .array(part)], timeout: .seconds(600))
            filteredAdded += Int(reply["added"]?.intValue ?? 0)
        }
        let filteredSeconds = Bench.milliseconds(clock.now - filteredStart) / 1000
        print("  devices/import of \(filtered) state-filter devices in parts of 1,000: \(Bench.format(filteredSeconds * 1000)) ms (\(filteredAdded) added)")
        let count = try await setup.result("health")["devices"]?.intValue ?? -1
        print("  devices in the registry: \(count) (expected \(devices * 2 + imported + filtered))")
        for client in clients { await client.close() }
        await setup.close()
        await daemon.terminate()
        await broker.stop()
    }
}
