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

    /// Every code the daemon can send, for `rpc/methods` and topics.md.
    public static let catalogue: [(code: Int, meaning: String)] = [
        (-32700, "payload is not valid JSON"),
        (-32600, "payload is not a JSON object, or reply_to is unusable"),
        (-32601, "unknown method"),
        (-32602, "invalid params; the message and data.parameter name the parameter"),
        (-32603, "internal error in the daemon"),
        (-32000, "busy: too many requests in flight (RPC_MAX_IN_FLIGHT)"),
        (-32001, "payload larger than RPC_MAX_PAYLOAD_BYTES"),
    ]
}
