import Synchronization

/// A `devices/set` caller waiting for an entity to report the value it asked for.
///
/// Registered before the command is published (so a fast echo is not missed), resolved by ingest when a message
/// for the entity carries a matching value, or by the timeout with the last value seen.
final class StateWaiter: Sendable {
    let entityKey: String
    /// A scalar, or an object whose every field must match the entity's object value.
    let expected: JSONValue

    private enum Phase {
        case waiting(CheckedContinuation<(confirmed: Bool, value: JSONValue?), Never>?)
        case resolved(confirmed: Bool, value: JSONValue?)
        case finished
    }

    private let phase = Mutex<Phase>(.waiting(nil))

    init(entityKey: String, expected: JSONValue) {
        self.entityKey = entityKey
        self.expected = expected
    }

    func matches(_ value: JSONValue?) -> Bool { Self.matches(expected, value) }

    static func matches(_ expected: JSONValue, _ value: JSONValue?) -> Bool {
        guard let value else { return false }
        switch (expected, value) {
        case (.object(let fields), .object(let object)):
            return fields.allSatisfy { field in matches(field.value, object[field.key]) }
        case (.string(let a), .string(let b)):
            return a.lowercased() == b.lowercased()
        default:
            if let a = expected.doubleValue, let b = value.doubleValue {
                // Brightness and positions are rescaled between the device's range and ours: allow rounding.
                return abs(a - b) <= max(1e-9, abs(a) * 0.01)
            }
            return expected == value
        }
    }

    /// First resolution wins; later ones (the timeout after a confirmation) do nothing.
    func resolve(confirmed: Bool, value: JSONValue?) {
        let continuation = phase.withLock { phase -> CheckedContinuation<(confirmed: Bool, value: JSONValue?), Never>? in
            guard case .waiting(let continuation) = phase else { return nil }
            phase = continuation == nil ? .resolved(confirmed: confirmed, value: value) : .finished
            return continuation
        }
        continuation?.resume(returning: (confirmed, value))
    }

    /// Waits for ``resolve(confirmed:value:)``; returns at once if it already happened.
    func result() async -> (confirmed: Bool, value: JSONValue?) {
        await withCheckedContinuation { continuation in
            let ready = phase.withLock { phase -> (confirmed: Bool, value: JSONValue?)? in
                if case .resolved(let confirmed, let value) = phase {
                    phase = .finished
                    return (confirmed, value)
                }
                phase = .waiting(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
