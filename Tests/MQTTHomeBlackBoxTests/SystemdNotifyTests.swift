import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// `Type=notify` as systemd runs mqtt-homed: READY=1 after online, WATCHDOG=1 pings, STOPPING=1 on SIGTERM, all
/// read from a fake NOTIFY_SOCKET.
@Suite("systemd notify protocol", .timeLimit(.minutes(1)), .awaitedCleanup)
struct SystemdNotifyTests {
    /// A unix datagram socket standing in for systemd's notify socket.
    final class FakeNotifySocket: @unchecked Sendable {
        // Read only from the test task.
        let path: String
        let descriptor: Int32
        var received: [String] = []

        init(directory: String) throws {
            path = directory + "/notify.sock"
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw HarnessError(description: "cannot bind \(path): \(String(cString: strerror(errno)))") }
        }

        /// Collects datagrams until one satisfies `predicate` or `timeout` passes.
        func waitFor(timeout: Double = 10, _ predicate: (String) -> Bool) async -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < deadline {
                let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if count > 0 {
                    let message = String(decoding: buffer[0..<count], as: UTF8.self)
                    received.append(message)
                    if predicate(message) { return message }
                } else {
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
            return nil
        }

        deinit { close(descriptor) }
    }

    @Test("READY=1 once online is published, WATCHDOG=1 at half WATCHDOG_USEC, STOPPING=1 on SIGTERM")
    func notifyLifecycle() async throws {
        let broker = try await TestBroker.start()
        let directory = try TemporaryDirectory(prefix: "notify")
        defer { directory.remove() }
        let notify = try FakeNotifySocket(directory: directory.path)
        // Started without waiting for `online`: READY itself is what this test waits for.
        let daemon = try BackgroundProcess.daemon(
            environment: [
                "MQTT_HOST": "127.0.0.1", "MQTT_PORT": String(broker.port), "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000",
            ]
        )
        cleanup { await daemon.shutdown() }
        let ready = await notify.waitFor { $0.contains("READY=1") }
        #expect(ready?.contains("STATUS=online, broker 127.0.0.1:\(broker.port)") == true, "\(notify.received)")
        #expect(ready?.contains("MAINPID=\(daemon.pid)") == true)
        // READY comes after the retained online reached the broker, so a unit ordered After=mqtt-homed finds it
        // there: a subscriber that connects the moment READY arrives gets `online` as the retained status.
        let late = try await MessageCollector.connect(port: broker.port, subscribeTo: ["mqtt-home/status"])
        let retained = await late.waitFor(topic: "mqtt-home/status", timeout: 2) { _ in true }
        #expect(retained?.retain == true && retained?.json?["state"] == "online", "\(String(describing: retained?.payloadString))")
        await late.close()
        var pings = notify.received.filter { $0 == "WATCHDOG=1" }.count
        let started = Date()
        while pings < 3 && Date().timeIntervalSince(started) < 3 {
            if await notify.waitFor(timeout: 1, { $0 == "WATCHDOG=1" }) != nil { pings += 1 }
        }
        #expect(pings >= 3, "WATCHDOG=1 every 200 ms: \(notify.received)")
        daemon.signal(SIGTERM)
        #expect(await notify.waitFor { $0 == "STOPPING=1" } != nil, "\(notify.received)")
        #expect(await daemon.waitForExit() == 0)
        await broker.shutdown()
    }

    @Test("scripts/install stages the binaries, the notify unit and a private env file, and keeps an edited env")
    func install() async throws {
        let stage = try TemporaryDirectory(prefix: "install")
        defer { stage.remove() }
        let repository = Fixtures.path("").split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
        let environment = ["DESTDIR": stage.path, "BUILD_DIR": Products.directory, "PREFIX": "/opt/mh"]
        let first = try await ProcessRunner.run("/bin/bash", [repository + "/scripts/install"], environment: environment)
        #expect(first.exitCode == 0, "\(first.standardOutput)\(first.standardError)")
        let manager = FileManager.default
        #expect(manager.isExecutableFile(atPath: stage.path + "/opt/mh/bin/mqtt-homed"))
        #expect(manager.isExecutableFile(atPath: stage.path + "/opt/mh/bin/mqtt-home"))
        let unit = try String(contentsOfFile: stage.path + "/etc/systemd/system/mqtt-homed.service", encoding: .utf8)
        for line in ["Type=notify", "ExecStart=/opt/mh/bin/mqtt-homed", "EnvironmentFile=-/etc/mqtt-home/env", "StateDirectory=mqtt-home",
                     "DynamicUser=yes", "ProtectSystem=strict", "Restart=on-failure", "WatchdogSec="] {
            #expect(unit.contains(line), "unit lacks \(line)")
        }
        // systemd's own check of the unit, where the tool exists (ExecStart pointed at a binary that does).
        if manager.isExecutableFile(atPath: "/usr/bin/systemd-analyze") {
            let checked = stage.path + "/mqtt-homed.service"
            try unit.replacingOccurrences(of: "/opt/mh/bin/mqtt-homed", with: Products.daemon).write(toFile: checked, atomically: true, encoding: .utf8)
            let verify = try await ProcessRunner.run("/usr/bin/systemd-analyze", ["verify", checked])
            #expect(verify.exitCode == 0, "\(verify.standardOutput)\(verify.standardError)")
            #expect(verify.standardError.isEmpty, "\(verify.standardError)")
        }
        let envPath = stage.path + "/etc/mqtt-home/env"
        let attributes = try manager.attributesOfItem(atPath: envPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let env = try String(contentsOfFile: envPath, encoding: .utf8)
        #expect(env.contains("MQTT_HOST=") && !env.contains("DATA_DIR="))
        try "MQTT_HOST=broker.lan\n".write(toFile: envPath, atomically: true, encoding: .utf8)
        let second = try await ProcessRunner.run("/bin/bash", [repository + "/scripts/install"], environment: environment)
        #expect(second.exitCode == 0)
        #expect(second.standardOutput.contains("keeping the existing"))
        #expect(try String(contentsOfFile: envPath, encoding: .utf8) == "MQTT_HOST=broker.lan\n")
    }
}
