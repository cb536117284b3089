/// The broker's health in one schema whatever the broker: what `<base>/broker/status` carries and `broker/status`
/// answers. topics.md documents every field.
///
/// Counts the broker does not report are nil and published as `null` (mosquitto has no topic count), so a consumer
/// can tell "zero" from "unknown".
public struct BrokerStatus: Sendable, Equatable {
    public enum Source: String, Sendable { case emqx, mosquitto }

    /// Messages per second, from the difference of two successive counter readings.
    public struct Rates: Sendable, Equatable {
        public var received: Double?
        public var sent: Double?
        public var dropped: Double?
    }

    /// Counters and the moment they were read, kept to compute the next rates.
    public struct CounterSample: Sendable, Equatable {
        public var received: Int?
        public var sent: Int?
        public var dropped: Int?
        /// Seconds on a monotonic clock.
        public var at: Double
    }

    public var source: Source
    public var state: BrokerState = .starting
    public var version: String?
    public var uptimeSeconds: Int?
    public var nodes: Int?
    public var connections: Int?
    public var liveConnections: Int?
    public var sessions: Int?
    public var subscriptions: Int?
    public var topics: Int?
    public var retained: Int?
    public var messagesReceived: Int?
    public var messagesSent: Int?
    public var messagesDropped: Int?
    public var rates = Rates()
    /// When the figures were read (RFC 3339); nil before the first success.
    public var updatedAt: String?
    /// What is wrong, for any state but `ok`.
    public var error: String?
    /// Seconds until the next attempt, while failing.
    public var retryInSeconds: Double?

    public init(source: Source) { self.source = source }

    public var counters: CounterSample {
        CounterSample(received: messagesReceived, sent: messagesSent, dropped: messagesDropped, at: 0)
    }

    /// Fills ``rates`` from the previous reading; a counter that went down (a broker restart) has no rate.
    public mutating func computeRates(from previous: CounterSample?, now: CounterSample) {
        guard let previous, now.at > previous.at else {
            rates = Rates()
            return
        }
        let seconds = now.at - previous.at
        func rate(_ old: Int?, _ new: Int?) -> Double? {
            guard let old, let new, new >= old else { return nil }
            return (Double(new - old) / seconds * 100).rounded() / 100
        }
        rates = Rates(
            received: rate(previous.received, now.received),
            sent: rate(previous.sent, now.sent),
            dropped: rate(previous.dropped, now.dropped)
        )
    }

    /// The same figures in another state: a failed poll keeps the last known numbers, with their `updated_at`.
    public func failing(_ failure: BrokerAPIFailure, retryIn: Duration?) -> BrokerStatus {
        var copy = self
        copy.state = failure.state
        copy.error = failure.message
        copy.rates = Rates()
        copy.retryInSeconds = retryIn.map { ($0.seconds * 10).rounded() / 10 }
        return copy
    }

    public var json: JSONValue {
        func number(_ value: Int?) -> JSONValue { value.map { .int(Int64($0)) } ?? .null }
        func decimal(_ value: Double?) -> JSONValue { value.map(JSONValue.double) ?? .null }
        var object = JSONObject([
            ("source", .string(source.rawValue)),
            ("state", .string(state.rawValue)),
            ("version", version.map(JSONValue.string) ?? .null),
            ("uptime_s", number(uptimeSeconds)),
            ("nodes", number(nodes)),
            ("connections", number(connections)),
            ("live_connections", number(liveConnections)),
            ("sessions", number(sessions)),
            ("subscriptions", number(subscriptions)),
            ("topics", number(topics)),
            ("retained", number(retained)),
            ("messages_received", number(messagesReceived)),
            ("messages_sent", number(messagesSent)),
            ("messages_dropped", number(messagesDropped)),
            (
                "rates",
                [
                    "messages_received_per_s": decimal(rates.received),
                    "messages_sent_per_s": decimal(rates.sent),
                    "messages_dropped_per_s": decimal(rates.dropped),
                ]
            ),
            ("updated_at", updatedAt.map(JSONValue.string) ?? .null),
        ])
        if let error { object["error"] = .string(error) }
        if let retryInSeconds { object["retry_in_s"] = .double(retryInSeconds) }
        return .object(object)
    }
}

extension Duration {
    /// Seconds as a floating-point number.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
