import MQTTHome

/// One connection to the daemon for one command: calls return the result, and every way a call can fail becomes
/// the documented exit code with one line a person understands.
struct CLISession: Sendable {
    let rpc: RPCClient
    /// `host:port`, for messages.
    let broker: String
    /// Seconds to wait for each answer.
    let timeout: Double

    /// The method's result. An error reply throws exit 1 carrying the error object (printed with `--json`).
    func call(_ method: String, _ params: JSONObject = JSONObject(), wait extra: Double = 0) async throws -> JSONValue {
        let reply: JSONValue
        do {
            reply = try await rpc.call(method, params: params, timeout: .milliseconds(Int64((timeout + extra) * 1000)))
        } catch .timeout {
            throw CLIExit(
                code: .noAnswer,
                message: "no answer from mqtt-homed on \(broker) within \(ConnectionOptions.format(timeout + extra)) s; "
                    + "is it running? (it listens on \(rpc.topics.rpcFilter))"
            )
        } catch .transport(let error) {
            throw CLIExit(code: .brokerUnreachable, message: "lost the broker at \(broker): \(error)")
        } catch .invalidReply(let detail) {
            throw CLIExit(code: .rpcError, message: "the reply is not a JSON-RPC response: \(detail)")
        }
        do {
            return try RPCClient.unwrap(reply)
        } catch let error as RPCError {
            throw CLIExit(code: .rpcError, message: "error \(error.code): \(error.message)", rpcError: error)
        } catch {
            throw CLIExit(code: .rpcError, message: "the reply is not a JSON-RPC response: \(error)")
        }
    }

    /// Every item of a paged method (`items` + `next_cursor`), following the cursor until `limit` items or the end.
    /// Returns the items and the cursor where it stopped (nil at the end).
    func pages(_ method: String, _ params: JSONObject, limit: Int?, pageSize: Int) async throws -> (items: [JSONValue], next: JSONValue) {
        var items: [JSONValue] = []
        var cursor: JSONValue = .null
        repeat {
            var request = params
            let wanted = limit.map { $0 - items.count } ?? pageSize
            request["limit"] = .int(Int64(max(1, min(pageSize, wanted))))
            if !cursor.isNull { request["cursor"] = cursor }
            let page = try await call(method, request)
            items += page["items"]?.arrayValue ?? []
            cursor = page["next_cursor"] ?? .null
        } while !cursor.isNull && (limit.map { items.count < $0 } ?? true)
        return (items, cursor)
    }

    func close() async { await rpc.close() }
}
