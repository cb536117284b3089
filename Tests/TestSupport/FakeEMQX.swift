import Curl
import Foundation
import MQTTHome

#if canImport(Glibc)
import Glibc
#endif

/// `Tests/Fixtures/fake-emqx.py` on a free loopback port: EMQX 5's REST responses (protocols.md §4), since EMQX
/// itself cannot run here. Faults are switched at run time through its `/__control` path.
public final class FakeEMQX: Sendable {
    public let port: Int
    public let clients: Int
    private let process: LockedProcess
    let http = HTTPClient(workers: 1)

    public static let apiKey = "mqtt-home-test-key"
    public static let apiSecret = "s3cr3t-never-logged"

    /// The daemon's `EMQX_*` settings for this server.
    public func environment(pollInterval: Double = 0.5, timeout: Double = 2) -> [String: String] {
        [
            "EMQX_API_URL": "http://127.0.0.1:\(port)/api/v5",
            "EMQX_API_KEY": Self.apiKey,
            "EMQX_API_SECRET": Self.apiSecret,
            "EMQX_POLL_INTERVAL": String(pollInterval),
            "EMQX_TIMEOUT": String(timeout),
        ]
    }

    /// Starts on a port the server picks itself (port 0), so no other process can take it between choosing and
    /// binding.
    public static func start(clients: Int = 3) async throws -> FakeEMQX {
        let process = try await launch(port: 0, clients: clients)
        guard let line = process.log.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }),
            let port = Int(line.dropFirst("listening ".count))
        else {
            await process.shutdown()
            throw HarnessError(description: "the fake EMQX did not say its port: \(process.log)")
        }
        return FakeEMQX(port: port, clients: clients, process: process)
    }

    init(port: Int, clients: Int, process: BackgroundProcess) {
        self.port = port
        self.clients = clients
        self.process = LockedProcess(process)
    }

    private static func launch(port: Int, clients: Int) async throws -> BackgroundProcess {
        let process = try BackgroundProcess.start(
            "/usr/bin/env",
            [
                "python3", "-u", Fixtures.path("fake-emqx.py"), "--port", String(port), "--clients", String(clients),
                "--api-key", apiKey, "--api-secret", apiSecret,
            ]
        )
        // Generous: the whole suite runs in parallel on two cores, and Python's start-up competes with it.
        guard await process.waitForLog("listening", timeout: 30) else {
            let state = process.isRunning ? "still running" : "exited with \(process.process.terminationStatus)"
            let log = process.log
            await process.shutdown()
            throw HarnessError(description: "the fake EMQX did not start (port \(port), \(state)): \(log)")
        }
        return process
    }

    /// Changes the server's behaviour: `["fault": "401"]`, `["api_secret": "rotated"]`, `["slow_seconds": "10"]`…
    public func control(_ settings: [String: String]) async throws {
        let query = settings.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let response = try await http.perform(HTTPRequest(url: "http://127.0.0.1:\(port)/__control?\(query)"))
        guard response.status == 200 else { throw HarnessError(description: "fake EMQX control failed: \(response.status)") }
    }

    /// How many requests each path received.
    public func requests() async throws -> JSONValue {
        let response = try await http.perform(HTTPRequest(url: "http://127.0.0.1:\(port)/__requests"))
        return try JSONParser.parse(response.body)
    }

    /// SIGKILL, as a crashed or powered-off EMQX.
    public func kill() async {
        let process = self.process.current
        process.signal(SIGKILL)
        _ = await process.waitForExit(timeout: 5)
    }

    /// Starts again on the same port, with the default behaviour. The killed server's working directory goes.
    public func restart() async throws {
        await process.current.shutdown()
        process.current = try await Self.launch(port: port, clients: clients)
    }

    public func shutdown() async {
        await process.current.shutdown()
        http.shutdown()
    }
}

/// The server process, replaced by ``FakeEMQX/restart()``.
final class LockedProcess: @unchecked Sendable {
    // Touched by one test task at a time.
    var current: BackgroundProcess
    init(_ process: BackgroundProcess) { current = process }
}
