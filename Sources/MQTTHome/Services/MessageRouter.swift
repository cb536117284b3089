import Logging
import Mosquitto
import ServiceLifecycle

/// Reads every incoming message once and hands it to the feature that owns its topic.
///
/// RPC requests run concurrently in a discarding task group, bounded by the RPC server's slots; on graceful
/// shutdown the loop stops reading and the group waits for the requests already running.
public struct MessageRouter: Service {
    let messages: MQTTMessages
    let topics: Topics
    let rpcServer: RPCServer
    let logger: Logger

    public init(messages: MQTTMessages, topics: Topics, rpcServer: RPCServer, logger: Logger) {
        self.messages = messages
        self.topics = topics
        self.rpcServer = rpcServer
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
                } else {
                    logger.trace("message on an unrouted topic", metadata: ["mqtt.topic": "\(message.topic)"])
                }
            }
        }
    }
}
