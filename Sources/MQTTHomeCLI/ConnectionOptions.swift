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

    /// Resolves settings and connects; failures become the documented exit codes.
    func connect(logger: Logger) async throws -> (RPCClient, broker: String) {
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
        if resolvedHost == nil {
            if let embeddedPort = EmbeddedBroker.recordedPort(directory: configuration.dataDirectory + "/mosquitto") {
                resolvedHost = "127.0.0.1"
                resolvedPort = resolvedPort ?? embeddedPort
                tls = nil
                hint = " (the embedded broker of a local mqtt-homed; is mqtt-homed running?)"
            } else {
                resolvedHost = "localhost"
            }
        }
        let finalHost = resolvedHost ?? "localhost"
        let finalPort = resolvedPort ?? (tls == nil ? 1883 : 8883)
        var password = mqtt.password
        if let passwordFile {
            guard let text = FileSystem.read(passwordFile) else {
                throw CLIExit(code: .usage, message: "cannot read --password-file '\(passwordFile)'")
            }
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        let broker = "\(finalHost):\(finalPort)"
        let rpc: RPCClient
        do {
            rpc = try RPCClient(
                configuration: MosquittoClient.Configuration(
                    host: finalHost,
                    port: finalPort,
                    clientID: RPCClient.uniqueClientID(),
                    username: username ?? mqtt.username,
                    password: password,
                    tls: tls,
                    protocolVersion: mqtt.protocolVersion,
                    reconnect: false
                ),
                topics: configuration.topics,
                logger: logger
            )
        } catch {
            throw CLIExit(code: .usage, message: "\(error)")
        }
        do {
            try await withTimeout(timeoutDuration) { try await rpc.connect() }
        } catch is TimeoutError {
            throw CLIExit(code: .brokerUnreachable, message: "cannot connect to the broker at \(broker)\(hint): no answer within \(Self.format(timeout)) s")
        } catch {
            throw CLIExit(code: .brokerUnreachable, message: "cannot connect to the broker at \(broker)\(hint): \(error)")
        }
        return (rpc, broker)
    }

    /// Connects, calls, disconnects; returns the whole reply envelope.
    func call(_ method: String, params: JSONObject, logger: Logger) async throws -> JSONValue {
        let (rpc, broker) = try await connect(logger: logger)
        let outcome: Result<JSONValue, RPCClient.CallError>
        do {
            outcome = .success(try await rpc.call(method, params: params, timeout: timeoutDuration))
        } catch {
            outcome = .failure(error)
        }
        await rpc.close()
        switch outcome {
        case .success(let reply):
            return reply
        case .failure(.timeout):
            throw CLIExit(
                code: .noAnswer,
                message: "no answer from mqtt-homed on \(broker) within \(Self.format(timeout)) s; is it running? "
                    + "(it listens on \(rpc.topics.rpcFilter))"
            )
        case .failure(.transport(let error)):
            throw CLIExit(code: .brokerUnreachable, message: "lost the broker at \(broker): \(error)")
        case .failure(.invalidReply(let detail)):
            throw CLIExit(code: .rpcError, message: "the reply is not a JSON-RPC response: \(detail)")
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
