import Synchronization

/// A device's state as one message left it, serialized at most once: the retained publish and the store's row
/// both need its JSON, and each used to serialize it on its own.
public final class StateSnapshot: Sendable {
    public let state: DeviceState
    private let serialized = Mutex<[UInt8]?>(nil)

    public init(_ state: DeviceState) {
        self.state = state
    }

    /// The state's JSON (``DeviceState/json``), made by the first consumer that asks.
    public var jsonBytes: [UInt8] {
        serialized.withLock { cached in
            if let cached { return cached }
            let bytes = state.json.jsonBytes
            cached = bytes
            return bytes
        }
    }
}
