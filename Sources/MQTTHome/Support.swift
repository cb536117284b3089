import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The version the daemon reports in `<base>/status` and `health`, and the CLI in `--version`.
public enum MQTTHomeVersion {
    public static let current = "0.1.0"
}

/// Wall-clock timestamps as the topics carry them: RFC 3339 UTC with milliseconds.
public enum Timestamp {
    /// The `YYYY-MM-DDTHH:MM:SS.` prefix of the current second: ingest stamps every message, and formatting the
    /// calendar date each time cost more than the rest of the timestamp.
    private static let cache = Mutex<(second: Int, prefix: String)>((-1, ""))

    public static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = Int(now.tv_sec)
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        let prefix = cache.withLock { cache -> String in
            if cache.second != second {
                let full = iso8601(secondsSinceEpoch: Double(second))
                cache = (second, String(full.dropLast(4)))  // drop "000Z"
            }
            return cache.prefix
        }
        let digits = String(milliseconds)
        return prefix + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    public static func currentSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    public static func iso8601(secondsSinceEpoch: Double) -> String {
        var seconds = time_t(secondsSinceEpoch.rounded(.down))
        let milliseconds = Int((secondsSinceEpoch - Double(seconds)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(milliseconds), 3))Z"
    }
}

/// Thrown by ``withTimeout(_:operation:)`` when the operation did not finish in time.
public struct TimeoutError: Error, Sendable, CustomStringConvertible {
    public var duration: Duration
    public var description: String { "timed out after \(duration)" }
}

/// Runs `operation`, cancelling it and throwing ``TimeoutError`` if it takes longer than `duration`.
@discardableResult
public func withTimeout<T: Sendable>(
    _ duration: Duration,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: duration)
            throw TimeoutError(duration: duration)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Writes a line to standard error (the C `stderr` global is not concurrency-safe to touch from Swift 6).
public func printToStandardError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        offset += written
    }
}
