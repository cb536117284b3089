import Foundation
import MQTTHome

/// A program running in the background for a test (the daemon, the 3.1.1 proxy), its output kept in a log file.
public final class BackgroundProcess: @unchecked Sendable {
    // Process is used from one test task at a time; the class exists to share it with helper methods.
    public let process: Process
    public let directory: TemporaryDirectory
    public let logPath: String

    /// Starts `mqtt-homed` the way a user does, with `environment` (on top of PATH/HOME), in a fresh directory.
    /// `directory` reuses a working directory (and so its `./data`), as a restart does.
    public static func daemon(environment: [String: String], directory: TemporaryDirectory? = nil) throws
        -> BackgroundProcess
    {
        try start(Products.daemon, [], environment: environment, directory: directory)
    }

    /// Starts `executable` with `environment` (on top of PATH/HOME) in a fresh working directory.
    public static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        directory existing: TemporaryDirectory? = nil
    ) throws -> BackgroundProcess {
        let directory = try existing ?? TemporaryDirectory(prefix: "mqtt-home-process")
        let logPath = directory.path + "/daemon-\(UInt32.random(in: 0...UInt32.max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessRunner.baseEnvironment().merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return BackgroundProcess(process: process, directory: directory, logPath: logPath)
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

    /// Waits until the log contains `text`; false after `timeout` seconds, or as soon as the process has exited
    /// without writing it.
    public func waitForLog(_ text: String, timeout: Double = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// For a fixture that listens on a port it chose itself (so no other test can take it between choosing and
    /// binding) and prints "ready <port>": that port, nil when it never said so within `timeout` seconds.
    public func waitForReadyPort(timeout: Double = 10) async -> Int? {
        guard await waitForLog("ready ", timeout: timeout) else { return nil }
        for _ in 0..<100 {
            if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }), let port = Int(line.dropFirst("ready ".count)) {
                return port
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

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
        await stop()
        directory.remove()
    }

    /// SIGTERM and wait; the working directory stays (for a restart in it).
    public func stop() async {
        if process.isRunning {
            signal(SIGTERM)
            await waitForExit()
        }
    }
}
