import ArgumentParser
import Logging
import MQTTHome

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home`: the companion CLI. It speaks only RPC over MQTT to a running `mqtt-homed`.
@main
struct MQTTHomeCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-home",
        abstract: "Talk to a running mqtt-homed over MQTT RPC.",
        discussion: """
            Settings come from flags, then the environment and .env (MQTT_HOST, MQTT_PORT, MQTT_USERNAME,
            MQTT_PASSWORD, MQTT_TLS_*, BASE_TOPIC, DATA_DIR), as for the daemon.

            \(CLIExit.exitCodesHelp)
            """,
        version: MQTTHomeVersion.current,
        subcommands: [
            DevicesCommand.self, AreasCommand.self, SensorsCommand.self, ControlCommand.self, BrokerCommand.self, DashboardCommand.self,
            HealthCommand.self, MethodsCommand.self, CallCommand.self, WatchCommand.self, MCPCommand.self,
        ]
    )

    /// Maps every failure onto the documented exit codes (argument-parser's own usage code, 64, becomes 2).
    static func main() async {
        do {
            var command = try parseAsRoot(optionsAfterSubcommand(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exit as CLIExit {
            // With --json a script reads the daemon's error object (code, message, data) on stdout.
            if let error = exit.rpcError, CommandLine.arguments.contains("--json") { print(error.json.jsonString) }
            printToStandardError("mqtt-home: \(exit.message)")
            Glibc.exit(exit.code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            printToStandardError(fullMessage(for: error))
            Glibc.exit(CLIExit.Code.usage.rawValue)
        }
    }

    /// `mqtt-home --host h --port p devices list` reads as `mqtt-home devices list --host h --port p`: the
    /// connection options belong to the (innermost) subcommands, but people write them first, as with mosquitto's
    /// clients.
    static func optionsAfterSubcommand(_ arguments: [String]) -> [String] {
        guard let first = arguments.first, first.hasPrefix("-"),
            !["-h", "--help", "--version", "--generate-completion-script"].contains(first),
            let index = arguments.firstIndex(where: { word in configuration.subcommands.contains { $0._commandName == word } }),
            var command = configuration.subcommands.first(where: { $0._commandName == arguments[index] })
        else { return arguments }
        var path = [arguments[index]]
        var rest = Array(arguments[(index + 1)...])
        while let next = rest.first, let nested = command.configuration.subcommands.first(where: { $0._commandName == next }) {
            path.append(next)
            rest.removeFirst()
            command = nested
        }
        return path + arguments[..<index] + rest
    }

    /// Quiet by default: the CLI's own output is the answer; libmosquitto warnings only with MQTT_HOME_CLI_DEBUG.
    static var logger: Logger {
        var logger = Logger(label: "mqtt-home")
        logger.logLevel = getenv("MQTT_HOME_CLI_DEBUG") == nil ? .critical : .debug
        return logger
    }
}
