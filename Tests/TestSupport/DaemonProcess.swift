import Foundation
import MQTTHome

/// A running `mqtt-homed`, started the way a user starts it, with its output kept in a log file.
public final class DaemonProcess: @unchecked Sendable {
    // Process is used from one test task at a time; the class exists to share it with helper methods.
    public let process: Process
    public let directory: TemporaryDirectory
    public let logPath: String

    /// Starts the daemon with `environment` (on top of PATH/HOME) in a fresh working directory.
    public static func start(environment: [String: String]) throws -> DaemonProcess {
        let directory = try TemporaryDirectory(prefix: "mqtt-homed")
        let logPath = directory.path + "/daemon.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Products.daemon)
        process.environment = ProcessRunner.baseEnvironment().merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return DaemonProcess(process: process, directory: directory, logPath: logPath)
    }

    init(process: Process, directory: TemporaryDirectory, logPath: String) {
        self.process = process
        self.directory = directory
        self.logPath = logPath
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to end and returns its exit status; SIGKILL after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Double = 10) async -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline { kill(process.processIdentifier, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    /// SIGTERM, wait, remove the working directory.
    public func shutdown() async {
        if process.isRunning {
            signal(SIGTERM)
            await waitForExit()
        }
        directory.remove()
    }
}
