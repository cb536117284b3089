import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench soak <minutes> <messages-per-second> <devices>`: a steady state stream over many devices with
/// RPC load, for long enough to see drift. Every 30 s it prints the daemon's RSS, open fds, threads, the RPC
/// latency of that window and the ingest rate; at the end, start against end. Flat is the goal.
enum SoakBenchmark {
    struct Window {
        var elapsed: Double
        var rssKiB: Int
        var fds: Int
        var threads: Int
        var p50: Double
        var p99: Double
        var ingestPerSecond: Double
        var dropped: Int64
    }

    static func run(minutes: Int, rate: Int, devices: Int) async throws {
        let directory = "/tmp/mqtt-home-soak-\(getpid())"
        let broker = EmbeddedBroker(
            options: .init(directory: directory + "/broker", persistence: false, extraConfiguration: ["max_queued_messages 10000000"]),
            logger: Bench.quietLogger
        )
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        print("soak: \(minutes) min at \(rate) msg/s over \(devices) devices, RPC devices/get + health at ~20/s, mosquitto on 127.0.0.1:\(port)")
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let rpc = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        for _ in 0..<100 {
            if (try? await rpc.result("health")) != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        for index in 0..<devices {
            _ = try await rpc.result(
                "devices/add",
                params: ["name": .string("soak \(index)"), "type": "sensor", "state_topic": .string("soak/\(index)"), "device_class": "temperature", "unit": "°C"]
            )
        }
        let publisher = try await Bench.mqttClient(port: port, name: "soak-producer")
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + .seconds(minutes * 60)

        // The stream: `rate` messages a second, in ticks of 10 ms, round-robin over the devices.
        let streaming = Task {
            var sent = 0
            while clock.now < end {
                let due = (Bench.milliseconds(clock.now - start) / 1000) * Double(rate)
                while Double(sent) < due {
                    let device = sent % devices
                    _ = try? publisher.publish("soak/\(device)", payload: Array(#"{"temperature":\#(20 + sent % 100) ,"seq":\#(sent)}"#.utf8))
                    sent += 1
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return sent
        }

        var windows: [Window] = []
        var latencies: [Double] = []
        var lastMatched = try await rpc.result("health")["ingest"]?["messages_matched"]?.intValue ?? 0
        var lastSample = clock.now
        var call = 0
        while clock.now < end {
            let started = clock.now
            call += 1
            _ = try await rpc.result(call % 2 == 0 ? "health" : "devices/get", params: call % 2 == 0 ? [:] : ["id": .string("soak_\(call % devices)")])
            latencies.append(Bench.milliseconds(clock.now - started))
            try await Task.sleep(for: .milliseconds(50))
            if clock.now - lastSample >= .seconds(30) || clock.now >= end {
                let health = try await rpc.result("health")
                let matched = health["ingest"]?["messages_matched"]?.intValue ?? 0
                let seconds = (Bench.milliseconds(clock.now - lastSample) / 1000)
                latencies.sort()
                let window = Window(
                    elapsed: (Bench.milliseconds(clock.now - start) / 1000),
                    rssKiB: Bench.rss(of: daemon.pid),
                    fds: openDescriptors(of: daemon.pid),
                    threads: Bench.statusField("Threads", of: daemon.pid),
                    p50: Bench.percentile(latencies, 0.5),
                    p99: Bench.percentile(latencies, 0.99),
                    ingestPerSecond: Double(matched - lastMatched) / seconds,
                    dropped: (health["mqtt"]?["messages_dropped"]?.intValue ?? 0) + (health["ingest"]?["store_rows_dropped"]?.intValue ?? 0)
                )
                windows.append(window)
                print(
                    "  t=\(Int(window.elapsed)) s  RSS \(window.rssKiB / 1024) MiB  fds \(window.fds)  threads \(window.threads)  "
                        + "RPC p50 \(Bench.format(window.p50)) ms p99 \(Bench.format(window.p99)) ms  "
                        + "ingest \(Int(window.ingestPerSecond)) msg/s  dropped \(window.dropped)"
                )
                latencies.removeAll(keepingCapacity: true)
                lastMatched = matched
                lastSample = clock.now
            }
        }
        let sent = await streaming.value
        let cpu = Bench.cpuMicroseconds(of: daemon.pid) / 1e6
        if let first = windows.first, let last = windows.last {
            print("  start → end: RSS \(first.rssKiB / 1024) → \(last.rssKiB / 1024) MiB, fds \(first.fds) → \(last.fds), "
                + "threads \(first.threads) → \(last.threads), RPC p99 \(Bench.format(first.p99)) → \(Bench.format(last.p99)) ms")
        }
        print("  \(sent) messages sent, daemon CPU \(Bench.format(cpu)) s over \(minutes) min")
        await rpc.close()
        await publisher.disconnect()
        await daemon.terminate()
        await broker.stop()
    }

    static func openDescriptors(of pid: Int32) -> Int {
        guard let directory = opendir("/proc/\(pid)/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { count += 1 }
        }
        return count
    }
}
