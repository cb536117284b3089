import Logging
import Mosquitto
import ServiceLifecycle

/// Applies discovery configs in arrival order on its own task, so a burst of retained configs (thousands at
/// start-up, each a registry change and a SUBSCRIBE round trip) never delays RPC replies or state ingest.
///
/// The router hands configs over through ``enqueue(_:)``; the queue is unbounded because every config matters
/// (a dropped removal would leave a ghost device) and the broker bounds how many retained configs exist.
public final class DiscoveryService: Service, Sendable {
    let registry: DeviceRegistry
    private let stream: AsyncStream<MQTTMessage>
    private let continuation: AsyncStream<MQTTMessage>.Continuation

    public init(registry: DeviceRegistry) {
        self.registry = registry
        (stream, continuation) = AsyncStream.makeStream(of: MQTTMessage.self, bufferingPolicy: .unbounded)
    }

    public func enqueue(_ message: MQTTMessage) { continuation.yield(message) }

    public func run() async throws {
        for await message in stream.cancelOnGracefulShutdown() {
            await registry.discover(message)
        }
    }
}
