import Foundation
import Logging
import MQTTHome
import TestSupport
import Testing

@Suite("Embedded mosquitto: listening on its own port, never on someone else's", .timeLimit(.minutes(1)))
struct EmbeddedBrokerTests {
    @Test("a listener is found through /proc as this process's own, and not as another process's")
    func ownListenerIsFound() throws {
        let listener = try SilentListener()
        let inodes = LoopbackPort.listeningSocketInodes(port: listener.port)
        #expect(inodes.count == 1)
        #expect(ChildProcess(pid: getpid()).holdsSocket(inodes: inodes))
        #expect(!ChildProcess(pid: getppid()).holdsSocket(inodes: inodes))
        #expect(!ChildProcess(pid: getpid()).holdsSocket(inodes: []))
    }

    @Test("mosquitto killed and its port taken: not listening, a restart is refused with the reason, then works on the same port")
    func restartWaitsForItsPort() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-home-embedded-restart")
        defer { directory.remove() }
        let broker = EmbeddedBroker(options: .init(directory: directory.path, persistence: false), logger: Logger(label: "test-broker"))
        let port = try await broker.start()
        #expect(broker.isListening())
        let pid = try #require(Int32(try String(contentsOfFile: directory.path + "/mosquitto.pid", encoding: .utf8).filter { !$0.isWhitespace }))
        kill(pid, SIGKILL)
        var exited: Int32? = nil
        for _ in 0..<200 where exited == nil {
            exited = broker.unexpectedExit()
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(exited != nil)
        #expect(!broker.isListening())

        var listener: SilentListener? = try SilentListener(port: port)
        #expect(!broker.isListening(), "another process's listener counted as the broker's own")
        do {
            try await broker.start()
            Issue.record("started while another process held its port")
        } catch {
            #expect("\(error)".contains("port \(port) on 127.0.0.1 is already in use by another process"), "\(error)")
        }
        listener = nil
        _ = listener
        #expect(try await broker.start() == port)
        #expect(broker.isListening())
        await broker.stop()
        #expect(!broker.isListening())
    }
}
