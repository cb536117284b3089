import Logging
import Mosquitto
import ServiceLifecycle
import Synchronization

/// Applies discovery configs in arrival order on its own task, so a burst of retained configs (thousands at
/// start-up) never delays RPC replies or state ingest.
///
/// Whatever has queued up while the previous batch was applied is applied as the next batch, with one SUBSCRIBE
/// for all its topics (``DeviceRegistry/discover(batch:)``). The queue is unbounded because every config matters
/// (a dropped removal would leave a ghost device) and the broker bounds how many retained configs exist.
public final class DiscoveryService: Service, Sendable {
    let registry: DeviceRegistry
    /// Configs per batch: large enough to amortize the SUBSCRIBE, small enough that the first devices appear soon.
    static let batchLimit = 2000
    private let queue = Mutex<[MQTTMessage]>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(registry: DeviceRegistry) {
        self.registry = registry
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func enqueue(_ message: MQTTMessage) {
        queue.withLock { $0.append(message) }
        wake.yield()
    }

    public func run() async throws {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            while true {
                let batch = queue.withLock { queue -> [MQTTMessage] in
                    let batch = Array(queue.prefix(Self.batchLimit))
                    queue.removeFirst(batch.count)
                    return batch
                }
                if batch.isEmpty { break }
                await registry.discover(batch: batch)
            }
        }
    }
}
