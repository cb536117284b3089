import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import MQTTHome

@Suite("Store writer and device parameters")
struct StoreWriterTests {
    @Test("queued rows are committed in batches, the log is capped per device, perform waits for its commit")
    func batchesAndPrunes() async throws {
        let store = try DeviceStore.inMemory()
        let writer = StoreWriter(
            store: store,
            settings: .init(queueLimit: 10_000, flushInterval: .milliseconds(5), logLimitPerDevice: 20),
            logger: Logger(label: "test")
        )
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        try await writer.perform { store, db in try store.save(DeviceStoreTests.device("a"), in: db) }
        for n in 0..<100 {
            writer.enqueue(
                logs: [.init(deviceID: "a", at: "t", direction: "rx", topic: "x", payload: Array("\(n)".utf8))],
                states: [("a", StateSnapshot(DeviceState(values: ["value": .int(Int64(n))], lastSeen: "t", online: true)))]
            )
        }
        try await writer.perform { _, _ in }  // everything queued before is committed now
        let stats = writer.statistics
        #expect(stats.persisted == 100 && stats.dropped == 0 && stats.queued == 0)
        #expect(stats.flushes < 100)
        let entries = try await store.log(deviceID: "a", limit: 1000, direction: nil, before: nil)
        #expect(entries.count >= 20 && entries.count <= 30, "\(entries.count) rows kept")
        #expect(entries.first?.payload == Array("99".utf8))
        #expect(try await store.loadAll().first?.1.values["value"] == 99)
    }

    @Test("history: unchanged values write no row, roll-ups reach the table on demand, a removed device leaves nothing in memory")
    func historyBuffer() async throws {
        let store = try DeviceStore.inMemory()
        let writer = StoreWriter(store: store, settings: .init(queueLimit: 10_000, flushInterval: .milliseconds(5)), logger: Logger(label: "test"))
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        try await writer.perform { store, db in try store.save(DeviceStoreTests.device("a"), in: db) }
        let start: Int64 = 1_764_547_200_000
        for (offset, value) in [(0, 20.0), (1000, 20.0), (2000, 21.0)] {
            writer.enqueue(logs: [], states: [], samples: [.init(deviceID: "a", key: "t", at: start + Int64(offset), value: value)])
        }
        try await writer.perform { _, _ in }
        try await writer.flushHistory()
        let rows = try await store.history(deviceID: "a", key: "t", since: start, until: start + 10_000, limit: 10)
        #expect(rows.map(\.value) == [21, 20], "an unchanged value within a minute writes no row")
        let buckets = try await store.statistics(deviceID: "a", key: "t", period: DeviceStore.fiveMinutes, since: start, until: start + 10_000, limit: 10)
        #expect(buckets.first?.rollup?.count == 3, "but every sample counts")
        #expect(writer.historyStatistics.series == 1)
        writer.forget(deviceID: "a")
        #expect(writer.historyStatistics.series == 0 && writer.historyStatistics.openBuckets == 0)
    }

    @Test("history rows gather between writes: a query writes them first, and so does the writer's last flush")
    func historyGathers() async throws {
        let store = try DeviceStore.inMemory()
        let writer = StoreWriter(
            store: store,
            settings: .init(queueLimit: 10_000, flushInterval: .milliseconds(5), historyWriteInterval: .seconds(3600)),
            logger: Logger(label: "test")
        )
        // As the daemon runs it: in a service group, stopped by a graceful shutdown.
        let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        try await writer.perform { store, db in try store.save(DeviceStoreTests.device("a"), in: db) }
        let start: Int64 = 1_764_547_200_000
        writer.enqueue(logs: [], states: [], samples: [.init(deviceID: "a", key: "t", at: start, value: 20)])
        writer.enqueue(logs: [], states: [], samples: [.init(deviceID: "a", key: "t", at: start + 1000, value: 21)])
        try await writer.perform { _, _ in }
        #expect(try await store.history(deviceID: "a", key: "t", since: start, until: start + 10_000, limit: 10).isEmpty,
            "gathered, not written, within the interval")
        try await writer.flushHistory()
        #expect(try await store.history(deviceID: "a", key: "t", since: start, until: start + 10_000, limit: 10).map(\.value) == [21, 20])

        writer.enqueue(logs: [], states: [], samples: [.init(deviceID: "a", key: "t", at: start + 2000, value: 22)])
        try await writer.perform { _, _ in }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(try await store.history(deviceID: "a", key: "t", since: start, until: start + 10_000, limit: 10).map(\.value) == [22, 21, 20],
            "the last flush writes what was gathered")
        let buckets = try await store.statistics(deviceID: "a", key: "t", period: DeviceStore.fiveMinutes, since: start, until: start + 10_000, limit: 10)
        #expect(buckets.first?.rollup?.count == 3)
    }

    @Test("a burst's history rows are written as they come, and the roll-ups still on their own clock")
    func historyBurst() async throws {
        let store = try DeviceStore.inMemory()
        // A fifth of the queue (10 rows) is written at once; the interval is far longer than the rows' pace.
        let writer = StoreWriter(
            store: store,
            settings: .init(queueLimit: 50, flushInterval: .milliseconds(5), historyWriteInterval: .milliseconds(500)),
            logger: Logger(label: "test")
        )
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        try await writer.perform { store, db in try store.save(DeviceStoreTests.device("a"), in: db) }
        let start: Int64 = 1_764_547_200_000
        var at = start
        var buckets: [DeviceStore.HistoryPoint] = []
        let began = ContinuousClock.now
        while buckets.isEmpty && ContinuousClock.now - began < .seconds(20) {
            let samples = (0..<10).map { _ in
                at += 1000
                return DeviceStore.Sample(deviceID: "a", key: "t", at: at, value: Double(at % 7))
            }
            writer.enqueue(logs: [], states: [], samples: samples)
            try await Task.sleep(for: .milliseconds(50))
            buckets = try await store.statistics(deviceID: "a", key: "t", period: DeviceStore.hour, since: start, until: at + 1, limit: 10)
        }
        #expect(!buckets.isEmpty, "roll-ups written while rows kept arriving")
        let rows = try await store.history(deviceID: "a", key: "t", since: start, until: at + 1, limit: 10_000)
        #expect(rows.count >= 10 && writer.historyStatistics.dropped == 0, "\(rows.count) rows written")
    }

    @Test("a full queue refuses log and history rows and counts them, but keeps every device's newest state")
    func boundedQueue() async throws {
        let store = try DeviceStore.inMemory()
        let writer = StoreWriter(
            store: store,
            settings: .init(queueLimit: 1000, flushInterval: .seconds(60), logLimitPerDevice: 10),
            logger: Logger(label: "test")
        )
        let rows = (0..<1500).map { _ in DeviceStore.LogEntry(deviceID: "a", at: "t", direction: "rx", topic: "x", payload: []) }
        writer.enqueue(logs: rows, states: [])
        #expect(writer.statistics.queued == 1000)
        #expect(writer.statistics.dropped == 500)
        writer.enqueue(logs: [], states: [], samples: [.init(deviceID: "a", key: "t", at: 0, value: 1)])
        #expect(writer.statistics.dropped == 501)
        // A burst (every retained state replayed at a restart) finds the queue full of log rows: the state each
        // device restarts from is queued all the same, one per device.
        let devices = (0..<50).map { "d\($0)" }
        try await store.write { db in for id in devices { try store.save(DeviceStoreTests.device(id), in: db) } }
        for round in 1...2 {
            writer.enqueue(
                logs: [],
                states: devices.map { ($0, StateSnapshot(DeviceState(values: ["value": .int(Int64(round))], lastSeen: "t", online: true))) }
            )
        }
        #expect(writer.statistics.dropped == 501)
        #expect(writer.statistics.queued == 1000 + devices.count)
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        try await writer.perform { _, _ in }
        let stored = try await store.loadAll().filter { devices.contains($0.0.id) }
        #expect(stored.count == devices.count && stored.allSatisfy { $0.1.values["value"] == 2 })
    }

    @Test("device parameters are validated field by field")
    func deviceSpec() throws {
        let valid = try DeviceSpec.parse(
            RPCParams(["name": "  Lamp ", "type": "light", "state_topic": "z/lamp", "command_topic": nil]),
            adding: true
        )
        #expect(valid.name == "Lamp")
        #expect(valid.commandTopic == .some(nil))
        for (params, field) in [
            (["type": "light", "state_topic": "a"] as JSONObject, "name"),
            (["name": "", "type": "light", "state_topic": "a"], "name"),
            (["name": "A", "type": "bulb", "state_topic": "a"], "type"),
            (["name": "A", "type": "light"], "state_topic"),
            (["name": "A", "type": "light", "state_topic": "a/+"], "state_topic"),
            (["name": "A", "type": "light", "state_topic": "a", "availability_topic": ""], "availability_topic"),
            (["name": "A", "type": "light", "state_topic": "a", "entity": "Not Valid"], "entity"),
            (["name": "A", "type": "light", "state_topic": "a", "attributes": "x"], "attributes"),
        ] {
            #expect(throws: RPCError.self) { try DeviceSpec.parse(RPCParams(params), adding: true) }
            do {
                _ = try DeviceSpec.parse(RPCParams(params), adding: true)
            } catch {
                #expect(error.data?["parameter"] == .string(field), "\(params): \(error)")
            }
        }
        let filter = try DeviceSpec.parse(
            RPCParams(["name": "A", "type": "switch", "state_topic": "p/+/s", "state_topic_filter": true]),
            adding: true
        )
        #expect(filter.stateTopicIsFilter == true)
    }
}

@Suite("Store writer during an outage")
struct StoreWriterOutageTests {
    struct Outage: Error {}

    @Test("rows put back after a failed write stay within the queue bound; the overflow is counted")
    func retryKeepsTheBound() async throws {
        let store = try DeviceStore.inMemory()
        try await store.write { db in try store.save(DeviceStoreTests.device("a"), in: db) }
        let writer = StoreWriter(store: store, settings: .init(queueLimit: 100, flushInterval: .milliseconds(5)), logger: Logger(label: "test"))
        let failing = Atomic<Bool>(true)
        let inWrite = Atomic<Bool>(false)
        let proceed = Atomic<Bool>(false)
        func rows(_ count: Int, from start: Int) -> [DeviceStore.LogEntry] {
            (start..<start + count).map { .init(deviceID: "a", at: "t", direction: "rx", topic: "x", payload: Array("\($0)".utf8)) }
        }
        writer.enqueue(logs: rows(100, from: 0), states: [], samples: [])
        // A change nobody waits for (as discovery submits), failing while the disk is "full": it holds the write open
        // until the test has queued more rows behind it.
        writer.submit { _, _ in
            inWrite.store(true, ordering: .sequentiallyConsistent)
            while !proceed.load(ordering: .sequentiallyConsistent) { usleep(1000) }
            if failing.load(ordering: .sequentiallyConsistent) { throw Outage() }
        }
        let running = Task { try await writer.run() }
        defer { running.cancel() }
        while !inWrite.load(ordering: .sequentiallyConsistent) { try await Task.sleep(for: .milliseconds(1)) }
        writer.enqueue(logs: rows(100, from: 100), states: [], samples: [])
        #expect(writer.statistics.queued == 100)
        proceed.store(true, ordering: .sequentiallyConsistent)
        while writer.statistics.failedFlushes == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let during = writer.statistics
        #expect(during.queued <= 100, "\(during.queued) rows queued with a limit of 100")
        #expect(during.dropped == 100)
        failing.store(false, ordering: .sequentiallyConsistent)
        try await writer.perform { _, _ in }
        let entries = try await store.log(deviceID: "a", limit: 1000, direction: nil, before: nil)
        // The newest rows are the ones kept.
        #expect(entries.first?.payload == Array("199".utf8))
        #expect(writer.statistics.queued == 0 && writer.statistics.persisted == 100)
    }
}
