/// The broker RPC methods: `broker/status`, `broker/clients`, `broker/client`, `broker/topics`,
/// `broker/subscriptions`.
///
/// `broker/status` answers from the bridge's last reading, so it is instant even when EMQX is slow or down. The
/// listings go to EMQX live, paged like `devices/list` (`limit`, `next_cursor`); mosquitto offers no such listing
/// over MQTT, so there they answer -32013 saying so.
enum BrokerMethods {
    /// The client fields a listing returns: enough to find and judge a client, a tenth of EMQX's full object.
    /// `broker/client` returns every field.
    static let listedClientFields = [
        "clientid", "username", "ip_address", "port", "node", "connected", "connected_at", "disconnected_at",
        "created_at", "keepalive", "proto_name", "proto_ver", "clean_start", "expiry_interval", "is_bridge",
        "subscriptions_cnt", "inflight_cnt", "mqueue_len", "mqueue_dropped", "recv_msg", "send_msg",
    ]

    /// `limit` and `cursor`, as every EMQX listing takes them.
    static let pageParameters: [RPCMethod.Parameter] = [
        .init("limit", type: "integer", description: "page size, 1-10000 (default 100)"),
        .init("cursor", type: "string", description: "next_cursor of the previous page (it keeps that page's size)"),
    ]

    /// `reached` runs after every EMQX call that got an answer (the poller re-polls if its status says otherwise).
    static let status = RPCMethod.Signature(
        name: "broker/status",
        summary: "The broker's normalized status (EMQX REST or mosquitto $SYS): state, version, uptime, connections, "
            + "messages and rates; `cluster` lists EMQX nodes"
    )

    static func register(
        into router: inout RPCRouter,
        board: BrokerStatusBoard,
        emqx: EMQXClient?,
        reached: @escaping @Sendable () -> Void = {}
    ) {
        router.register(
            RPCMethod(Self.status) { _ throws(RPCError) in
                guard var object = board.status.json.objectValue else { return .null }
                if let nodes = board.nodes?["nodes"] { object["cluster"] = nodes }
                return .object(object)
            }
        )
        router.register(
            RPCMethod(
                name: "broker/clients",
                summary: "Clients connected to EMQX (or with a session), paged: next_cursor feeds the next call",
                parameters: [
                    .init("like_clientid", type: "string", description: "client id contains this text"),
                    .init("username", type: "string", description: "exactly this username"),
                    .init("conn_state", type: "string", description: "connected, idle or disconnected"),
                ] + pageParameters
            ) { params throws(RPCError) in
                let emqx = try requireEMQX(emqx, method: "broker/clients")
                var filters: [(String, String)] = []
                if let like = try params.optionalString("like_clientid") { filters.append(("like_clientid", like)) }
                if let username = try params.optionalString("username") { filters.append(("username", username)) }
                if let state = try params.optionalString("conn_state") {
                    guard ["connected", "idle", "disconnected"].contains(state) else {
                        throw .invalidParams("conn_state", "must be connected, idle or disconnected, got '\(state)'")
                    }
                    filters.append(("conn_state", state))
                }
                // EMQX trims the objects itself (5.x `fields`); trimming again below covers one that ignores it.
                filters.append(("fields", listedClientFields.joined(separator: ",")))
                return try await page(of: "clients", emqx: emqx, params: params, filters: filters, reached: reached) { client in
                    guard let object = client.objectValue else { return client }
                    var trimmed = JSONObject()
                    for key in listedClientFields { if let value = object[key] { trimmed[key] = value } }
                    return .object(trimmed)
                }
            }
        )
        router.register(
            RPCMethod(
                name: "broker/client",
                summary: "One EMQX client with every field EMQX reports (dotted keys as EMQX sends them)",
                parameters: [.init("clientid", type: "string", required: true, description: "the MQTT client id")]
            ) { params throws(RPCError) in
                let emqx = try requireEMQX(emqx, method: "broker/client")
                let clientID = try params.string("clientid")
                let client: JSONValue?
                do throws(HomeError) {
                    client = try await emqx.client(clientID)
                    reached()
                } catch {
                    throw rpcError(error)
                }
                guard let client else { throw RPCError.brokerClientNotFound(clientID) }
                return client
            }
        )
        router.register(
            RPCMethod(
                name: "broker/topics",
                summary: "Topics with subscribers on EMQX, paged",
                parameters: [
                    .init("topic", type: "string", description: "exactly this topic")
                ] + pageParameters
            ) { params throws(RPCError) in
                let emqx = try requireEMQX(emqx, method: "broker/topics")
                let filters = try params.optionalString("topic").map { [("topic", $0)] } ?? []
                return try await page(of: "topics", emqx: emqx, params: params, filters: filters, reached: reached) { $0 }
            }
        )
        router.register(
            RPCMethod(
                name: "broker/subscriptions",
                summary: "Subscriptions on EMQX (shared ones as $share/<group>/<topic>), paged",
                parameters: [
                    .init("clientid", type: "string", description: "only this client's"),
                    .init("topic", type: "string", description: "exactly this topic filter"),
                ] + pageParameters
            ) { params throws(RPCError) in
                let emqx = try requireEMQX(emqx, method: "broker/subscriptions")
                var filters: [(String, String)] = []
                if let clientID = try params.optionalString("clientid") { filters.append(("clientid", clientID)) }
                if let topic = try params.optionalString("topic") { filters.append(("topic", topic)) }
                return try await page(of: "subscriptions", emqx: emqx, params: params, filters: filters, reached: reached) { $0 }
            }
        )
    }

    static func requireEMQX(_ emqx: EMQXClient?, method: String) throws(RPCError) -> EMQXClient {
        guard let emqx else { throw RPCError.notOfferedByBroker(method: method) }
        return emqx
    }

    /// One page of an EMQX listing, with `next_cursor` (nil on the last page, decided by EMQX's `hasnext`).
    static func page(
        of resource: String,
        emqx: EMQXClient,
        params: RPCParams,
        filters: [(String, String)],
        reached: @Sendable () -> Void,
        transform: (JSONValue) -> JSONValue
    ) async throws(RPCError) -> JSONValue {
        var limit = Int(try params.optionalInt("limit", in: 1...Int64(EMQXClient.maxPageSize)) ?? 100)
        var pageNumber = 1
        if let cursor = try params.optionalString("cursor") {
            guard let decoded = PageCursor(cursor) else {
                throw .invalidParams("cursor", "'\(cursor)' is not a next_cursor returned by this method")
            }
            pageNumber = decoded.page
            limit = decoded.limit
        }
        let page: EMQXClient.Page
        do throws(HomeError) {
            page = try await emqx.page(resource, page: pageNumber, limit: limit, filters: filters)
            reached()
        } catch {
            throw rpcError(error)
        }
        var result = JSONObject()
        result["items"] = .array(page.data.map(transform))
        result["next_cursor"] = page.hasNext ? .string(PageCursor(page: pageNumber + 1, limit: limit).text) : .null
        result["total"] = page.count.map { .int(Int64($0)) } ?? .null
        return .object(result)
    }

    /// The RPC face of an EMQX failure: a refused filter is the caller's mistake (-32602), the rest -32012.
    static func rpcError(_ error: HomeError) -> RPCError {
        guard case .brokerAPI(let failure) = error else { return .internalError("\(error)") }
        if failure.httpStatus == 400 {
            return .invalidParams("filter", "EMQX refused the request: \(failure.message)")
        }
        return .brokerAPI(failure)
    }

    /// `<page>:<limit>`: EMQX pages by number, so the cursor carries the page size it was made for.
    struct PageCursor {
        var page: Int
        var limit: Int

        init(page: Int, limit: Int) {
            self.page = page
            self.limit = limit
        }

        init?(_ text: String) {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let page = Int(parts[0]), let limit = Int(parts[1]), page >= 1,
                (1...EMQXClient.maxPageSize).contains(limit)
            else { return nil }
            self.page = page
            self.limit = limit
        }

        var text: String { "\(page):\(limit)" }
    }
}
