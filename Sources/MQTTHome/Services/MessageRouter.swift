import Logging
import Mosquitto
import ServiceLifecycle

/// Reads the RPC lane and the default lane (``DaemonLanes``) and hands every message to the feature that owns its
/// topic: RPC requests to the RPC server, `<base>/devices/<id>/set` commands to ``DeviceSetTopic``; mosquitto's
/// `$SYS` to the broker bridge; Home Assistant's birth to ``HomeAssistantBirth``; everything else to the device
/// registry (whose topic index knows which devices it feeds). Discovery configs have their own lane, read by
/// ``DiscoveryService``.
///
/// The two lanes are read on two tasks, so a backlog of state never delays a request. RPC requests run
/// concurrently in a discarding task group, bounded by the RPC server's slots; on graceful shutdown the loops stop
/// reading and the group waits for the requests already running.
public struct MessageRouter: Service {
    let requests: MQTTMessages
    let messages: MQTTMessages
    let topics: Topics
    let rpcServer: RPCServer
    let registry: DeviceRegistry
    let sysCollector: SysTopicCollector?
    /// `<base>/devices/<id>/set` commands, which arrive on the RPC lane (nil when not subscribed).
    let setTopic: DeviceSetTopic?
    /// Home Assistant's birth message, on the default lane (nil when the daemon announces nothing).
    let birth: HomeAssistantBirth?
    let birthTopic: String?
    let logger: Logger

    /// - Parameters:
    ///   - requests: the RPC lane.
    ///   - messages: the default lane (device state and availability, `$SYS`).
    public init(
        requests: MQTTMessages,
        messages: MQTTMessages,
        topics: Topics,
        rpcServer: RPCServer,
        registry: DeviceRegistry,
        sysCollector: SysTopicCollector? = nil,
        setTopic: DeviceSetTopic? = nil,
        birth: HomeAssistantBirth? = nil,
        logger: Logger
    ) {
        self.setTopic = setTopic
        self.birth = birth
        self.birthTopic = birth?.registry.announcement.birthTopic
        self.requests = requests
        self.messages = messages
        self.topics = topics
        self.rpcServer = rpcServer
        self.registry = registry
        self.sysCollector = sysCollector
        self.logger = logger
    }

    public func run() async throws {
        await withDiscardingTaskGroup { lanes in
            lanes.addTask { await routeRequests() }
            lanes.addTask { await routeMessages() }
        }
    }

    private func routeRequests() async {
        await withDiscardingTaskGroup { group in
            for await message in requests.cancelOnGracefulShutdown() {
                if let setTopic, setTopic.deviceID(of: message.topic) != nil {
                    // A command without a reply, bounded by a budget of its own (never the RPC requests' slots).
                    if setTopic.tryReserve() {
                        group.addTask {
                            await setTopic.handle(message)
                            setTopic.release()
                        }
                    } else {
                        setTopic.rejectBusy(message)
                    }
                    continue
                }
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
            }
        }
    }

    /// Reads the default lane in batches: on a busy bus it lingers between reads (``IngestPacing``).
    private func routeMessages() async {
        await cancelWhenGracefulShutdown {
            var pacing = IngestPacing()
            while true {
                let batch = await messages.nextBatch(upTo: 512)
                guard !batch.isEmpty else { return }
                for message in batch { route(message) }
                if let wait = pacing.wait(afterReading: batch.count, at: .now) {
                    try? await Task.sleep(for: wait)
                }
            }
        }
    }

    private func route(_ message: MQTTMessage) {
        if let sysCollector, SysTopicCollector.owns(message.topic) {
            sysCollector.ingest(message)
        } else if let birth, message.topic == birthTopic {
            birth.heard(message)
        } else {
            // Device state and availability, in arrival order on this one task.
            registry.ingest(message)
        }
    }
}
