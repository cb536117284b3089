/// What the broker bridge knows about the broker, as `state` in `<base>/broker/status`.
///
/// Each failure is its own state because each needs a different fix: a wrong API key is not a dead broker.
public enum BrokerState: String, Sendable, Hashable {
    /// No answer yet (first poll running, or no `$SYS` message received yet).
    case starting
    /// The last poll (or `$SYS` burst) succeeded.
    case ok
    /// EMQX answered 401: the API key or secret is wrong, disabled or expired.
    case authFailed = "auth_failed"
    /// EMQX answered 403: the key's role may not read this resource.
    case forbidden
    /// EMQX answered 503 (or 5xx): the node is not running; `retry-after` is honoured.
    case unavailable
    /// No HTTP answer: refused, unresolvable, or slower than `EMQX_TIMEOUT`.
    case unreachable
    /// An answer that is not the JSON EMQX sends (a proxy's HTML page, a truncated body).
    case badResponse = "bad_response"
    /// mosquitto publishes no `$SYS` (`sys_interval 0`, or the ACL denies it).
    case noData = "no_data"
}

/// Why an EMQX request failed, with the state it puts the bridge in.
public struct BrokerAPIFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var state: BrokerState
    public var message: String
    /// The HTTP status, when there was an answer.
    public var httpStatus: Int?
    /// EMQX's error `code`, e.g. `BAD_API_KEY_OR_SECRET`.
    public var code: String?
    /// From a 503's `retry-after` header.
    public var retryAfter: Duration?

    public init(state: BrokerState, message: String, httpStatus: Int? = nil, code: String? = nil, retryAfter: Duration? = nil) {
        self.state = state
        self.message = message
        self.httpStatus = httpStatus
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { message }
}
