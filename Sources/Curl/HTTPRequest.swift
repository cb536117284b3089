/// A GET request as the EMQX bridge needs it: a URL, headers, optional Basic credentials and two timeouts.
public struct HTTPRequest: Sendable {
    /// Basic authentication; the password is handed to libcurl and never appears in ``description``.
    public struct Credentials: Sendable {
        public var username: String
        public var password: String

        public init(username: String, password: String) {
            self.username = username
            self.password = password
        }
    }

    public var url: String
    public var headers: [(name: String, value: String)]
    public var credentials: Credentials?
    /// Time allowed to establish the connection.
    public var connectTimeout: Duration
    /// Time allowed for the whole transfer, connection included.
    public var timeout: Duration
    /// The transfer stops with ``CurlError/responseTooLarge(limit:)`` past this many body bytes.
    public var maxResponseBytes: Int
    public var userAgent: String

    public init(
        url: String,
        headers: [(name: String, value: String)] = [("Accept", "application/json")],
        credentials: Credentials? = nil,
        connectTimeout: Duration = .seconds(3),
        timeout: Duration = .seconds(5),
        maxResponseBytes: Int = 64 << 20,
        userAgent: String = "mqtt-home"
    ) {
        self.url = url
        self.headers = headers
        self.credentials = credentials
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
    }
}

extension Duration {
    /// Whole milliseconds, at least 1, as libcurl's `_MS` options take them.
    var curlMilliseconds: Int {
        let (seconds, attoseconds) = components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    var curlSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
