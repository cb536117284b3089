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
    private let pending = Mutex<[String: Pending]>([:])

    /// A queued value; a device state is serialized only if it is still the newest when the window ends.
    private enum Pending: Sendable {
        case bytes([UInt8])
        case state(StateSnapshot)

        var payload: [UInt8] {
            switch self {
            case .bytes(let bytes): bytes
            case .state(let state): state.jsonBytes
            }
        }
    }
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let requested = Atomic<Int>(0)
    private let published = Atomic<Int>(0)

    public init(client: MosquittoClient, window: Duration = .milliseconds(100), logger: Logger) {
        self.client = client
        self.window = window
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a retained publish; an empty payload clears the retained message.
    public func publish(_ topic: String, payload: [UInt8]) {
        enqueue(topic, .bytes(payload))
    }

    /// Queues a device's normalized state; it is serialized when published.
    public func publish(_ topic: String, state: StateSnapshot) {
        enqueue(topic, .state(state))
    }

    private func enqueue(_ topic: String, _ value: Pending) {
        pending.withLock { $0[topic] = value }
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
        let batch = pending.withLock { pending -> [String: Pending] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        var unsent: [String: Pending] = [:]
        for (topic, value) in batch {
            guard client.isConnected else {
                unsent[topic] = value
                continue
            }
            do {
                // QoS 0: no PUBACK per state update; a value lost with the connection is republished after it.
                try client.publish(topic, payload: value.payload, qos: .atMostOnce, retain: true)
                published.add(1, ordering: .relaxed)
            } catch {
                unsent[topic] = value
            }
        }
        guard !unsent.isEmpty else { return }
        // Kept until the next connect (``resume()``): the registry republishes states, but a removed device's clears
        // exist only here. A newer value queued meanwhile wins.
        pending.withLock { pending in
            for (topic, value) in unsent where pending[topic] == nil { pending[topic] = value }
        }
        logger.debug("kept unsent retained publishes for the next connect", metadata: ["mqtt.unsent": "\(unsent.count)"])
    }

    /// Flushes what was kept while disconnected; called after each (re)connect.
    public func resume() {
        wake.yield()
    }

    /// Topics waiting to be published (kept while disconnected, or within the current window).
    public var queued: Int { pending.withLock { $0.count } }
}
