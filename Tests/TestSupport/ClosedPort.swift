#if canImport(Glibc)
import Glibc
#endif

/// A port on 127.0.0.1 that refuses connections for as long as this value lives: bound (without SO_REUSEADDR) but
/// never listening, so no other test's broker can take it between choosing it and connecting to it.
public final class ClosedPort: Sendable {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        (descriptor, port) = try SilentListener.bindLoopback(port: 0, listening: false)
    }

    deinit { close(descriptor) }
}
