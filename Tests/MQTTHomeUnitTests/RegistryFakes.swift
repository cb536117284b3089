import GRDB
import Logging
import Mosquitto
import Synchronization

@testable import MQTTHome

/// A door async code waits at until the test opens it; `waiting` says how many are at it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(open: Bool = false) {
        state.withLock { $0.open = open }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let pass = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if pass { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func close() {
        state.withLock { $0.open = false }
    }

    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Returns once someone waits at the gate, or fails after 30 s: only a bound on a hang, long enough for a
    /// machine running the whole suite in parallel on two cores (the stalled-SUBACK test once needed more than 5 s).
    func arrival() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while waiting == 0 {
            guard ContinuousClock.now < deadline else { throw TimeoutError(duration: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// The broker, as far as the registry can tell: records what is sent and subscribed; SUBACKs for filters that
/// start with `stalledPrefix` wait at `suback`.
final class RecordingBus: DeviceBus {
    struct Sent: Sendable, Equatable {
        var topic: String
        var payload: String
        var retain: Bool
    }

    private let state = Mutex<(sent: [Sent], subscribed: [String], unsubscribed: [String], receipts: [Int32: [String]], next: Int32)>(
        ([], [], [], [:], 0)
    )
    let stalledPrefix: String?
    let suback = Gate()

    init(stalledPrefix: String? = nil) {
        self.stalledPrefix = stalledPrefix
    }

    /// The connection's number, nil while "disconnected" (set by tests of what start-up publishes on which).
    let currentConnection = Mutex<Int?>(1)
    var isConnected: Bool { currentConnection.withLock { $0 } != nil }
    var connection: Int? { currentConnection.withLock { $0 } }

    func send(_ topic: String, payload: [UInt8], qos: QoS, retain: Bool) throws(MosquittoError) {
        state.withLock { $0.sent.append(Sent(topic: topic, payload: String(decoding: payload, as: UTF8.self), retain: retain)) }
    }

    func requestSubscription(_ filters: [String], qos: QoS) -> SubscriptionReceipt {
        state.withLock { state in
            state.subscribed += filters
            state.next += 1
            state.receipts[state.next] = filters
            return SubscriptionReceipt(messageIDs: [state.next])
        }
    }

    /// Counts down the subscribes until the "CONNACK": at zero the bus becomes connection 1.
    let connectAtSubscribe = Mutex<Int?>(nil)

    func subscribeWithoutWaiting(_ filters: [String], qos: QoS) throws(MosquittoError) {
        state.withLock { $0.subscribed += filters }
        let connectsNow = connectAtSubscribe.withLock { countdown -> Bool in
            guard let remaining = countdown else { return false }
            countdown = remaining - 1
            return remaining - 1 == 0
        }
        if connectsNow { currentConnection.withLock { $0 = 1 } }
    }

    func confirm(_ receipt: SubscriptionReceipt) async throws {
        let filters = state.withLock { state in receipt.messageIDs.flatMap { state.receipts[$0] ?? [] } }
        if let stalledPrefix, filters.contains(where: { $0.hasPrefix(stalledPrefix) }) { await suback.wait() }
    }

    func unsubscribe(_ filter: String) throws(MosquittoError) {
        state.withLock { $0.unsubscribed.append(filter) }
    }

    var sent: [Sent] { state.withLock { $0.sent } }
    var subscribed: [String] { state.withLock { $0.subscribed } }
    var unsubscribed: [String] { state.withLock { $0.unsubscribed } }
    /// The last payload sent to `topic`, if any.
    func last(_ topic: String) -> Sent? { sent.last { $0.topic == topic } }
}

/// The coalescing publisher, recorded: the newest payload per topic.
final class RecordingPublisher: RetainedPublishing {
    private let latest = Mutex<[String: String]>([:])

    func publish(_ topic: String, payload: [UInt8]) {
        latest.withLock { $0[topic] = String(decoding: payload, as: UTF8.self) }
    }

    func publish(_ topic: String, state: StateSnapshot) {
        latest.withLock { $0[topic] = String(decoding: state.jsonBytes, as: UTF8.self) }
    }

    var statistics: (requested: Int, published: Int) { (0, 0) }

    subscript(topic: String) -> String? { latest.withLock { $0[topic] } }
}

/// The store writer: commits at once to an in-memory SQLite, unless `commits` is closed, where `perform` waits.
final class GatedRecorder: DeviceRecording {
    let store: DeviceStore
    let settings = StoreWriter.Settings(historyDays: 0)
    let commits: Gate
    private let recorded = Mutex<(logs: Int, states: Int, submitted: Int, forgotten: [String], commits: Int)>((0, 0, 0, [], 0))

    init(open: Bool = true) throws {
        store = try DeviceStore.inMemory()
        commits = Gate(open: open)
    }

    func enqueue(logs: [DeviceStore.LogEntry], states: [(String, StateSnapshot)], samples: [DeviceStore.Sample]) {
        recorded.withLock {
            $0.logs += logs.count
            $0.states += states.count
        }
    }

    func perform(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) async throws {
        await commits.wait()
        recorded.withLock { $0.commits += 1 }
        let store = store
        try await store.write { db in try body(store, db) }
    }

    func submit(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) {
        recorded.withLock { $0.submitted += 1 }
    }

    func forget(deviceID: String) {
        recorded.withLock { $0.forgotten.append(deviceID) }
    }

    func flushHistory() async throws {}

    var logs: Int { recorded.withLock { $0.logs } }
    var submitted: Int { recorded.withLock { $0.submitted } }
    var forgotten: [String] { recorded.withLock { $0.forgotten } }
    /// Transactions `perform` ran.
    var transactions: Int { recorded.withLock { $0.commits } }
}

/// A registry with no broker and no disk: every side effect lands in a fake the test reads.
struct RegistryFixture {
    let registry: DeviceRegistry
    let bus: RecordingBus
    let publisher: RecordingPublisher
    let recorder: GatedRecorder
    let topics = Topics(base: "mqtt-home")

    init(stalledPrefix: String? = nil, commitsOpen: Bool = true) throws {
        bus = RecordingBus(stalledPrefix: stalledPrefix)
        publisher = RecordingPublisher()
        recorder = try GatedRecorder(open: commitsOpen)
        registry = DeviceRegistry(writer: recorder, publisher: publisher, client: bus, topics: topics, logger: Logger(label: "test"))
    }

    func ingest(_ topic: String, _ payload: String) {
        registry.ingest(MQTTMessage(topic: topic, payload: Array(payload.utf8)))
    }

    func discover(_ topic: String, _ payload: String) async {
        await registry.discover(MQTTMessage(topic: topic, payload: Array(payload.utf8), retain: true))
    }
}
