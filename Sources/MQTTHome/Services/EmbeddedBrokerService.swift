import Logging
import ServiceLifecycle

/// Keeps the embedded mosquitto alive while the daemon runs and stops it last on shutdown.
///
/// It is the first service in the group, so graceful shutdown reaches it after the broker link has published
/// offline and disconnected. If mosquitto dies on its own, it is restarted on the same port after a second.
public struct EmbeddedBrokerService: Service {
    let broker: EmbeddedBroker
    let logger: Logger

    public init(broker: EmbeddedBroker, logger: Logger) {
        self.broker = broker
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .milliseconds(500))
                if let status = broker.unexpectedExit() {
                    logger.error(
                        "embedded mosquitto exited unexpectedly; restarting it",
                        metadata: ["broker.status": "\(status)", "broker.log": "\(broker.logPath)"]
                    )
                    try await Task.sleep(for: .seconds(1))
                    do {
                        try await broker.start()
                    } catch {
                        logger.error("cannot restart embedded mosquitto", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        await broker.stop()
    }
}
