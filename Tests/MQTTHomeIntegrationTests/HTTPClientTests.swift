import Curl
import MQTTHome
import TestSupport
import Testing

/// The libcurl wrapper against a real loopback HTTP server (the fake EMQX) and a closed port.
@Suite("HTTP client over libcurl", .timeLimit(.minutes(1)))
struct HTTPClientTests {
    @Test("status, headers and body; Basic credentials reach the server")
    func basics() async throws {
        let server = try await FakeEMQX.start()
        let http = HTTPClient(workers: 2)
        let base = "http://127.0.0.1:\(server.port)/api/v5"
        let status = try await http.perform(HTTPRequest(url: base + "/status"))
        #expect(status.status == 200)
        #expect(String(decoding: status.body, as: UTF8.self).contains("is started"))
        #expect(status.header("Content-Type") == "text/plain")
        let refused = try await http.perform(HTTPRequest(url: base + "/nodes"))
        #expect(refused.status == 401)
        #expect(refused.header("www-authenticate") == #"Basic Realm="emqx-dashboard""#)
        let nodes = try await http.perform(
            HTTPRequest(url: base + "/nodes", credentials: .init(username: FakeEMQX.apiKey, password: FakeEMQX.apiSecret))
        )
        #expect(nodes.status == 200)
        #expect(http.statistics.completed == 3)
        http.shutdown()
        await server.shutdown()
    }

    @Test("the total timeout, a refused connection, a body over the limit, and an invalid URL are distinct errors")
    func failures() async throws {
        let server = try await FakeEMQX.start(clients: 2000)
        let http = HTTPClient(workers: 2)
        let base = "http://127.0.0.1:\(server.port)/api/v5"
        let credentials = HTTPRequest.Credentials(username: FakeEMQX.apiKey, password: FakeEMQX.apiSecret)
        await #expect(throws: CurlError.responseTooLarge(limit: 1000)) {
            try await http.perform(HTTPRequest(url: base + "/clients?limit=1000", credentials: credentials, maxResponseBytes: 1000))
        }
        await #expect(throws: CurlError.invalidURL("ftp://127.0.0.1/")) {
            try await http.perform(HTTPRequest(url: "ftp://127.0.0.1/"))
        }
        try await server.control(["fault": "slow", "slow_seconds": "5"])
        let started = ContinuousClock.now
        do {
            _ = try await http.perform(HTTPRequest(url: base + "/status", timeout: .milliseconds(500)))
            Issue.record("a slow answer did not time out")
        } catch {
            #expect(error == .timedOut(seconds: 0.5))
            #expect(error.isUnreachable)
        }
        #expect(ContinuousClock.now - started < .seconds(3))
        await server.shutdown()
        do {
            _ = try await http.perform(HTTPRequest(url: base + "/status"))
            Issue.record("a closed port answered")
        } catch {
            guard case .couldNotConnect = error else {
                Issue.record("expected couldNotConnect, got \(error)")
                return
            }
        }
        http.shutdown()
    }

    @Test("cancelling the awaiting task aborts a transfer that is in progress")
    func cancellation() async throws {
        let server = try await FakeEMQX.start()
        try await server.control(["fault": "slow", "slow_seconds": "20"])
        let http = HTTPClient(workers: 1)
        let url = "http://127.0.0.1:\(server.port)/api/v5/status"
        let request = Task { try await http.perform(HTTPRequest(url: url, timeout: .seconds(30))) }
        try await Task.sleep(for: .milliseconds(300))
        let started = ContinuousClock.now
        request.cancel()
        let result = await request.result
        #expect(ContinuousClock.now - started < .seconds(3), "the transfer was not aborted")
        #expect(throws: CurlError.cancelled) { try result.get() }
        // The worker is free again for the next request.
        try await server.control(["fault": "none"])
        #expect(try await http.perform(HTTPRequest(url: url)).status == 200)
        http.shutdown()
        await server.shutdown()
    }
}
