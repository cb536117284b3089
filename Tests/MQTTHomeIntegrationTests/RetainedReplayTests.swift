import Foundation
import Logging
import MQTTHome
import Mosquitto
import Synchronization
import TestSupport
import Testing

/// Retained replays of 10,000 topics through a broker with mosquitto's default queue: the SUBSCRIBE queue's pacing
/// and its order. scripts/test runs the suite in its own phase (`MQTT_HOME_SERIAL=1`): tens of thousands of messages
/// through a broker and a client on two cores starved the time-limited tests running beside them.
@Suite(
    "Retained replays at scale through a stock-queue broker",
    .serialPhase,
    .timeLimit(.minutes(2)),
    .awaitedCleanup
)
struct RetainedReplayTests {
    @Test(
        "10,000 retained topics subscribed one by one reach the subscriber whole from a stock broker, when subscribed while connected and when restored at connect",
        arguments: [false, true]
    )
    func largeRetainedReplayIsNotCut(restoredAtConnect: Bool) async throws {
        // mosquitto's defaults: 20 in flight and 1,000 queued per client; beyond that a replay is dropped.
        let broker = try await TestBroker.start(extraConfiguration: ["max_queued_messages 1000"])
        cleanup { await broker.shutdown() }
        let count = 10000
        let publisher = try MosquittoClientTests.client(port: broker.port, reconnect: false)
        try await publisher.connect()
        for n in 0..<count { try publisher.publish("replay/\(n)", payload: Array("\(n)".utf8), qos: .atLeastOnce, retain: true) }
        try await publisher.publishAndWait("replay/last", payload: [1], qos: .atLeastOnce, retain: false)
        await publisher.disconnect()
        let filters = (0..<count).map { "replay/\($0)" }
        let subscriber = try MosquittoClientTests.client(port: broker.port, reconnect: false)
        if restoredAtConnect {
            // Not connected yet: recorded, then sent by the connect's restore.
            try subscriber.subscribeWithoutWaiting(filters, qos: .atLeastOnce)
            try await subscriber.connect()
        } else {
            try await subscriber.connect()
            try await withTimeout(.seconds(20)) { try await subscriber.subscribe(filters, qos: .atLeastOnce) }
        }
        let seen = Mutex(Set<String>())
        _ = try? await withTimeout(.seconds(20)) {
            for await message in subscriber.messages where message.retain {
                if seen.withLock({ $0.insert(message.topic); return $0.count }) == count { break }
            }
        }
        let arrived = seen.withLock { $0.count }
        #expect(arrived == count, "\(arrived) of \(count) retained topics arrived")
        await subscriber.disconnect()
    }

    @Test("a subscription a caller waits for goes ahead of a restore still being sent, and the restore still completes")
    func callerGoesAheadOfRestore() async throws {
        let broker = try await TestBroker.start(extraConfiguration: ["max_queued_messages 1000"])
        cleanup { await broker.shutdown() }
        // 10,000 retained topics: the restore at connect is 50 packets, each answered after its replay.
        let count = 10000
        let publisher = try MosquittoClientTests.client(port: broker.port, reconnect: false)
        try await publisher.connect()
        for n in 0..<count {
            try publisher.publish("restore/\(n)", payload: Array("\(n)".utf8), qos: .atLeastOnce, retain: true)
            // The suite runs in parallel on few cores: a long loop without a suspension holds a thread other tests need.
            if n % 500 == 499 { await Task.yield() }
        }
        // The caller's topic has a retained message too: where it lands among the restore's says when its packet went.
        try await publisher.publishAndWait("caller/topic", payload: [1], qos: .atLeastOnce, retain: true)
        await publisher.disconnect()
        let subscriber = try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1", port: broker.port, clientID: RPCClient.uniqueClientID(prefix: "wrapper-test"), reconnect: false,
                messageBufferLimit: 100_000
            ),
            logger: Logger(label: "wrapper-test")
        )
        try subscriber.subscribeWithoutWaiting((0..<count).map { "restore/\($0)" }, qos: .atLeastOnce, paced: true)
        // Arrival order as the network thread saw it (the buffer holds all of it: nothing is dropped for a slow reader).
        let reader = Task { () -> (before: Int, total: Int) in
            var restored = 0
            var before = -1
            for await message in subscriber.messages {
                if message.topic == "caller/topic" { before = restored } else { restored += 1 }
                if restored == count && before >= 0 { break }
            }
            return (before, restored)
        }
        try await subscriber.connect()
        // Counted and queued in one step, with no suspension between them (a loaded machine schedules tasks late).
        let atRequest = subscriber.statistics.messagesReceived
        let receipt = subscriber.requestSubscription(["caller/topic"], qos: .atLeastOnce)
        try await withTimeout(.seconds(30)) { try await subscriber.confirm(receipt) }
        let result = try await withTimeout(.seconds(30)) { await reader.value }
        let waited = result.before - atRequest
        let left = count - atRequest
        // Ahead of the restore the caller's packet follows the one in flight (up to 200 replayed messages); behind
        // it, every packet still queued when it asked. (A restore already done by then proves nothing either way.)
        #expect(waited <= 600 || left <= 600, "\(waited) restored messages came before the caller's; \(left) were left when it asked")
        #expect(result.total == count, "the restore stopped at \(result.total) of \(count)")
        await subscriber.disconnect()
    }
}
