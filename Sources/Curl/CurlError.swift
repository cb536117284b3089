/// Everything that can go wrong in an HTTP transfer, worded for the person reading the log.
///
/// The EMQX bridge turns these into broker states: ``isUnreachable`` errors mean "nobody answered", which is a
/// different thing from an answer it did not like.
public enum CurlError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No complete answer within the total timeout.
    case timedOut(seconds: Double)
    /// The connection was refused or could not be established.
    case couldNotConnect(String)
    /// The host name does not resolve.
    case couldNotResolve(String)
    /// The caller's task was cancelled, or the client shut down, before the answer arrived.
    case cancelled
    /// The body grew past the request's limit; the transfer was stopped there.
    case responseTooLarge(limit: Int)
    /// The URL cannot be used (empty, not http/https, contains a NUL).
    case invalidURL(String)
    /// Any other libcurl failure; `code` is the `CURLcode`, `message` libcurl's own text.
    case transfer(code: Int, message: String)

    public var description: String {
        switch self {
        case .timedOut(let seconds): "no complete answer within \(seconds) s"
        case .couldNotConnect(let message): "cannot connect: \(message)"
        case .couldNotResolve(let message): "cannot resolve the host: \(message)"
        case .cancelled: "the request was cancelled"
        case .responseTooLarge(let limit): "the answer is larger than \(limit) bytes"
        case .invalidURL(let url): "invalid URL '\(url)': only http:// and https:// are supported"
        case .transfer(let code, let message): "\(message) (libcurl code \(code))"
        }
    }

    /// True when no HTTP answer arrived at all: down, refused, unresolvable or too slow.
    public var isUnreachable: Bool {
        switch self {
        case .timedOut, .couldNotConnect, .couldNotResolve: true
        case .transfer: true
        case .cancelled, .responseTooLarge, .invalidURL: false
        }
    }
}
