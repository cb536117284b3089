/// An error a caller sees in a JSON-RPC reply: a stable wire `code`, a message naming the problem, optional `data`.
///
/// Codes are the contract in topics.md: -32700…-32600 from JSON-RPC 2.0, -32000…-32099 for mqtt-home's own.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "\(message) (code \(code))" }

    /// The wire form: `{"code":…,"message":…,"data"?:…}`.
    public var json: JSONValue {
        var object = JSONObject()
        object["code"] = .int(Int64(code))
        object["message"] = .string(message)
        if let data { object["data"] = data }
        return .object(object)
    }

    // MARK: JSON-RPC 2.0 codes

    public static func parseError(_ detail: String) -> RPCError {
        RPCError(code: -32700, message: "request payload is not valid JSON: \(detail)")
    }

    public static func invalidRequest(_ detail: String) -> RPCError {
        RPCError(code: -32600, message: detail)
    }

    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(
            code: -32601,
            message: "unknown method '\(method)'; call rpc/methods for the list",
            data: ["method": .string(method)]
        )
    }

    public static func invalidParams(_ parameter: String, _ problem: String) -> RPCError {
        RPCError(
            code: -32602,
            message: "invalid parameter '\(parameter)': \(problem)",
            data: ["parameter": .string(parameter)]
        )
    }

    public static func internalError(_ detail: String) -> RPCError {
        RPCError(code: -32603, message: "internal error: \(detail)")
    }

    // MARK: mqtt-home domain codes (-32000…-32099)

    /// Too many requests are being handled; retry shortly.
    public static func busy(limit: Int) -> RPCError {
        RPCError(
            code: -32000,
            message: "busy: \(limit) requests already in flight; retry shortly",
            data: ["max_in_flight": .int(Int64(limit))]
        )
    }

    /// The request payload exceeds `RPC_MAX_PAYLOAD_BYTES`.
    public static func payloadTooLarge(size: Int, limit: Int) -> RPCError {
        RPCError(
            code: -32001,
            message: "request payload is \(size) bytes; the limit is \(limit) bytes",
            data: ["size": .int(Int64(size)), "limit": .int(Int64(limit))]
        )
    }

    /// The daemon has no broker connection right now, so nothing was sent.
    public static func notConnected(_ what: String) -> RPCError {
        RPCError(code: -32002, message: "not connected to the broker; \(what)")
    }

    /// The store refused the change; nothing was applied.
    public static func storage(_ error: any Error) -> RPCError {
        RPCError(code: -32003, message: "the change could not be saved, so it was not applied: \(error)")
    }

    /// No device with that id or name; `data.suggestions` lists similar ones.
    public static func deviceNotFound(_ query: String, suggestions: [String]) -> RPCError {
        var message = "no device '\(query)'"
        if !suggestions.isEmpty { message += "; did you mean \(suggestions.map { "'\($0)'" }.joined(separator: ", "))?" }
        return RPCError(
            code: -32004,
            message: message,
            data: ["id": .string(query), "suggestions": .array(suggestions.map(JSONValue.string))]
        )
    }

    /// The device has no entity with that key.
    public static func entityNotFound(device: String, entity: String, available: [String]) -> RPCError {
        RPCError(
            code: -32005,
            message: "device '\(device)' has no entity '\(entity)' (it has: \(available.joined(separator: ", ")))",
            data: ["id": .string(device), "entity": .string(entity)]
        )
    }

    /// Another device already has that name; `data.id` is its id.
    public static func duplicateName(_ name: String, existingID: String) -> RPCError {
        RPCError(
            code: -32009,
            message: "a device named '\(name)' already exists (id '\(existingID)')",
            data: ["id": .string(existingID)]
        )
    }

    /// The device (or entity) cannot be commanded.
    public static func noCommandTopic(device: String) -> RPCError {
        RPCError(
            code: -32010,
            message: "device '\(device)' has no command topic; set one with devices/update",
            data: ["id": .string(device)]
        )
    }

    /// EMQX has no client with that id.
    public static func brokerClientNotFound(_ clientID: String) -> RPCError {
        RPCError(
            code: -32011,
            message: "client not found: EMQX has no client '\(clientID)'",
            data: ["clientid": .string(clientID)]
        )
    }

    /// The EMQX REST API gave no usable answer; `data.state` is the bridge state it stands for.
    public static func brokerAPI(_ failure: BrokerAPIFailure) -> RPCError {
        var data = JSONObject([("state", .string(failure.state.rawValue))])
        if let status = failure.httpStatus { data["http_status"] = .int(Int64(status)) }
        if let code = failure.code { data["emqx_code"] = .string(code) }
        if let retryAfter = failure.retryAfter { data["retry_after_s"] = .double(retryAfter.seconds) }
        return RPCError(code: -32012, message: "EMQX API \(failure.state.rawValue): \(failure.message)", data: .object(data))
    }

    /// The method needs the EMQX REST API, and this daemon reads a mosquitto broker through `$SYS`.
    public static func notOfferedByBroker(method: String) -> RPCError {
        RPCError(
            code: -32013,
            message: "\(method) needs the EMQX REST API (set EMQX_API_URL, EMQX_API_KEY and EMQX_API_SECRET); "
                + "this daemon reads the broker through mosquitto's $SYS, which offers no client, topic or "
                + "subscription listing",
            data: ["method": .string(method)]
        )
    }

    /// Several sensors of the device fit the query equally well; `data.candidates` lists their keys.
    public static func ambiguousSensor(device: String, query: String, candidates: [String]) -> RPCError {
        RPCError(
            code: -32014,
            message: "'\(query)' fits several sensors of '\(device)': \(candidates.joined(separator: ", ")); name one by its key",
            data: ["id": .string(device), "sensor": .string(query), "candidates": .array(candidates.map(JSONValue.string))]
        )
    }

    /// The caller sent more than `RPC_RATE_LIMIT` requests per second; nothing was run.
    public static func rateLimited(perSecond: Double, retryAfter: Duration) -> RPCError {
        let milliseconds = Int64(retryAfter.seconds * 1000)
        return RPCError(
            code: -32015,
            message: "rate limited: at most \(EntityBehavior.number(perSecond).jsonString) requests per second per caller; retry in \(milliseconds) ms",
            data: ["limit_per_s": .double(perSecond), "retry_after_ms": .int(milliseconds)]
        )
    }

    /// Every code the daemon can send, listed by `rpc/methods` (`errors`); topics.md's table has the same codes
    /// (a unit test compares them).
    public static let catalogue: [(code: Int, meaning: String)] = [
        (-32700, "payload is not valid JSON"),
        (-32600, "payload is not a JSON object, or reply_to is unusable"),
        (-32601, "unknown method"),
        (-32602, "invalid params; the message and data.parameter name the parameter"),
        (-32603, "internal error in the daemon"),
        (-32000, "busy: too many requests in flight (RPC_MAX_IN_FLIGHT)"),
        (-32001, "payload larger than RPC_MAX_PAYLOAD_BYTES"),
        (-32002, "not connected to the broker; nothing was sent"),
        (-32003, "the store refused the change; nothing was applied"),
        (-32004, "no such device; data.suggestions lists similar ones"),
        (-32005, "no such entity on the device"),
        (-32009, "a device with that name exists; data.id is its id"),
        (-32010, "the device has no command topic"),
        (-32011, "broker/client: EMQX has no client with that id"),
        (-32012, "the EMQX REST API gave no usable answer; data.state says why (auth_failed, unreachable, ...)"),
        (-32013, "this broker does not offer the method (mosquitto has no client listing; needs EMQX)"),
        (-32014, "the sensor name fits several sensors; data.candidates lists their keys"),
        (-32015, "rate limited: more than RPC_RATE_LIMIT requests per second from this caller; nothing was run"),
    ]
}
