import Logging
import MQTTHome
import Mosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench`: RPC round-trip latency and throughput, daemon RSS and time to `online`, against a loopback
/// mosquitto this program starts and the `mqtt-homed` built next to it. Prints figures; asserts nothing.
///
/// Usage: mqtt-home-bench [sequential-calls] [calls-per-concurrent-caller]
@main
struct RPCBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
        let sequentialCalls = arguments.first ?? 5_000
        let callsPerCaller = arguments.dropFirst().first ?? 5_000
        let callers = 8
        var logger = Logger(label: "bench")
        logger.logLevel = .error

        let directory = "/tmp/mqtt-home-bench-\(getpid())"
        let broker = EmbeddedBroker(options: .init(directory: directory + "/broker", persistence: false), logger: logger)
        let port = try await broker.start()
        let daemonPath = executableDirectory() + "/mqtt-homed"
        setenv("MQTT_HOST", "127.0.0.1", 1)
        setenv("MQTT_PORT", String(port), 1)
        setenv("LOG_LEVEL", "error", 1)
        print("mqtt-home-bench: mosquitto on 127.0.0.1:\(port), daemon \(daemonPath)")

        // Time from process start to the retained online status, measured by a subscriber already waiting.
        var startupTimes: [Double] = []
        var daemon: ChildProcess? = nil
        for round in 0..<10 {
            let watcher = try MosquittoClient(
                configuration: .init(host: "127.0.0.1", port: port, clientID: "bench-watch-\(round)", reconnect: false),
                logger: logger
            )
            try await watcher.connect()
            try await watcher.subscribe("mqtt-home/status", qos: .atLeastOnce)
            var iterator = watcher.messages.makeAsyncIterator()
            // Skip the retained offline left by the previous round.
            if round > 0 { _ = await iterator.next() }
            let clock = ContinuousClock()
            let started = clock.now
            let process = try ChildProcess.spawn(executable: daemonPath, arguments: [], outputPath: directory + "/daemon.log")
            while let message = await iterator.next() {
                if message.payloadString.contains("\"online\"") { break }
            }
            startupTimes.append(milliseconds(clock.now - started))
            await watcher.disconnect()
            if round < 9 {
                await process.terminate()
            } else {
                daemon = process
            }
        }
        guard let daemon else { return }
        try await Task.sleep(for: .seconds(1))
        let idleRSS = rss(of: daemon.pid)

        let client = try await connectedClient(port: port, logger: logger)
        for _ in 0..<200 { _ = try await client.call("health") }  // warm-up
        var latencies: [Double] = []
        latencies.reserveCapacity(sequentialCalls)
        let clock = ContinuousClock()
        let sequentialStart = clock.now
        for _ in 0..<sequentialCalls {
            let start = clock.now
            let reply = try await client.call("health")
            latencies.append(milliseconds(clock.now - start) * 1000)
            precondition(reply["result"] != nil, "error reply: \(reply.jsonString)")
        }
        let sequentialSeconds = milliseconds(clock.now - sequentialStart) / 1000
        latencies.sort()

        var clients: [RPCClient] = []
        for _ in 0..<callers { clients.append(try await connectedClient(port: port, logger: logger)) }
        let concurrentStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in clients {
                group.addTask {
                    for _ in 0..<callsPerCaller {
                        let reply = try await caller.call("health")
                        precondition(reply["result"] != nil, "error reply: \(reply.jsonString)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let concurrentSeconds = milliseconds(clock.now - concurrentStart) / 1000
        let loadedRSS = rss(of: daemon.pid)

        for caller in clients { await caller.close() }
        await client.close()
        await daemon.terminate()
        await broker.stop()
        _ = system("rm -rf '\(directory)'")

        startupTimes.sort()
        print("startup to retained online (10 runs): median \(format(startupTimes[5])) ms, max \(format(startupTimes[9])) ms")
        print("sequential health calls: \(sequentialCalls)")
        print("  p50 \(format(percentile(latencies, 0.50))) µs, p99 \(format(percentile(latencies, 0.99))) µs, "
            + "max \(format(latencies.last ?? 0)) µs")
        print("  \(format(Double(sequentialCalls) / sequentialSeconds)) calls/s")
        print("\(callers) concurrent callers x \(callsPerCaller) calls: \(format(Double(callers * callsPerCaller) / concurrentSeconds)) calls/s")
        print("daemon RSS: idle \(idleRSS) KiB, after load \(loadedRSS) KiB")
    }

    static func connectedClient(port: Int, logger: Logger) async throws -> RPCClient {
        let client = try RPCClient(
            configuration: .init(host: "127.0.0.1", port: port, clientID: RPCClient.uniqueClientID(prefix: "bench"), reconnect: false),
            topics: Topics(base: "mqtt-home"),
            logger: logger
        )
        try await client.connect()
        return client
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded >= 100 ? String(Int(rounded)) : String(rounded)
    }

    /// VmRSS of `pid` in KiB, from /proc.
    static func rss(of pid: Int32) -> Int {
        guard let status = FileSystem.read("/proc/\(pid)/status") else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let path = String(decoding: buffer[0..<max(0, count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    }
}
