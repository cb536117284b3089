import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

@Suite("TLS through libmosquitto", .timeLimit(.minutes(1)), .awaitedCleanup)
struct TLSTests {
    /// A CA and a server certificate for localhost, made with openssl for this test only.
    static func makeCertificates(in directory: String, caName: String) async throws {
        func openssl(_ arguments: [String]) async throws {
            let result = try await ProcessRunner.run("/usr/bin/openssl", arguments, directory: directory)
            guard result.exitCode == 0 else { throw HarnessError(description: "openssl \(arguments): \(result.standardError)") }
        }
        try await openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(caName).key", "-out", "\(caName).crt",
            "-days", "2", "-subj", "/CN=\(caName)",
        ])
        try await openssl([
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
        ])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: directory + "/san.ext")
        try await openssl([
            "x509", "-req", "-in", "server.csr", "-CA", "\(caName).crt", "-CAkey", "\(caName).key", "-CAcreateserial",
            "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
        ])
    }

    /// A broker with a plain loopback listener and a TLS one signed by `ca.crt`; `other.crt` is a CA that did not sign it.
    static func tlsBroker(in dir: String) async throws -> (TestBroker, Int) {
        try await makeCertificates(in: dir, caName: "ca")
        try await ProcessRunner.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            "other.key", "-out", "other.crt", "-days", "2", "-subj", "/CN=other"], directory: dir).expectSuccess()
        // Another test's broker may take the chosen port before this one binds it: then choose again.
        var attempt = 0
        while true {
            attempt += 1
            let tlsPort = try #require(LoopbackPort.free())
            do {
                let broker = try await TestBroker.start(extraConfiguration: [
                    "listener \(tlsPort) 127.0.0.1", "cafile \(dir)/ca.crt", "certfile \(dir)/server.crt", "keyfile \(dir)/server.key",
                ])
                return (broker, tlsPort)
            } catch where attempt < 3 {
                continue
            }
        }
    }

    static func client(port: Int, caFile: String, reconnect: Bool = false) throws -> MosquittoClient {
        try MosquittoClient(
            configuration: .init(
                host: "localhost",
                port: port,
                clientID: RPCClient.uniqueClientID(prefix: "tls-test"),
                tls: .init(caFile: caFile),
                reconnectDelayInitial: .milliseconds(100),
                reconnect: reconnect
            ),
            logger: Logger(label: "tls-test")
        )
    }

    @Test("connects over TLS with the right CA; the wrong CA fails with a clear reason")
    func tls() async throws {
        let certificates = try TemporaryDirectory(prefix: "tls")
        defer { certificates.remove() }
        let dir = certificates.path
        let (broker, tlsPort) = try await Self.tlsBroker(in: dir)
        cleanup { await broker.shutdown() }

        // Retrying, as the daemon's link does: under the whole parallel suite an attempt once got no CONNACK for 30 s
        // (the keepalive then ended it); now an attempt ends at connectTimeout (10 s), its warning says whether TCP
        // had connected, and the next one is made. A TLS setup that never works still fails.
        let good = try Self.client(port: tlsPort, caFile: dir + "/ca.crt", reconnect: true)
        try await withTimeout(.seconds(40)) { try await good.connect() }
        try await good.publishAndWait("tls/check", payload: [1])
        await good.disconnect()

        let wrong = try Self.client(port: tlsPort, caFile: dir + "/other.crt")
        do {
            try await withTimeout(.seconds(30)) { try await wrong.connect() }
            Issue.record("connected with the wrong CA")
        } catch {
            #expect("\(error)".contains("TLS handshake failed"), "\(error)")
        }
        await wrong.disconnect()
    }

    @Test("mqtt-homed and mqtt-home over TLS: the right CA works end to end; the wrong one is refused with the reason")
    func daemonAndCLI() async throws {
        let certificates = try TemporaryDirectory(prefix: "tls-daemon")
        defer { certificates.remove() }
        let dir = certificates.path
        let (broker, tlsPort) = try await Self.tlsBroker(in: dir)
        // The daemon talks TLS; the harness watches its status on the plain loopback listener of the same broker.
        let harness = try await DaemonHarness.start(
            environment: ["MQTT_HOST": "localhost", "MQTT_PORT": String(tlsPort), "MQTT_TLS_CA_FILE": dir + "/ca.crt"],
            broker: broker
        )
        cleanup { await harness.shutdown() }
        let health = try await ProcessRunner.run(
            Products.cli, ["health", "--json", "--host", "localhost", "--port", String(tlsPort)],
            environment: ["MQTT_TLS_CA_FILE": dir + "/ca.crt"]
        )
        #expect(health.exitCode == 0, "\(health.standardError)")
        let result = try JSONParser.parse(health.standardOutput)
        #expect(result["mqtt"]?["tls"] == true)
        #expect(result["mqtt"]?["broker"] == .string("localhost:\(tlsPort)"))

        let wrongCLI = try await ProcessRunner.run(
            Products.cli, ["health", "--host", "localhost", "--port", String(tlsPort)],
            environment: ["MQTT_TLS_CA_FILE": dir + "/other.crt"]
        )
        #expect(wrongCLI.exitCode == 4)
        #expect(wrongCLI.standardError.contains("TLS handshake failed"), "\(wrongCLI.standardError)")

        let wrongDaemon = try BackgroundProcess.daemon(environment: [
            "MQTT_HOST": "localhost", "MQTT_PORT": String(tlsPort), "MQTT_TLS_CA_FILE": dir + "/other.crt",
            "MQTT_CLIENT_ID": "wrong-ca", "BASE_TOPIC": "wrong-ca",
        ])
        #expect(await wrongDaemon.waitForLog("TLS handshake failed", timeout: 10), "\(wrongDaemon.log)")
        #expect(wrongDaemon.isRunning, "a TLS failure is retried, not fatal")
        await wrongDaemon.shutdown()
    }

    @Test("an unreadable CA file is refused at configuration time, naming the file")
    func missingCAFile() {
        #expect {
            try Self.client(port: 8883, caFile: "/nonexistent/ca.crt")
        } throws: { error in
            "\(error)".contains("/nonexistent/ca.crt") && "\(error)".contains("cannot be read")
        }
    }
}

extension ProcessResult {
    func expectSuccess() {
        #expect(exitCode == 0, "\(standardError)")
    }
}

extension String {
    func write(toFile path: String) throws {
        try FileSystem.write(self, to: path)
    }
}
