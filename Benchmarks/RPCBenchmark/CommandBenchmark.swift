import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench command`: `devices/command` RPC until the payload arrives on the device's command topic.
enum CommandBenchmark {
    static func run(_ arguments: [Int]) async throws {
        let sequential = arguments.first ?? 5_000
        let perCaller = arguments.dropFirst().first ?? 2_000
        let callers = 8
        let directory = "/tmp/mqtt-home-command-\(getpid())"
        let broker = EmbeddedBroker(options: Bench.brokerOptions(directory + "/broker"), logger: Bench.quietLogger)
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let setup = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        for _ in 0..<100 where (try? await setup.result("health")) == nil { try await Task.sleep(for: .milliseconds(20)) }
        for index in 0..<callers {
            _ = try await setup.result(
                "devices/add",
                params: ["name": "Plug \(index)", "type": "switch", "state_topic": "plug/\(index)", "command_topic": "plug/\(index)/set"]
            )
        }
        let devices = try await Bench.mqttClient(port: port, name: "bench-devices")
        try await devices.subscribe("plug/+/set", qos: .atLeastOnce)
        var arrivals = devices.messages.makeAsyncIterator()
        let clock = ContinuousClock()

        var latencies: [Double] = []
        for sequence in 0..<(sequential + 200) {
            let start = clock.now
            _ = try await setup.call("devices/command", params: ["id": "plug_0", "payload": "\(sequence)"])
            _ = await arrivals.next()
            if sequence >= 200 { latencies.append(Bench.milliseconds(clock.now - start) * 1000) }
        }
        latencies.sort()

        var clients: [RPCClient] = []
        for _ in 0..<callers { clients.append(try await Bench.rpcClient(port: port, logger: Bench.quietLogger)) }
        let concurrentStart = clock.now
        let total = callers * perCaller
        async let arrived: Int = {
            var count = 0
            while count < total, await arrivals.next() != nil { count += 1 }
            return count
        }()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    for sequence in 0..<perCaller {
                        let reply = try await client.call("devices/command", params: ["id": "plug_\(index)", "payload": "\(sequence)"])
                        precondition(reply["result"] != nil, "error reply: \(reply.jsonString)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let count = await arrived
        let seconds = Bench.milliseconds(clock.now - concurrentStart) / 1000

        print("command: devices/command RPC until arrival on the device's command topic")
        print("  sequential \(sequential): p50 \(Bench.format(Bench.percentile(latencies, 0.5))) µs, "
            + "p99 \(Bench.format(Bench.percentile(latencies, 0.99))) µs, max \(Bench.format(latencies.last ?? 0)) µs")
        print("  \(callers) callers x \(perCaller): \(Bench.format(Double(count) / seconds)) commands/s arrived (\(count) of \(total))")
        for client in clients { await client.close() }
        await setup.close()
        await devices.disconnect()
        await daemon.terminate()
        await broker.stop()
    }
}
