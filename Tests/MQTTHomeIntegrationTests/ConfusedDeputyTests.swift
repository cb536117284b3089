import Foundation
import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// What a caller with few broker rights must not be able to make mqtt-homed do with its broad ones. Each test is an
/// attack against a real mosquitto with `password_file` + `acl_file`, and a watcher logged in as the daemon's own
/// user proves that nothing landed where it must not — not only that the daemon answered with an error.
/// Runs in scripts/test's serial phase (`MQTT_HOME_SERIAL=1`): its daemons, brokers and waits, added to the
/// parallel phase, pushed the time-limited tests of other suites past their bounds on 2 cores.
@Suite(
    "Confused deputy: what callers may not make the daemon do",
    .serialPhase,
    .timeLimit(.minutes(2)),
    .awaitedCleanup
)
struct ConfusedDeputyTests {
    /// Publishes a hand-made request as `client`, with a Response Topic or, on `reply_to`, in the body.
    func request(_ client: MosquittoClient, _ method: String, _ body: String, responseTopic: String? = nil) async throws {
        try await client.publishAndWait(
            "mqtt-home/rpc/\(method)",
            payload: Array(body.utf8),
            properties: MQTTProperties(responseTopic: responseTopic, correlationData: Array("attack".utf8))
        )
    }

    @Test("replies aimed at command, discovery, status, state or other callers' topics are neither published nor run")
    func repliesAimedAnywhere() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let operatorRPC = try await secured.rpc("operator")
        _ = try await operatorRPC.result("devices/add", params: [
            "name": "Front door", "type": "lock", "state_topic": "zigbee2mqtt/front_door", "command_topic": "zigbee2mqtt/front_door/set",
        ])
        let watcher = try await secured.watcher()
        let before = try await operatorRPC.result("health")["rpc"]
        let targets = [
            "zigbee2mqtt/front_door/set", "zigbee2mqtt/front_door", "homeassistant/cover/x/config",
            "homeassistant/lock/backdoor/config", "mqtt-home/status", "mqtt-home/devices/front_door/state",
            "mqtt-home/rpcx", "unrelated/topic",
        ]
        let viewer = try await secured.client("viewer")
        for target in targets {
            try await request(viewer, "health", #"{"id":"pwn"}"#, responseTopic: target)
            try await request(viewer, "health", "{\"id\":\"pwn\",\"reply_to\":\"\(target)\"}")
        }
        // The viewer's own, allowed route still works, so the daemon has seen everything before it by now.
        let own = try await secured.rpc("viewer")
        #expect(try await own.result("health")["rpc"]?["refused_reply_topics"]?.intValue == Int64(targets.count * 2))
        for target in targets {
            let landed = watcher.messages.filter { $0.topic == target && $0.payloadString.contains("jsonrpc") }
            #expect(landed.isEmpty, "a reply landed on \(target)")
        }
        let after = try await operatorRPC.result("health")["rpc"]
        // Refused requests were not executed: only the operator's and viewer's own calls succeeded meanwhile.
        #expect(after?["succeeded"]?.intValue == (before?["succeeded"]?.intValue ?? 0) + 2)
        #expect(await harness.daemon.waitForLog("is a topic device 'front_door' reads or is commanded on"))
        #expect(await harness.daemon.waitForLog("is under the discovery prefix homeassistant/"))
        #expect(try await operatorRPC.result("devices/list")["items"]?.arrayValue?.count == 1, "no device was planted")

        // Another caller's reply subtree is allowed by the policy, but a forged answer never reaches a pending call:
        // the CLI's reply topics end in an unguessable token.
        let victim = try await secured.rpc("operator")
        let forged = Task {
            for _ in 0..<50 {
                try? await request(viewer, "health", #"{"id":1}"#, responseTopic: "mqtt-home/reply/\(victim.client.configuration.clientID)/1")
            }
        }
        for _ in 0..<5 { #expect(try await victim.result("devices/get", params: ["id": "front_door"])["id"] == "front_door") }
        await forged.value
        await viewer.disconnect()
        await watcher.close()
        await own.close()
        await victim.close()
        await operatorRPC.close()
    }

    @Test("devices/add refuses topics in the daemon's tree, discovery configs, $ topics, catch-alls and shared commands")
    func deviceTopicsAimedAnywhere() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let rpc = try await secured.rpc("operator")
        _ = try await rpc.result("devices/add", params: ["name": "Lamp", "type": "switch", "state_topic": "z2m/lamp", "command_topic": "z2m/lamp/set"])
        let refused: [(JSONObject, String)] = [
            (["command_topic": "mqtt-home/status"], "command_topic"),
            (["command_topic": "mqtt-home/rpc/devices/set"], "command_topic"),
            (["command_topic": "homeassistant/lock/backdoor/config"], "command_topic"),
            (["command_topic": "homeassistant/status"], "command_topic"),
            (["command_topic": "z2m/lamp/set"], "command_topic"),
            (["state_topic": "mqtt-home/devices/evil/state"], "state_topic"),
            (["state_topic": "$SYS/broker/uptime"], "state_topic"),
            (["state_topic": "#", "state_topic_filter": true], "state_topic"),
            (["state_topic": "+/#", "state_topic_filter": true], "state_topic"),
            (["state_topic": "+/devices/+/state", "state_topic_filter": true], "state_topic"),
            (["state_topic": "z2m/+", "state_topic_filter": true], "state_topic"),
            (["availability_topic": "mqtt-home/status"], "availability_topic"),
            (["name": "Evil\u{1B}[31m"], "name"),
            (["name": "Invoice\u{202E}fdp.exe"], "name"),
            (["name": "nul\u{0}"], "name"),
        ]
        for (overrides, parameter) in refused {
            var params: JSONObject = ["name": "Evil", "type": "switch", "state_topic": "evil/state"]
            for (key, value) in overrides { params[key] = value }
            do {
                _ = try await rpc.result("devices/add", params: params)
                Issue.record("devices/add accepted \(JSONValue.object(overrides).jsonString)")
            } catch let error as RPCError {
                #expect(error.code == -32602 && error.data?["parameter"] == .string(parameter), "\(JSONValue.object(overrides).jsonString): \(error)")
            }
        }
        #expect(try await rpc.result("devices/list")["items"]?.arrayValue?.count == 1)
        // devices/update is held to the same rule.
        do {
            _ = try await rpc.result("devices/update", params: ["id": "lamp", "command_topic": "homeassistant/switch/x/config"])
            Issue.record("devices/update accepted a discovery config topic")
        } catch let error as RPCError {
            #expect(error.code == -32602)
        }

        // Retained commands only where the entity is configured to retain.
        let watcher = try await secured.watcher(["z2m/#"])
        do {
            _ = try await rpc.result("devices/command", params: ["id": "lamp", "payload": "ON", "retain": true])
            Issue.record("a retained command was accepted")
        } catch let error as RPCError {
            #expect(error.code == -32602 && error.message.contains("not configured to retain"))
        }
        do {
            _ = try await rpc.result("devices/command", params: ["id": "lamp", "payload": .string(String(repeating: "x", count: 70_000))])
            Issue.record("a 70 kB command was accepted")
        } catch let error as RPCError {
            #expect(error.code == -32602 && error.message.contains("COMMAND_PAYLOAD_LIMIT"))
        }
        #expect(try await rpc.result("devices/command", params: ["id": "lamp", "payload": "ON"])["retain"] == false)
        _ = try await rpc.result("devices/add", params: ["name": "Gate", "type": "switch", "state_topic": "z2m/gate", "command_topic": "z2m/gate/set", "retain": true])
        #expect(try await rpc.result("devices/command", params: ["id": "gate", "payload": "ON"])["retain"] == true)
        #expect(await watcher.waitFor(topic: "z2m/gate/set") { $0.retain == false } != nil)
        #expect(await watcher.waitFor(topic: "z2m/lamp/set", timeout: 0.3) { $0.payload.count > 1000 } == nil)
        await watcher.close()
        await rpc.close()
    }

    @Test("discovery configs that point at the daemon's tree, everything or an RPC method are refused and counted")
    func discoveryTopicsAimedAnywhere() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let bridge = try await secured.client("discovery")
        let configs = [
            ("homeassistant/switch/loop/config", #"{"name":"loop","uniq_id":"loop","stat_t":"zigbee2mqtt/loop","cmd_t":"mqtt-home/rpc/devices/set"}"#),
            ("homeassistant/sensor/all/config", ##"{"name":"all","uniq_id":"all","stat_t":"#"}"##),
            ("homeassistant/sensor/self/config", #"{"name":"self","uniq_id":"self","stat_t":"mqtt-home/devices/self/state"}"#),
            ("homeassistant/switch/plant/config", #"{"name":"plant","uniq_id":"plant","stat_t":"zigbee2mqtt/plant","cmd_t":"homeassistant/lock/backdoor/config"}"#),
            ("homeassistant/sensor/sys/config", #"{"name":"sys","uniq_id":"sys","stat_t":"$SYS/broker/uptime"}"#),
        ]
        for (topic, payload) in configs { try await bridge.publishAndWait(topic, payload: Array(payload.utf8), retain: true) }
        try await bridge.publishAndWait(
            "homeassistant/switch/good/config",
            payload: Array(#"{"name":"good","uniq_id":"good","stat_t":"zigbee2mqtt/good","cmd_t":"zigbee2mqtt/good/set"}"#.utf8), retain: true)
        let rpc = try await secured.rpc("operator")
        let discovery = try await Self.poll({ try await rpc.result("health")["discovery"] ?? .null }) {
            $0["configs_received"]?.intValue == Int64(configs.count + 1) && $0["devices"]?.intValue == 1
        }
        #expect(discovery["invalid_configs"]?.intValue == Int64(configs.count), "\(discovery.jsonString)")
        #expect(discovery["devices"]?.intValue == 1)
        #expect(try await rpc.result("devices/list")["items"]?[0]?["id"] == "good")
        #expect(await harness.daemon.waitForLog("must not be inside the daemon's own tree mqtt-home/"))
        #expect(await harness.daemon.waitForLog("is a catch-all filter"))
        // The daemon received nothing through the refused catch-all: the watcher's flood is not in any device's log.
        let watcher = try await secured.watcher(["mqtt-home/rpc/#"])
        _ = try? await rpc.result("devices/set", params: ["id": "good", "state": "ON", "confirm_timeout_ms": 100])
        try await Task.sleep(for: .milliseconds(200))
        #expect(watcher.messages.filter { $0.topic.hasPrefix("mqtt-home/rpc/devices/set") }.count <= 1, "a command looped into RPC")
        await watcher.close()
        await bridge.disconnect()
        await rpc.close()
    }

    @Test("a retained template bomb and oversized state cannot crash or bloat the daemon, at start-up either")
    func crashLoopProof() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let bridge = try await secured.client("discovery")
        let bombs = [
            ("bomb", #"{{ "xxxxxxxx" * 1000000000 }}"#),
            ("doubling", "{% set x = value ~ value %}" + String(repeating: "{% set x = x ~ x %}", count: 40) + "{{ x }}"),
            ("replace", #"{{ value.replace('', 'yyyyyyyyyyyyyyyy') | replace('', 'zzzzzzzzzzzzzzzz') }}"#),
        ]
        for (name, template) in bombs {
            let config: JSONValue = ["name": .string(name), "uniq_id": .string(name), "stat_t": .string("zigbee2mqtt/\(name)"), "val_tpl": .string(template)]
            try await bridge.publishAndWait("homeassistant/sensor/\(name)/config", payload: config.jsonBytes, retain: true)
            try await bridge.publishAndWait("zigbee2mqtt/\(name)", payload: Array(String(repeating: "a", count: 4000).utf8), retain: true)
        }
        let huge = Array(String(repeating: "z", count: 1_000_000).utf8)
        try await bridge.publishAndWait("zigbee2mqtt/bomb", payload: huge, retain: true)
        for round in 0..<2 {
            // Each start reads the same retained bombs: it must come up, stay up and stay small.
            let harness = try await secured.daemon()
            let rpc = try await secured.rpc("operator")
            let health = try await Self.poll({ try await rpc.result("health") }) {
                ($0["discovery"]?["template_errors"]?.intValue ?? 0) >= 2 && ($0["ingest"]?["oversized"]?.intValue ?? 0) >= 1
            }
            #expect((health["discovery"]?["template_errors"]?.intValue ?? 0) >= 2, "round \(round): \(health["discovery"]?.jsonString ?? "")")
            #expect(health["ingest"]?["oversized"]?.intValue == 1)
            #expect(harness.daemon.isRunning)
            let rss = Self.residentMegabytes(pid: harness.daemon.pid)
            #expect(rss < 200, "round \(round): \(rss) MB resident")
            let logs = try await rpc.result("devices/logs", params: ["id": "bomb"])["items"]?.arrayValue ?? []
            #expect(logs.allSatisfy { ($0["payload"]?.stringValue?.utf8.count ?? 0) <= DeviceStore.LogEntry.payloadLimit })
            #expect(await harness.daemon.waitForLog("a template failed; the entity keeps its last value"))
            await rpc.close()
            await harness.daemon.shutdown()
            await harness.status.close()
        }
        await bridge.disconnect()
    }

    @Test("state keys, log rows and pages are bounded, and discovery stops at DISCOVERY_MAX_ENTITIES")
    func boundedSizes() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon(environment: ["DISCOVERY_MAX_ENTITIES": "3"])
        cleanup { await harness.shutdown() }
        let rpc = try await secured.rpc("operator")
        _ = try await rpc.result("devices/add", params: ["name": "Chatty", "type": "sensor", "state_topic": "zigbee2mqtt/chatty"])
        let sensor = try await secured.client("sensor")
        var many = JSONObject()
        for index in 0..<300 { many["k\(index)"] = .int(Int64(index)) }
        try await sensor.publishAndWait("zigbee2mqtt/chatty", payload: JSONValue.object(many).jsonBytes)
        let big: JSONValue = ["blob": .string(String(repeating: "b", count: 20_000))]
        try await sensor.publishAndWait("zigbee2mqtt/chatty", payload: big.jsonBytes)
        let device = try await Self.poll({ try await rpc.result("devices/get", params: ["id": "chatty"]) }) { $0["state"]?["k0"] != nil }
        #expect(device["state"]?.objectValue?.count == 256, "the state holds at most 256 values")
        let ingest = try await rpc.result("health")["ingest"]
        #expect((ingest?["state_keys_dropped"]?.intValue ?? 0) >= 44)
        let logs = try await Self.poll({ try await rpc.result("devices/logs", params: ["id": "chatty"])["items"] ?? .null }) {
            $0.arrayValue?.count == 2
        }.arrayValue ?? []
        #expect(logs.first?["truncated"] == true && logs.first?["size"]?.intValue == Int64(big.jsonBytes.count))
        #expect(logs.first?["payload"]?.stringValue?.utf8.count == DeviceStore.LogEntry.payloadLimit)

        let bridge = try await secured.client("discovery")
        for index in 0..<5 {
            let config: JSONValue = ["name": .string("s\(index)"), "uniq_id": .string("s\(index)"), "stat_t": .string("zigbee2mqtt/s\(index)")]
            try await bridge.publishAndWait("homeassistant/sensor/s\(index)/config", payload: config.jsonBytes, retain: true)
        }
        let discovery = try await Self.poll({ try await rpc.result("health")["discovery"] ?? .null }) { $0["configs_received"]?.intValue == 5 }
        #expect(discovery["entities"]?.intValue == 3 && discovery["refused_over_limit"]?.intValue == 2, "\(discovery.jsonString)")
        await bridge.disconnect()
        await sensor.disconnect()
        await rpc.close()
    }

    @Test("a QoS 2 request is answered at QoS 2")
    func qos2() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let id = "qos2-caller"
        let replies = try await MessageCollector.connect(
            port: secured.broker.port, subscribeTo: ["mqtt-home/reply/\(id)/#"], username: "operator", password: "operator-pass", qos: .exactlyOnce
        )
        let caller = try await secured.client("operator", id: id)
        try caller.publish("mqtt-home/rpc/health", payload: [], qos: .exactlyOnce, properties: MQTTProperties(responseTopic: "mqtt-home/reply/\(id)/1"))
        let reply = await replies.waitFor(topic: "mqtt-home/reply/\(id)/1")
        #expect(reply?.qos == .exactlyOnce)
        await caller.disconnect()
        await replies.close()
    }

    /// Reads `read` every 20 ms, up to 2 s, until `done` holds; the last value read.
    static func poll(_ read: () async throws -> JSONValue, until done: (JSONValue) -> Bool) async throws -> JSONValue {
        var value: JSONValue = .null
        for _ in 0..<100 {
            value = try await read()
            if done(value) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return value
    }

    static func residentMegabytes(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}

/// The flood is minutes of nothing but seconds of CPU: it runs in scripts/test's own phase (`MQTT_HOME_SERIAL=1`),
/// so it neither starves the time-limited tests nor is starved by them. Its latencies are a benchmark's business
/// (`Benchmarks/run flood`); here: every one of the victim's calls is answered.
@Suite(
    "Fair RPC under a flood of distinct callers",
    .serialPhase,
    .timeLimit(.minutes(2)),
    .awaitedCleanup
)
struct FloodTests {
    @Test("a state flood that overflows its queue drops state only: every request is answered, every config applied")
    func stateFloodKeepsRequestsAndConfigs() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon(environment: ["MQTT_MESSAGE_BUFFER_BYTES": "1048576", "MQTT_MESSAGE_BUFFER": "1000"])
        cleanup { await harness.shutdown() }
        let operatorRPC = try await secured.rpc("operator")
        _ = try await operatorRPC.result("devices/add", params: ["name": "Flooded", "type": "sensor", "state_topic": "zigbee2mqtt/flooded"])
        let sensor = try await secured.client("sensor")
        let bridge = try await secured.client("discovery")
        let viewer = try await secured.rpc("viewer")
        let padding = String(repeating: "a", count: 40_000)
        let messages = 3000
        let flood = Task {
            for n in 1...messages {
                _ = try? sensor.publish("zigbee2mqtt/flooded", payload: Array(#"{"seq":\#(n),"pad":"\#(padding)"}"#.utf8), qos: .atMostOnce)
                if n % 200 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            }
        }
        for n in 0..<20 {
            try bridge.publish(
                "homeassistant/sensor/lane_\(n)/config",
                payload: Array(#"{"name":"Lane \#(n)","uniq_id":"lane_\#(n)","stat_t":"zigbee2mqtt/lane_\#(n)"}"#.utf8),
                qos: .atLeastOnce, retain: true
            )
        }
        var answered = 0
        for _ in 0..<20 {
            if (try? await viewer.result("health", timeout: .seconds(10))) != nil { answered += 1 }
        }
        await flood.value
        // The newest state wins: the device ends on the last sequence number sent.
        try await waitUntil(timeout: .seconds(30)) { try await viewer.result("devices/get", params: ["id": "flooded"])["state"]?["seq"] == .int(Int64(messages)) }
        let health = try await viewer.result("health")
        #expect(answered == 20)
        #expect(health["discovery"]?["entities"] == 20)
        let dropped = health["mqtt"]?["dropped_by_kind"]
        #expect(dropped?["rpc"] == 0 && dropped?["discovery"] == 0)
        #expect((dropped?["state"]?.intValue ?? 0) > 0, "the flood should overflow a 1 MiB state queue: \(health["mqtt"] ?? .null)")
        await sensor.disconnect()
        await bridge.disconnect()
        await viewer.close()
        await operatorRPC.close()
    }

    @Test("a flood of 20,000 requests with distinct reply topics does not starve another caller")
    func fairUnderFlood() async throws {
        let secured = try await SecuredBroker.start()
        cleanup { await secured.shutdown() }
        let harness = try await secured.daemon()
        cleanup { await harness.shutdown() }
        let flooder = try await secured.client("operator")
        let victim = try await secured.rpc("viewer")
        // The victim was a caller before the flood began: it keeps its own slot in the rate limiter's table.
        _ = try await victim.result("health")
        let flood = Task {
            for index in 0..<20_000 {
                _ = try? flooder.publish(
                    "mqtt-home/rpc/health", payload: [], qos: .atMostOnce,
                    properties: MQTTProperties(responseTopic: "mqtt-home/reply/flood-\(index)/\(index)")
                )
                if index % 500 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
            }
        }
        var answered = 0
        var failures: [String] = []
        for _ in 0..<40 {
            do {
                _ = try await victim.result("devices/list", timeout: .seconds(10))
                answered += 1
            } catch {
                failures.append("\(error)")
            }
        }
        await flood.value
        #expect(answered == 40, "the victim got \(answered) of 40 answers during the flood: \(failures); \(harness.daemon.log.split(separator: "\n").filter { !$0.contains(" debug ") }.suffix(20))")
        let rpc = try await victim.result("health")["rpc"]
        #expect((rpc?["received"]?.intValue ?? 0) > 1000, "the flood reached the daemon")
        #expect((rpc?["rate_limit_overflow"]?.intValue ?? 0) > 0, "the flood's newcomers shared the overflow bucket")
        await flooder.disconnect()
        await victim.close()
    }
}
