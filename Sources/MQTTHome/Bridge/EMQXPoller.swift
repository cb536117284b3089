import Logging
import ServiceLifecycle
import Synchronization

/// Polls the EMQX REST API every `EMQX_POLL_INTERVAL` and keeps ``BrokerStatusBoard`` current.
///
/// The four reads of a poll run side by side on the HTTP client's own threads, so a slow EMQX costs one timeout per
/// poll and never a cooperative thread; device ingest and other RPC methods do not wait on it. A failure is a
/// state (`auth_failed`, `unreachable`, …) published at once; the next attempt backs off, doubling up to a minute
/// (or the poll interval, if longer), and a 503's `retry-after` is honoured.
public final class EMQXPoller: Service, Sendable {
    public struct Statistics: Sendable {
        public var polls = 0
        public var failures = 0
        public var consecutiveFailures = 0
        /// Wall time of the last poll, in milliseconds.
        public var lastPollMilliseconds: Double?
    }

    let client: EMQXClient
    let board: BrokerStatusBoard
    let logger: Logger
    private let counters = Mutex(Statistics())
    private let nudged = Atomic<Bool>(false)

    public init(client: EMQXClient, board: BrokerStatusBoard, logger: Logger) {
        self.client = client
        self.board = board
        self.logger = logger
    }

    public var statistics: Statistics { counters.withLock { $0 } }

    public func run() async throws {
        var previous: BrokerStatus.CounterSample? = nil
        var lastState = BrokerState.starting
        nudged.store(false, ordering: .relaxed)
        logger.info("polling the EMQX REST API", metadata: ["emqx.url": "\(client.settings.baseURL)"])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let delay: Duration
            // A shutdown aborts the poll's transfers instead of waiting out EMQX_TIMEOUT.
            let previousSample = previous
            let outcome = await cancelWhenGracefulShutdown { await self.poll(previous: previousSample) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            switch outcome {
            case .success(let reading):
                previous = reading.sample
                board.update(reading.status, nodes: reading.nodes)
                if lastState != .ok {
                    logger.notice("EMQX API ok", metadata: ["emqx.url": "\(client.settings.baseURL)", "broker.version": "\(reading.status.version ?? "?")"])
                }
                lastState = .ok
                delay = client.settings.pollInterval
            case .failure(let failure):
                let failures = counters.withLock { $0.consecutiveFailures }
                delay = Self.retryDelay(failure: failure, consecutiveFailures: failures, interval: client.settings.pollInterval)
                previous = nil  // rates resume from the next good reading, not across the gap
                board.update(board.status.failing(failure, retryIn: delay))
                if failure.state != lastState {
                    logger.warning(
                        "EMQX API \(failure.state.rawValue)",
                        metadata: ["error": "\(failure.message)", "emqx.retry_in_s": "\(delay.seconds)"]
                    )
                }
                lastState = failure.state
            }
            await wait(delay)
        }
    }

    /// Asks for the next poll now rather than after the back-off: an RPC call just reached EMQX, so the key or the
    /// node was fixed, and `<base>/broker/status` should say so at once.
    public func pollSoon() { nudged.store(true, ordering: .releasing) }

    /// Sleeps `delay` in short slices, ending early on ``pollSoon()`` or a graceful shutdown.
    private func wait(_ delay: Duration) async {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline && !Task.isShuttingDownGracefully && !Task.isCancelled {
            if nudged.exchange(false, ordering: .acquiringAndReleasing) { return }
            try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
        }
    }

    struct Reading {
        var status: BrokerStatus
        var nodes: JSONValue
        var sample: BrokerStatus.CounterSample
    }

    /// One round of `/status`, `/stats`, `/metrics`, `/nodes`; the most telling failure wins when several fail.
    func poll(previous: BrokerStatus.CounterSample?) async -> Result<Reading, BrokerAPIFailure> {
        let started = ContinuousClock.now
        let client = client
        async let status = Self.capture { () async throws(HomeError) in try await client.status() }
        async let stats = Self.capture { () async throws(HomeError) in try await client.stats() }
        async let metrics = Self.capture { () async throws(HomeError) in try await client.metrics() }
        async let nodes = Self.capture { () async throws(HomeError) in try await client.nodes() }
        let results = await [status, stats, metrics, nodes]
        let elapsed = ContinuousClock.now - started
        let failures = results.compactMap { result -> BrokerAPIFailure? in
            if case .failure(let failure) = result { return failure }
            return nil
        }
        counters.withLock {
            $0.polls += 1
            $0.lastPollMilliseconds = (elapsed.seconds * 10_000).rounded() / 10
            if failures.isEmpty {
                $0.consecutiveFailures = 0
            } else {
                $0.failures += 1
                $0.consecutiveFailures += 1
            }
        }
        if let worst = failures.min(by: { Self.precedence($0.state) < Self.precedence($1.state) }) {
            return .failure(worst)
        }
        let values = results.map { (try? $0.get()) ?? .null }
        var reading = BrokerStatus.emqx(status: values[0], stats: values[1], metrics: values[2], nodes: values[3])
        let now = Timestamp.now()
        reading.updatedAt = now
        var sample = reading.counters
        sample.at = (ContinuousClock.now - Self.epoch).seconds
        reading.computeRates(from: previous, now: sample)
        return .success(Reading(status: reading, nodes: BrokerStatus.emqxNodes(values[3], updatedAt: now), sample: sample))
    }

    /// Monotonic origin for rate computations.
    private static let epoch = ContinuousClock.now

    private static func capture(
        _ body: @Sendable () async throws(HomeError) -> JSONValue
    ) async -> Result<JSONValue, BrokerAPIFailure> {
        do {
            return .success(try await body())
        } catch {
            switch error {
            case .brokerAPI(let failure): return .failure(failure)
            default: return .failure(BrokerAPIFailure(state: .badResponse, message: "\(error)"))
            }
        }
    }

    /// Which failure to report when several requests of one poll fail: the one a person must act on first.
    static func precedence(_ state: BrokerState) -> Int {
        switch state {
        case .authFailed: 0
        case .forbidden: 1
        case .unreachable: 2
        case .unavailable: 3
        case .badResponse: 4
        case .ok, .starting, .noData: 5
        }
    }

    /// The wait before the next attempt after `consecutiveFailures` failed polls (this one included).
    static func retryDelay(failure: BrokerAPIFailure, consecutiveFailures: Int, interval: Duration) -> Duration {
        let cap = max(interval, .seconds(60))
        var delay = interval
        for _ in 1..<max(1, consecutiveFailures) where delay < cap { delay *= 2 }
        delay = min(delay, cap)
        if let retryAfter = failure.retryAfter { delay = max(delay, retryAfter) }
        return delay
    }
}
