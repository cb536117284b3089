import Configuration
import Logging
import MQTTHome

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-homed`: read configuration (environment > `.env` > defaults), set up logging, build and run the daemon.
@main
struct MQTTHomeDaemonMain {
    static let usage = """
        usage: mqtt-homed [--help | --version]

        The mqtt-home device service. Configured by environment variables or a .env file in the working
        directory (see .env.example); with no MQTT_HOST it runs its own mosquitto on 127.0.0.1.
        Stops cleanly on SIGTERM or SIGINT. Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration.
        """

    static func main() async {
        ProcessMemory.configureAllocator()
        let arguments = CommandLine.arguments.dropFirst()
        if let first = arguments.first {
            switch first {
            case "--version", "-V":
                print("mqtt-homed \(MQTTHomeVersion.current)")
                exit(0)
            case "--help", "-h":
                print(usage)
                exit(0)
            default:
                fail("unknown argument '\(first)'; mqtt-homed takes its settings from the environment\n\n\(usage)", code: 2)
            }
        }

        let configuration: HomeConfiguration
        do {
            configuration = try HomeConfiguration(reader: try await HomeConfiguration.standardReader())
        } catch let error as HomeError {
            fail("\(error)", code: 2)
        } catch {
            fail("configuration error: cannot read .env: \(error)", code: 2)
        }

        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mqtt-homed")

        do {
            let daemon = try await HomeDaemon.build(configuration: configuration, logger: logger)
            logger.info(
                "mqtt-homed \(MQTTHomeVersion.current) starting",
                metadata: [
                    "mqtt.broker": "\(daemon.brokerHost):\(daemon.brokerPort)",
                    "mqtt.base_topic": "\(configuration.baseTopic)",
                ]
            )
            try await daemon.run()
            logger.info("stopped")
        } catch {
            logger.critical("\(error)")
            exit(1)
        }
    }

    static func fail(_ message: String, code: Int32) -> Never {
        printToStandardError("mqtt-homed: \(message)")
        exit(code)
    }
}
