import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A mosquitto the daemon runs itself on 127.0.0.1 when no broker is configured; tests use it as their broker too.
///
/// Its files live in one directory: `mosquitto.conf` (rewritten at each start), `mosquitto.log`, the persistence
/// file, `mosquitto.pid` (ours, to stop a broker a killed daemon left behind) and `port` (so the next start and the
/// CLI find the same port).
public final class EmbeddedBroker: Sendable {
    public struct Options: Sendable {
        public var directory: String
        /// Fixed port; nil reuses the last port if still free, else picks a free one.
        public var port: Int?
        public var persistence: Bool
        /// Extra mosquitto.conf lines for the listener (e.g. `password_file …`, `allow_anonymous false`).
        public var extraConfiguration: [String]
        public var access: Access
        /// The user mosquitto drops to when started as root; nil keeps the current user (tests).
        public var unprivilegedUser: String?
        /// `set_tcp_nodelay true` (the daemon's own broker); false leaves Debian's default, as most users' brokers
        /// run (benchmarks of the stock configuration).
        public var tcpNoDelay = true
        /// `max_queued_messages`: 100,000 (the daemon's own broker); nil leaves mosquitto's default of 1,000, as most
        /// users' brokers run (benchmarks of the stock configuration).
        public var maxQueuedMessages: Int? = 100_000

        public init(
            directory: String,
            port: Int? = nil,
            persistence: Bool = true,
            extraConfiguration: [String] = [],
            access: Access = .anonymous,
            unprivilegedUser: String? = nil
        ) {
            self.directory = directory
            self.port = port
            self.persistence = persistence
            self.extraConfiguration = extraConfiguration
            self.access = access
            self.unprivilegedUser = unprivilegedUser
        }
    }

    /// Who may connect.
    public enum Access: Sendable {
        /// Anyone on 127.0.0.1 (the test broker; extra lines may add a password file and ACL).
        case anonymous
        /// Only the daemon and the local CLI, with credentials generated under the broker's directory (0600) and an
        /// ACL: the daemon reads and writes everything; the CLI reads `<base>/#` and calls `<base>/rpc/#`.
        case privateUsers(baseTopic: String)
    }

    /// A user of the private embedded broker, as stored in `<directory>/<role>.credentials` (two lines).
    public struct Credentials: Sendable, Hashable {
        public var username: String
        public var password: String
    }

    public static let daemonUser = "mqtt-homed"
    public static let cliUser = "mqtt-home-cli"

    /// The credentials a local CLI uses on the daemon's private embedded broker, when it may read them.
    public static func cliCredentials(directory: String) -> Credentials? {
        readCredentials(FileSystem.absolute(directory) + "/cli.credentials")
    }

    /// The daemon's own credentials on its private embedded broker (after ``start()``).
    public var daemonCredentials: Credentials? { Self.readCredentials(directory + "/daemon.credentials") }

    static func readCredentials(_ path: String) -> Credentials? {
        guard let text = FileSystem.read(path) else { return nil }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count >= 2, !lines[0].isEmpty, !lines[1].isEmpty else { return nil }
        return Credentials(username: lines[0], password: lines[1])
    }

    public let options: Options
    public let directory: String
    private let logger: Logger
    private let state = Mutex<(process: ChildProcess?, port: Int?)>((nil, nil))

    public init(options: Options, logger: Logger) {
        self.options = options
        self.directory = FileSystem.absolute(options.directory)
        self.logger = logger
    }

    public var configPath: String { directory + "/mosquitto.conf" }
    public var logPath: String { directory + "/mosquitto.log" }
    var pidPath: String { directory + "/mosquitto.pid" }
    var portPath: String { directory + "/port" }

    /// The port while running (or the last one it ran on).
    public var port: Int? { state.withLock { $0.port } }

    /// True when the mosquitto whose pid the daemon recorded in `directory` holds the listening socket on `port`:
    /// the CLI hands its generated login only to the daemon's own broker, never to another process on that port.
    public static func recordedBrokerListens(directory: String, port: Int) -> Bool {
        guard let text = FileSystem.read(FileSystem.absolute(directory) + "/mosquitto.pid"),
            let pid = Int32(String(text.filter { !$0.isWhitespace }))
        else { return false }
        return ChildProcess(pid: pid).holdsSocket(inodes: LoopbackPort.listeningSocketInodes(port: port))
    }

    /// The port a previous run left in `<directory>/port`, which the CLI uses to find the daemon's broker.
    public static func recordedPort(directory: String) -> Int? {
        FileSystem.read(FileSystem.absolute(directory) + "/port").flatMap {
            Int(String($0.filter { !$0.isWhitespace }))
        }
    }

    /// Writes the config, starts mosquitto and waits until it listens on its port — itself, not another process that
    /// happens to listen there. Returns the port.
    ///
    /// Nothing reserves a port between choosing it and mosquitto's bind: another process can take it meanwhile, and
    /// a connect would then reach that process (with the daemon's credentials). So readiness is mosquitto holding
    /// the listening socket, and at a first start a port lost that way is replaced by another one.
    @discardableResult
    public func start() async throws(HomeError) -> Int {
        guard let executable = ChildProcess.findExecutable("mosquitto") else {
            throw .embeddedBroker(
                "the mosquitto binary was not found on PATH or in /usr/sbin; install it with "
                    + "'sudo apt-get install mosquitto', or set MQTT_HOST to use an existing broker"
            )
        }
        try FileSystem.makeDirectory(directory)
        await stopLeftover()
        if case .privateUsers(let base) = options.access { try await writeUsers(baseTopic: base) }
        // A restart stays on its port (the daemon's connection and the CLI know it); a first start may move.
        let fixed = options.port ?? self.port
        let movable = fixed == nil
        var lost: [Int] = []
        while true {
            let port = try choosePort(fixed: fixed, avoiding: lost)
            switch try await launch(executable: executable, port: port) {
            case .listening:
                return port
            case .portTaken where movable && lost.count < Self.portAttempts - 1:
                lost.append(port)
                logger.warning(
                    "another process took the embedded broker's port before mosquitto could listen on it; trying another port",
                    metadata: ["broker.port": "\(port)"]
                )
            case .portTaken:
                throw .embeddedBroker(
                    "port \(port) on 127.0.0.1 was taken by another process before mosquitto could listen on it"
                        + (movable ? " (\(Self.portAttempts) ports tried)" : options.port != nil ? "; set MQTT_PORT to another port" : "")
                )
            }
        }
    }

    /// How many ports a first start tries when each is taken before mosquitto binds it.
    static let portAttempts = 3

    private enum LaunchOutcome { case listening, portTaken }

    /// One mosquitto on `port`: listening (its own socket), or exited because the port was taken.
    private func launch(executable: String, port: Int) async throws(HomeError) -> LaunchOutcome {
        try FileSystem.write(configuration(port: port), to: configPath)
        if let user = runAsUser {
            if let blocked = FileSystem.firstUnsearchableAncestor(of: directory, for: user) {
                throw .embeddedBroker(
                    "started as root, the embedded mosquitto runs as user '\(user)', which cannot reach \(directory) (\(blocked) is not searchable by it); use a DATA_DIR it can reach (e.g. /var/lib/mqtt-home), run mqtt-homed as an ordinary user, or set MQTT_HOST"
                )
            }
            FileSystem.changeOwner(directory, recursive: true, to: user)
        }
        let logStart = FileSystem.size(logPath) ?? 0
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(executable: executable, arguments: ["-c", configPath], outputPath: logPath)
        } catch {
            throw .embeddedBroker(error.description)
        }
        state.withLock { $0 = (process, port) }
        // The pid lets the next start stop a mosquitto this run leaves behind (kill -9); without it that leftover
        // holds the port until someone kills it by hand, so a failure here is said, not swallowed.
        for (text, path) in [("\(process.pid)\n", pidPath), ("\(port)\n", portPath)] {
            do {
                try FileSystem.write(text, to: path)
            } catch {
                logger.warning(
                    "cannot record the embedded broker's pid and port; a broker left by a crash will not be stopped at the next start",
                    metadata: ["file": "\(path)", "error": "\(error)"]
                )
            }
        }

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        // No connect to probe it: that would reach whoever else listens there.
        while !process.holdsSocket(inodes: LoopbackPort.listeningSocketInodes(port: port)) {
            if let status = process.exitStatus() {
                state.withLock { $0.process = nil }
                let said = FileSystem.read(logPath, from: logStart) ?? ""
                if said.contains("Address already in use") { return .portTaken }
                throw .embeddedBroker(
                    "mosquitto exited at start-up (status \(status)); its log \(logPath) ends with: "
                        + lastLines(of: said, count: 3)
                )
            }
            if clock.now >= deadline {
                await process.terminate()
                state.withLock { $0.process = nil }
                throw .embeddedBroker("mosquitto did not listen on 127.0.0.1:\(port) within 10 s; see \(logPath)")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        logger.info(
            "embedded mosquitto started",
            metadata: ["broker.port": "\(port)", "broker.pid": "\(process.pid)", "broker.dir": "\(directory)"]
        )
        return .listening
    }

    /// True while this broker's mosquitto runs and holds the listening socket on its port: the daemon connects only
    /// then, never to another process that took the port while mosquitto was down.
    public func isListening() -> Bool {
        guard let (process, port) = state.withLock({ state in state.process.flatMap { p in state.port.map { (p, $0) } } }) else {
            return false
        }
        return process.holdsSocket(inodes: LoopbackPort.listeningSocketInodes(port: port))
    }

    /// Stops mosquitto with SIGTERM (it saves persistence), SIGKILL after 5 s.
    public func stop() async {
        guard let process = takeProcess() else { return }
        await process.terminate(signal: SIGTERM)
        FileSystem.remove(pidPath)
        logger.info("embedded mosquitto stopped", metadata: ["broker.pid": "\(process.pid)"])
    }

    /// Kills mosquitto with SIGKILL and reaps it: a crash, for tests that watch recovery.
    public func kill() async {
        await takeProcess()?.terminate(signal: SIGKILL)
    }

    /// The running process, forgotten here so that only one caller stops it.
    private func takeProcess() -> ChildProcess? {
        state.withLock { state in
            defer { state.process = nil }
            return state.process
        }
    }

    /// The exit status if mosquitto has died on its own, nil while it runs (or when not started).
    public func unexpectedExit() -> Int32? {
        state.withLock { state in
            guard let process = state.process, let status = process.exitStatus() else { return nil }
            state.process = nil
            return status
        }
    }

    private func choosePort(fixed: Int?, avoiding lost: [Int]) throws(HomeError) -> Int {
        if let fixed {
            guard LoopbackPort.isFree(fixed) else {
                throw .embeddedBroker(
                    "port \(fixed) on 127.0.0.1 is already in use"
                        + (options.port != nil ? "; set MQTT_PORT to another port" : " by another process; the broker keeps its port (the daemon and the CLI use it)")
                )
            }
            return fixed
        }
        if let previous = Self.recordedPort(directory: directory), !lost.contains(previous), LoopbackPort.isFree(previous) {
            return previous
        }
        for _ in 0..<10 {
            guard let port = LoopbackPort.free() else { break }
            if !lost.contains(port) { return port }
        }
        throw .embeddedBroker("no free port on 127.0.0.1")
    }

    private func configuration(port: Int) -> String {
        var lines = [
            "# Written by mqtt-homed at every start of its embedded broker; edits here are overwritten.",
            "listener \(port) 127.0.0.1",
            // Without it mosquitto delays small forwarded packets (Nagle), adding tens of ms to every RPC round trip.
            "set_tcp_nodelay \(options.tcpNoDelay)",
            // Started as root, mosquitto runs as `unprivilegedUser` (which then owns this directory); otherwise as us.
            "user \(runAsUser ?? Self.currentUserName())",
            "log_dest stdout",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
        // mosquitto drops QoS 1 messages queued beyond 1000 per client; a burst from many devices must not be lost.
        if let limit = options.maxQueuedMessages { lines.append("max_queued_messages \(limit)") }
        switch options.access {
        case .anonymous:
            lines.append("allow_anonymous true")
        case .privateUsers:
            lines += ["allow_anonymous false", "password_file \(directory)/passwd", "acl_file \(directory)/acl"]
        }
        if options.persistence {
            lines += ["persistence true", "persistence_location \(directory)/", "autosave_interval 60"]
        } else {
            lines.append("persistence false")
        }
        lines += options.extraConfiguration
        return lines.joined(separator: "\n") + "\n"
    }

    /// A broker a killed daemon left running would hold the port and the persistence file: stop it first.
    private func stopLeftover() async {
        guard let text = FileSystem.read(pidPath), let pid = Int32(String(text.filter { !$0.isWhitespace })),
            let commandLine = FileSystem.read("/proc/\(pid)/cmdline"),
            commandLine.contains("mosquitto"), commandLine.contains(configPath)
        else { return }
        logger.notice("stopping an embedded mosquitto left over from an earlier run", metadata: ["broker.pid": "\(pid)"])
        Glibc.kill(pid, SIGTERM)
        for _ in 0..<500 where Glibc.kill(pid, 0) == 0 {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if Glibc.kill(pid, 0) == 0 { Glibc.kill(pid, SIGKILL) }
        FileSystem.remove(pidPath)
    }

    /// The user mosquitto runs as when it must not stay root.
    private var runAsUser: String? { geteuid() == 0 ? options.unprivilegedUser : nil }

    /// Keeps (or creates) the two users' credentials and writes the password file and ACL for them. The password
    /// file is written in plain text (0600) and hashed in place by `mosquitto_passwd -U`, so no password is ever
    /// on a command line.
    private func writeUsers(baseTopic base: String) async throws(HomeError) {
        var users: [Credentials] = []
        for (role, name) in [("daemon", Self.daemonUser), ("cli", Self.cliUser)] {
            let path = "\(directory)/\(role).credentials"
            if let existing = Self.readCredentials(path), existing.username == name {
                users.append(existing)
                continue
            }
            let created = Credentials(username: name, password: FileSystem.randomToken())
            try FileSystem.write("\(created.username)\n\(created.password)\n", to: path, mode: 0o600)
            users.append(created)
        }
        try FileSystem.write(users.map { "\($0.username):\($0.password)" }.joined(separator: "\n") + "\n", to: "\(directory)/passwd", mode: 0o600)
        guard let tool = ChildProcess.findExecutable("mosquitto_passwd") else {
            throw .embeddedBroker("mosquitto_passwd was not found (it comes with mosquitto); install mosquitto, or set MQTT_HOST")
        }
        do {
            let process = try ChildProcess.spawn(executable: tool, arguments: ["-U", "\(directory)/passwd"], outputPath: "\(directory)/mosquitto_passwd.log")
            let status = await process.waitForExit()
            guard status == 0 else {
                throw HomeError.embeddedBroker("mosquitto_passwd -U failed (status \(status)); see \(directory)/mosquitto_passwd.log")
            }
        } catch let error as HomeError {
            throw error
        } catch {
            throw .embeddedBroker("cannot run mosquitto_passwd: \(error)")
        }
        let acl = """
            # Written by mqtt-homed at every start of its embedded broker; edits here are overwritten.
            # The daemon: every device topic (state in, commands out), its own tree, $SYS.
            user \(Self.daemonUser)
            topic readwrite #
            topic read $SYS/#

            # The local CLI and MCP server: read the daemon's topics, call every method, get their answers.
            user \(Self.cliUser)
            topic read \(base)/#
            topic write \(base)/rpc/#

            """
        try FileSystem.write(acl, to: "\(directory)/acl", mode: 0o600)
    }

    private static func currentUserName() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }

    private func lastLines(of text: String, count: Int) -> String {
        text.isEmpty ? "(nothing logged)" : text.split(separator: "\n").suffix(count).joined(separator: " | ")
    }
}
