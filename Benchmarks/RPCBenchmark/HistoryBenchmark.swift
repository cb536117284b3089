import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench history <days>`: `days` of 5-minute and hourly statistics for one sensor (written straight into
/// the daemon's database), then how fast `sensors/history` answers one day of them (288 buckets) and one day in
/// hours, over RPC, measured from a separate client; and the same query inside the store, without MQTT.
enum HistoryBenchmark {
    static func run(days: Int) async throws {
        let directory = "/tmp/mqtt-home-history-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        let broker = EmbeddedBroker(options: .init(directory: directory + "/broker", persistence: false), logger: Bench.quietLogger)
        let port = try await broker.start()
        let store = try DeviceStore(directory: directory + "/data")
        let now = Timestamp.now()
        try await store.saveAll([
            Device(id: "bedroom", name: "Bedroom", type: "sensor", createdAt: now, updatedAt: now,
                entities: [Entity(key: "temperature", name: "Bedroom", platform: "sensor", stateTopic: "bench/bedroom")]),
        ])
        let end = (Int64((Timestamp.currentSeconds() * 1000).rounded()) / DeviceStore.day) * DeviceStore.day
        let start = end - Int64(days) * DeviceStore.day
        let clock = ContinuousClock()
        let filling = clock.now
        try await store.fillStatistics(deviceID: "bedroom", key: "temperature", from: start, to: end)
        print("history: \(days) days of 5-minute and hourly statistics for one sensor written in \(Bench.format(Bench.milliseconds(clock.now - filling))) ms")

        // Inside the store: the query alone.
        var inside: [Double] = []
        for round in 0..<200 {
            let day = end - Int64(1 + round % max(1, days - 1)) * DeviceStore.day
            let started = clock.now
            let buckets = try await store.statistics(deviceID: "bedroom", key: "temperature", period: DeviceStore.fiveMinutes, since: day, until: day + DeviceStore.day, limit: 1000)
            inside.append(Bench.milliseconds(clock.now - started))
            precondition(buckets.count == 288, "\(buckets.count) buckets")
        }
        inside.sort()
        print("  store: one day of 5-minute buckets (288): p50 \(Bench.format(Bench.percentile(inside, 0.5))) ms, p99 \(Bench.format(Bench.percentile(inside, 0.99))) ms")

        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let client = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        for _ in 0..<100 { if (try? await client.call("health", timeout: .seconds(1))) != nil { break } }
        for (resolution, expected) in [("5min", 288), ("hour", 24)] {
            var latencies: [Double] = []
            for round in 0..<200 {
                let day = end - Int64(1 + round % max(1, days - 1)) * DeviceStore.day
                let started = clock.now
                let result = try await client.result("sensors/history", params: [
                    "device": "bedroom", "sensor": "temperature", "resolution": .string(resolution), "limit": 1000,
                    "since": .string(Timestamp.string(milliseconds: day)), "until": .string(Timestamp.string(milliseconds: day + DeviceStore.day - 1)),
                ])
                latencies.append(Bench.milliseconds(clock.now - started))
                precondition(result["items"]?.arrayValue?.count == expected, "\(result["items"]?.arrayValue?.count ?? -1) items")
            }
            latencies.sort()
            print("  RPC sensors/history, one day at \(resolution) (\(expected) items): p50 \(Bench.format(Bench.percentile(latencies, 0.5))) ms, "
                + "p99 \(Bench.format(Bench.percentile(latencies, 0.99))) ms (round trip included)")
        }
        await client.close()
        await daemon.terminate()
        await broker.stop()
    }
}
