import Curl
import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench bridge <clients> <polls>`: the EMQX bridge's cost, against `Tests/Fixtures/fake-emqx.py`
/// (EMQX's REST responses; EMQX itself cannot run here) holding `clients` clients.
///
/// 1. Poll cost: the daemon polls every second; daemon CPU ms per poll cycle over `polls` cycles, and the wall time
///    of one cycle (the four requests run side by side).
/// 2. Listing: every client through `broker/clients` paging, with limit 10000 and with limit 1000: wall time,
///    daemon CPU, and daemon RSS before and after (VmRSS) and its peak (VmHWM).
enum BridgeBenchmark {
    static func run(clients: Int, polls: Int) async throws {
        let directory = "/tmp/mqtt-home-bridge-\(getpid())"
        let broker = EmbeddedBroker(options: .init(directory: directory + "/broker", persistence: false), logger: Bench.quietLogger)
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        guard let emqxPort = LoopbackPort.free() else { throw BenchmarkError.noPort }
        let fixture = fixturePath("fake-emqx.py")
        let emqx = try ChildProcess.spawn(
            executable: "/usr/bin/env",
            arguments: ["python3", fixture, "--port", String(emqxPort), "--clients", String(clients)],
            outputPath: directory + "/fake-emqx.log"
        )
        try await waitUntilServing(port: emqxPort)
        print("bridge: fake EMQX with \(clients) clients on 127.0.0.1:\(emqxPort), mosquitto on 127.0.0.1:\(port)")

        setenv("EMQX_API_URL", "http://127.0.0.1:\(emqxPort)/api/v5", 1)
        setenv("EMQX_API_KEY", "key", 1)
        setenv("EMQX_API_SECRET", "secret", 1)
        setenv("EMQX_POLL_INTERVAL", "1", 1)
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let rpc = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        try await Task.sleep(for: .seconds(3))

        func bridge() async throws -> JSONValue { try await rpc.result("health")["broker_bridge"] ?? .null }
        let pollsBefore = try await bridge()["polls"]?.intValue ?? 0
        let cpuBefore = Bench.cpuMicroseconds(of: daemon.pid)
        var cycleTimes: [Double] = []
        var polled: Int64 = 0
        while polled < Int64(polls) {
            try await Task.sleep(for: .seconds(1))
            let health = try await bridge()
            polled = (health["polls"]?.intValue ?? 0) - pollsBefore
            if let last = health["last_poll_ms"]?.doubleValue { cycleTimes.append(last) }
        }
        let pollCPU = (Bench.cpuMicroseconds(of: daemon.pid) - cpuBefore) / 1000 / Double(polled)
        let state = try await bridge()["state"]?.stringValue ?? "?"
        cycleTimes.sort()
        print("  poll: \(polled) cycles, state \(state), daemon CPU \(Bench.format(pollCPU)) ms/cycle (idle daemon included), "
            + "cycle wall time p50 \(Bench.format(Bench.percentile(cycleTimes, 0.5))) ms, "
            + "p95 \(Bench.format(Bench.percentile(cycleTimes, 0.95))) ms")

        for limit in [10_000, 1_000] {
            let rssBefore = Bench.rss(of: daemon.pid)
            let cpu = Bench.cpuMicroseconds(of: daemon.pid)
            let clock = ContinuousClock()
            let started = clock.now
            var cursor: JSONValue = .null
            var listed = 0
            var pages = 0
            repeat {
                var params = JSONObject([("limit", .int(Int64(limit)))])
                if !cursor.isNull { params["cursor"] = cursor }
                let page = try await rpc.result("broker/clients", params: params, timeout: .seconds(60))
                listed += page["items"]?.arrayValue?.count ?? 0
                cursor = page["next_cursor"] ?? .null
                pages += 1
            } while !cursor.isNull
            let elapsed = Bench.milliseconds(clock.now - started)
            let used = (Bench.cpuMicroseconds(of: daemon.pid) - cpu) / 1000
            print("  broker/clients limit \(limit): \(listed) clients in \(pages) pages, \(Bench.format(elapsed)) ms, "
                + "daemon CPU \(Bench.format(used)) ms; RSS \(rssBefore / 1024) → \(Bench.rss(of: daemon.pid) / 1024) MiB, "
                + "peak \(Bench.peakRSS(of: daemon.pid) / 1024) MiB")
        }
        await rpc.close()
        await daemon.terminate()
        await emqx.terminate()
        await broker.stop()
    }

    enum BenchmarkError: Error { case noPort, serverDidNotStart }

    /// `Tests/Fixtures/<name>` in this checkout.
    static func fixturePath(_ name: String) -> String {
        let components = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
        return components.joined(separator: "/") + "/Tests/Fixtures/" + name
    }

    static func waitUntilServing(port: Int) async throws {
        let http = HTTPClient(workers: 1)
        defer { http.shutdown() }
        for _ in 0..<100 {
            if (try? await http.perform(HTTPRequest(url: "http://127.0.0.1:\(port)/api/v5/status")))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchmarkError.serverDidNotStart
    }
}
