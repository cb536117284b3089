import Logging
import MQTTHome

#if canImport(Glibc)
import Glibc
#endif

/// A real mosquitto for one test, on a free loopback port, in its own temporary directory.
///
/// It is mqtt-homed's own ``EmbeddedBroker``, so the tests exercise the code that runs the daemon's broker.
public final class TestBroker: Sendable {
    public let broker: EmbeddedBroker
    public let directory: TemporaryDirectory
    public let port: Int

    /// - Parameters:
    ///   - persistence: keep retained messages across a restart (mosquitto's persistence file).
    ///   - extraConfiguration: listener lines, e.g. `password_file …`.
    public static func start(persistence: Bool = false, extraConfiguration: [String] = []) async throws -> TestBroker {
        let directory = try TemporaryDirectory(prefix: "mqtt-home-broker")
        let broker = EmbeddedBroker(
            options: .init(directory: directory.path, persistence: persistence, extraConfiguration: extraConfiguration),
            logger: Logger(label: "test-broker")
        )
        let port = try await broker.start()
        let testBroker = TestBroker(broker: broker, directory: directory, port: port)
        // Stopped when the test ends, however it ends: a test that registered its own clean-up only after a step that
        // threw left mosquitto running (11 of them after one run on an overloaded machine). Stopping twice is harmless.
        cleanupIfScoped { await testBroker.shutdown() }
        return testBroker
    }

    init(broker: EmbeddedBroker, directory: TemporaryDirectory, port: Int) {
        self.broker = broker
        self.directory = directory
        self.port = port
    }

    /// SIGKILL: the broker vanishes as in a crash or power cut.
    public func kill() async { await broker.kill() }

    /// Starts again on the same port (the broker keeps its port after the first start).
    public func restart() async throws { try await broker.start() }

    public func stop() async { await broker.stop() }

    /// Stops the broker and removes its directory.
    public func shutdown() async {
        await broker.stop()
        directory.remove()
    }
}

/// A directory under /tmp removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String) throws {
        // mkdtemp replaces the six trailing X's.
        var template = Array(("/tmp/\(prefix)-" + String(repeating: "X", count: 6)).utf8CString)
        guard let result = mkdtemp(&template) else {
            throw HomeError.fileSystem(path: "/tmp", problem: "mkdtemp failed")
        }
        path = String(cString: result)
    }

    public func remove() {
        _ = system("rm -rf '\(path)'")
    }
}
