import CSystemShims

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, its output appended to a file; no Foundation needed.
public struct ChildProcess: Sendable {
    public let pid: pid_t

    /// Why a child could not be started.
    public struct SpawnError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Starts `executable` with `arguments`, stdout and stderr appended to `outputPath`, stdin from /dev/null.
    public static func spawn(executable: String, arguments: [String], outputPath: String) throws(SpawnError) -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else crosses over: an inherited socket or pipe end would keep connections and pipes open.
        mqtthome_spawn_file_actions_addclosefrom(&actions, 3)
        // Its own process group: a Ctrl-C on the daemon's terminal reaches the daemon, which stops the child in order.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // Signal handling libraries ignore or block SIGTERM/SIGINT in this process; the child must not inherit that.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        )

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(pid: pid)
    }

    public init(pid: pid_t) { self.pid = pid }

    /// Non-blocking: the exit status once the child has ended (and been reaped), nil while it runs.
    public func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return status }
        if result < 0 { return -1 }  // already reaped, or not our child
        return nil
    }

    public func signal(_ signal: Int32) { _ = kill(pid, signal) }

    /// True when one of the child's open descriptors is a socket with one of these inodes (see
    /// ``LoopbackPort/listeningSocketInodes(port:)``). Reads `/proc/<pid>/fd`: our own child, or any process for root.
    public func holdsSocket(inodes: Set<UInt64>) -> Bool {
        guard !inodes.isEmpty, let directory = opendir("/proc/\(pid)/fd") else { return false }
        defer { closedir(directory) }
        var target = [CChar](repeating: 0, count: 64)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.first?.isNumber == true else { continue }
            let length = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
            guard length > 0 else { continue }
            let link = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "socket:[1530538]"
            if link.hasPrefix("socket:["), let inode = UInt64(link.dropFirst(8).dropLast()), inodes.contains(inode) { return true }
        }
        return false
    }

    /// Waits for a short-lived child to end; its exit code (128 + signal when killed by one).
    public func waitForExit() async -> Int32 {
        while true {
            if let status = exitStatus() {
                if status < 0 { return -1 }
                return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Sends `signal`, then polls until the child exits; SIGKILL after `timeout`.
    public func terminate(signal: Int32 = SIGTERM, timeout: Duration = .seconds(5)) async {
        self.signal(signal)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while exitStatus() == nil {
            if clock.now >= deadline {
                self.signal(SIGKILL)
                while exitStatus() == nil { try? await Task.sleep(for: .milliseconds(10)) }
                return
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Finds `name` on PATH, then in the sbin directories Debian installs daemons into.
    public static func findExecutable(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
