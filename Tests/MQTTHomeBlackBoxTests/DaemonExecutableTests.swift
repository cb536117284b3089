import Foundation
import MQTTHome
import TestSupport
import Testing

@Suite("mqtt-homed as a user runs it", .timeLimit(.minutes(1)), .awaitedCleanup)
struct DaemonExecutableTests {
    @Test(
        "an invalid setting stops start-up with one line naming the key; exit 2",
        arguments: [
            ("MQTT_PORT", "abc"), ("LOG_LEVEL", "loud"), ("BASE_TOPIC", "a/+/b"), ("RPC_MAX_PAYLOAD_BYTES", "lots"),
            ("EMQX_API_URL", "emqx.lan:18083"),
        ]
    )
    func invalidSetting(key: String, value: String) async throws {
        let result = try await ProcessRunner.run(Products.daemon, [], environment: [key: value], timeout: 10)
        #expect(result.exitCode == 2)
        #expect(result.standardError.hasPrefix("mqtt-homed: configuration error: \(key) "))
        #expect(result.standardError.split(separator: "\n").count == 1)
    }

    @Test("a bad value in .env is reported the same way; the environment wins over .env")
    func dotEnv() async throws {
        let directory = try TemporaryDirectory(prefix: "dotenv")
        defer { directory.remove() }
        try "MQTT_PORT=notaport\n".write(toFile: directory.path + "/.env", atomically: true, encoding: .utf8)
        let fromFile = try await ProcessRunner.run(Products.daemon, [], directory: directory.path, timeout: 10)
        #expect(fromFile.exitCode == 2)
        #expect(fromFile.standardError.contains("MQTT_PORT must be a whole number"))
        let overridden = try await ProcessRunner.run(
            Products.daemon,
            [],
            environment: ["MQTT_PORT": "x2"],
            directory: directory.path,
            timeout: 10
        )
        #expect(overridden.standardError.contains("got 'x2'"))
    }

    @Test("--version and --help exit 0; an unknown argument exits 2")
    func arguments() async throws {
        let version = try await ProcessRunner.run(Products.daemon, ["--version"])
        #expect(version.exitCode == 0 && version.standardOutput == "mqtt-homed \(MQTTHomeVersion.current)\n")
        let help = try await ProcessRunner.run(Products.daemon, ["--help"])
        #expect(help.exitCode == 0 && help.standardOutput.contains("SIGTERM"))
        let bad = try await ProcessRunner.run(Products.daemon, ["--port", "1"])
        #expect(bad.exitCode == 2 && bad.standardError.contains("unknown argument '--port'"))
    }

    @Test("a start-up that fails after the embedded broker started (an unreadable database) stops that broker too")
    func failedStartStopsEmbeddedBroker() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-home-embedded-fail")
        defer { directory.remove() }
        chmod(directory.path, 0o711)
        try FileManager.default.createDirectory(atPath: directory.path + "/data", withIntermediateDirectories: true)
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: directory.path + "/data/mqtt-home.sqlite"))
        let result = try await ProcessRunner.run(Products.daemon, [], environment: ["DATA_DIR": "data"], directory: directory.path, timeout: 30)
        #expect(result.exitCode != 0)
        #expect(result.standardError.contains("database") || result.standardOutput.contains("database"), "\(result.standardError)")
        let log = result.standardError + result.standardOutput
        let started = try #require(log.split(separator: "\n").first { $0.contains("embedded mosquitto started") }, "\(log)")
        let pidField = try #require(started.split(separator: " ").first { $0.hasPrefix("broker.pid=") })
        let brokerPID = try #require(Int32(pidField.dropFirst("broker.pid=".count)))
        #expect(log.contains("embedded mosquitto stopped"))
        // Gone (reaped), not left holding the port.
        #expect(kill(brokerPID, 0) != 0, "the embedded mosquitto \(brokerPID) outlived the failed start")
    }

    @Test("with no MQTT_HOST it runs its own mosquitto, the CLI finds it, and SIGTERM stops both")
    func embeddedBroker() async throws {
        // Run as root, the broker drops to an unprivileged user, which must be able to pass through the directory.
        let directory = try TemporaryDirectory(prefix: "mqtt-home-embedded")
        chmod(directory.path, 0o711)
        let daemon = try BackgroundProcess.daemon(environment: ["DATA_DIR": "data"], directory: directory)
        cleanup { await daemon.shutdown() }
        #expect(await daemon.waitForLog("running an embedded mosquitto on 127.0.0.1:"), "\(daemon.log)")
        #expect(await daemon.waitForLog("online"))
        let recorded = try #require(EmbeddedBroker.recordedPort(directory: daemon.directory.path + "/data/mosquitto"))
        let brokerPID = try #require(
            Int32(try String(contentsOfFile: daemon.directory.path + "/data/mosquitto/mosquitto.pid", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines))
        )
        // The CLI, run in the same directory with no settings, finds the embedded broker by itself.
        let health = try await ProcessRunner.run(Products.cli, ["health", "--json"], directory: daemon.directory.path)
        #expect(health.exitCode == 0, "\(health.standardError)")
        let result = try JSONParser.parse(String(health.standardOutput.dropLast())) as JSONValue?
        #expect(result?["mqtt"]?["embedded_broker"] == true)
        #expect(result?["mqtt"]?["broker"] == .string("127.0.0.1:\(recorded)"))
        // No EMQX configured: libcurl is never loaded (health says null) nor mapped into the daemon.
        #expect(result?["libcurl"] == .null)
        let maps = try String(contentsOfFile: "/proc/\(daemon.pid)/maps", encoding: .utf8)
        #expect(!maps.contains("libcurl"), "libcurl is mapped into a daemon without EMQX")

        // What the daemon and its broker said, for a failure below.
        func logs() -> String {
            let broker = (try? String(contentsOfFile: daemon.directory.path + "/data/mosquitto/mosquitto.log", encoding: .utf8)) ?? ""
            return "daemon log:\n\(daemon.log)\nmosquitto log:\n\(broker)"
        }
        // Private: an anonymous client, or one with a made-up login, is refused; the CLI's login is in a 0600 file.
        let anonymous = try await ProcessRunner.run("/usr/bin/mosquitto_sub", ["-p", String(recorded), "-t", "#", "-W", "1"])
        #expect(anonymous.standardError.contains("not authorised"), "\(anonymous.exitCode) \(anonymous.standardError)\n\(logs())")
        let guessed = try await ProcessRunner.run(
            "/usr/bin/mosquitto_sub", ["-p", String(recorded), "-u", EmbeddedBroker.cliUser, "-P", "guess", "-t", "#", "-W", "1"]
        )
        #expect(guessed.standardError.contains("not authorised"), "\(guessed.standardError)\n\(logs())")
        let data = daemon.directory.path + "/data"
        func mode(_ path: String) -> mode_t? {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
        }
        #expect(mode(data) == (geteuid() == 0 ? 0o711 : 0o700))
        #expect(mode(data + "/mosquitto") == 0o700)
        for file in ["mqtt-home.sqlite", "mqtt-homed.lock", "mosquitto/cli.credentials", "mosquitto/daemon.credentials", "mosquitto/passwd", "mosquitto/acl", "mosquitto/mosquitto.conf"] {
            #expect(mode(data + "/" + file) == 0o600, "\(file) is \(String(mode(data + "/" + file) ?? 0, radix: 8))")
        }
        let conf = try String(contentsOfFile: data + "/mosquitto/mosquitto.conf", encoding: .utf8)
        #expect(conf.contains("allow_anonymous false") && !conf.contains("allow_anonymous true"))
        // Started as root, mosquitto does not stay root.
        let status = try #require(try? String(contentsOfFile: "/proc/\(brokerPID)/status", encoding: .utf8), "\(logs())")
        let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().first
        if geteuid() == 0 { #expect(uid != "0", "the embedded mosquitto runs as root") }
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
        #expect(kill(brokerPID, 0) != 0, "the embedded mosquitto outlived the daemon")
        #expect(FileManager.default.fileExists(atPath: daemon.directory.path + "/data/mosquitto/mosquitto.conf"))
    }

    @Test("another process takes the embedded broker's port just before mosquitto binds it: the daemon moves to another port and never connects to that process")
    func portTakenBeforeMosquittoBinds() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-home-embedded-race")
        chmod(directory.path, 0o711)
        let thief = try TemporaryDirectory(prefix: "port-thief")
        cleanup {
            if let text = try? String(contentsOfFile: thief.path + "/thief.pid", encoding: .utf8), let pid = Int32(text.filter { !$0.isWhitespace }) {
                kill(pid, SIGTERM)
            }
            thief.remove()
        }
        // The daemon finds mosquitto on PATH: Tests/Fixtures/port-thief/mosquitto lets port-thief.py take the port first.
        let path = Fixtures.path("port-thief") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let daemon = try BackgroundProcess.daemon(
            environment: ["DATA_DIR": "data", "PATH": path, "PORT_THIEF_DIR": thief.path],
            directory: directory
        )
        cleanup { await daemon.shutdown() }
        #expect(await daemon.waitForLog("] online"), "\(daemon.log)")
        #expect(daemon.log.contains("another process took the embedded broker's port before mosquitto could listen on it"), "\(daemon.log)")
        let thiefLog = { (try? String(contentsOfFile: thief.path + "/thief.log", encoding: .utf8)) ?? "" }
        let stolen = try #require(thiefLog().split(separator: "\n").first.flatMap { Int($0.dropFirst("listening ".count)) }, "\(thiefLog())")
        let recorded = try #require(EmbeddedBroker.recordedPort(directory: directory.path + "/data/mosquitto"))
        #expect(recorded != stolen)
        let health = try await ProcessRunner.run(Products.cli, ["health", "--json"], directory: directory.path)
        #expect(health.exitCode == 0, "\(health.standardError)")
        let result = try JSONParser.parse(String(health.standardOutput.dropLast())) as JSONValue?
        #expect(result?["mqtt"]?["broker"] == .string("127.0.0.1:\(recorded)"))
        // Neither the daemon (with its generated login) nor the CLI ever reached the process on the stolen port.
        #expect(!thiefLog().contains("connection"), "\(thiefLog())")
    }

    @Test("the embedded mosquitto killed while another process takes its port: neither the daemon nor the CLI connect there; restarted on the same port once it is free")
    func brokerDiesAndItsPortIsTaken() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-home-embedded-restart")
        chmod(directory.path, 0o711)
        let daemon = try BackgroundProcess.daemon(environment: ["DATA_DIR": "data", "MQTT_RECONNECT_MAX_DELAY": "1"], directory: directory)
        cleanup {
            daemon.signal(SIGCONT)
            await daemon.shutdown()
        }
        #expect(await daemon.waitForLog("] online"), "\(daemon.log)")
        let brokerDirectory = directory.path + "/data/mosquitto"
        let port = try #require(EmbeddedBroker.recordedPort(directory: brokerDirectory))
        let brokerPID = try #require(Int32(try String(contentsOfFile: brokerDirectory + "/mosquitto.pid", encoding: .utf8).filter { !$0.isWhitespace }))
        // The daemon is held still while the broker dies and the test takes the port (on a loaded machine the
        // daemon's restart could otherwise come first); the listener is released at the end of the block.
        daemon.signal(SIGSTOP)
        kill(brokerPID, SIGKILL)
        do {
            var taken: SilentListener? = nil
            for _ in 0..<200 where taken == nil {
                taken = try? SilentListener(port: port)
                if taken == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            daemon.signal(SIGCONT)
            let thief = try #require(taken, "port \(port) never came free after the broker was killed")
            #expect(await daemon.waitForLog("cannot restart embedded mosquitto; retrying with backoff"), "\(daemon.log)")
            #expect(await daemon.waitForLog("the embedded mosquitto is not listening on its port"), "\(daemon.log)")
            // The CLI, finding the daemon's broker by itself, does not hand its login to the holder either.
            let refused = try await ProcessRunner.run(Products.cli, ["health", "--timeout", "2"], directory: directory.path)
            #expect(refused.exitCode == 4)
            #expect(refused.standardError.contains("mqtt-homed's embedded mosquitto is not listening on 127.0.0.1:\(port)"), "\(refused.standardError)")
            try await Task.sleep(for: .seconds(2))
            #expect(thief.acceptPending() == 0, "the daemon or the CLI connected to another process on its broker's port")
        }
        #expect(await daemon.waitForLog("embedded mosquitto restarted", timeout: 20), "\(daemon.log)")
        // Requests sent before the daemon is back on the new broker go to nobody: wait for its second `online`.
        for _ in 0..<500 where daemon.log.components(separatedBy: "] online").count < 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let health = try await ProcessRunner.run(Products.cli, ["health", "--json", "--timeout", "10"], directory: directory.path)
        #expect(health.exitCode == 0, "\(health.standardError)\n\(daemon.log)")
        let result = try JSONParser.parse(String(health.standardOutput.dropLast())) as JSONValue?
        #expect(result?["mqtt"]?["broker"] == .string("127.0.0.1:\(port)"))
        #expect(result?["mqtt"]?["connected"] == true)
    }

    @Test("the MQTT password and the EMQX API secret never appear in logs or replies, even at trace level")
    func secretsStaySecret() async throws {
        let passwords = try TemporaryDirectory(prefix: "passwd")
        defer { passwords.remove() }
        let secret = "s3cr3t-Pa55-\(Int.random(in: 1000...9999))"
        let made = try await ProcessRunner.run(
            "/usr/bin/mosquitto_passwd",
            ["-b", "-c", passwords.path + "/passwd", "homed", secret]
        )
        #expect(made.exitCode == 0)
        let emqx = try await FakeEMQX.start()
        cleanup { await emqx.shutdown() }
        let broker = try await TestBroker.start(extraConfiguration: ["password_file \(passwords.path)/passwd"])
        let harness = try await DaemonHarness.start(
            environment: ["MQTT_USERNAME": "homed", "MQTT_PASSWORD": secret, "LOG_LEVEL": "trace"]
                .merging(emqx.environment(pollInterval: 0.3)) { $1 },
            broker: broker
        )
        cleanup { await harness.shutdown() }
        // A key rotated away and back: the failure is logged, the secret is not.
        try await emqx.control(["api_secret": "rotated"])
        #expect(await harness.daemon.waitForLog("EMQX API auth_failed", timeout: 10))
        try await emqx.control(["api_secret": FakeEMQX.apiSecret])
        var replies = ""
        for arguments in [["health", "--json"], ["broker", "status", "--json"], ["call", "rpc/methods"], ["dashboard", "--json"]] {
            let result = try await ProcessRunner.run(Products.cli, arguments + ["--host", "127.0.0.1", "--port", String(broker.port)])
            #expect(result.exitCode == 0, "\(arguments): \(result.standardError)")
            replies += result.standardOutput + result.standardError
        }
        // The EMQX bridge loaded libcurl: health names its version.
        #expect(replies.contains("libcurl/"), "no libcurl version in health with EMQX configured")
        for hidden in [secret, FakeEMQX.apiSecret] {
            #expect(!replies.contains(hidden), "a secret in a reply")
            #expect(!harness.daemon.log.contains(hidden), "a secret in the log")
        }
        #expect(harness.daemon.log.contains("connected to broker"))
    }

    @Test("wrong credentials: the daemon keeps retrying and says why, once")
    func wrongCredentials() async throws {
        let passwords = try TemporaryDirectory(prefix: "passwd")
        defer { passwords.remove() }
        _ = try await ProcessRunner.run("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords.path + "/passwd", "homed", "right"])
        let broker = try await TestBroker.start(extraConfiguration: ["password_file \(passwords.path)/passwd"])
        let daemon = try BackgroundProcess.daemon(environment: [
            "MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(broker.port), "MQTT_USERNAME": "homed",
            "MQTT_PASSWORD": "wrong", "MQTT_RECONNECT_MAX_DELAY": "1",
        ])
        cleanup { await daemon.shutdown(); await broker.shutdown() }
        try await Task.sleep(for: .seconds(2.5))
        #expect(daemon.isRunning)
        let log = daemon.log
        #expect(log.components(separatedBy: "broker refused the connection").count == 2, "\(log)")
        #expect(log.contains("Not authorized (reason 135); check the username and password"))
    }

    @Test("a second mqtt-homed on the same DATA_DIR refuses to start and names the first; exit 1")
    func oneDaemonPerDataDirectory() async throws {
        let directory = try TemporaryDirectory(prefix: "shared-data")
        let first = try await DaemonHarness.start(directory: directory)
        cleanup { await first.shutdown() }
        let second = try BackgroundProcess.daemon(
            environment: ["MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(first.broker.port)],
            directory: directory
        )
        #expect(await second.waitForExit(timeout: 10) == 1)
        #expect(second.log.contains("another mqtt-homed (pid \(first.daemon.pid)) is using this DATA_DIR"), "\(second.log)")
        #expect(first.daemon.isRunning)
        #expect(try await first.call("health")["mqtt"]?["connected"] == true)
    }
}
