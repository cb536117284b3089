import Logging
import Mosquitto
import ServiceLifecycle

/// Reads every incoming message once and hands it to the feature that owns its topic: RPC requests to the RPC
/// server, discovery configs, mosquitto's `$SYS` to the broker bridge, and everything else to the device registry (whose topic index knows which devices it feeds).
///
/// RPC requests run concurrently in a discarding task group, bounded by the RPC server's slots; on graceful
/// shutdown the loop stops reading and the group waits for the requests already running.
public struct MessageRouter: Service {
    let messages: MQTTMessages
    let topics: Topics
    let rpcServer: RPCServer
    let registry: DeviceRegistry
    let discovery: DiscoveryService?
    let sysCollector: SysTopicCollector?
    let logger: Logger

    public init(
        messages: MQTTMessages,
        topics: Topics,
        rpcServer: RPCServer,
        registry: DeviceRegistry,
        discovery: DiscoveryService? = nil,
        sysCollector: SysTopicCollector? = nil,
        logger: Logger
    ) {
        self.messages = messages
        self.topics = topics
        self.rpcServer = rpcServer
        self.registry = registry
        self.discovery = discovery
        self.sysCollector = sysCollector
        self.logger = logger
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for await message in messages.cancelOnGracefulShutdown() {
                if message.topic.hasPrefix(topics.rpcPrefix) {
                    guard !message.retain else {
                        // A retained request would be re-executed at every subscribe; refuse to act on it.
                        logger.warning("ignoring a retained RPC request", metadata: ["mqtt.topic": "\(message.topic)"])
                        continue
                    }
                    if rpcServer.tryReserveSlot() {
                        group.addTask {
                            await rpcServer.handle(message)
                            rpcServer.releaseSlot()
                        }
                    } else {
                        rpcServer.rejectBusy(message)
                    }
                } else if let discovery, registry.isDiscoveryTopic(message.topic) {
                    // Applied in order on the discovery task; a config's state topics are subscribed only once it
                    // is applied, so its state cannot overtake it.
                    discovery.enqueue(message)
                } else if let sysCollector, SysTopicCollector.owns(message.topic) {
                    sysCollector.ingest(message)
                } else {
                    // Device state and availability, in arrival order on this one task.
                    registry.ingest(message)
                }
            }
        }
    }
}
