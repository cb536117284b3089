import GRDB
import Testing

@testable import MQTTHome

@Suite("Sensor history store: roll-ups, days, retention")
struct HistoryStoreTests {
    func store() async throws -> DeviceStore {
        let store = try DeviceStore.inMemory()
        try await store.saveAll([Device(id: "kitchen", name: "Kitchen", type: "sensor", createdAt: "t", updatedAt: "t", entities: [])])
        return store
    }

    /// A day of 5-minute statistics for one sensor (288 buckets), value = the hour of the day, plus its hours.
    func fillDay(_ store: DeviceStore, day start: Int64) async throws {
        var rollups: [DeviceStore.BucketKey: DeviceStore.Rollup] = [:]
        for index in Int64(0)..<288 {
            let at = start + index * DeviceStore.fiveMinutes
            let hourOfDay = Double(index / 12)
            for period in [DeviceStore.fiveMinutes, DeviceStore.hour] {
                let key = DeviceStore.BucketKey(deviceID: "kitchen", key: "temperature", period: period, start: (at / period) * period)
                if rollups[key] == nil { rollups[key] = .init(hourOfDay, at: at) } else { rollups[key]!.add(hourOfDay, at: at) }
            }
        }
        let merged = rollups
        try await store.write { db in try store.merge(rollups: merged, in: db) }
    }

    @Test("hourly and daily answers aggregate the stored buckets; partial roll-ups of one bucket merge by adding")
    func rollups() async throws {
        let store = try await store()
        let day: Int64 = 1_764_547_200_000  // 2025-12-01T00:00:00Z
        try await fillDay(store, day: day)
        let hours = try await store.statistics(deviceID: "kitchen", key: "temperature", period: DeviceStore.hour, since: day, until: day + DeviceStore.day, limit: 100)
        #expect(hours.count == 24)
        #expect(hours.first?.at == day + 23 * DeviceStore.hour && hours.first?.rollup?.mean == 23 && hours.first?.rollup?.count == 12)
        let days = try await store.statistics(deviceID: "kitchen", key: "temperature", period: DeviceStore.day, since: day, until: day + DeviceStore.day, limit: 10)
        #expect(days.count == 1)
        #expect(days.first?.rollup?.mean == 11.5 && days.first?.rollup?.min == 0 && days.first?.rollup?.max == 23 && days.first?.rollup?.last == 23)
        // Another partial roll-up of the last bucket (after a restart): added, not replaced.
        let key = DeviceStore.BucketKey(deviceID: "kitchen", key: "temperature", period: DeviceStore.fiveMinutes, start: day)
        try await store.write { db in try store.merge(rollups: [key: .init(100, at: day + 1)], in: db) }
        let first = try await store.statistics(deviceID: "kitchen", key: "temperature", period: DeviceStore.fiveMinutes, since: day, until: day + 1, limit: 1)
        #expect(first.first?.rollup?.count == 2 && first.first?.rollup?.max == 100 && first.first?.rollup?.last == 100)
    }

    @Test("raw history pages newest first; retention deletes by age, series by series; a removed device takes its history")
    func historyAndRetention() async throws {
        let store = try await store()
        let samples = (0..<10).map { DeviceStore.Sample(deviceID: "kitchen", key: "temperature", at: Int64($0) * 1000, value: Double($0)) }
        try await store.write { db in try store.append(samples: samples, in: db) }
        let page = try await store.history(deviceID: "kitchen", key: "temperature", since: 0, until: 10_000, limit: 4)
        #expect(page.map(\.value) == [9, 8, 7, 6])
        let next = try await store.history(deviceID: "kitchen", key: "temperature", since: 0, until: page.last!.at, limit: 4)
        #expect(next.map(\.value) == [5, 4, 3, 2])
        let deleted = try await store.write { db in try store.prune(historyBefore: 5000, statisticsBefore: 0, in: db) }
        #expect(deleted.history == 5)
        #expect(try await store.history(deviceID: "kitchen", key: "temperature", since: 0, until: 10_000, limit: 100).count == 5)
        // A sample for a device that is gone is dropped, not a failure of the batch.
        try await store.write { db in try store.delete(deviceID: "kitchen", in: db) }
        try await store.write { db in try store.append(samples: [samples[0]], in: db) }
        #expect(try await store.historySeriesCount() == 0)
    }

    @Test("a month of 5-minute statistics stored: one day of them is exactly its 288 buckets", .timeLimit(.minutes(1)))
    func monthOfStatistics() async throws {
        // A year of them, and how fast a day answers, is the history benchmark's (Benchmarks/run history).
        let store = try await store()
        let start: Int64 = 1_733_011_200_000  // 2024-12-01
        for day in Int64(0)..<30 { try await fillDay(store, day: start + day * DeviceStore.day) }
        let lastDay = start + 29 * DeviceStore.day
        let buckets = try await store.statistics(deviceID: "kitchen", key: "temperature", period: DeviceStore.fiveMinutes, since: lastDay, until: lastDay + DeviceStore.day, limit: 1000)
        #expect(buckets.count == 288)
    }
}
