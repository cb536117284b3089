/// A complete HTTP answer: status, headers (names lowercased; a repeated header keeps its last value) and body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A header by case-insensitive name.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The first `count` bytes of the body as text, for logs: enough to tell an HTML error page from JSON.
    public func bodyPrefix(_ count: Int = 120) -> String {
        let text = String(decoding: body.prefix(count), as: UTF8.self)
        return body.count > count ? text + "…" : text
    }
}
