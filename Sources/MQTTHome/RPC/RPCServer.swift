import Logging
import Mosquitto
import Synchronization

/// Turns request messages into replies: decode, run the method, answer on the reply route.
///
/// Concurrency is bounded: ``tryReserveSlot()`` admits at most `maxInFlight` requests; beyond that the caller
/// answers with ``RPCError/busy(limit:)`` through ``rejectBusy(_:)`` instead of queueing without bound.
public final class RPCServer: Sendable {
    public typealias ReplySender = @Sendable (_ route: RPCReplyRoute, _ payload: [UInt8]) throws -> Void

    let router: RPCRouter
    let topics: Topics
    let settings: HomeConfiguration.RPCSettings
    let sendReply: ReplySender
    let logger: Logger
    /// Its request counters and rate limiter: made before the server, so `health` (a method the server routes)
    /// reads them without a reference back to the server.
    public let counters: RPCCounters
    var rateLimiter: CallerRateLimiter? { counters.rateLimiter }
    let replyPolicy: ReplyPolicy
    /// The device that reads or is commanded on a topic, if any (the registry's index).
    let deviceUsing: @Sendable (String) -> String?
    /// Refused reply topic patterns already logged (bounded), so a caller varying its topic is logged once.
    let loggedRefusals = Mutex<Set<String>>([])

    public init(
        router: RPCRouter,
        topics: Topics,
        settings: HomeConfiguration.RPCSettings,
        replyPolicy: ReplyPolicy,
        logger: Logger,
        counters: RPCCounters? = nil,
        deviceUsing: @escaping @Sendable (String) -> String? = { _ in nil },
        sendReply: @escaping ReplySender
    ) {
        self.counters = counters ?? RPCCounters(settings: settings)
        self.replyPolicy = replyPolicy
        self.deviceUsing = deviceUsing
        self.router = router
        self.topics = topics
        self.settings = settings
        self.logger = logger
        self.sendReply = sendReply
    }

    public var statistics: RPCCounters.Statistics { counters.statistics }

    /// Admits one more request if fewer than `maxInFlight` are running; pair with ``releaseSlot()``.
    public func tryReserveSlot() -> Bool { counters.inFlight.increment(below: settings.maxInFlight) }

    public func releaseSlot() { counters.inFlight.subtract(1, ordering: .relaxed) }

    /// Answers "busy" without running the method.
    public func rejectBusy(_ message: MQTTMessage) {
        counters.received.add(1, ordering: .relaxed)
        counters.rejectedBusy.add(1, ordering: .relaxed)
        switch RPCRequest.decode(message, topics: topics, maxPayloadBytes: settings.maxPayloadBytes) {
        case .success(let request):
            guard permitted(request.replyRoute, method: request.method) else { return }
            finish(method: request.method, id: request.id, route: request.replyRoute, outcome: .failure(.busy(limit: settings.maxInFlight)), started: .now)
        case .failure(let rejection):
            guard permitted(rejection.replyRoute, method: message.topic) else { return }
            finish(method: message.topic, id: rejection.id, route: rejection.replyRoute, outcome: .failure(rejection.error), started: .now)
        }
    }

    /// Decodes and runs one request, then answers it if it has a reply route.
    public func handle(_ message: MQTTMessage) async {
        let started = ContinuousClock.now
        counters.received.add(1, ordering: .relaxed)
        switch RPCRequest.decode(message, topics: topics, maxPayloadBytes: settings.maxPayloadBytes) {
        case .failure(let rejection):
            if let reason = rejection.unanswerableReason {
                logger.warning(
                    "RPC request rejected and cannot be answered",
                    metadata: [
                        "mqtt.topic": "\(message.topic)", "rpc.error": "\(rejection.error.message)",
                        "rpc.unanswerable": "\(reason)",
                    ]
                )
            }
            let method = topics.method(fromRPCTopic: message.topic) ?? message.topic
            guard permitted(rejection.replyRoute, method: method) else { return }
            finish(method: method, id: rejection.id, route: rejection.replyRoute, outcome: .failure(rejection.error), started: started)
        case .success(let request):
            guard permitted(request.replyRoute, method: request.method) else { return }
            let caller = CallerRateLimiter.caller(replyTopic: request.replyRoute?.topic, allowed: replyPolicy.allowed)
            if let rateLimiter, let wait = rateLimiter.admit(caller) {
                let error = RPCError.rateLimited(perSecond: rateLimiter.perSecond, retryAfter: wait)
                finish(method: request.method, id: request.id, route: request.replyRoute, outcome: .failure(error), started: started)
                return
            }
            if request.replyRoute == nil {
                logger.notice(
                    "RPC request has no response topic and no reply_to; executing it without an answer",
                    metadata: ["rpc.method": "\(request.method)"]
                )
            }
            let outcome: Result<JSONValue, RPCError>
            do {
                outcome = .success(try await router.call(request.method, params: request.params))
            } catch {
                outcome = .failure(error)
            }
            finish(method: request.method, id: request.id, route: request.replyRoute, outcome: outcome, started: started)
        }
    }

    /// False when the reply route is refused by the reply policy: the request is then neither run nor answered,
    /// only counted and (once per kind and topic pattern) logged with what is allowed.
    private func permitted(_ route: RPCReplyRoute?, method: String) -> Bool {
        guard let route, let refusal = replyPolicy.refusal(route.topic, deviceUsing: deviceUsing) else { return true }
        counters.refusedReplyTopics.add(1, ordering: .relaxed)
        let pattern = "\(refusal.kind) \(ReplyPolicy.pattern(route.topic))"
        let first = loggedRefusals.withLock { logged -> Bool in
            guard logged.count < 1024 else { return false }
            return logged.insert(pattern).inserted
        }
        if first {
            logger.warning(
                "RPC request refused: its reply topic \(refusal.reason); it was not executed",
                metadata: [
                    "rpc.method": "\(method)", "mqtt.reply_topic": "\(route.topic)", "rpc.reply": "\(route.source.rawValue)",
                    "rpc.reply_topics_allowed": "\(replyPolicy.allowed.joined(separator: ","))",
                ]
            )
        }
        return false
    }

    private func finish(
        method: String,
        id: JSONValue,
        route: RPCReplyRoute?,
        outcome: Result<JSONValue, RPCError>,
        started: ContinuousClock.Instant
    ) {
        let reply: JSONValue
        var metadata: Logger.Metadata = ["rpc.method": "\(method)", "rpc.id": "\(id.jsonString)"]
        switch outcome {
        case .success(let result):
            counters.succeeded.add(1, ordering: .relaxed)
            reply = RPCReply.success(id: id, result: result)
            metadata["rpc.outcome"] = "ok"
        case .failure(let error):
            counters.failed.add(1, ordering: .relaxed)
            reply = RPCReply.failure(id: id, error: error)
            metadata["rpc.outcome"] = "error \(error.code)"
            metadata["rpc.error"] = "\(error.message)"
        }
        if let route {
            metadata["rpc.reply"] = "\(route.source.rawValue)"
            do {
                try sendReply(route, reply.jsonBytes)
            } catch {
                logger.warning("cannot publish RPC reply", metadata: ["mqtt.topic": "\(route.topic)", "error": "\(error)"])
            }
        } else {
            counters.unanswered.add(1, ordering: .relaxed)
            metadata["rpc.reply"] = "none"
        }
        if logger.logLevel <= .debug {
            let elapsed = ContinuousClock.now - started
            let microseconds = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
            metadata["rpc.duration_ms"] = "\(Double(microseconds) / 1000)"
            logger.debug("rpc", metadata: metadata)
        }
    }
}
