import Testing

@testable import MQTTHome

@Suite("Ingest pacing")
struct IngestPacingTests {
    let start = ContinuousClock.now

    @Test("a quiet bus is read at once: a single update never waits")
    func quiet() {
        var pacing = IngestPacing(busyRate: 2_000, linger: .milliseconds(2), fullBatch: 64)
        // 50 messages a second, one per read.
        for step in 0..<200 {
            #expect(pacing.wait(afterReading: 1, at: start + .milliseconds(20 * step)) == nil)
        }
    }

    @Test("a busy bus read one message at a time lingers between reads")
    func busy() {
        var pacing = IngestPacing(busyRate: 2_000, linger: .milliseconds(2), fullBatch: 64)
        // 10,000 msg/s arriving one per read: by the second window the rate is known.
        var waits: [Duration?] = []
        for step in 0..<2_000 {
            waits.append(pacing.wait(afterReading: 1, at: start + .microseconds(100 * step)))
        }
        #expect(waits.last == .milliseconds(2))
        #expect(waits.prefix(10).allSatisfy { $0 == nil })
    }

    @Test("a read that already found a full batch reads again at once")
    func fullBatch() {
        var pacing = IngestPacing(busyRate: 2_000, linger: .milliseconds(2), fullBatch: 64)
        for step in 0..<50 {
            #expect(pacing.wait(afterReading: 512, at: start + .milliseconds(step)) == nil)
        }
        #expect(pacing.wait(afterReading: 10, at: start + .milliseconds(50)) == .milliseconds(2))
    }

    @Test("after a burst, a bus gone quiet stops lingering")
    func burstThenQuiet() {
        var pacing = IngestPacing(busyRate: 2_000, linger: .milliseconds(2), fullBatch: 64)
        for step in 0..<1_000 { _ = pacing.wait(afterReading: 1, at: start + .microseconds(100 * step)) }
        #expect(pacing.wait(afterReading: 1, at: start + .milliseconds(100)) == .milliseconds(2))
        // Two seconds later a single update: the burst's rate no longer counts.
        #expect(pacing.wait(afterReading: 1, at: start + .seconds(2)) == nil)
    }
}
