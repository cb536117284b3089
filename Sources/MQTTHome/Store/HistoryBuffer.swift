/// What the store writer folds sensor samples into on their way to SQLite: the rows to record (a value that
/// changed, or 60 s after the last row of an unchanged one) and the deltas of the statistics buckets, both written
/// every 10 s (or on demand, and at shutdown) rather than once per sample.
///
/// One slot per series holds its last row and its open 5-minute and hourly deltas, found with one hash lookup per
/// sample. Keeping them in three dictionaries keyed by strings cost three lookups per sample, ~300 bytes per series
/// and a dictionary grown again from empty after every write (at 10,000 series, ~8 MB at its peak).
struct HistoryBuffer: Sendable {
    /// A bucket's delta since the last write.
    struct OpenBucket {
        var start: Int64
        var rollup: DeviceStore.Rollup
    }

    private struct Slot {
        var series: DeviceStore.SeriesKey
        var lastRow: (value: Double, at: Int64)?
        var fiveMinutes: OpenBucket?
        var hour: OpenBucket?
    }

    private var slotOf: [DeviceStore.SeriesKey: Int] = [:]
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    /// Deltas of buckets a series moved on from before they were written (a bucket boundary within one write period).
    private var left: [DeviceStore.BucketKey: DeviceStore.Rollup] = [:]
    /// Deltas waiting to be written, open and left.
    private(set) var pendingBuckets = 0

    /// Rows to record, oldest first.
    var rows: [DeviceStore.Sample] = []
    /// When rows and deltas were last written; the writer gathers them for `historyWriteInterval`.
    var lastWrite = ContinuousClock.now
    /// A query waits: write what is gathered at the next flush.
    var forceWrite = false
    var recorded = 0
    var dropped = 0
    var pruned = (history: 0, statistics: 0)
    var lastPrune: String?

    /// Series seen since start-up (and not forgotten).
    var seriesCount: Int { slotOf.count }

    mutating func fold(_ samples: [DeviceStore.Sample], limit: Int) {
        for sample in samples {
            let series = DeviceStore.SeriesKey(deviceID: sample.deviceID, key: sample.key)
            let index = slot(for: series)
            if let last = slots[index].lastRow, last.value == sample.value, sample.at - last.at < 60_000 {
                // Unchanged within a minute: no row, but the statistics count it. (Samples arrive at most one a
                // second per device: the registry bounds them.)
            } else {
                slots[index].lastRow = (sample.value, sample.at)
                rows.append(sample)
            }
            Self.add(sample, period: DeviceStore.fiveMinutes, to: &slots[index].fiveMinutes, series: series, left: &left, pending: &pendingBuckets)
            Self.add(sample, period: DeviceStore.hour, to: &slots[index].hour, series: series, left: &left, pending: &pendingBuckets)
        }
        if rows.count > limit {
            dropped += rows.count - limit
            rows.removeFirst(rows.count - limit)
        }
    }

    /// Every delta waiting to be merged into the statistics table. The writer hands a copy of the buffer to the
    /// transaction (its storage shared, not copied, while nothing folds) rather than a list of 20,000 deltas.
    func forEachDelta(_ body: (DeviceStore.BucketKey, DeviceStore.Rollup) throws -> Void) rethrows {
        for (key, rollup) in left { try body(key, rollup) }
        for slot in slots {
            if let open = slot.fiveMinutes { try body(DeviceStore.BucketKey(series: slot.series, period: DeviceStore.fiveMinutes, start: open.start), open.rollup) }
            if let open = slot.hour { try body(DeviceStore.BucketKey(series: slot.series, period: DeviceStore.hour, start: open.start), open.rollup) }
        }
    }

    /// After ``forEachDelta(_:)``'s deltas were committed (nothing folds in between: the writer's flushes run one at a time).
    mutating func rollupsWritten() {
        left.removeAll()
        for index in slots.indices {
            slots[index].fiveMinutes = nil
            slots[index].hour = nil
        }
        pendingBuckets = 0
    }

    /// Drops a removed device's series, so devices that come and go leave nothing behind.
    mutating func forget(deviceID: String) {
        // Collected first: removing while iterating `slotOf` would copy all of it at the first removal.
        let removed = slotOf.filter { $0.key.deviceID == deviceID }
        for (series, index) in removed {
            slotOf[series] = nil
            pendingBuckets -= (slots[index].fiveMinutes == nil ? 0 : 1) + (slots[index].hour == nil ? 0 : 1)
            slots[index] = Slot(series: DeviceStore.SeriesKey(deviceID: "", key: ""))
            freeSlots.append(index)
        }
        let before = left.count
        left = left.filter { $0.key.deviceID != deviceID }
        pendingBuckets -= before - left.count
    }

    private mutating func slot(for series: DeviceStore.SeriesKey) -> Int {
        if let index = slotOf[series] { return index }
        let index: Int
        if let free = freeSlots.popLast() {
            index = free
            slots[index] = Slot(series: series)
        } else {
            index = slots.count
            slots.append(Slot(series: series))
        }
        slotOf[series] = index
        return index
    }

    private static func add(
        _ sample: DeviceStore.Sample,
        period: Int64,
        to bucket: inout OpenBucket?,
        series: DeviceStore.SeriesKey,
        left: inout [DeviceStore.BucketKey: DeviceStore.Rollup],
        pending pendingBuckets: inout Int
    ) {
        let start = (sample.at / period) * period
        if let open = bucket {
            if open.start == start {
                bucket!.rollup.add(sample.value, at: sample.at)
                return
            }
            // The series moved to another bucket before this one's delta was written: keep it aside for the write.
            let key = DeviceStore.BucketKey(series: series, period: period, start: open.start)
            if let earlier = left[key] {
                left[key] = earlier.merged(with: open.rollup)
            } else {
                left[key] = open.rollup
                pendingBuckets += 1
            }
            pendingBuckets -= 1
        }
        // Back to a bucket set aside (a clock stepped back): its delta goes on, so each bucket is written once.
        if var resumed = left.removeValue(forKey: DeviceStore.BucketKey(series: series, period: period, start: start)) {
            resumed.add(sample.value, at: sample.at)
            bucket = OpenBucket(start: start, rollup: resumed)
        } else {
            bucket = OpenBucket(start: start, rollup: DeviceStore.Rollup(sample.value, at: sample.at))
            pendingBuckets += 1
        }
    }
}
