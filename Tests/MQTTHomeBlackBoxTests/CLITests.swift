import MQTTHome
import TestSupport
import Testing

@Suite("mqtt-home CLI as a user runs it", .timeLimit(.minutes(1)), .awaitedCleanup)
struct CLITests {
    static func cli(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil) async throws
        -> ProcessResult
    {
        try await ProcessRunner.run(Products.cli, arguments, environment: environment, directory: directory)
    }

    static func brokerArguments(_ harness: DaemonHarness) -> [String] {
        ["--host", "127.0.0.1", "--port", String(harness.broker.port)]
    }

    @Test("--help explains the commands and the exit codes; exit 0")
    func help() async throws {
        let result = try await Self.cli(["--help"])
        #expect(result.exitCode == 0)
        for word in ["health", "methods", "call", "Exit codes", "3 no answer"] {
            #expect(result.standardOutput.contains(word), "missing \(word)")
        }
        let callHelp = try await Self.cli(["call", "--help"])
        #expect(callHelp.exitCode == 0)
        #expect(callHelp.standardOutput.contains("Example"))
    }

    @Test("health prints a readable summary; exit 0")
    func health() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let result = try await Self.cli(["health"] + Self.brokerArguments(harness))
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("mqtt-homed \(MQTTHomeVersion.current)"))
        #expect(result.standardOutput.contains("MQTT 5, connected"))
        #expect(result.standardError.isEmpty)
    }

    @Test("--json prints the result exactly as the RPC returned it, for scripts")
    func json() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let result = try await Self.cli(["health", "--json"] + Self.brokerArguments(harness))
        #expect(result.exitCode == 0)
        let reply = try JSONParser.parse(result.standardOutput.trimmingSuffixNewline)
        #expect(reply["jsonrpc"] == nil, "the envelope is not part of the result")
        #expect(reply["mqtt"]?["connected"] == true)
        #expect(reply["version"] == .string(MQTTHomeVersion.current))
    }

    @Test("methods lists every method; call prints the result as JSON")
    func methodsAndCall() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let methods = try await Self.cli(["methods"] + Self.brokerArguments(harness))
        #expect(methods.exitCode == 0)
        #expect(methods.standardOutput.contains("rpc/methods"))
        #expect(methods.standardOutput.contains("health"))
        let call = try await Self.cli(["call", "rpc/methods", "{}"] + Self.brokerArguments(harness))
        #expect(call.exitCode == 0)
        let result = try JSONParser.parse(call.standardOutput)
        #expect(result["methods"]?.arrayValue?.isEmpty == false)
    }

    @Test("an error reply exits 1 with the daemon's message on one line")
    func rpcError() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let result = try await Self.cli(["call", "devices/nope"] + Self.brokerArguments(harness))
        #expect(result.exitCode == 1)
        #expect(result.standardError == "mqtt-home: error -32601: unknown method 'devices/nope'; call rpc/methods for the list\n")
        let json = try await Self.cli(["call", "health", #"{"x":1}"#, "--json"] + Self.brokerArguments(harness))
        #expect(json.exitCode == 1)
        // The error object (code, message, data) on stdout for scripts, the one line on stderr for people.
        let error = try JSONParser.parse(json.standardOutput.trimmingSuffixNewline)
        #expect(error["code"] == -32602)
        #expect(error["data"]?["parameter"] == "x")
        #expect(json.standardError.hasPrefix("mqtt-home: error -32602"))
    }

    @Test("usage errors exit 2: bad JSON, unknown option, bad port", arguments: [
        ["call", "health", "{nope"], ["call", "health", "[1]"], ["health", "--bogus"], ["health", "--port", "0"],
        ["frobnicate"], ["health", "--timeout", "-1"],
    ])
    func usageErrors(arguments: [String]) async throws {
        let result = try await Self.cli(arguments)
        #expect(result.exitCode == 2, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardError.contains("Error") || result.standardError.contains("error"))
    }

    @Test("a broker with no daemon: exit 3 and a hint that mqtt-homed is not running")
    func noDaemon() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await Self.cli(["health", "--host", "127.0.0.1", "--port", String(broker.port), "--timeout", "1"])
        #expect(result.exitCode == 3)
        #expect(result.standardError.contains("no answer from mqtt-homed on 127.0.0.1:\(broker.port) within 1 s; is it running?"))
        #expect(clock.now - start < .seconds(4))
    }

    @Test("no broker at all: exit 4 with the reason")
    func noBroker() async throws {
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let port = closed.port
        let result = try await Self.cli(["health", "--host", "127.0.0.1", "--port", String(port)])
        #expect(result.exitCode == 4)
        #expect(result.standardError.contains("cannot connect to the broker at 127.0.0.1:\(port): Connection refused"))
    }

    @Test("connection options may come before the subcommand, as with mosquitto's clients")
    func optionsFirst() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let result = try await Self.cli(Self.brokerArguments(harness) + ["call", "health", "{}", "--json"])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(try JSONParser.parse(result.standardOutput.trimmingSuffixNewline)["mqtt"] != nil)
    }

    @Test("settings come from the environment too (MQTT_HOST, MQTT_PORT)")
    func environment() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let result = try await Self.cli(
            ["health"],
            environment: ["MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(harness.broker.port)]
        )
        #expect(result.exitCode == 0, "\(result.standardError)")
        let bad = try await Self.cli(["health"], environment: ["MQTT_PORT": "abc"])
        #expect(bad.exitCode == 2)
        #expect(bad.standardError.contains("MQTT_PORT"))
    }
}

extension String {
    var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
