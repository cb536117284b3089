import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// systemd's `sd_notify` protocol without libsystemd: datagrams such as `READY=1` to the unix socket named by
/// `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
///
/// With `Type=notify` systemd considers mqtt-homed started only on `READY=1`, sent once the first `online` is
/// published (everything retained is out by then). With `WatchdogSec=` it sets `WATCHDOG_USEC`, and this service
/// pings `WATCHDOG=1` at half that period from the daemon's service group: if the group's tasks stop being
/// scheduled, the pings stop and systemd restarts the daemon. Without `NOTIFY_SOCKET` every call does nothing.
public final class SystemdNotifier: Service, Sendable {
    let socketPath: String?
    /// From `WATCHDOG_USEC`, when `WATCHDOG_PID` is unset or ours.
    public let watchdogInterval: Duration?
    let logger: Logger
    private let readySent = Atomic<Bool>(false)

    public init(environment: [String: String], logger: Logger) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        self.logger = logger
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if path != nil, pidMatches, let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 {
            watchdogInterval = .microseconds(microseconds)
        } else {
            watchdogInterval = nil
        }
    }

    /// The process environment, as systemd passes it.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(key) { result[key] = String(cString: value) }
        }
        return result
    }

    public var isEnabled: Bool { socketPath != nil }

    /// `READY=1` with a status line the first time; later calls only update the status (after a reconnect).
    public func online(status: String) {
        guard isEnabled else { return }
        if readySent.exchange(true, ordering: .acquiringAndReleasing) {
            notify("STATUS=\(status)")
        } else {
            notify("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())")
        }
    }

    public func run() async throws {
        guard isEnabled else { return }
        if let interval = watchdogInterval {
            let period = interval / 2
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                notify("WATCHDOG=1")
                // A shutdown does not wait for the rest of the period: STOPPING=1 goes out at once.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
            }
        } else {
            try? await gracefulShutdown()
        }
        notify("STOPPING=1")
    }

    /// Sends one datagram; failures are logged at debug level, never fatal (systemd may be gone already).
    func notify(_ message: String) {
        guard let socketPath else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        if result < 0 {
            logger.debug("cannot notify systemd", metadata: ["notify.socket": "\(socketPath)", "error": "\(String(cString: strerror(errno)))"])
        }
    }
}
