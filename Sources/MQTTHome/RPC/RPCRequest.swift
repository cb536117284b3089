import Mosquitto

/// A request read from `<base>/rpc/<method>`, with where and how to answer it.
public struct RPCRequest: Sendable {
    public var method: String
    public var params: JSONObject
    /// The body's `id`, echoed in the reply (`null` when absent).
    public var id: JSONValue
    public var replyRoute: RPCReplyRoute?
}

/// Where a reply goes: the MQTT 5 Response Topic (with Correlation Data copied), else the body's `reply_to`.
public struct RPCReplyRoute: Sendable, Hashable {
    public var topic: String
    public var correlationData: [UInt8]?
    public var qos: QoS
    public var source: Source

    public enum Source: String, Sendable {
        case responseTopic = "response_topic"
        case replyTo = "reply_to"
    }
}

/// A request that cannot run, with the reply (if any route is known) that tells the caller why.
public struct RPCRejection: Error, Sendable {
    public var error: RPCError
    public var id: JSONValue
    public var replyRoute: RPCReplyRoute?
    /// Logged when there is no route: why the caller gets no answer.
    public var unanswerableReason: String?
}

extension RPCRequest {
    /// Reads a request the way topics.md describes: size limit, JSON object, `id`/`reply_to`, method from topic.
    public static func decode(
        _ message: MQTTMessage,
        topics: Topics,
        maxPayloadBytes: Int
    ) -> Result<RPCRequest, RPCRejection> {
        let method = topics.method(fromRPCTopic: message.topic) ?? ""
        var route: RPCReplyRoute? = nil
        var unanswerable: String? = nil
        if let responseTopic = message.properties.responseTopic {
            if let problem = topics.replyTopicProblem(responseTopic) {
                unanswerable = "response topic '\(responseTopic)' \(problem)"
            } else {
                route = RPCReplyRoute(
                    topic: responseTopic,
                    correlationData: message.properties.correlationData,
                    qos: message.qos,
                    source: .responseTopic
                )
            }
        }
        func reject(_ error: RPCError, id: JSONValue = .null) -> Result<RPCRequest, RPCRejection> {
            .failure(
                RPCRejection(
                    error: error,
                    id: id,
                    replyRoute: route,
                    unanswerableReason: route == nil ? (unanswerable ?? "no response topic and no reply_to") : nil
                )
            )
        }

        guard message.payload.count <= maxPayloadBytes else {
            return reject(.payloadTooLarge(size: message.payload.count, limit: maxPayloadBytes))
        }
        let body: JSONObject
        if message.payload.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            body = JSONObject()
        } else {
            let value: JSONValue
            do {
                value = try JSONParser.parse(message.payload)
            } catch {
                return reject(.parseError(error.description))
            }
            guard let object = value.objectValue else {
                return reject(
                    .invalidRequest("request payload must be a JSON object of parameters, got \(value.typeName)")
                )
            }
            body = object
        }

        // Two body forms. The JSON-RPC envelope {"jsonrpc":"2.0","id","params","reply_to"} keeps the request id
        // apart from the parameters. The plain form is the parameters themselves: its `id` is echoed, and is also a
        // parameter for methods that take one (devices/get {id}); the router drops it for the others.
        var params: JSONObject
        let id: JSONValue
        var replyToValue: JSONValue?
        if body["jsonrpc"] != nil {
            guard body["jsonrpc"] == "2.0" else {
                return reject(.invalidRequest("jsonrpc must be \"2.0\""), id: body["id"] ?? .null)
            }
            id = body["id"] ?? .null
            replyToValue = body["reply_to"]
            switch body["params"] {
            case nil, .null?: params = JSONObject()
            case .object(let object)?: params = object
            case let other?: return reject(.invalidRequest("params must be a JSON object, got \(other.typeName)"), id: id)
            }
            if let named = body["method"], named != .string(method) {
                return reject(.invalidRequest("method in the body (\(named.jsonString)) differs from the topic's '\(method)'"), id: id)
            }
        } else {
            params = body
            id = body["id"] ?? .null
            replyToValue = params.removeValue(forKey: "reply_to")
        }
        if let replyTo = replyToValue, route == nil {
            guard let topic = replyTo.stringValue else {
                unanswerable = "reply_to is \(replyTo.typeName), not a string"
                return reject(.invalidRequest("reply_to must be a string topic"), id: id)
            }
            if let problem = topics.replyTopicProblem(topic) {
                unanswerable = "reply_to '\(topic)' \(problem)"
                return reject(.invalidRequest("reply_to '\(topic)' \(problem)"), id: id)
            }
            route = RPCReplyRoute(topic: topic, correlationData: nil, qos: message.qos, source: .replyTo)
        }
        guard !method.isEmpty else { return reject(.methodNotFound(method), id: id) }
        return .success(RPCRequest(method: method, params: params, id: id, replyRoute: route))
    }
}

/// The JSON-RPC 2.0 reply envelope.
public enum RPCReply {
    public static func success(id: JSONValue, result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    public static func failure(id: JSONValue, error: RPCError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": error.json]
    }
}
