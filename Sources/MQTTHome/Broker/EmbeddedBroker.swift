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

        public init(directory: String, port: Int? = nil, persistence: Bool = true, extraConfiguration: [String] = []) {
            self.directory = directory
            self.port = port
            self.persistence = persistence
            self.extraConfiguration = extraConfiguration
        }
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

    /// The port a previous run left in `<directory>/port`, which the CLI uses to find the daemon's broker.
    public static func recordedPort(directory: String) -> Int? {
        FileSystem.read(FileSystem.absolute(directory) + "/port").flatMap {
            Int(String($0.filter { !$0.isWhitespace }))
        }
    }

    /// Writes the config, starts mosquitto and waits until it accepts connections. Returns the port.
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
        let port = try choosePort()
        try FileSystem.write(configuration(port: port), to: configPath)
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(executable: executable, arguments: ["-c", configPath], outputPath: logPath)
        } catch {
            throw .embeddedBroker(error.description)
        }
        state.withLock { $0 = (process, port) }
        try? FileSystem.write("\(process.pid)\n", to: pidPath)
        try? FileSystem.write("\(port)\n", to: portPath)

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while !LoopbackPort.isListening(port) {
            if let status = process.exitStatus() {
                state.withLock { $0.process = nil }
                throw .embeddedBroker(
                    "mosquitto exited at start-up (status \(status)); its log \(logPath) ends with: "
                        + lastLines(of: logPath, count: 3)
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
        return port
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

    private func choosePort() throws(HomeError) -> Int {
        if let fixed = options.port ?? state.withLock({ $0.port }) {
            guard LoopbackPort.isFree(fixed) else {
                throw .embeddedBroker("port \(fixed) on 127.0.0.1 is already in use; set MQTT_PORT to another port")
            }
            return fixed
        }
        if let previous = Self.recordedPort(directory: directory), LoopbackPort.isFree(previous) { return previous }
        guard let port = LoopbackPort.free() else { throw .embeddedBroker("no free port on 127.0.0.1") }
        return port
    }

    private func configuration(port: Int) -> String {
        var lines = [
            "# Written by mqtt-homed at every start of its embedded broker; edits here are overwritten.",
            "listener \(port) 127.0.0.1",
            "allow_anonymous true",
            // Without it mosquitto delays small forwarded packets (Nagle), adding tens of ms to every RPC round trip.
            "set_tcp_nodelay true",
            // mosquitto drops QoS 1 messages queued beyond 1000 per client; a burst from many devices must not be lost.
            "max_queued_messages 100000",
            // mosquitto started as root drops to the 'mosquitto' user, which cannot write our data directory.
            "user \(Self.currentUserName())",
            "log_dest stdout",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
        ]
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

    private static func currentUserName() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }

    private func lastLines(of path: String, count: Int) -> String {
        guard let text = FileSystem.read(path) else { return "(no log)" }
        return text.split(separator: "\n").suffix(count).joined(separator: " | ")
    }
}
