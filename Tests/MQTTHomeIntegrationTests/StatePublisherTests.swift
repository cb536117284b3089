import Logging
import MQTTHome
import Mosquitto
import TestSupport
import Testing

@Suite("State publisher across a disconnect", .timeLimit(.minutes(1)), .awaitedCleanup)
struct StatePublisherTests {
    @Test("what cannot be sent while disconnected is kept and sent after the connect, clears included")
    func keepsUnsentUntilConnected() async throws {
        let broker = try await TestBroker.start()
        cleanup { await broker.shutdown() }
        let observer = try await MessageCollector.connect(port: broker.port, subscribeTo: ["t/#"])
        try await observer.client.publishAndWait("t/removed", payload: Array("stale".utf8), retain: true)

        let client = try MosquittoClient(
            configuration: .init(host: "127.0.0.1", port: broker.port, clientID: RPCClient.uniqueClientID(prefix: "pub")),
            logger: Logger(label: "pub")
        )
        let publisher = StatePublisher(client: client, window: .milliseconds(10), logger: Logger(label: "pub"))
        let running = Task { try await publisher.run() }
        defer { running.cancel() }
        publisher.publish("t/state", payload: Array("v1".utf8))
        publisher.publish("t/removed", payload: [])
        try await Task.sleep(for: .milliseconds(100))
        #expect(publisher.queued == 2)
        #expect(publisher.statistics.published == 0)

        try await client.connect()
        publisher.resume()
        #expect(await observer.waitFor(topic: "t/state") { $0.payloadString == "v1" } != nil)
        try await Task.sleep(for: .milliseconds(100))
        #expect(publisher.queued == 0)
        let late = try await MessageCollector.connect(port: broker.port, subscribeTo: ["t/removed"])
        #expect(await late.waitFor(topic: "t/removed", timeout: 0.5) == nil, "the retained value was not cleared")
        await late.close()
        await client.disconnect()
        await observer.close()
    }
}
