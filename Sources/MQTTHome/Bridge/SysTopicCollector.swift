import Logging
import Mosquitto
import ServiceLifecycle
import Synchronization

/// Builds the broker status from mosquitto's `$SYS/broker/#` when no EMQX API is configured.
///
/// mosquitto publishes `$SYS` every `sys_interval` (10 s by default) as a burst of retained text values, and only
/// the values that changed; `uptime` is always among them. The collector keeps the latest value per topic and turns
/// each burst (once it has been quiet for ``settleTime``) into one status reading, so a burst of forty topics is one
/// publish. If nothing arrives for ``silenceLimit`` the state becomes `no_data`: `sys_interval 0` or an ACL that
/// denies `$SYS` would otherwise look like a frozen broker.
public final class SysTopicCollector: Service, Sendable {
    public static let filter = "$SYS/broker/#"
    static let prefix = "$SYS/broker/"
    let board: BrokerStatusBoard
    let logger: Logger
    let settleTime: Duration
    let silenceLimit: Duration
    private struct Values {
        var byTopic: [String: String] = [:]
        var dirty = false
        var lastArrival: ContinuousClock.Instant?
        var received = 0
    }
    private let values = Mutex(Values())
    private let startedAt = ContinuousClock.now

    public init(
        board: BrokerStatusBoard,
        settleTime: Duration = .milliseconds(300),
        silenceLimit: Duration = .seconds(35),
        logger: Logger
    ) {
        self.board = board
        self.settleTime = settleTime
        self.silenceLimit = silenceLimit
        self.logger = logger
    }

    /// True for the topics this collector reads.
    public static func owns(_ topic: String) -> Bool { topic.hasPrefix(prefix) }

    /// `$SYS` messages received so far (for `health`).
    public var received: Int { values.withLock { $0.received } }

    /// Records one `$SYS/broker/...` value; called by the message router.
    public func ingest(_ message: MQTTMessage) {
        let key = String(message.topic.dropFirst(Self.prefix.count))
        let text = String(decoding: message.payload, as: UTF8.self)
        values.withLock {
            $0.byTopic[key] = text
            $0.dirty = true
            $0.lastArrival = .now
            $0.received += 1
        }
    }

    public func run() async throws {
        var previous: BrokerStatus.CounterSample? = nil
        var reportedSilence = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: settleTime)
            let now = ContinuousClock.now
            let burst = values.withLock { values -> [String: String]? in
                guard values.dirty, let last = values.lastArrival, now - last >= settleTime else { return nil }
                values.dirty = false
                return values.byTopic
            }
            if let burst {
                var status = BrokerStatus.mosquitto(burst)
                status.updatedAt = Timestamp.now()
                var sample = status.counters
                sample.at = (now - startedAt).seconds
                status.computeRates(from: previous, now: sample)
                previous = sample
                board.update(status)
                if reportedSilence { logger.notice("mosquitto $SYS messages arrive again") }
                reportedSilence = false
                continue
            }
            let lastArrival = values.withLock { $0.lastArrival }
            let silent = now - (lastArrival ?? startedAt)
            if silent >= silenceLimit && !reportedSilence {
                reportedSilence = true
                let message =
                    "no $SYS/broker message for \(Int(silent.seconds)) s: mosquitto's sys_interval may be 0, its ACL "
                    + "may deny this client '$SYS/broker/#', or the broker is not mosquitto (for EMQX set EMQX_API_URL)"
                logger.warning("broker status: \(message)")
                var status = board.status
                status.state = .noData
                status.error = message
                status.rates = .init()
                previous = nil
                board.update(status)
            }
        }
    }
}
