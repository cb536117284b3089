import GRDB

/// What the registry needs from the store: ``StoreWriter`` in the daemon; tests wrap one to stall or fail commits.
public protocol DeviceRecording: Sendable {
    var settings: StoreWriter.Settings { get }
    /// The store to read from (device log, history).
    var store: DeviceStore { get }
    /// Queues rows for the next batch (bounded, counted when dropped).
    func enqueue(logs: [DeviceStore.LogEntry], states: [(String, StateSnapshot)], samples: [DeviceStore.Sample])
    /// Runs `body` in a transaction and returns once it is committed.
    func perform(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) async throws
    /// Queues `body` for the next batch without waiting (its source can replay it).
    func submit(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void)
    /// Drops what the writer remembers of a removed device.
    func forget(deviceID: String)
    /// Writes the gathered history rows and open statistics buckets, so a query sees the last seconds.
    func flushHistory() async throws
}

extension DeviceRecording {
    func enqueue(logs: [DeviceStore.LogEntry], states: [(String, StateSnapshot)]) {
        enqueue(logs: logs, states: states, samples: [])
    }
}

extension StoreWriter: DeviceRecording {}
