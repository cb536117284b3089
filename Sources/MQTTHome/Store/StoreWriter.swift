import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// The one writer of the SQLite store: state and log rows arrive from ingest, are queued in memory (bounded), and
/// are written in one transaction per flush window; RPC changes wait for their own commit.
///
/// Durability contract: a kill -9 loses at most the rows queued since the last flush (one `flushInterval`, default
/// 25 ms), and the sensor history gathered since its last write (`historyWriteInterval`, 10 s); a change acknowledged
/// over RPC (`perform`) is committed before the reply. A failing write (read-only disk, full disk) keeps the queued
/// rows, reports the error in `health`, and retries with backoff.
public final class StoreWriter: Service, Sendable {
    public struct Settings: Sendable {
        /// Log and history rows queued before new ones are dropped (and counted); device states are always kept.
        public var queueLimit: Int
        /// How long the writer gathers rows before a transaction.
        public var flushInterval: Duration
        /// Log rows kept per device; pruned in batches once half as many again have arrived.
        public var logLimitPerDevice: Int
        /// Days of sensor history kept (`HISTORY_DAYS`); 0 keeps none and records no statistics.
        public var historyDays: Int
        /// Days of 5-minute and hourly statistics kept (`STATISTICS_DAYS`).
        public var statisticsDays: Int
        /// How long sensor history rows and statistics gather in memory between writes. Written one series after
        /// the other, a series' rows of several seconds share their pages: at 2,000 devices with a full log this took
        /// the writer from 9.7 to 6.7 KiB written per message (`mqtt-home-bench store`), where a row per flush
        /// rewrote each series' page for every sample. Queries of the history write what is gathered first.
        public var historyWriteInterval: Duration

        public init(
            queueLimit: Int = 100_000,
            flushInterval: Duration = .milliseconds(25),
            logLimitPerDevice: Int = 100,
            historyDays: Int = 10,
            statisticsDays: Int = 365,
            historyWriteInterval: Duration = .seconds(10)
        ) {
            self.queueLimit = queueLimit
            self.flushInterval = flushInterval
            self.logLimitPerDevice = logLimitPerDevice
            self.historyDays = historyDays
            self.statisticsDays = statisticsDays
            self.historyWriteInterval = historyWriteInterval
        }

        public var recordsHistory: Bool { historyDays > 0 }
    }

    public let store: DeviceStore
    public let settings: Settings
    let logger: Logger
    private let pending = Mutex(Pending())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let counters = Counters()
    private let errorHooks = Mutex<[@Sendable (String?) -> Void]>([])
    /// Sensor history between the queue and the tables; touched only by `flush`, which runs one at a time.
    private let history = Mutex(HistoryBuffer())

    private final class Counters: Sendable {
        let enqueued = Atomic<Int>(0)
        let persisted = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        let flushes = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
    }

    private struct Pending: ~Copyable {
        var samples: [DeviceStore.Sample] = []
        var logs: [DeviceStore.LogEntry] = []
        var states: [String: StateSnapshot] = [:]
        var operations: [Operation] = []
        var lastError: String?
        /// Rows each device has in the log table at most, to prune without counting.
        var logRows: [String: Int] = [:]
        var rowCount: Int { logs.count + states.count + samples.count }
        /// What `queueLimit` bounds. Not the states: one per device (a newer one replaces it), so bounded by the
        /// devices, and the row a restart starts from — a burst (every retained state replayed at once) must not
        /// leave a device's stored state behind while its log and history rows, which matter less, fill the queue.
        var boundedRowCount: Int { logs.count + samples.count }
    }

    private struct Operation: Sendable {
        var body: @Sendable (DeviceStore, Database) throws -> Void
        /// Nil for changes nobody waits for (discovery): those are kept and retried when a write fails.
        var continuation: CheckedContinuation<Void, any Error>?
    }

    public init(store: DeviceStore, settings: Settings, logger: Logger) {
        self.store = store
        self.settings = settings
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public struct Statistics: Sendable, Hashable {
        /// Rows accepted into the queue (log rows and state snapshots).
        public var enqueued: Int
        /// Log rows committed to SQLite.
        public var persisted: Int
        /// Rows refused because the queue was full.
        public var dropped: Int
        public var queued: Int
        public var flushes: Int
        public var failedFlushes: Int
        public var lastError: String?
    }

    public var statistics: Statistics {
        let (queued, lastError) = pending.withLock { ($0.rowCount, $0.lastError) }
        return Statistics(
            enqueued: counters.enqueued.load(ordering: .relaxed),
            persisted: counters.persisted.load(ordering: .relaxed),
            dropped: counters.dropped.load(ordering: .relaxed),
            queued: queued,
            flushes: counters.flushes.load(ordering: .relaxed),
            failedFlushes: counters.failures.load(ordering: .relaxed),
            lastError: lastError
        )
    }

    /// Queues log rows, history samples and the newest state of some devices (a newer state replaces a queued one);
    /// log and history rows that do not fit under `queueLimit` are dropped and counted, states never.
    public func enqueue(logs: [DeviceStore.LogEntry], states: [(String, StateSnapshot)], samples: [DeviceStore.Sample]) {
        let (accepted, dropped) = pending.withLock { pending -> (Int, Int) in
            var accepted = 0
            var dropped = 0
            if !samples.isEmpty {
                let room = max(0, settings.queueLimit - pending.boundedRowCount)
                pending.samples.append(contentsOf: samples.prefix(room))
                accepted += min(room, samples.count)
                dropped += samples.count - min(room, samples.count)
            }
            for (id, state) in states { pending.states[id] = state }
            accepted += states.count
            let room = max(0, settings.queueLimit - pending.boundedRowCount)
            pending.logs.append(contentsOf: logs.prefix(room))
            accepted += min(room, logs.count)
            dropped += logs.count - min(room, logs.count)
            return (accepted, dropped)
        }
        counters.enqueued.add(accepted, ordering: .relaxed)
        if dropped > 0 {
            let total = counters.dropped.add(dropped, ordering: .relaxed).newValue
            if total == dropped || total / 10_000 != (total - dropped) / 10_000 {
                logger.warning("store queue full; dropping rows", metadata: ["store.dropped": "\(total)"])
            }
        }
        wake.yield()
    }

    /// Runs `hook` when writes start failing (with the error) and when they succeed again (with nil): the daemon
    /// shows it on `<base>/status`.
    public func onErrorChange(_ hook: @escaping @Sendable (String?) -> Void) {
        errorHooks.withLock { $0.append(hook) }
    }

    /// Runs `body` in the next transaction and returns once it is committed: what RPC acknowledges is on disk.
    public func perform(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            pending.withLock { $0.operations.append(Operation(body: body, continuation: continuation)) }
            wake.yield()
        }
    }

    /// Queues `body` for the next batched transaction without waiting: for changes whose source can replay them
    /// (retained discovery configs). A failed write keeps it for the retry.
    public func submit(_ body: @escaping @Sendable (DeviceStore, Database) throws -> Void) {
        pending.withLock { $0.operations.append(Operation(body: body, continuation: nil)) }
        wake.yield()
    }

    public func run() async throws {
        var backoff = Duration.milliseconds(250)
        for await _ in wakeups.cancelOnGracefulShutdown() {
            // Gather a batch, unless an RPC caller is waiting.
            if pending.withLock({ !$0.operations.contains { $0.continuation != nil } }) {
                try? await Task.sleep(for: settings.flushInterval)
            }
            while await flush(final: false) == false {
                try? await Task.sleep(for: backoff)
                // Capped low: a disk that has room again should be used within seconds.
                backoff = min(backoff * 2, .seconds(5))
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
            }
            backoff = .milliseconds(250)
        }
        // Final flush on shutdown: everything still queued goes to disk, the gathered history too.
        _ = await flush(final: true)
    }

    /// Writes everything queued in one transaction; false (and the rows kept) when the write failed.
    private func flush(final: Bool) async -> Bool {
        let (logs, states, operations, samples) = pending.withLock { pending in
            defer {
                pending.logs.removeAll(keepingCapacity: true)
                pending.states.removeAll(keepingCapacity: true)
                pending.operations.removeAll()
                pending.samples.removeAll(keepingCapacity: true)
            }
            return (pending.logs, pending.states, pending.operations, pending.samples)
        }
        var (rows, rollups, historyDue) = history.withLock { buffer -> ([DeviceStore.Sample], HistoryBuffer?, Bool) in
            buffer.fold(samples, limit: settings.queueLimit)
            let due = final || buffer.forceWrite || ContinuousClock.now - buffer.lastWrite >= settings.historyWriteInterval
                || Task.isShuttingDownGracefully
            // A fifth of the queue at most waits (a burst's rows are written as they come, not dropped); such a write
            // is not the periodic one: the roll-ups stay due on their own clock.
            let rowsDue = due || buffer.rows.count >= settings.queueLimit / 5
            return (rowsDue ? buffer.rows : [], due && buffer.pendingBuckets > 0 ? buffer : nil, due)
        }
        let writesRollups = rollups != nil
        guard !logs.isEmpty || !states.isEmpty || !operations.isEmpty || !rows.isEmpty || writesRollups else { return true }
        let prunes = pruneList(for: logs)
        let store = store
        let bodies = operations.map(\.body)
        do {
            try await store.write { [rows, rollups] db in
                for body in bodies { try body(store, db) }
                for entry in logs { try store.append(entry, in: db) }
                for (id, state) in states { try store.saveState(deviceID: id, state: state, in: db) }
                for id in prunes { try store.pruneLog(deviceID: id, keep: self.settings.logLimitPerDevice, in: db) }
                try store.append(samples: rows, in: db)
                try rollups?.forEachDelta { bucket, rollup in try store.merge(bucket, rollup, in: db) }
            }
            // The transaction's copy is gone with this one: clearing below changes the buffer in place, not a copy.
            rollups = nil
            history.withLock { buffer in
                buffer.recorded += rows.count
                buffer.rows.removeFirst(min(rows.count, buffer.rows.count))
                if writesRollups {
                    // Nothing folded meanwhile (flushes run one at a time), so every delta was written.
                    buffer.rollupsWritten()
                }
                if historyDue {
                    buffer.lastWrite = .now
                    buffer.forceWrite = false
                }
            }
        } catch {
            let message = "\(error)"
            let (firstTime, overflow) = pending.withLock { pending -> (Bool, Int) in
                defer { pending.lastError = message }
                // Put the rows back in front of whatever arrived meanwhile; a newer queued state wins. Rows kept
                // stay within `queueLimit` through an outage: what does not fit are the oldest log rows, dropped
                // and counted like any row refused for a full queue.
                for (id, state) in states where pending.states[id] == nil { pending.states[id] = state }
                var merged = logs + pending.logs
                let excess = min(merged.count, merged.count + pending.samples.count - settings.queueLimit)
                if excess > 0 { merged.removeFirst(excess) }
                pending.logs = merged
                for id in prunes { pending.logRows[id] = settings.logLimitPerDevice + settings.logLimitPerDevice / 2 }
                pending.operations = operations.filter { $0.continuation == nil } + pending.operations
                return (pending.lastError != message, max(0, excess))
            }
            if overflow > 0 { counters.dropped.add(overflow, ordering: .relaxed) }
            // Counted once the rows are back: a reader of `statistics` sees the queue as the retry will.
            counters.failures.add(1, ordering: .relaxed)
            if firstTime {
                logger.error("cannot write to the store; keeping rows in memory and retrying", metadata: ["error": "\(message)"])
                for hook in errorHooks.withLock({ $0 }) { hook(message) }
            }
            // RPC callers learn at once; their change was not applied.
            for operation in operations { operation.continuation?.resume(throwing: error) }
            return false
        }
        counters.persisted.add(logs.count, ordering: .relaxed)
        counters.flushes.add(1, ordering: .relaxed)
        let recovered = pending.withLock { pending -> Bool in
            defer { pending.lastError = nil }
            return pending.lastError != nil
        }
        if recovered {
            logger.notice("store writes succeed again")
            for hook in errorHooks.withLock({ $0 }) { hook(nil) }
        }
        for operation in operations { operation.continuation?.resume() }
        return true
    }

    /// Devices whose log grew past 1.5 × the limit since their last prune (no COUNT query: rows are tallied here).
    private func pruneList(for logs: [DeviceStore.LogEntry]) -> [String] {
        let limit = settings.logLimitPerDevice
        let threshold = limit + max(1, limit / 2)
        return pending.withLock { pending in
            var prunes: [String] = []
            for entry in logs {
                // A device not seen since start-up may already hold `limit` rows.
                let rows = (pending.logRows[entry.deviceID] ?? limit) + 1
                if rows >= threshold {
                    prunes.append(entry.deviceID)
                    pending.logRows[entry.deviceID] = limit
                } else {
                    pending.logRows[entry.deviceID] = rows
                }
            }
            var seen = Set<String>()
            return prunes.filter { seen.insert($0).inserted }
        }
    }

    /// Writes the gathered history rows and open statistics buckets now (before a history query, so it sees the last
    /// seconds too), with everything queued before.
    public func flushHistory() async throws {
        // Nothing gathered or queued: the tables are current, no transaction needed. (Queued log rows count: a text
        // sensor's history is read from the log.)
        let gathered = history.withLock { !$0.rows.isEmpty || $0.pendingBuckets > 0 }
        guard gathered || pending.withLock({ !$0.samples.isEmpty || !$0.logs.isEmpty }) else { return }
        // Samples still queued are folded by the flush that `perform` starts, and written with the rest.
        history.withLock { $0.forceWrite = true }
        try await perform { _, _ in }
    }

    /// Deletes history older than `HISTORY_DAYS` and statistics older than `STATISTICS_DAYS`.
    public func pruneHistory(now: Int64) async throws {
        let historyBefore = now - Int64(settings.historyDays) * DeviceStore.day
        let statisticsBefore = now - Int64(settings.statisticsDays) * DeviceStore.day
        let counts = Mutex((history: 0, statistics: 0))
        try await perform { store, db in
            let deleted = try store.prune(historyBefore: historyBefore, statisticsBefore: statisticsBefore, in: db)
            counts.withLock { $0 = deleted }
        }
        let deleted = counts.withLock { $0 }
        history.withLock { buffer in
            buffer.pruned.history += deleted.history
            buffer.pruned.statistics += deleted.statistics
            buffer.lastPrune = Timestamp.now()
        }
    }

    /// History counters for `health`.
    public var historyStatistics: (series: Int, recorded: Int, dropped: Int, prunedHistory: Int, prunedStatistics: Int, lastPrune: String?, openBuckets: Int) {
        history.withLock { ($0.seriesCount, $0.recorded, $0.dropped, $0.pruned.history, $0.pruned.statistics, $0.lastPrune, $0.pendingBuckets) }
    }

    /// Forgets what is kept in memory for a removed device: its log tally, and its history series' last rows and
    /// open roll-ups (its tables go with it, ON DELETE CASCADE), so devices that come and go leave nothing behind.
    public func forget(deviceID: String) {
        pending.withLock { _ = $0.logRows.removeValue(forKey: deviceID) }
        history.withLock { $0.forget(deviceID: deviceID) }
    }
}
