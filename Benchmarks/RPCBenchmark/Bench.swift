import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench rpc|ingest|command|adds|announce|discovery|bridge|soak|flood|history|store`: figures for BENCHMARKS.md, measured against a loopback mosquitto this
/// program starts and the `mqtt-homed` built next to it. Prints figures; asserts nothing.
@main
struct Bench {
    static let usage = """
        usage: mqtt-home-bench rpc [sequential-calls] [calls-per-caller]
               mqtt-home-bench ingest <devices> <messages> <qos 0|1> [messages-per-second, paced: sparse per-device rates]
               mqtt-home-bench command [sequential-commands] [commands-per-caller]
               mqtt-home-bench discovery <configs> <messages>
               mqtt-home-bench bridge <emqx-clients> <polls>
               mqtt-home-bench soak <minutes> <messages-per-second> <devices>
               mqtt-home-bench flood <requests> <requests-per-second>
               mqtt-home-bench history [days of statistics]
               mqtt-home-bench adds <devices>
               mqtt-home-bench announce <devices>
               mqtt-home-bench store <devices> <messages> [log-rows-per-device-first]
        (MQTT_HOME_BENCH_BROKER=stock: the broker keeps Debian's set_tcp_nodelay false and max_queued_messages 1000)
        """

    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let numbers = arguments.dropFirst().compactMap { Int($0) }
        switch arguments.first {
        case "rpc": try await RPCBenchmark.run(numbers)
        case "ingest":
            guard numbers.count == 3 || numbers.count == 4, let qos = QoS(rawValue: Int32(numbers[2])) else {
                print(usage)
                exit(2)
            }
            try await IngestBenchmark.run(devices: numbers[0], messages: numbers[1], qos: qos, rate: numbers.count == 4 ? numbers[3] : nil)
        case "command": try await CommandBenchmark.run(numbers)
        case "adds": try await AddsBenchmark.run(devices: numbers.first ?? 1000)
        case "announce": try await AnnounceBenchmark.run(devices: numbers.first ?? 1000)
        case "discovery":
            guard numbers.count == 2 else {
                print(usage)
                exit(2)
            }
            try await DiscoveryBenchmark.run(configs: numbers[0], messages: numbers[1])
        case "bridge":
            guard numbers.count == 2 else {
                print(usage)
                exit(2)
            }
            try await BridgeBenchmark.run(clients: numbers[0], polls: numbers[1])
        case "flood":
            guard numbers.count == 2 else {
                print(usage)
                exit(2)
            }
            try await FloodBenchmark.run(requests: numbers[0], rate: numbers[1])
        case "store":
            guard numbers.count == 2 || numbers.count == 3 else {
                print(usage)
                exit(2)
            }
            try await StoreBenchmark.run(devices: numbers[0], messages: numbers[1], fillPerDevice: numbers.count == 3 ? numbers[2] : nil)
        case "history":
            try await HistoryBenchmark.run(days: numbers.first ?? 365)
        case "soak":
            guard numbers.count == 3 else {
                print(usage)
                exit(2)
            }
            try await SoakBenchmark.run(minutes: numbers[0], rate: numbers[1], devices: numbers[2])
        default:
            print(usage)
            exit(2)
        }
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }

    /// The benchmark's loopback mosquitto: `set_tcp_nodelay true` and `max_queued_messages 100000` as the daemon's
    /// embedded broker has them, or with `MQTT_HOME_BENCH_BROKER=stock` Debian's defaults (Nagle on, 1,000 queued
    /// messages per client), as the brokers most users run.
    static func brokerOptions(_ directory: String) -> EmbeddedBroker.Options {
        var options = EmbeddedBroker.Options(directory: directory, persistence: false)
        options.tcpNoDelay = !stockBroker
        if stockBroker { options.maxQueuedMessages = nil }
        return options
    }

    /// `MQTT_HOME_BENCH_QUICKACK=0` turns the benchmark clients' `TCP_QUICKACK` off (to measure what it saves).
    static var quickAck: Bool { getenv("MQTT_HOME_BENCH_QUICKACK").map { String(cString: $0) != "0" } ?? true }

    static var stockBroker: Bool { getenv("MQTT_HOME_BENCH_BROKER").map { String(cString: $0) == "stock" } ?? false }

    static func rpcClient(port: Int, logger: Logger) async throws -> RPCClient {
        var configuration = MosquittoClient.Configuration(host: "127.0.0.1", port: port, clientID: RPCClient.uniqueClientID(prefix: "bench"), reconnect: false)
        configuration.quickAck = quickAck
        let client = try RPCClient(configuration: configuration, topics: Topics(base: "mqtt-home"), logger: logger)
        try await client.connect()
        return client
    }

    static func mqttClient(port: Int, name: String, buffer: Int = 1_000_000) async throws -> MosquittoClient {
        let client = try MosquittoClient(
            configuration: .init(
                host: "127.0.0.1",
                port: port,
                clientID: RPCClient.uniqueClientID(prefix: name),
                reconnect: false,
                messageBufferLimit: buffer,
                quickAck: quickAck
            ),
            logger: quietLogger
        )
        try await client.connect()
        return client
    }

    /// Starts `mqtt-homed` against the broker on `port`, output to `log`. Throughput benchmarks turn the per-caller
    /// rate limit off (`RPC_RATE_LIMIT=0`: one benchmark caller sends thousands per second by design) unless the
    /// environment sets it; `MQTT_HOME_BENCH_DAEMON` names another daemon binary (an older build, for before/after).
    static func startDaemon(port: Int, dataDirectory: String, log: String) throws -> ChildProcess {
        setenv("MQTT_HOST", "127.0.0.1", 1)
        setenv("MQTT_PORT", String(port), 1)
        setenv("LOG_LEVEL", "error", 1)
        setenv("DATA_DIR", dataDirectory, 1)
        setenv("RPC_RATE_LIMIT", "0", 0)
        return try ChildProcess.spawn(executable: daemonPath, arguments: [], outputPath: log)
    }

    static var daemonPath: String {
        if let path = getenv("MQTT_HOME_BENCH_DAEMON") { return String(cString: path) }
        return executableDirectory() + "/mqtt-homed"
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded >= 100 ? String(Int(rounded)) : String(rounded)
    }

    /// VmRSS of `pid` in KiB, from /proc.
    static func rss(of pid: Int32) -> Int { statusField("VmRSS", of: pid) }

    /// VmHWM (peak resident set) of `pid` in KiB.
    static func peakRSS(of pid: Int32) -> Int { statusField("VmHWM", of: pid) }

    /// A `<name>: <number> kB` line of /proc/<pid>/status; -1 when absent.
    static func statusField(_ name: String, of pid: Int32) -> Int {
        guard let status = FileSystem.read("/proc/\(pid)/status") else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    /// User + system CPU time of `pid` in microseconds, from /proc/<pid>/stat.
    static func cpuMicroseconds(of pid: Int32) -> Double {
        guard let stat = FileSystem.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 0, utime field 11, stime field 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))) * 1e6
    }

    static func executableDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let path = String(decoding: buffer[0..<max(0, count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    }
}
