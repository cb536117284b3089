import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// The broker bridge end to end: a real mqtt-homed and mosquitto, with EMQX played by `fake-emqx.py`.
/// Runs in scripts/test's serial phase (`MQTT_HOME_SERIAL=1`): its bounds ("other methods answer within 500 ms while
/// EMQX hangs", 25,000 clients within EMQX_TIMEOUT) are about the daemon, and in the parallel phase on 2 cores they
/// measured the other suites' load instead (failed in several loaded runs, never alone).
@Suite(
    "Broker bridge: EMQX REST (fake server) and mosquitto $SYS",
    .serialPhase,
    .timeLimit(.minutes(2))
)
struct BrokerBridgeTests {
    static let statusTopic = "mqtt-home/broker/status"
    static let nodesTopic = "mqtt-home/broker/nodes"

    /// Starts the fake EMQX, the broker and the daemon configured for it, and an observer of `<base>/broker/#`.
    func start(clients: Int = 3, pollInterval: Double = 0.3, timeout: Double = 2) async throws
        -> (FakeEMQX, DaemonHarness, MessageCollector)
    {
        let emqx = try await FakeEMQX.start(clients: clients)
        let harness = try await DaemonHarness.start(environment: emqx.environment(pollInterval: pollInterval, timeout: timeout))
        let observer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["mqtt-home/broker/#"])
        return (emqx, harness, observer)
    }

    func stop(_ emqx: FakeEMQX, _ harness: DaemonHarness, _ observer: MessageCollector) async {
        await observer.close()
        await harness.shutdown()
        await emqx.shutdown()
    }

    func state(_ message: MQTTMessage) -> String? { message.json?["state"]?.stringValue }

    @Test("EMQX figures become the retained status and nodes topics, with rates from successive counters")
    func emqxStatus() async throws {
        let (emqx, harness, observer) = try await start()
        let withRates = await observer.waitFor(topic: Self.statusTopic) {
            $0.json?["rates"]?["messages_received_per_s"]?.doubleValue != nil
        }
        let status = try #require(withRates?.json, "no status with rates; daemon log:\n\(harness.daemon.log)")
        let late = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [Self.statusTopic])
        #expect(await late.waitFor(topic: Self.statusTopic) { $0.retain } != nil, "the status is not retained")
        await late.close()
        #expect(status["source"] == "emqx")
        #expect(status["state"] == "ok")
        #expect(status["version"] == "5.8.9")
        #expect(status["nodes"] == 1)  // the stopped member is not counted
        #expect(status["connections"] == 3)
        #expect(status["live_connections"] == 3)
        #expect(status["subscriptions"] == 6)
        #expect(status["retained"] == 42)
        #expect((status["uptime_s"]?.intValue ?? 0) >= 3600)
        #expect((status["messages_received"]?.intValue ?? -1) >= 0)
        // The fake counts 50 received messages a second.
        let rate = status["rates"]?["messages_received_per_s"]?.doubleValue ?? 0
        #expect(rate > 30 && rate < 70, "rate \(rate)")
        #expect(status["error"] == nil)

        let nodes = try #require(await observer.waitFor(topic: Self.nodesTopic)?.json)
        #expect(nodes["nodes"]?["emqx@127.0.0.1"]?["status"] == "running")
        #expect(nodes["nodes"]?["emqx@127.0.0.1"]?["memory_used"] == 172_392_448)
        #expect(nodes["nodes"]?["emqx@10.0.0.2"] == ["status": "stopped", "role": "core"])

        let answer = try await harness.call("broker/status")
        #expect(answer["source"] == "emqx" && answer["state"] == "ok")
        #expect(answer["cluster"]?["emqx@127.0.0.1"]?["version"] == "5.8.9")
        let health = try await harness.call("health")
        #expect(health["broker_bridge"]?["source"] == "emqx")
        #expect((health["broker_bridge"]?["polls"]?.intValue ?? 0) >= 2)
        #expect(!health.jsonString.contains(FakeEMQX.apiSecret) && !answer.jsonString.contains(FakeEMQX.apiSecret))
        #expect(!harness.daemon.log.contains(FakeEMQX.apiSecret))
        await stop(emqx, harness, observer)
    }

    @Test("broker/clients pages 25,000 clients by EMQX's hasnext; broker/client finds one or answers -32011")
    func clientPaging() async throws {
        let (emqx, harness, observer) = try await start(clients: 25_000, pollInterval: 5)
        let rpc = try await harness.rpcClient()
        var seen = Set<String>()
        var cursor: JSONValue = .null
        var pages = 0
        repeat {
            var params = JSONObject([("limit", 10_000)])
            if !cursor.isNull { params["cursor"] = cursor }
            let page = try await rpc.result("broker/clients", params: params, timeout: .seconds(30))
            let items = try #require(page["items"]?.arrayValue)
            for item in items { seen.insert(item["clientid"]?.stringValue ?? "") }
            #expect(page["total"] == 25_000)
            cursor = page["next_cursor"] ?? .null
            pages += 1
        } while !cursor.isNull && pages < 10
        #expect(pages == 3)
        #expect(seen.count == 25_000)
        #expect(seen.contains("client-00000") && seen.contains("client-24999"))

        // A fuzzy filter makes EMQX leave `count` out: paging still ends, on hasnext alone.
        let filtered = try await rpc.result("broker/clients", params: ["like_clientid": "client-0000", "limit": 4])
        #expect(filtered["items"]?.arrayValue?.count == 4)
        #expect(filtered["total"] == .null)
        let second = try await rpc.result(
            "broker/clients",
            params: ["like_clientid": "client-0000", "cursor": filtered["next_cursor"] ?? .null]
        )
        #expect(second["items"]?.arrayValue?.map { $0["clientid"]?.stringValue ?? "" } == ["client-00004", "client-00005", "client-00006", "client-00007"])
        let last = try await rpc.result("broker/clients", params: ["like_clientid": "client-0000", "cursor": "3:4"])
        #expect(last["items"]?.arrayValue?.count == 2)
        #expect(last["next_cursor"] == .null)

        let one = try await rpc.result("broker/client", params: ["clientid": "client-00042"])
        #expect(one["clientid"] == "client-00042")
        #expect(one["recv_msg.qos1"] == 10, "dotted keys are kept as EMQX sends them")
        do {
            _ = try await rpc.result("broker/client", params: ["clientid": "ghost/with spaces"])
            Issue.record("an unknown client id was answered")
        } catch let error as RPCError {
            #expect(error.code == -32011)
            #expect(error.message.contains("client not found"))
        }
        do {
            _ = try await rpc.result("broker/clients", params: ["cursor": "not-a-cursor"])
            Issue.record("a bad cursor was accepted")
        } catch let error as RPCError {
            #expect(error.code == -32602)
        }
        do {
            _ = try await rpc.result("broker/clients", params: ["limit": 10_001])
            Issue.record("a limit over 10000 was accepted")
        } catch let error as RPCError {
            #expect(error.code == -32602)
        }

        let subscriptions = try await rpc.result("broker/subscriptions", params: ["clientid": "client-00007"])
        #expect(subscriptions["items"]?.arrayValue?.map { $0["topic"]?.stringValue ?? "" } == ["home/00007/state", "home/+/set"])
        let topics = try await rpc.result("broker/topics", params: ["topic": "home/00003/state"])
        #expect(topics["items"] == [["topic": "home/00003/state", "node": "emqx@127.0.0.1"]])
        await rpc.close()
        await stop(emqx, harness, observer)
    }

    @Test("a rotated key: 401 is auth_failed (not unreachable), and ok again once the key works")
    func keyRotation() async throws {
        let (emqx, harness, observer) = try await start()
        #expect(await observer.waitFor(topic: Self.statusTopic) { state($0) == "ok" } != nil)
        try await emqx.control(["api_secret": "rotated-elsewhere"])
        let failed = try #require(await observer.waitFor(topic: Self.statusTopic) { state($0) == "auth_failed" }?.json)
        #expect(failed["error"]?.stringValue?.contains("BAD_API_KEY_OR_SECRET") == true)
        #expect(failed["connections"] == 3, "the last known figures stay")
        let error = try await harness.callError("broker/clients", [:])
        #expect(error?.code == -32012)
        #expect(error?.data?["state"] == "auth_failed")
        #expect(error?.data?["http_status"] == 401)

        observer.clear()
        try await emqx.control(["api_secret": FakeEMQX.apiSecret])
        #expect(await observer.waitFor(topic: Self.statusTopic, timeout: 10) { state($0) == "ok" } != nil)
        #expect(!harness.daemon.log.contains(FakeEMQX.apiSecret), "the API secret appeared in the log")
        #expect(harness.daemon.log.contains("EMQX API auth_failed"))
        await stop(emqx, harness, observer)
    }

    @Test("a listing that reaches EMQX while the status says otherwise re-polls at once instead of after the back-off")
    func fixedKeyShowsAtOnce() async throws {
        let emqx = try await FakeEMQX.start()
        try await emqx.control(["api_secret": "not-yet"])
        let harness = try await DaemonHarness.start(environment: emqx.environment(pollInterval: 30))
        let observer = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: [Self.statusTopic])
        #expect(await observer.waitFor(topic: Self.statusTopic) { state($0) == "auth_failed" } != nil)
        try await emqx.control(["api_secret": FakeEMQX.apiSecret])  // the user fixes the key in EMQX
        _ = try await harness.call("broker/clients", ["limit": 1])
        let started = ContinuousClock.now
        #expect(await observer.waitFor(topic: Self.statusTopic, timeout: 5) { state($0) == "ok" } != nil)
        #expect(ContinuousClock.now - started < .seconds(5), "the status waited for the 30 s poll")
        await stop(emqx, harness, observer)
    }

    @Test("403, 503 with retry-after and a garbage body are their own states")
    func faultStates() async throws {
        let (emqx, harness, observer) = try await start()
        #expect(await observer.waitFor(topic: Self.statusTopic) { state($0) == "ok" } != nil)

        try await emqx.control(["fault": "403"])
        let forbidden = await observer.waitFor(topic: Self.statusTopic) { state($0) == "forbidden" }
        #expect(forbidden?.json?["error"]?.stringValue?.contains("UNAUTHORIZED_ROLE") == true)

        try await emqx.control(["fault": "503", "retry_after": "2"])
        let unavailable = try #require(await observer.waitFor(topic: Self.statusTopic) { state($0) == "unavailable" }?.json)
        #expect((unavailable["retry_in_s"]?.doubleValue ?? 0) >= 2, "retry-after was not honoured: \(unavailable)")

        try await emqx.control(["fault": "garbage"])
        let garbage = try #require(await observer.waitFor(topic: Self.statusTopic, timeout: 10) { state($0) == "bad_response" }?.json)
        #expect(garbage["error"]?.stringValue?.contains("<html>") == true, "the first bytes are shown: \(garbage)")

        try await emqx.control(["fault": "none"])
        #expect(await observer.waitFor(topic: Self.statusTopic, timeout: 15) { state($0) == "ok" && $0.json?["error"] == nil } != nil)
        await stop(emqx, harness, observer)
    }

    @Test("a slow EMQX is unreachable after EMQX_TIMEOUT and never delays other RPC methods or ingest")
    func slowEMQX() async throws {
        let (emqx, harness, observer) = try await start(timeout: 1)
        #expect(await observer.waitFor(topic: Self.statusTopic) { state($0) == "ok" } != nil)
        try await emqx.control(["fault": "slow", "slow_seconds": "30"])
        let unreachable = try #require(await observer.waitFor(topic: Self.statusTopic, timeout: 5) { state($0) == "unreachable" }?.json)
        #expect(unreachable["error"]?.stringValue?.contains("no complete answer within 1.0 s") == true, "\(unreachable)")

        // While polls keep hanging, other methods answer at once.
        let rpc = try await harness.rpcClient()
        for _ in 0..<5 {
            let started = ContinuousClock.now
            _ = try await rpc.result("health")
            _ = try await rpc.result("broker/status")
            _ = try await rpc.result("devices/list")
            #expect(ContinuousClock.now - started < .milliseconds(500))
        }
        _ = try await rpc.result(
            "devices/add",
            params: ["name": "Probe", "type": "sensor", "state_topic": "probe/state"]
        )
        try await harness.status.client.publishAndWait("probe/state", payload: Array("21.5".utf8))
        let started = ContinuousClock.now
        var value: JSONValue? = nil
        while value != 21.5 && ContinuousClock.now - started < .seconds(3) {
            value = try await rpc.result("devices/get", params: ["id": "probe"])["state"]?["value"]
            if value != 21.5 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(value == 21.5, "state ingest waited on the slow EMQX")
        await rpc.close()

        // SIGTERM aborts the hanging poll rather than waiting for it.
        let stopping = ContinuousClock.now
        harness.daemon.signal(SIGTERM)
        #expect(await harness.daemon.waitForExit(timeout: 10) == 0)
        #expect(ContinuousClock.now - stopping < .seconds(4), "shutdown waited on the slow EMQX")
        try await emqx.control(["fault": "none"])
        await stop(emqx, harness, observer)
    }

    @Test("EMQX killed mid-poll: unreachable, the daemon carries on, ok again when it is back")
    func emqxKilledMidPoll() async throws {
        let (emqx, harness, observer) = try await start(timeout: 3)
        #expect(await observer.waitFor(topic: Self.statusTopic) { state($0) == "ok" } != nil)
        try await emqx.control(["fault": "slow", "slow_seconds": "2"])
        try await Task.sleep(for: .milliseconds(800))  // a poll is now waiting on the slow server
        await emqx.kill()
        let down = try #require(await observer.waitFor(topic: Self.statusTopic, timeout: 10) { state($0) == "unreachable" }?.json)
        #expect(down["error"] != nil)
        #expect(harness.daemon.isRunning)
        #expect(try await harness.call("health")["broker_bridge"]?["state"] == "unreachable")

        observer.clear()
        try await emqx.restart()
        #expect(await observer.waitFor(topic: Self.statusTopic, timeout: 15) { state($0) == "ok" } != nil)
        await stop(emqx, harness, observer)
    }

    @Test("mosquitto $SYS: the same schema from the real broker, republished after a broker restart; EMQX-only methods answer -32013")
    func mosquittoSys() async throws {
        let broker = try await TestBroker.start(extraConfiguration: ["sys_interval 1"])
        let harness = try await DaemonHarness.start(broker: broker)
        let observer = try await MessageCollector.connect(port: broker.port, subscribeTo: ["mqtt-home/broker/#"])
        // The second burst has rates (the first has no earlier counters) and counts the daemon's connection.
        let withRates = await observer.waitFor(topic: Self.statusTopic, timeout: 10) {
            $0.json?["rates"]?["messages_sent_per_s"]?.doubleValue != nil
        }
        let status = try #require(withRates?.json, "no $SYS status with rates; log:\n\(harness.daemon.log)")
        #expect(status["source"] == "mosquitto")
        #expect(status["state"] == "ok")
        #expect(status["version"]?.stringValue?.first?.isNumber == true, "\(status)")
        #expect(status["topics"] == .null, "mosquitto does not report topics")
        #expect((status["live_connections"]?.intValue ?? 0) >= 2)  // the daemon and the observer
        #expect((status["uptime_s"]?.intValue ?? -1) >= 0)
        #expect((status["retained"]?.intValue ?? 0) >= 1)
        #expect((status["subscriptions"]?.intValue ?? 0) >= 1)
        #expect(status["nodes"] == 1)
        // No cluster view on mosquitto: a nodes document an earlier EMQX set-up left is cleared.
        #expect(await observer.waitFor(topic: Self.nodesTopic, timeout: 1) { !$0.payload.isEmpty } == nil)

        let error = try await harness.callError("broker/clients", [:])
        #expect(error?.code == -32013)
        #expect(error?.message.contains("EMQX_API_URL") == true)
        #expect(try await harness.callError("broker/subscriptions", [:])?.code == -32013)
        #expect(try await harness.call("broker/status")["source"] == "mosquitto")

        // A non-persistent broker forgets retained topics when it restarts; the daemon puts the status back.
        await broker.kill()
        try await broker.restart()
        let fresh = try await MessageCollector.connect(port: broker.port, subscribeTo: [Self.statusTopic])
        // The broker came back empty, so whatever arrives was published by the daemon after its reconnect.
        #expect(await fresh.waitFor(topic: Self.statusTopic, timeout: 15) != nil)
        await fresh.close()
        let late = try await MessageCollector.connect(port: broker.port, subscribeTo: [Self.statusTopic])
        let back = await late.waitFor(topic: Self.statusTopic, timeout: 2) { $0.retain }
        #expect(back?.json?["source"] == "mosquitto")
        await late.close()
        await observer.close()
        await harness.shutdown()
    }
}
