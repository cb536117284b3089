import Logging
import MQTTHome
import Mosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench rpc`: RPC round-trip latency and throughput, daemon RSS and time to `online`, against a
/// loopback mosquitto this program starts and the `mqtt-homed` built next to it. Prints figures; asserts nothing.
enum RPCBenchmark {
    static func run(_ arguments: [Int]) async throws {
        let sequentialCalls = arguments.first ?? 5_000
        let callsPerCaller = arguments.dropFirst().first ?? 5_000
        let callers = 8
        var logger = Logger(label: "bench")
        logger.logLevel = .error

        let directory = "/tmp/mqtt-home-bench-\(getpid())"
        let broker = EmbeddedBroker(options: Bench.brokerOptions(directory + "/broker"), logger: logger)
        let port = try await broker.start()
        let daemonPath = Bench.daemonPath
        setenv("MQTT_HOST", "127.0.0.1", 1)
        setenv("MQTT_PORT", String(port), 1)
        setenv("LOG_LEVEL", "error", 1)
        setenv("RPC_RATE_LIMIT", "0", 0)
        print("mqtt-home-bench: mosquitto on 127.0.0.1:\(port) (\(Bench.stockBroker ? "stock: set_tcp_nodelay false, max_queued_messages 1000" : "set_tcp_nodelay true")), daemon \(daemonPath)")

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
            startupTimes.append(Bench.milliseconds(clock.now - started))
            await watcher.disconnect()
            if round < 9 {
                await process.terminate()
            } else {
                daemon = process
            }
        }
        guard let daemon else { return }
        try await Task.sleep(for: .seconds(1))
        let idleRSS = Bench.rss(of: daemon.pid)

        let client = try await Bench.rpcClient(port: port, logger: logger)
        for _ in 0..<200 { _ = try await client.call("health") }  // warm-up
        var latencies: [Double] = []
        latencies.reserveCapacity(sequentialCalls)
        let clock = ContinuousClock()
        let sequentialStart = clock.now
        for _ in 0..<sequentialCalls {
            let start = clock.now
            let reply = try await client.call("health")
            latencies.append(Bench.milliseconds(clock.now - start) * 1000)
            precondition(reply["result"] != nil, "error reply: \(reply.jsonString)")
        }
        let sequentialSeconds = Bench.milliseconds(clock.now - sequentialStart) / 1000
        latencies.sort()

        var clients: [RPCClient] = []
        for _ in 0..<callers { clients.append(try await Bench.rpcClient(port: port, logger: logger)) }
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
        let concurrentSeconds = Bench.milliseconds(clock.now - concurrentStart) / 1000
        let loadedRSS = Bench.rss(of: daemon.pid)

        for caller in clients { await caller.close() }
        await client.close()
        await daemon.terminate()
        await broker.stop()
        _ = system("rm -rf '\(directory)'")

        startupTimes.sort()
        print("startup to retained online (10 runs): median \(Bench.format(startupTimes[5])) ms, max \(Bench.format(startupTimes[9])) ms")
        print("sequential health calls: \(sequentialCalls)")
        print("  p50 \(Bench.format(Bench.percentile(latencies, 0.50))) µs, p99 \(Bench.format(Bench.percentile(latencies, 0.99))) µs, "
            + "max \(Bench.format(latencies.last ?? 0)) µs")
        print("  \(Bench.format(Double(sequentialCalls) / sequentialSeconds)) calls/s")
        print("\(callers) concurrent callers x \(callsPerCaller) calls: \(Bench.format(Double(callers * callsPerCaller) / concurrentSeconds)) calls/s")
        print("daemon RSS: idle \(idleRSS) KiB, after load \(loadedRSS) KiB")
    }
}
