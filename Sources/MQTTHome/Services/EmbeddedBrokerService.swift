import Logging
import ServiceLifecycle

/// Keeps the embedded mosquitto alive while the daemon runs and stops it last on shutdown.
///
/// It is the first service in the group, so graceful shutdown reaches it after the broker link has published
/// offline and disconnected. If mosquitto dies on its own, it is restarted on the same port after a second, and
/// a restart that fails (the port taken meanwhile, a full disk) is retried with backoff up to 30 s until it works.
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
                    try await restart()
                }
            }
        }
        await broker.stop()
    }

    /// Tries until mosquitto runs again; each new reason for failing is logged once, with the next delay.
    private func restart() async throws {
        var delay = Duration.seconds(1)
        var attempts = 0
        var lastProblem: String? = nil
        while true {
            try await Task.sleep(for: delay)
            attempts += 1
            do {
                try await broker.start()
                if attempts > 1 { logger.notice("embedded mosquitto restarted", metadata: ["broker.attempts": "\(attempts)"]) }
                return
            } catch {
                delay = min(delay * 2, .seconds(30))
                let problem = "\(error)"
                if problem != lastProblem {
                    logger.error(
                        "cannot restart embedded mosquitto; retrying with backoff",
                        metadata: ["error": "\(problem)", "broker.attempts": "\(attempts)", "retry.delay": "\(delay)"]
                    )
                    lastProblem = problem
                }
            }
        }
    }
}
