import Curl
import Logging

/// The EMQX 5 REST calls the bridge makes, over libcurl, with the API key as HTTP Basic credentials.
///
/// Every failure becomes a ``BrokerAPIFailure`` whose state says what went wrong (protocols.md §4.2): 401 is a key
/// problem, 403 a role problem, 503 a node that is not running, no answer at all is `unreachable`, and a body that
/// is not EMQX's JSON is `bad_response`. Dotted keys (`connections.count`) are kept as EMQX sends them.
public struct EMQXClient: Sendable {
    public struct Settings: Sendable {
        /// Up to and including `/api/v5`, without a trailing slash.
        public var baseURL: String
        public var apiKey: String
        /// Handed to libcurl only; never logged, never in an RPC reply.
        public var apiSecret: String
        public var pollInterval: Duration
        /// Total time for one request; connecting gets at most 3 s of it.
        public var timeout: Duration

        public init(baseURL: String, apiKey: String, apiSecret: String, pollInterval: Duration, timeout: Duration) {
            self.baseURL = baseURL
            self.apiKey = apiKey
            self.apiSecret = apiSecret
            self.pollInterval = pollInterval
            self.timeout = timeout
        }
    }

    /// One page of a paged listing (`/clients`, `/topics`, `/subscriptions`).
    public struct Page: Sendable {
        public var data: [JSONValue]
        public var hasNext: Bool
        /// EMQX leaves `count` out when it would need a full scan; never loop on it.
        public var count: Int?
    }

    /// EMQX's largest page (`limit` ≤ 10000).
    public static let maxPageSize = 10_000

    public let settings: Settings
    let http: HTTPClient
    let logger: Logger

    public init(settings: Settings, http: HTTPClient, logger: Logger) {
        self.settings = settings
        self.http = http
        self.logger = logger
    }

    /// `GET /status?format=json`; needs no credentials.
    public func status() async throws(HomeError) -> JSONValue {
        try await get("/status", query: [("format", "json")], authenticated: false)
    }

    /// `GET /stats?aggregate=true`: one object of `<name>.count` / `<name>.max`.
    public func stats() async throws(HomeError) -> JSONValue {
        try await get("/stats", query: [("aggregate", "true")])
    }

    /// `GET /metrics?aggregate=true`: one object of counters such as `messages.received`.
    public func metrics() async throws(HomeError) -> JSONValue {
        try await get("/metrics", query: [("aggregate", "true")])
    }

    /// `GET /nodes`: every cluster member, stopped ones included.
    public func nodes() async throws(HomeError) -> JSONValue {
        try await get("/nodes")
    }

    /// One page of `/clients`, `/topics` or `/subscriptions`; `filters` are passed through as EMQX query parameters.
    public func page(
        _ resource: String,
        page: Int,
        limit: Int,
        filters: [(String, String)] = []
    ) async throws(HomeError) -> Page {
        let body = try await get("/\(resource)", query: [("page", String(page)), ("limit", String(limit))] + filters)
        guard let data = body["data"]?.arrayValue, let meta = body["meta"]?.objectValue else {
            throw failure(.badResponse, "GET /\(resource): expected {\"data\": [...], \"meta\": {...}}")
        }
        guard let hasNext = meta["hasnext"]?.boolValue else {
            throw failure(.badResponse, "GET /\(resource): meta has no boolean 'hasnext'")
        }
        return Page(data: data, hasNext: hasNext, count: meta["count"]?.intValue.map { Int($0) })
    }

    /// `GET /clients/{clientid}`; nil when EMQX answers 404 `CLIENTID_NOT_FOUND`.
    public func client(_ clientID: String) async throws(HomeError) -> JSONValue? {
        do {
            return try await get("/clients/\(Self.percentEncoded(clientID))")
        } catch .brokerAPI(let failure) where failure.httpStatus == 404 {
            return nil
        }
    }

    /// The request URL; exposed for the tests of the encoding.
    func url(_ path: String, query: [(String, String)]) -> String {
        var url = settings.baseURL + path
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.percentEncoded($0.0))=\(Self.percentEncoded($0.1))" }.joined(separator: "&")
        }
        return url
    }

    func get(_ path: String, query: [(String, String)] = [], authenticated: Bool = true) async throws(HomeError) -> JSONValue {
        let request = HTTPRequest(
            url: url(path, query: query),
            credentials: authenticated ? .init(username: settings.apiKey, password: settings.apiSecret) : nil,
            connectTimeout: min(settings.timeout, .seconds(3)),
            timeout: settings.timeout,
            userAgent: "mqtt-homed/\(MQTTHomeVersion.current)"
        )
        let response: HTTPResponse
        do {
            response = try await http.perform(request)
        } catch {
            throw failure(
                error.isUnreachable || error == .cancelled ? .unreachable : .badResponse,
                "GET \(path): \(error)"
            )
        }
        return try Self.decode(response, path: path)
    }

    /// Turns an answer into its JSON body or the failure it stands for.
    static func decode(_ response: HTTPResponse, path: String) throws(HomeError) -> JSONValue {
        let body = response.body.isEmpty ? nil : try? JSONParser.parse(response.body)
        let code = body?["code"]?.stringValue
        let detail = body?["message"]?.stringValue
        func failing(_ state: BrokerState, _ message: String, retryAfter: Duration? = nil) -> HomeError {
            .brokerAPI(
                BrokerAPIFailure(
                    state: state,
                    message: "GET \(path): \(message)",
                    httpStatus: response.status,
                    code: code,
                    retryAfter: retryAfter
                )
            )
        }
        let emqxSays = [code, detail].compactMap { $0 }.joined(separator: ": ")
        let answer = "HTTP \(response.status)" + (emqxSays.isEmpty ? "" : " \(emqxSays)")
        switch response.status {
        case 200..<300:
            guard let body else {
                throw failing(.badResponse, "\(answer), body is not JSON: \(response.bodyPrefix())")
            }
            return body
        case 401:
            throw failing(.authFailed, "\(answer); check EMQX_API_KEY and EMQX_API_SECRET (the key may be disabled or expired)")
        case 403:
            throw failing(.forbidden, "\(answer); give the API key a role that may read this resource")
        case 503:
            let retryAfter = response.header("retry-after").flatMap { Int($0.trimmed) }.map { Duration.seconds($0) }
            throw failing(.unavailable, "\(answer); the EMQX node is not running", retryAfter: retryAfter)
        case 500..<600:
            throw failing(.unavailable, answer)
        case 404 where code == nil || code == "NOT_FOUND":
            throw failing(.badResponse, "\(answer); does EMQX_API_URL end in /api/v5?")
        default:
            // 400 (a filter EMQX refused), 404 CLIENTID_NOT_FOUND: callers look at `httpStatus` and `code`.
            throw failing(.badResponse, answer)
        }
    }

    func failure(_ state: BrokerState, _ message: String) -> HomeError {
        .brokerAPI(BrokerAPIFailure(state: state, message: message))
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters, for path segments and query values.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(Unicode.Scalar(hex[Int(byte >> 4)])) + String(Unicode.Scalar(hex[Int(byte & 15)]))
            }
        }
        return result
    }
}
