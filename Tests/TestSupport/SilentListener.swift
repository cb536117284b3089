#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP port that takes connections (the kernel completes the handshake into its backlog) and never says a
/// word: a broker that stalled before its CONNACK, a TLS listener that never answers the ClientHello, or another
/// process that took a port (it counts who connected).
public final class SilentListener: Sendable {
    public let port: Int
    private let descriptor: Int32

    /// `port` 0 lets the kernel choose one.
    public init(port requested: Int = 0) throws {
        (descriptor, port) = try Self.bindLoopback(port: requested, listening: true)
    }

    /// Accepts (and closes) whatever connected since the last call; how many.
    public func acceptPending() -> Int {
        var count = 0
        while true {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return count }
            close(connection)
            count += 1
        }
    }

    deinit { close(descriptor) }

    /// A socket bound to 127.0.0.1:`port` (0: any), listening (non-blocking) or only bound; and its port. A listener
    /// sets SO_REUSEADDR, as mosquitto does, so a just-closed port's TIME_WAIT connections do not keep it from it.
    static func bindLoopback(port requested: Int, listening: Bool) throws -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError(description: "socket: \(String(cString: strerror(errno)))") }
        if listening {
            var one: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(requested).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && (!listening || listen(descriptor, 16) == 0)
                    && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard ready else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw HarnessError(description: "cannot \(listening ? "listen on" : "bind") 127.0.0.1:\(requested): \(reason)")
        }
        if listening { _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK) }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }
}
