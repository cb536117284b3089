import Logging
import Mosquitto
import ServiceLifecycle

/// Applies discovery configs in arrival order on its own task, reading the discovery lane (``DaemonLanes``), so a
/// burst of retained configs (thousands at start-up) never delays RPC replies or state ingest, and a state flood
/// never pushes a config out.
///
/// Whatever has queued up while the previous batch was applied is applied as the next batch, with one SUBSCRIBE
/// for all its topics (``DeviceRegistry/discover(batch:)``). The lane is bounded (count and bytes) and counts what
/// it drops in `health.mqtt.dropped_by_kind.discovery`: large enough for every retained config of a big
/// installation, small enough that a producer flooding the prefix cannot exhaust memory.
public struct DiscoveryService: Service {
    let registry: DeviceRegistry
    let configs: MQTTMessages
    /// Configs per batch: large enough to amortize the SUBSCRIBE, small enough that the first devices appear soon.
    static let batchLimit = 2000

    public init(registry: DeviceRegistry, configs: MQTTMessages) {
        self.registry = registry
        self.configs = configs
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let batch = await configs.nextBatch(upTo: Self.batchLimit)
                if batch.isEmpty { return }
                await registry.discover(batch: batch)
            }
        }
    }
}
