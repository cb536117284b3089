import Foundation
import Logging
import MQTTHome
import TestSupport
import Synchronization
import Testing

@_spi(Testing) import Mosquitto

@Suite("Mosquitto wrapper against a real broker", .timeLimit(.minutes(1)), .awaitedCleanup)
struct MosquittoClientTests {
    static func client(
        port: Int,
        username: String? = nil,
        password: String? = nil,
        will: MosquittoClient.Configuration.Will? = nil,
        protocolVersion: MQTTProtocolVersion = .v5,
        connectTimeout: Duration = .seconds(10),
        reconnect: Bool = true
    ) throws -> MosquittoClient {
        try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1",
                port: port,
                keepAlive: 5,
                connectTimeout: connectTimeout,
                clientID: RPCClient.uniqueClientID(prefix: "wrapper-test"),
                username: username,
                password: password,
                protocolVersion: protocolVersion,
                will: will,
                reconnectDelayInitial: .milliseconds(50),
                reconnectDelayCap: .milliseconds(500),
                reconnect: reconnect
            ),
            logger: Logger(label: "wrapper-test")
        )
    }

    @Test(
        "an attempt with no CONNACK is abandoned at connectTimeout, saying whether TCP connected, not at the keepalive",
        arguments: [false, true]
    )
    func connectTimeout(tls: Bool) async throws {
        let silent = try SilentListener()
        let client = try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1",
                port: silent.port,
                keepAlive: 30,
                connectTimeout: .seconds(1),
                clientID: RPCClient.uniqueClientID(prefix: "wrapper-test"),
                tls: tls ? .init(insecure: true) : nil,
                reconnect: false
            ),
            logger: Logger(label: "wrapper-test")
        )
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await withTimeout(.seconds(15)) { try await client.connect() }
            Issue.record("connected to a listener that never answers")
        } catch {
            #expect("\(error)".contains("no CONNACK within 1 s"), "\(error)")
            #expect("\(error)".contains(tls ? "the TLS handshake or the CONNECT got no answer" : "TCP connected; the CONNECT got no answer"), "\(error)")
        }
        #expect(clock.now - start < .seconds(10), "waited \(clock.now - start)")
        await client.disconnect()
    }

    @Test("an established connection outlives connectTimeout: the deadline covers only the wait for the CONNACK")
    func connectTimeoutSparesEstablishedConnections() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let collector = try await MessageCollector.connect(port: broker.port, subscribeTo: ["kept/#"])
        let client = try Self.client(port: broker.port, connectTimeout: .seconds(1), reconnect: false)
        try await client.connect()
        try await Task.sleep(for: .milliseconds(2500))
        try await client.publishAndWait("kept/alive", payload: [1], qos: .atLeastOnce)
        #expect(await collector.waitFor(topic: "kept/alive") != nil)
        #expect(client.statistics.failedAttempts == 0 && client.statistics.connections == 1)
        await client.disconnect()
        await collector.close()
    }

    @Test("publish/subscribe round trip carries every MQTT 5 property unchanged")
    func roundTripWithProperties() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let collector = try await MessageCollector.connect(port: broker.port, subscribeTo: ["t/#"])
        let publisher = try Self.client(port: broker.port)
        let info = try await publisher.connect()
        #expect(info.protocolVersion == .v5)
        let properties = MQTTProperties(
            responseTopic: "reply/here",
            correlationData: [0, 1, 2, 255],
            contentType: "application/json",
            userProperties: [.init(name: "a", value: "1"), .init(name: "a", value: "2"), .init(name: "b", value: "ü")],
            messageExpiryInterval: 60
        )
        try await publisher.publishAndWait("t/x", payload: Array("{\"v\":1}".utf8), qos: .atLeastOnce, properties: properties)
        let message = try #require(await collector.waitFor(topic: "t/x"))
        #expect(message.payloadString == "{\"v\":1}")
        #expect(message.qos == .atLeastOnce)
        #expect(message.properties.responseTopic == "reply/here")
        #expect(message.properties.correlationData == [0, 1, 2, 255])
        #expect(message.properties.contentType == "application/json")
        #expect(message.properties.userProperties == properties.userProperties)
        #expect((1...60).contains(message.properties.messageExpiryInterval ?? 0))
        #expect(publisher.statistics.messagesPublished == 1)
        await publisher.disconnect()
        await collector.close()
    }

    @Test("a 3.1.1 connection drops properties instead of failing the publish")
    func v311DropsProperties() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let collector = try await MessageCollector.connect(port: broker.port, subscribeTo: ["t/#"])
        let publisher = try Self.client(port: broker.port, protocolVersion: .v311)
        #expect(try await publisher.connect().protocolVersion == .v311)
        try publisher.publish("t/y", payload: [1], properties: .init(responseTopic: "r"))
        let message = try #require(await collector.waitFor(topic: "t/y"))
        #expect(message.properties.responseTopic == nil)
        await publisher.disconnect()
        await collector.close()
    }

    @Test("bad credentials fail with the broker's reason, as an authentication failure")
    func badCredentials() async throws {
        let passwords = try TemporaryDirectory(prefix: "passwd")
        defer { passwords.remove() }
        let file = passwords.path + "/passwd"
        let made = try await ProcessRunner.run("/usr/bin/mosquitto_passwd", ["-b", "-c", file, "alice", "right"])
        #expect(made.exitCode == 0, "\(made.standardError)")
        let broker = try await TestBroker.start(extraConfiguration: ["password_file \(file)"])
        cleanup { await broker.shutdown() }
        // The embedded config allows anonymous clients; the password file still checks every named user.
        let wrong = try Self.client(port: broker.port, username: "alice", password: "wrong", reconnect: false)
        do {
            try await wrong.connect()
            Issue.record("connected with a wrong password")
        } catch let error as MosquittoError {
            #expect(error.isAuthenticationFailure, "\(error)")
            #expect(error.description.lowercased().contains("password") || error.description.contains("authori"))
        }
        #expect(wrong.lastError?.isAuthenticationFailure == true)
        let right = try Self.client(port: broker.port, username: "alice", password: "right", reconnect: false)
        try await right.connect()
        await right.disconnect()
        await wrong.disconnect()
    }

    @Test("the broker delivers the last will when the connection dies without DISCONNECT")
    func willOnConnectionLoss() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let collector = try await MessageCollector.connect(port: broker.port, subscribeTo: ["will/#"])
        let client = try Self.client(
            port: broker.port,
            will: .init(topic: "will/me", payload: Array("{\"state\":\"offline\"}".utf8)),
            reconnect: false
        )
        try await client.connect()
        client.dropConnectionWithoutDisconnect()
        let will = try #require(await collector.waitFor(topic: "will/me"))
        #expect(will.payloadString == "{\"state\":\"offline\"}")
        await client.disconnect()
        await collector.close()
    }

    @Test("a clean disconnect does not trigger the will")
    func noWillOnCleanDisconnect() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let collector = try await MessageCollector.connect(port: broker.port, subscribeTo: ["will/#"])
        let client = try Self.client(port: broker.port, will: .init(topic: "will/me", payload: [1]), reconnect: false)
        try await client.connect()
        await client.disconnect()
        #expect(await collector.waitFor(topic: "will/me", timeout: 0.5) == nil)
        await collector.close()
    }

    @Test("after the broker restarts, the client reconnects and restores its subscriptions")
    func reconnectRestoresSubscriptions() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let subscriber = try Self.client(port: broker.port)
        try await subscriber.connect()
        try await subscriber.subscribe("r/#", qos: .atLeastOnce)
        await broker.kill()
        try await broker.restart()
        // Wait for the reconnect (backoff capped at 500 ms in this test).
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while subscriber.statistics.connections < 2 && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(subscriber.statistics.connections == 2)
        try await Task.sleep(for: .milliseconds(100))  // SUBACK of the restored subscription
        let publisher = try Self.client(port: broker.port, reconnect: false)
        try await publisher.connect()
        try await publisher.publishAndWait("r/1", payload: Array("back".utf8))
        let messages = subscriber.messages
        let received = try await withTimeout(.seconds(5)) { () async -> MQTTMessage? in
            for await message in messages { return message }
            return nil
        }
        #expect(received?.payloadString == "back")
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test("with no broker, connect fails fast with the OS reason when reconnect is off")
    func noBroker() async throws {
        let closed = try ClosedPort()
        defer { withExtendedLifetime(closed) {} }
        let client = try Self.client(port: closed.port, reconnect: false)
        await #expect(throws: MosquittoError.self) { try await client.connect() }
        #expect(client.lastError?.description == "Connection refused")
        await client.disconnect()
    }

    @Test("a broker that refuses MQTT 5 gets a 3.1.1 connection instead")
    func fallsBackToV311() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let proxy = try await V311OnlyProxy.start(upstreamPort: broker.port)
        cleanup { await proxy.shutdown() }
        let client = try Self.client(port: proxy.port)
        // Generous: the Python proxy, starved under the whole parallel suite, took over 2 s and once over 5 s to answer;
        // a client that never falls back still fails, and speed is not what this checks.
        let info = try await withTimeout(.seconds(30)) { try await client.connect() }
        #expect(info.protocolVersion == .v311)
        #expect(info.fellBackFromV5)
        #expect(client.fellBackToV311)
        await client.disconnect()
    }

    @Test("subscriptions queued behind a packet in flight share the next one, and a refusal reaches only the caller it concerns")
    func queuedSubscriptionsShareAPacket() async throws {
        // mosquitto's acl_file never refuses a SUBSCRIBE; its dynamic-security plugin does (anonymous clients may
        // subscribe under allowed/ only).
        let directory = try TemporaryDirectory(prefix: "dynsec")
        cleanup { directory.remove() }
        chmod(directory.path, 0o755)
        let rules = #"""
            {"defaultACLAccess":{"publishClientSend":true,"publishClientReceive":true,"subscribe":false,"unsubscribe":true},
             "clients":[],"groups":[{"groupname":"anonymous","roles":[{"rolename":"subscriber"}]}],"anonymousGroup":"anonymous",
             "roles":[{"rolename":"subscriber","acls":[{"acltype":"subscribePattern","topic":"allowed/#","allow":true}]}]}
            """#
        try rules.write(toFile: directory.path + "/dynsec.json", atomically: false, encoding: .utf8)
        chmod(directory.path + "/dynsec.json", 0o666)
        let broker = try await TestBroker.start(extraConfiguration: [
            "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so", "plugin_opt_config_file \(directory.path)/dynsec.json",
        ])
        cleanup { await broker.shutdown() }
        let client = try Self.client(port: broker.port, reconnect: false)
        try await client.connect()
        // A full packet in flight; everything requested meanwhile waits for its SUBACK and then goes in one packet.
        let first = client.requestSubscription((0..<200).map { "allowed/a\($0)" }, qos: .atLeastOnce)
        let singles = (0..<20).map { client.requestSubscription(["allowed/b\($0)"], qos: .atLeastOnce) }
        let denied = client.requestSubscription(["denied/secret"], qos: .atLeastOnce)
        let last = client.requestSubscription(["allowed/c"], qos: .atLeastOnce)
        try await withTimeout(.seconds(5)) { try await client.confirm(first) }
        for receipt in singles { try await withTimeout(.seconds(5)) { try await client.confirm(receipt) } }
        do {
            try await withTimeout(.seconds(5)) { try await client.confirm(denied) }
            Issue.record("the subscription to denied/secret was not refused")
        } catch let error as MosquittoError {
            #expect(error.description.contains("denied/secret"), "\(error)")
        }
        try await withTimeout(.seconds(5)) { try await client.confirm(last) }
        // Each of them is in place: a message on the last single arrives.
        try client.publish("allowed/b19", payload: [1], qos: .atLeastOnce)
        let arrived = try await withTimeout(.seconds(5)) {
            for await message in client.messages where message.topic == "allowed/b19" { return true }
            return false
        }
        #expect(arrived)
        await client.disconnect()
    }

    @Test("a SUBACK that arrives while the caller is still publishing is kept for its confirm (not pushed out by PUBACKs)")
    func subackOutlivesManyPubacks() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let client = try Self.client(port: broker.port, reconnect: false)
        try await client.connect()
        let receipt = client.requestSubscription(["early/#"], qos: .atLeastOnce)
        // Hundreds of PUBACKs arrive before the caller waits for its SUBACK (the registry publishes a device's
        // retained topics between sending SUBSCRIBE and waiting for it).
        for n in 0..<2000 { try client.publish("busy/\(n)", payload: [1], qos: .atLeastOnce) }
        try await Task.sleep(for: .milliseconds(300))
        try await withTimeout(.seconds(5)) { try await client.confirm(receipt) }
        await client.disconnect()
    }

    @Test("packets queued by other threads while the network thread waits go out at once, not at its poll timeout")
    func queuedPacketsWakeTheNetworkThread() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let collector = try await MessageCollector.connect(port: broker.port, subscribeTo: ["wake/#"])
        let client = try Self.client(port: broker.port, reconnect: false)
        try await client.connect()
        // Nothing arrives on this connection, so only the wake-up gets a QoS 0 publish written: a lost one waits
        // for the poll's one-second timeout. 160 publishes from four tasks, each sent once the previous arrived:
        // well under a second in all when every wake-up lands, 80 s on average when they are lost.
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<4 {
                group.addTask {
                    for n in 0..<40 {
                        let topic = "wake/\(sender)/\(n)"
                        try client.publish(topic, payload: [1], qos: .atMostOnce)
                        #expect(await collector.waitFor(topic: topic, timeout: 10) != nil, "\(topic) never arrived")
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        #expect(elapsed < .seconds(16), "160 round trips took \(elapsed): wake-ups were lost")
        await client.disconnect()
        await collector.close()
    }

    @Test("a call from a task cancelled before it asks ends at once, with no daemon to answer (no lost cancellation)")
    func cancelledCallDoesNotHang() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let rpc = try RPCClient(
            configuration: .init(host: "127.0.0.1", port: broker.port, clientID: RPCClient.uniqueClientID(prefix: "cancel"), reconnect: false),
            topics: Topics(base: "mqtt-home"),
            logger: Logger(label: "cancel")
        )
        try await rpc.connect()
        let started = ContinuousClock.now
        let call = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await rpc.call("health", timeout: .seconds(30))
        }
        let outcome = try await withTimeout(.seconds(5)) { await call.result }
        #expect(throws: (any Error).self) { try outcome.get() }
        #expect(ContinuousClock.now - started < .seconds(5))
        await rpc.close()
    }

    @Test("lanes: a flood in one lane never pushes out another's messages; bytes bound a lane too; drops are counted per lane")
    func lanes() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let slow = try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1", port: broker.port, clientID: RPCClient.uniqueClientID(prefix: "lanes"),
                reconnect: false, messageBufferLimit: 10,
                messageLanes: [
                    MessageLane(name: "requests", limit: 100, byteLimit: 1 << 20) { $0.hasPrefix("requests/") },
                    MessageLane(name: "big", limit: 100, byteLimit: 1 << 20) { $0.hasPrefix("big/") },
                ]
            ),
            logger: Logger(label: "slow")
        )
        try await slow.connect()
        try await slow.subscribe(["flood", "requests/#", "big/#"], qos: .atLeastOnce)
        let publisher = try Self.client(port: broker.port, reconnect: false)
        try await publisher.connect()
        for n in 1...50 {
            try publisher.publish("flood", payload: Array("\(n)".utf8), qos: .atLeastOnce)
            if n % 10 == 0 { try publisher.publish("requests/\(n)", payload: Array("r\(n)".utf8), qos: .atLeastOnce) }
        }
        let chunk = [UInt8](repeating: 0x61, count: 300_000)
        for n in 1...10 { try publisher.publish("big/\(n)", payload: chunk, qos: .atLeastOnce) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while slow.statistics.messagesReceived < 65 && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let statistics = slow.statistics
        #expect(statistics.droppedByLane == ["default": 40, "requests": 0, "big": 7])
        #expect(statistics.messagesDropped == 47)
        let requests = try #require(slow.messages(lane: "requests"))
        #expect(requests.lane == "requests")
        #expect(await requests.nextBatch(upTo: 100).map(\.payloadString) == ["r10", "r20", "r30", "r40", "r50"])
        let big = try #require(slow.messages(lane: "big"))
        #expect(await big.nextBatch(upTo: 100).map(\.topic) == ["big/8", "big/9", "big/10"])
        #expect(await slow.messages.nextBatch(upTo: 100).map(\.payloadString) == (41...50).map(String.init))
        #expect(slow.messages(lane: "nonexistent") == nil)
        await publisher.disconnect()
        await slow.disconnect()
    }

    @Test("a consumer that falls behind loses the oldest messages, counted, and keeps the newest")
    func overflowKeepsNewest() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let slow = try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1", port: broker.port, clientID: RPCClient.uniqueClientID(prefix: "slow"),
                reconnect: false, messageBufferLimit: 10
            ),
            logger: Logger(label: "slow")
        )
        try await slow.connect()
        try await slow.subscribe("flood", qos: .atLeastOnce)
        let publisher = try Self.client(port: broker.port, reconnect: false)
        try await publisher.connect()
        for n in 1...50 { try publisher.publish("flood", payload: Array("\(n)".utf8), qos: .atLeastOnce) }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while slow.statistics.messagesReceived < 50 && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(slow.statistics.messagesDropped == 40)
        let messages = slow.messages
        let kept = try await withTimeout(.seconds(5)) { () async -> [String] in
            var kept: [String] = []
            for await message in messages {
                kept.append(message.payloadString)
                if kept.count == 10 { break }
            }
            return kept
        }
        #expect(kept == (41...50).map(String.init))
        await publisher.disconnect()
        await slow.disconnect()
    }
}
