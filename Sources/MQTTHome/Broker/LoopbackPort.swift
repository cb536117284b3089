#if canImport(Glibc)
import Glibc
#endif

/// Loopback TCP helpers for choosing and probing the embedded broker's port.
public enum LoopbackPort {
    /// A port the kernel says is free on 127.0.0.1 right now.
    public static func free() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True when nothing listens on 127.0.0.1:`port` and it can be bound.
    ///
    /// SO_REUSEADDR, as mosquitto sets it: connections of a just-killed broker in TIME_WAIT do not count as in use.
    public static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// The inodes of the sockets listening on 127.0.0.1:`port` (or on every IPv4 address), from `/proc/net/tcp`.
    ///
    /// A connect succeeding says only that *something* listens; the inode, matched against a process's descriptors,
    /// says whose listener it is.
    public static func listeningSocketInodes(port: Int) -> Set<UInt64> {
        FileSystem.read("/proc/net/tcp").map { listeningInodes(inTable: $0, port: port) } ?? []
    }

    /// Parses the kernel's TCP table (`sl local_address rem_address st … uid timeout inode`, addresses as
    /// little-endian hex `0100007F:075B`, state `0A` for LISTEN).
    static func listeningInodes(inTable table: String, port: Int) -> Set<UInt64> {
        let portSuffix = ":" + String(port, radix: 16, uppercase: true).leftPadded(to: 4)
        var inodes: Set<UInt64> = []
        for line in table.split(separator: "\n").dropFirst() where line.contains(portSuffix) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 9, fields[3] == "0A", fields[1] == "0100007F" + portSuffix || fields[1] == "00000000" + portSuffix,
                let inode = UInt64(fields[9]), inode != 0
            else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
