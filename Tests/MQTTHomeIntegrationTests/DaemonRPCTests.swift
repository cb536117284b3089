import MQTTHome
import Mosquitto
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("mqtt-homed RPC over a real broker", .timeLimit(.minutes(1)), .awaitedCleanup)
struct DaemonRPCTests {
    @Test("retained online status carries version, start time and protocol")
    func onlineStatus() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let status = try #require(await harness.waitForStatus("online"))
        let json = try #require(status.json)
        #expect(json["version"] == .string(MQTTHomeVersion.current))
        #expect(json["protocol"] == "5")
        #expect(json["started_at"]?.stringValue?.hasSuffix("Z") == true)
        // A late subscriber gets it retained.
        let late = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [DaemonHarness.statusTopic])
        let retained = try #require(await late.waitFor(topic: DaemonHarness.statusTopic))
        #expect(retained.retain)
        #expect(retained.json?["state"] == "online")
        await late.close()
    }

    @Test("health over MQTT 5 with response topic and correlation data")
    func healthOverV5() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let rpc = try await harness.rpcClient()
        let reply = try await rpc.call("health", params: JSONObject([("id", "h1")]))
        #expect(reply["jsonrpc"] == "2.0")
        #expect(reply["id"] == "h1")
        let health = try RPCClient.unwrap(reply)
        #expect(health["version"] == .string(MQTTHomeVersion.current))
        #expect(health["mqtt"]?["connected"] == true)
        #expect(health["mqtt"]?["protocol"] == "5")
        #expect(health["mqtt"]?["embedded_broker"] == false)
        #expect(health["mqtt"]?["broker"] == .string("127.0.0.1:\(harness.broker.port)"))
        #expect((health["rpc"]?["received"]?.intValue ?? 0) >= 1)
        #expect((health["uptime_s"]?.doubleValue ?? -1) >= 0)
        await rpc.close()
    }

    @Test("MQTT 3.1.1 callers get their answer on reply_to, with their id")
    func replyToOverV311() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let rpc = try await harness.rpcClient(protocolVersion: .v311)
        #expect(rpc.client.protocolVersion == .v311)
        let reply = try await rpc.call("rpc/methods")
        #expect(reply["id"]?.intValue != nil)
        let names = try RPCClient.unwrap(reply)["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names?.contains("health") == true)
        #expect(names?.contains("rpc/methods") == true)
        await rpc.close()
    }

    @Test("the real mosquitto_rr works, with and without correlation data")
    func mosquittoRR() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let port = String(harness.broker.port)
        let plain = try await ProcessRunner.run(
            "/usr/bin/mosquitto_rr",
            ["-p", port, "-t", "mqtt-home/rpc/health", "-e", "mqtt-home/reply/rr/1", "-m", "{}", "-W", "5"]
        )
        #expect(plain.exitCode == 0, "\(plain.standardError)")
        let reply = try JSONParser.parse(plain.standardOutput)
        #expect(reply["result"]?["version"] == .string(MQTTHomeVersion.current))

        // A reply topic outside RPC_REPLY_TOPICS is refused: no answer, and the log says what is allowed.
        // (mosquitto_rr's own -W relies on SIGALRM, which the test runner's threads block for their children, so
        // the runner's timeout ends it.)
        let refused = try await ProcessRunner.run(
            "/usr/bin/mosquitto_rr",
            ["-p", port, "-t", "mqtt-home/rpc/health", "-e", "test/reply/1", "-m", "{}", "-W", "1"],
            timeout: 2
        )
        #expect(refused.exitCode != 0 && refused.standardOutput.isEmpty, "answered: \(refused.standardOutput)")
        #expect(await harness.daemon.waitForLog("matches none of RPC_REPLY_TOPICS (mqtt-home/reply/#)"))

        let correlated = try await ProcessRunner.run(
            "/usr/bin/mosquitto_rr",
            [
                "-p", port, "-t", "mqtt-home/rpc/health", "-e", "mqtt-home/reply/rr/2", "-m", "", "-W", "5",
                "-D", "publish", "correlation-data", "req-42", "-F", "%D|%p",
            ]
        )
        #expect(correlated.exitCode == 0, "\(correlated.standardError)")
        let parts = correlated.standardOutput.split(separator: "|", maxSplits: 1)
        #expect(parts.first == "req-42")
        #expect(try JSONParser.parse(String(parts.last ?? ""))["result"] != nil)
    }

    @Test("protocol errors are answered with JSON-RPC codes")
    func protocolErrors() async throws {
        let harness = try await DaemonHarness.start(environment: ["RPC_MAX_PAYLOAD_BYTES": "1024"])
        cleanup { await harness.shutdown() }
        let port = String(harness.broker.port)
        func rr(_ topic: String, _ payload: String) async throws -> JSONValue {
            let result = try await ProcessRunner.run(
                "/usr/bin/mosquitto_rr",
                ["-p", port, "-t", topic, "-e", "mqtt-home/reply/rr/err", "-m", payload, "-W", "5"]
            )
            #expect(result.exitCode == 0, "\(result.standardError)")
            return try JSONParser.parse(result.standardOutput)
        }
        let unknown = try await rr("mqtt-home/rpc/no/such", #"{"id":9}"#)
        #expect(unknown["error"]?["code"] == -32601)
        #expect(unknown["id"] == 9)
        #expect(try await rr("mqtt-home/rpc/health", "{oops")["error"]?["code"] == -32700)
        #expect(try await rr("mqtt-home/rpc/health", "42")["error"]?["code"] == -32600)
        let invalid = try await rr("mqtt-home/rpc/health", #"{"verbose":true}"#)
        #expect(invalid["error"]?["code"] == -32602)
        #expect(invalid["error"]?["data"]?["parameter"] == "verbose")
        let big = try await rr("mqtt-home/rpc/health", "{\"x\":\"" + String(repeating: "a", count: 2000) + "\"}")
        #expect(big["error"]?["code"] == -32001)
        #expect(big["error"]?["message"]?.stringValue?.contains("1024") == true)
        // The daemon still serves after all of that.
        #expect(try await rr("mqtt-home/rpc/health", "{}")["result"] != nil)
    }

    @Test("a request with no reply route is executed and logged, not answered")
    func noReplyRoute() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let publisher = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [], protocolVersion: .v311)
        try publisher.client.publish("mqtt-home/rpc/health", payload: Array("{}".utf8))
        #expect(await harness.daemon.waitForLog("no response topic and no reply_to"))
        let rpc = try await harness.rpcClient()
        let health = try await rpc.result("health")
        #expect(health["rpc"]?["unanswered"] == 1)
        await rpc.close()
        await publisher.close()
    }

    @Test("with RPC_SHARE_GROUP two daemons share the requests, each answered exactly once")
    func sharedSubscription() async throws {
        let harness = try await DaemonHarness.start(environment: ["RPC_SHARE_GROUP": "homes"])
        cleanup { await harness.shutdown() }
        let second = try BackgroundProcess.daemon(environment: [
            "MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(harness.broker.port), "RPC_SHARE_GROUP": "homes",
            "LOG_LEVEL": "debug",
        ])
        cleanup { await second.shutdown() }
        #expect(await second.waitForLog("[MQTTHome] online"))
        try await Task.sleep(for: .milliseconds(200))  // its SUBACK
        let rpc = try await harness.rpcClient()
        for _ in 0..<20 { _ = try await rpc.result("rpc/methods") }
        await rpc.close()
        func served(_ log: String) -> Int { log.split(separator: "\n").filter { $0.contains("rpc.method=rpc/methods") }.count }
        // A daemon may write its log line just after its reply arrived here: give the logs a moment to catch up.
        var (first, other) = (0, 0)
        for _ in 0..<100 {
            (first, other) = (served(harness.daemon.log), served(second.log))
            if first + other >= 20 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(first + other == 20)
        #expect(first > 0 && other > 0, "first \(first), second \(other)")
    }

    @Test("a retained request is ignored: it would run again at every subscribe")
    func retainedRequestIgnored() async throws {
        let broker = try await TestBroker.start()
        let publisher = try await MessageCollector.connect(port: broker.port, subscribeTo: ["test/retained-reply"])
        try await publisher.client.publishAndWait(
            "mqtt-home/rpc/health",
            payload: Array(#"{"reply_to":"test/retained-reply"}"#.utf8),
            retain: true
        )
        let harness = try await DaemonHarness.start(broker: broker)
        cleanup { await harness.shutdown() }
        #expect(await harness.daemon.waitForLog("ignoring a retained RPC request"))
        #expect(await publisher.waitFor(topic: "test/retained-reply", timeout: 0.5) == nil)
        await publisher.close()
    }

    @Test("RPC_RATE_LIMIT: a caller past its rate gets -32015 with retry_after_ms; other callers are unaffected")
    func rateLimit() async throws {
        let harness = try await DaemonHarness.start(environment: ["RPC_RATE_LIMIT": "0.2", "RPC_RATE_BURST": "5"])
        cleanup { await harness.shutdown() }
        let greedy = try await harness.rpcClient()
        let outcomes = await withTaskGroup(of: Int?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    do {
                        _ = try await greedy.result("health")
                        return 0
                    } catch let error as RPCError {
                        return error.code
                    } catch {
                        return nil
                    }
                }
            }
            var codes: [Int?] = []
            for await code in group { codes.append(code) }
            return codes
        }
        #expect(outcomes.filter { $0 == 0 }.count >= 5)
        #expect(outcomes.filter { $0 == -32015 }.count >= 10, "\(outcomes)")
        do {
            _ = try await greedy.result("health")
            Issue.record("no limit right after a burst")
        } catch let error as RPCError {
            #expect(error.code == -32015)
            #expect((error.data?["retry_after_ms"]?.intValue ?? 0) > 0)
            #expect(error.message.contains("at most 0.2 requests per second per caller"))
        }
        let other = try await harness.rpcClient()
        let health = try await other.result("health")
        #expect((health["rpc"]?["rate_limited"]?.intValue ?? 0) >= 10)
        #expect(health["rpc"]?["rate_limit_per_s"] == 0.2)
        await greedy.close()
        await other.close()
    }
}
