import Logging
import MQTTHome
import Mosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench flood <requests> <rate>`: another caller's latency and answered share while a flooder sends
/// `requests` `health` requests at `rate` per second, each with a reply topic of its own
/// (`mqtt-home/reply/flood-<n>/1`), against a daemon with its default rate limit (or `RPC_RATE_LIMIT` from the
/// environment). The victim was a caller before the flood began and calls `devices/list` 20 times a second (a
/// dashboard or an agent; within its own rate limit).
enum FloodBenchmark {
    static func run(requests: Int, rate: Int) async throws {
        let logger = Bench.quietLogger
        let directory = "/tmp/mqtt-home-bench-flood-\(getpid())"
        let broker = EmbeddedBroker(options: .init(directory: directory + "/broker", persistence: false), logger: logger)
        let port = try await broker.start()
        // This benchmark is about the default limit: keep it unless the caller set one.
        setenv("RPC_RATE_LIMIT", "50", 0)
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let victim = try await Bench.rpcClient(port: port, logger: logger)
        let flooder = try await Bench.mqttClient(port: port, name: "flooder")
        print("mqtt-home-bench flood: mosquitto on 127.0.0.1:\(port), daemon \(Bench.daemonPath), RPC_RATE_LIMIT=\(String(cString: getenv("RPC_RATE_LIMIT")))")
        // Wait for the daemon, then a baseline without the flood.
        for _ in 0..<200 { if (try? await victim.call("health", timeout: .seconds(1))) != nil { break } }
        let baseline = try await calls(victim, count: 100)

        let flooding = Atomic<Bool>(true)
        let cpuBefore = Bench.cpuMicroseconds(of: daemon.pid)
        let clock = ContinuousClock()
        let started = clock.now
        let flood = Task {
            for index in 0..<requests {
                // Paced: request n leaves at n / rate seconds.
                let due = started + .microseconds(Int64(index) * 1_000_000 / Int64(rate))
                if clock.now < due { try? await Task.sleep(until: due, clock: clock) }
                _ = try? flooder.publish(
                    "mqtt-home/rpc/health", payload: [], qos: .atMostOnce,
                    properties: MQTTProperties(responseTopic: "mqtt-home/reply/flood-\(index)/1")
                )
            }
            flooding.store(false, ordering: .relaxed)
        }
        var during: [Double] = []
        var lost = 0
        while flooding.load(ordering: .relaxed) {
            let start = clock.now
            do {
                _ = try await victim.result("devices/list", timeout: .seconds(5))
                during.append(Bench.milliseconds(clock.now - start))
            } catch {
                lost += 1
            }
            try? await Task.sleep(until: start + .milliseconds(50), clock: clock)
        }
        await flood.value
        let floodSeconds = Bench.milliseconds(clock.now - started) / 1000
        try await Task.sleep(for: .seconds(1))
        let cpu = Bench.cpuMicroseconds(of: daemon.pid) - cpuBefore
        // An older daemon may still be working through the flood: wait for it, but do not fail the figures on it.
        let healthStart = clock.now
        let health = (try? await victim.result("health", timeout: .seconds(120))) ?? .null
        let backlog = Bench.milliseconds(clock.now - healthStart) / 1000
        await victim.close()
        await flooder.disconnect()
        await daemon.terminate()
        await broker.stop()
        _ = system("rm -rf '\(directory)'")

        during.sort()
        let total = during.count + lost
        print("baseline (no flood): p50 \(Bench.format(Bench.percentile(baseline, 0.5))) ms, p99 \(Bench.format(Bench.percentile(baseline, 0.99))) ms")
        print("flood: \(requests) requests with distinct reply topics at \(rate)/s over \(Bench.format(floodSeconds)) s")
        print("  victim: \(during.count) of \(total) calls answered (\(Bench.format(total == 0 ? 0 : Double(during.count) * 100 / Double(total))) %), "
            + "p50 \(Bench.format(Bench.percentile(during, 0.5))) ms, p99 \(Bench.format(Bench.percentile(during, 0.99))) ms, max \(Bench.format(during.last ?? 0)) ms")
        let rpc = health["rpc"]
        print("  after the flood: health answered \(Bench.format(backlog)) s later")
        print("  daemon: \(Bench.format(cpu / 1000)) ms CPU; received \(rpc?["received"]?.intValue ?? -1), rate_limited \(rpc?["rate_limited"]?.intValue ?? -1), "
            + "rate_limit_overflow \(rpc?["rate_limit_overflow"]?.intValue.map(String.init) ?? "n/a"), rejected_busy \(rpc?["rejected_busy"]?.intValue ?? -1)")
    }

    /// `count` sequential `devices/list` calls; their latencies in ms, sorted.
    static func calls(_ client: RPCClient, count: Int) async throws -> [Double] {
        let clock = ContinuousClock()
        var latencies: [Double] = []
        for _ in 0..<count {
            let start = clock.now
            _ = try await client.result("devices/list", timeout: .seconds(5))
            latencies.append(Bench.milliseconds(clock.now - start))
            try? await Task.sleep(until: start + .milliseconds(50), clock: clock)
        }
        return latencies.sorted()
    }
}
