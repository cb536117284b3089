import Logging
import Mosquitto
import ServiceLifecycle
import Synchronization

/// Publishes retained per-topic values, coalesced: within one window the newest payload for a topic wins, so a
/// burst of state messages does not become the same number of retained publishes.
///
/// The first change after a quiet period goes out at once; further changes wait for the window to end.
public final class StatePublisher: Service, Sendable {
    let client: MosquittoClient
    let window: Duration
    let logger: Logger
    private let pending = Mutex<[String: [UInt8]]>([:])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let requested = Atomic<Int>(0)
    private let published = Atomic<Int>(0)

    public init(client: MosquittoClient, window: Duration = .milliseconds(20), logger: Logger) {
        self.client = client
        self.window = window
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a retained publish; an empty payload clears the retained message.
    public func publish(_ topic: String, payload: [UInt8]) {
        pending.withLock { $0[topic] = payload }
        requested.add(1, ordering: .relaxed)
        wake.yield()
    }

    /// Publish requests and actual publishes since start: the difference is what coalescing saved.
    public var statistics: (requested: Int, published: Int) {
        (requested.load(ordering: .relaxed), published.load(ordering: .relaxed))
    }

    public func run() async throws {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            flush()
            try? await Task.sleep(for: window)
        }
        flush()
    }

    private func flush() {
        let batch = pending.withLock { pending -> [String: [UInt8]] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        // Not connected: the values are in the registry and go out with the republish after the reconnect.
        guard client.isConnected else { return }
        for (topic, payload) in batch {
            do {
                try client.publish(topic, payload: payload, qos: .atLeastOnce, retain: true)
                published.add(1, ordering: .relaxed)
            } catch {
                logger.warning("cannot publish", metadata: ["mqtt.topic": "\(topic)", "error": "\(error)"])
            }
        }
    }
}
