import Foundation

/// Runs a program to completion and captures what a user would see: exit code, stdout, stderr.
public struct ProcessResult: Sendable {
    public var exitCode: Int32
    public var standardOutput: String
    public var standardError: String
}

public enum ProcessRunner {
    /// Runs `executable` with a clean environment (plus `environment`) in `directory`, killing it after `timeout`;
    /// `input`, when given, is its standard input.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:],
        directory: String? = nil,
        input: String? = nil,
        timeout: Double = 30
    ) async throws -> ProcessResult {
        // Output goes to files, not pipes: nothing blocks a cooperative thread, and no other child can hold a
        // pipe open by inheriting it.
        let capture = try TemporaryDirectory(prefix: "mqtt-home-run")
        defer { capture.remove() }
        let outPath = capture.path + "/stdout"
        let errPath = capture.path + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? output.close()
            try? error.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = baseEnvironment().merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = output
        process.standardError = error
        if let input {
            let inPath = capture.path + "/stdin"
            _ = FileManager.default.createFile(atPath: inPath, contents: Data(input.utf8))
            process.standardInput = FileHandle(forReadingAtPath: inPath)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                kill(process.processIdentifier, SIGKILL)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return ProcessResult(
            exitCode: process.terminationStatus,
            standardOutput: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }

    /// PATH and friends only: a test never inherits MQTT_* settings from the developer's shell.
    public static func baseEnvironment() -> [String: String] {
        let current = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LANG", "TMPDIR"] { environment[key] = current[key] }
        return environment
    }
}
