import Logging
import Mosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Calls the daemon's RPC methods over MQTT: what the CLI, the tests and the benchmark use.
///
/// Each call gets its own reply topic `<base>/reply/<client id>/<n>` (subscribed once as `…/+`) and, on MQTT 5,
/// Correlation Data `n`; on a 3.1.1 connection it puts `reply_to` and `id` in the body instead.
public final class RPCClient: Sendable {
    public let client: MosquittoClient
    public let topics: Topics
    private let state = Mutex<State>(State())
    private let logger: Logger

    private struct State: ~Copyable {
        var nextCall: UInt64 = 0
        var waiters: [String: CheckedContinuation<JSONValue, any Error>] = [:]
        var reader: Task<Void, Never>?
    }

    /// Why a call produced no reply.
    public enum CallError: Error, Sendable, CustomStringConvertible {
        /// No reply before the deadline: the daemon is probably not running.
        case timeout(seconds: Double)
        /// The reply was not a JSON-RPC response.
        case invalidReply(String)
        /// The MQTT client failed (connection lost, publish refused…).
        case transport(MosquittoError)

        public var description: String {
            switch self {
            case .timeout(let seconds): "no answer within \(seconds) s"
            case .invalidReply(let detail): "the reply is not a JSON-RPC response: \(detail)"
            case .transport(let error): error.description
            }
        }
    }

    /// - Parameter configuration: use `reconnect: false` for one-shot tools, so a dead broker fails fast.
    public init(configuration: MosquittoClient.Configuration, topics: Topics, logger: Logger) throws(MosquittoError) {
        self.client = try MosquittoClient(configuration: configuration, logger: logger)
        self.topics = topics
        self.logger = logger
    }

    private var replyFilter: String { topics.replyTopic(clientID: client.configuration.clientID, call: "+") }

    /// Connects and subscribes to this client's reply topics.
    public func connect() async throws {
        try await client.connect()
        let messages = client.messages
        let reader = Task { [weak self] in
            for await message in messages {
                self?.deliver(message)
            }
        }
        state.withLock { $0.reader = reader }
        try await client.subscribe(replyFilter, qos: .atLeastOnce)
    }

    /// Sends one request and returns the whole reply envelope (`{"jsonrpc","id","result"|"error"}`).
    public func call(
        _ method: String,
        params: JSONObject = JSONObject(),
        qos: QoS = .atLeastOnce,
        timeout: Duration = .seconds(5)
    ) async throws(CallError) -> JSONValue {
        let callID = state.withLock { state -> UInt64 in
            state.nextCall += 1
            return state.nextCall
        }
        // An unguessable last level: anyone may ask the daemon to answer on this client's reply subtree, but a reply
        // forged that way never lands on the topic of a pending call.
        let replyTopic = topics.replyTopic(clientID: client.configuration.clientID, call: "\(callID)-\(FileSystem.randomToken().prefix(16))")
        var properties = MQTTProperties(contentType: "application/json")
        let payload: [UInt8]
        if client.protocolVersion == .v5 {
            properties.responseTopic = replyTopic
            properties.correlationData = Array(String(callID).utf8)
            payload = JSONValue.object(params).jsonBytes
        } else {
            // No properties on 3.1.1: the JSON-RPC envelope carries the reply topic without touching `params`.
            let envelope: JSONValue = [
                "jsonrpc": "2.0", "id": .int(Int64(callID)), "reply_to": .string(replyTopic), "params": .object(params),
            ]
            payload = envelope.jsonBytes
        }
        let requestProperties = properties
        let client = client
        do {
            return try await withTimeout(timeout) {
                try await withTaskCancellationHandler {
                    try await withCheckedThrowingContinuation { continuation in
                        // Cancellation is checked where the waiter is registered: a cancel (or the timeout) that ran
                        // before this found no waiter to resume, and the call would otherwise wait forever.
                        let registered = self.state.withLock { state -> Bool in
                            guard !Task.isCancelled else { return false }
                            state.waiters[replyTopic] = continuation
                            return true
                        }
                        guard registered else {
                            continuation.resume(throwing: CancellationError())
                            return
                        }
                        do throws(MosquittoError) {
                            try client.publish(
                                self.topics.rpcTopic(method: method),
                                payload: payload,
                                qos: qos,
                                properties: requestProperties
                            )
                        } catch {
                            self.state.withLock { $0.waiters.removeValue(forKey: replyTopic) }?
                                .resume(throwing: CallError.transport(error))
                        }
                    }
                } onCancel: {
                    self.state.withLock { $0.waiters.removeValue(forKey: replyTopic) }?.resume(throwing: CancellationError())
                }
            }
        } catch let error as CallError {
            throw error
        } catch is TimeoutError {
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            throw .timeout(seconds: seconds)
        } catch let error as MosquittoError {
            throw .transport(error)
        } catch {
            throw .transport(.connectionLost)
        }
    }

    /// Calls and unwraps: the `result`, or the reply's error as an ``RPCError``.
    public func result(
        _ method: String,
        params: JSONObject = JSONObject(),
        timeout: Duration = .seconds(5)
    ) async throws -> JSONValue {
        let reply = try await call(method, params: params, timeout: timeout)
        return try Self.unwrap(reply)
    }

    /// The `result` of a reply envelope, or its `error` thrown as an ``RPCError``.
    public static func unwrap(_ reply: JSONValue) throws -> JSONValue {
        if let result = reply["result"] { return result }
        if let error = reply["error"]?.objectValue, let code = error["code"]?.intValue {
            throw RPCError(code: Int(code), message: error["message"]?.stringValue ?? "", data: error["data"])
        }
        throw CallError.invalidReply(reply.jsonString)
    }

    /// Unsubscribes nothing (the session is clean) and disconnects.
    public func close() async {
        await client.disconnect()
        let reader = state.withLock { $0.reader }
        await reader?.value
    }

    private func deliver(_ message: MQTTMessage) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: message.topic) }) else {
            logger.debug("reply for no pending call", metadata: ["mqtt.topic": "\(message.topic)"])
            return
        }
        do {
            let reply = try JSONParser.parse(message.payload)
            guard reply.objectValue != nil, reply["jsonrpc"] == "2.0" else {
                waiter.resume(throwing: CallError.invalidReply(String(message.payloadString.prefix(200))))
                return
            }
            waiter.resume(returning: reply)
        } catch {
            waiter.resume(throwing: CallError.invalidReply("\(error)"))
        }
    }

    /// A client id no other caller shares: `<prefix>-<pid>-<random>`.
    public static func uniqueClientID(prefix: String = "mqtt-home-cli") -> String {
        var generator = SystemRandomNumberGenerator()
        let random = String(generator.next() & 0xFF_FFFF, radix: 16)
        return "\(prefix)-\(getpid())-\(random)"
    }
}
