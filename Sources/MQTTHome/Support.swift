import CSystemShims
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

    /// RFC 3339 UTC with milliseconds of a time in ms since the epoch.
    public static func string(milliseconds: Int64) -> String {
        let full = iso8601(secondsSinceEpoch: Double(milliseconds / 1000))
        let fraction = String(milliseconds % 1000)
        return String(full.dropLast(4)) + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }

    public static func currentSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Seconds since the epoch of an RFC 3339 time: `2026-11-23T17:32:01.329Z`, `…+08:00`, without fraction, or a
    /// bare date; nil when it is none of these.
    public static func seconds(from text: String) -> Double? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), bytes.count >= 10, bytes[4] == 45, let month = number(5..<7), bytes[7] == 45,
            let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        var index = 10
        var fraction = 0.0
        var offset = 0
        if bytes.count > 10 {
            guard bytes[10] == 84 || bytes[10] == 116 || bytes[10] == 32, let hour = number(11..<13), bytes.count > 13,
                bytes[13] == 58, let minute = number(14..<16), bytes.count > 16, bytes[16] == 58, let second = number(17..<19)
            else { return nil }
            parts.tm_hour = Int32(hour)
            parts.tm_min = Int32(minute)
            parts.tm_sec = Int32(second)
            index = 19
            if index < bytes.count, bytes[index] == 46 {
                var scale = 0.1
                index += 1
                while index < bytes.count, bytes[index] >= 48 && bytes[index] <= 57 {
                    fraction += Double(bytes[index] - 48) * scale
                    scale /= 10
                    index += 1
                }
            }
            if index < bytes.count {
                switch bytes[index] {
                case 90, 122: index += 1
                case 43, 45:
                    guard let hours = number((index + 1)..<(index + 3)), index + 6 <= bytes.count, bytes[index + 3] == 58,
                        let minutes = number((index + 4)..<(index + 6))
                    else { return nil }
                    offset = (hours * 3600 + minutes * 60) * (bytes[index] == 43 ? 1 : -1)
                    index += 6
                default: return nil
                }
            }
            guard index == bytes.count else { return nil }
        }
        return Double(timegm(&parts) - offset) + fraction
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

/// Flushes standard output only (see `mqtthome_flush_stdout`): a line printed is a line delivered, also into a pipe.
public func flushStandardOutput() { _ = mqtthome_flush_stdout() }

/// Writes a line to standard error (the C `stderr` global is not concurrency-safe to touch from Swift 6). Error
/// messages quote what came from the bus (names, topics): control characters are shown escaped, never sent raw.
public func printToStandardError(_ line: String) {
    let bytes = Array((DisplayText.sanitized(line, keepingNewlines: true) + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if written <= 0 { return }
        offset += written
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace: templates, header values, configuration and RPC words.
    var trimmed: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

extension Atomic where Value == Int {
    /// Adds one unless the value has reached `limit`: admission to a bounded number of concurrent jobs (RPC
    /// requests, set-topic commands) without a lock.
    func increment(below limit: Int) -> Bool {
        var current = load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }
}
