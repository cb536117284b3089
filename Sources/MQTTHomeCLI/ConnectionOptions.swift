import ArgumentParser
import Configuration
import Logging
import MQTTHome
import Mosquitto

/// Where the broker is and how long to wait, shared by every subcommand (like mosquitto's client_shared).
///
/// Flags win over the daemon's own keys (MQTT_HOST, MQTT_PORT, MQTT_USERNAME, MQTT_PASSWORD, MQTT_TLS_*,
/// BASE_TOPIC, DATA_DIR) from the environment and `.env`. With no host anywhere, the CLI looks for the broker
/// that a local `mqtt-homed` embeds (the port it records under DATA_DIR), then localhost:1883.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Broker host (default: MQTT_HOST, else the local daemon's embedded broker).")
    var host: String?

    @Option(name: .shortAndLong, help: "Broker port (default: MQTT_PORT, else 1883, or 8883 with TLS).")
    var port: Int?

    @Option(name: .shortAndLong, help: "Username (default: MQTT_USERNAME).")
    var username: String?

    @Option(help: "Read the password from the first line of this file (default: MQTT_PASSWORD).")
    var passwordFile: String?

    @Option(name: .shortAndLong, help: "Seconds to wait for the broker and for the daemon's answer.")
    var timeout: Double = 5

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be from 1 to 65535, got \(port)") }
        if !(timeout > 0 && timeout <= 3600) { throw ValidationError("--timeout must be more than 0 and at most 3600 seconds") }
    }

    var timeoutDuration: Duration { .milliseconds(Int64(timeout * 1000)) }

    /// Where to connect and how, from flags, the environment, `.env` and a local daemon's embedded broker.
    struct Target {
        var configuration: MosquittoClient.Configuration
        var topics: Topics
        /// `host:port`, for messages.
        var broker: String
        /// Said after a connection failure when the broker was guessed from a local daemon.
        var hint: String
    }

    func target(clientID: String = RPCClient.uniqueClientID(), reconnect: Bool = false) async throws -> Target {
        let configuration: HomeConfiguration
        do {
            configuration = try HomeConfiguration(reader: try await HomeConfiguration.standardReader())
        } catch let error as HomeError {
            throw CLIExit(code: .usage, message: error.description)
        } catch {
            throw CLIExit(code: .usage, message: "configuration error: cannot read .env: \(error)")
        }
        let mqtt = configuration.mqtt
        var resolvedHost = host ?? mqtt.host
        var resolvedPort = port ?? mqtt.port
        var tls = mqtt.tls
        var hint = ""
        var embeddedCredentials: EmbeddedBroker.Credentials? = nil
        if resolvedHost == nil {
            let brokerDirectory = configuration.dataDirectory + "/mosquitto"
            if let embeddedPort = EmbeddedBroker.recordedPort(directory: brokerDirectory) {
                resolvedHost = "127.0.0.1"
                resolvedPort = resolvedPort ?? embeddedPort
                tls = nil
                hint = " (the embedded broker of a local mqtt-homed; is mqtt-homed running?)"
                // The daemon's private broker admits only the users it generated; the CLI's are under DATA_DIR.
                if username == nil && mqtt.username == nil {
                    guard let found = EmbeddedBroker.cliCredentials(directory: brokerDirectory) else {
                        throw CLIExit(
                            code: .usage,
                            message: "cannot read \(FileSystem.absolute(brokerDirectory))/cli.credentials, the local CLI's login to mqtt-homed's embedded broker; run mqtt-home as the user that runs mqtt-homed, or pass --username and --password-file"
                        )
                    }
                    embeddedCredentials = found
                }
            } else {
                resolvedHost = "localhost"
            }
        }
        let finalHost = resolvedHost ?? "localhost"
        let finalPort = resolvedPort ?? (tls == nil ? 1883 : 8883)
        var password = embeddedCredentials?.password ?? mqtt.password
        // The generated login goes only to the daemon's own mosquitto, not to whatever listens on its port.
        var attemptCheck: (@Sendable () -> String?)? = nil
        if embeddedCredentials != nil {
            let brokerDirectory = configuration.dataDirectory + "/mosquitto"
            attemptCheck = {
                EmbeddedBroker.recordedBrokerListens(directory: brokerDirectory, port: finalPort)
                    ? nil : "mqtt-homed's embedded mosquitto is not listening on 127.0.0.1:\(finalPort) (not running, or another process holds the port)"
            }
        }
        if let passwordFile {
            guard let text = FileSystem.read(passwordFile) else {
                throw CLIExit(code: .usage, message: "cannot read --password-file '\(passwordFile)'")
            }
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        return Target(
            configuration: MosquittoClient.Configuration(
                host: finalHost,
                port: finalPort,
                clientID: clientID,
                username: username ?? embeddedCredentials?.username ?? mqtt.username,
                password: password,
                tls: tls,
                protocolVersion: mqtt.protocolVersion,
                reconnect: reconnect,
                attemptCheck: attemptCheck
            ),
            topics: configuration.topics,
            broker: "\(finalHost):\(finalPort)",
            hint: hint
        )
    }

    /// Connects `connect` within the timeout; failures become exit 4 with the broker's reason.
    func connecting(_ target: Target, _ connect: @escaping @Sendable () async throws -> Void) async throws {
        do {
            try await withTimeout(timeoutDuration) { try await connect() }
        } catch is TimeoutError {
            throw CLIExit(code: .brokerUnreachable, message: "cannot connect to the broker at \(target.broker)\(target.hint): no answer within \(Self.format(timeout)) s")
        } catch {
            throw CLIExit(code: .brokerUnreachable, message: "cannot connect to the broker at \(target.broker)\(target.hint): \(error)")
        }
    }

    /// Resolves settings and connects an RPC client; failures become the documented exit codes.
    func connect(logger: Logger) async throws -> CLISession {
        let target = try await target()
        let rpc: RPCClient
        do {
            rpc = try RPCClient(configuration: target.configuration, topics: target.topics, logger: logger)
        } catch {
            throw CLIExit(code: .usage, message: "\(error)")
        }
        try await connecting(target) { try await rpc.connect() }
        return CLISession(rpc: rpc, broker: target.broker, timeout: timeout)
    }

    /// One call on its own connection: the result, or the documented exit.
    func result(_ method: String, _ params: JSONObject = JSONObject(), wait extra: Double = 0) async throws -> JSONValue {
        try await withSession { try await $0.call(method, params, wait: extra) }
    }

    /// Connects, runs `body` with the session, and disconnects, also when `body` fails.
    func withSession<T>(_ body: (CLISession) async throws -> T) async throws -> T {
        let session = try await connect(logger: MQTTHomeCLI.logger)
        do {
            let value = try await body(session)
            await session.close()
            return value
        } catch {
            await session.close()
            throw error
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
