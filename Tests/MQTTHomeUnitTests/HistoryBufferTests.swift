import Testing

@testable import MQTTHome

@Suite("History buffer")
struct HistoryBufferTests {
    static func sample(_ device: String, _ key: String = "t", at: Int64, _ value: Double) -> DeviceStore.Sample {
        DeviceStore.Sample(deviceID: device, key: key, at: at, value: value)
    }

    @Test("a row when the value changes or a minute after the last row; the statistics count every sample")
    func rows() {
        var buffer = HistoryBuffer()
        buffer.fold([Self.sample("a", at: 1_000, 20), Self.sample("a", at: 2_000, 20), Self.sample("a", at: 3_000, 21)], limit: 100)
        buffer.fold([Self.sample("a", at: 62_999, 21), Self.sample("a", at: 63_000, 21)], limit: 100)
        #expect(buffer.rows.map(\.at) == [1_000, 3_000, 63_000])
        let deltas = Dictionary(uniqueKeysWithValues: buffer.deltas.map { ($0.key, $0.value) })
        let fiveMinutes = deltas[DeviceStore.BucketKey(deviceID: "a", key: "t", period: DeviceStore.fiveMinutes, start: 0)]
        #expect(fiveMinutes?.count == 5 && fiveMinutes?.sum == 103 && fiveMinutes?.min == 20 && fiveMinutes?.max == 21)
        #expect(fiveMinutes?.last == 21 && fiveMinutes?.lastAt == 63_000)
        #expect(deltas.count == 2 && buffer.pendingBuckets == 2 && buffer.seriesCount == 1)
    }

    @Test("written deltas are cleared; the next sample starts a new delta of the same bucket")
    func written() {
        var buffer = HistoryBuffer()
        buffer.fold([Self.sample("a", at: 1_000, 1), Self.sample("b", at: 1_000, 2)], limit: 100)
        #expect(buffer.deltas.count == 4)
        buffer.rollupsWritten()
        #expect(buffer.deltas.isEmpty && buffer.pendingBuckets == 0)
        buffer.fold([Self.sample("a", at: 2_000, 5)], limit: 100)
        let deltas = buffer.deltas
        #expect(deltas.count == 2 && deltas.allSatisfy { $0.value.count == 1 && $0.value.sum == 5 })
    }

    @Test("a series that moves to the next bucket before a write keeps both deltas, and going back merges")
    func boundary() {
        var buffer = HistoryBuffer()
        let period = DeviceStore.fiveMinutes
        buffer.fold([Self.sample("a", at: period - 1_000, 1), Self.sample("a", at: period + 1_000, 2), Self.sample("a", at: period - 500, 3)], limit: 100)
        let deltas = Dictionary(uniqueKeysWithValues: buffer.deltas.map { ($0.key, $0.value) })
        #expect(deltas.count == 3 && buffer.pendingBuckets == 3)
        let first = deltas[DeviceStore.BucketKey(deviceID: "a", key: "t", period: period, start: 0)]
        #expect(first?.count == 2 && first?.sum == 4 && first?.last == 3)
        #expect(deltas[DeviceStore.BucketKey(deviceID: "a", key: "t", period: period, start: period)]?.count == 1)
        #expect(deltas[DeviceStore.BucketKey(deviceID: "a", key: "t", period: DeviceStore.hour, start: 0)]?.count == 3)
    }

    @Test("forgetting a device drops its series and deltas; its slot serves a new series from scratch")
    func forget() {
        var buffer = HistoryBuffer()
        buffer.fold([Self.sample("a", at: 1_000, 1), Self.sample("a", at: DeviceStore.fiveMinutes + 1, 2), Self.sample("b", at: 1_000, 1)], limit: 100)
        buffer.forget(deviceID: "a")
        #expect(buffer.seriesCount == 1 && buffer.pendingBuckets == 2)
        #expect(buffer.deltas.allSatisfy { $0.key.deviceID == "b" })
        buffer.fold([Self.sample("c", at: 2_000, 1)], limit: 100)
        #expect(buffer.rows.last?.deviceID == "c" && buffer.seriesCount == 2)
    }

    @Test("folded and written in any order, the deltas add up to the statistics of every sample (model check)")
    func model() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            var buffer = HistoryBuffer()
            var model: [DeviceStore.BucketKey: DeviceStore.Rollup] = [:]
            var written: [DeviceStore.BucketKey: DeviceStore.Rollup] = [:]
            var at: Int64 = Int64.random(in: 0..<10_000_000, using: &generator)
            for _ in 0..<200 {
                var batch: [DeviceStore.Sample] = []
                for _ in 0..<Int.random(in: 0..<8, using: &generator) {
                    at += Int64.random(in: -30_000..<120_000, using: &generator)
                    let sample = Self.sample(["a", "b", "c"].randomElement(using: &generator)!, at: max(0, at), Double(Int.random(in: 0..<5, using: &generator)))
                    batch.append(sample)
                    for period in [DeviceStore.fiveMinutes, DeviceStore.hour] {
                        let key = DeviceStore.BucketKey(deviceID: sample.deviceID, key: sample.key, period: period, start: (sample.at / period) * period)
                        let single = DeviceStore.Rollup(sample.value, at: sample.at)
                        model[key] = model[key].map { $0.merged(with: single) } ?? single
                    }
                }
                buffer.fold(batch, limit: 10_000)
                if Int.random(in: 0..<5, using: &generator) == 0 || buffer.pendingBuckets > 20 {
                    let deltas = buffer.deltas
                    #expect(deltas.count == buffer.pendingBuckets)
                    for (key, delta) in deltas { written[key] = written[key].map { $0.merged(with: delta) } ?? delta }
                    buffer.rollupsWritten()
                }
            }
            for (key, delta) in buffer.deltas { written[key] = written[key].map { $0.merged(with: delta) } ?? delta }
            #expect(written.count == model.count)
            for (key, expected) in model {
                let got = written[key]
                #expect(got?.count == expected.count && got?.sum == expected.sum && got?.min == expected.min && got?.max == expected.max, "\(key)")
                #expect(got?.lastAt == expected.lastAt, "\(key)")
            }
        }
    }
}

extension HistoryBuffer {
    /// Every pending delta, as the writer merges them.
    var deltas: [(key: DeviceStore.BucketKey, value: DeviceStore.Rollup)] {
        var all: [(key: DeviceStore.BucketKey, value: DeviceStore.Rollup)] = []
        forEachDelta { all.append(($0, $1)) }
        return all
    }
}
