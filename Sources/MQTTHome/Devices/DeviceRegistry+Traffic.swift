import Synchronization

/// Messages per second per device, so a device flooding its topic is visible in `health` (`ingest.busiest_devices`)
/// instead of only as a slower daemon.
extension DeviceRegistry {
    /// The per-device counters at the last sample and the rates computed from it.
    final class TrafficSampler: Sendable {
        struct Sample: Sendable {
            var counts: [String: Int] = [:]
            var at: ContinuousClock.Instant = .now
            var rates: [String: Double] = [:]
        }
        let sample = Mutex(Sample())
    }

    /// Called once a second (an ``EverySecond`` service): rates over the last interval.
    func sampleTraffic(now: ContinuousClock.Instant = .now) {
        let counts = table.withLock { $0.messageCounts }
        traffic.sample.withLock { sample in
            let seconds = (now - sample.at).seconds
            guard seconds > 0 else { return }
            var rates: [String: Double] = [:]
            for (id, count) in counts {
                let delta = count - (sample.counts[id] ?? 0)
                if delta > 0 { rates[id] = Double(delta) / seconds }
            }
            sample = .init(counts: counts, at: now, rates: rates)
        }
    }

    /// The `limit` devices with the most messages per second in the last interval, with their totals.
    func busiestDevices(limit: Int = 5) -> JSONValue {
        let (rates, counts) = (traffic.sample.withLock { $0.rates }, table.withLock { $0.messageCounts })
        let top = rates.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(limit)
        return .array(
            top.map { id, rate in
                ["id": .string(id), "per_s": .double((rate * 10).rounded() / 10), "messages": .int(Int64(counts[id] ?? 0))]
            }
        )
    }
}
