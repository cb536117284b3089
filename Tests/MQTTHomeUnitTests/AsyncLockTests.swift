import Testing

@testable import MQTTHome

@Suite("Async lock")
struct AsyncLockTests {
    @Test("holders run one at a time in arrival order; a cancelled waiter leaves the queue at once")
    func orderAndCancellation() async throws {
        let lock = AsyncLock()
        let gate = Gate()
        let holder = Task { try await lock.withLock { await gate.wait() } }
        try await gate.arrival()
        #expect(lock.isLocked)
        let waiter = Task { try await lock.withLock { "ran" } }
        try await Task.sleep(for: .milliseconds(20))
        waiter.cancel()
        let outcome = await waiter.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        // Already cancelled before it asks: it never queues.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await lock.withLock { "ran" }
        }
        let earlyOutcome = await early.result
        #expect(throws: CancellationError.self) { try earlyOutcome.get() }
        gate.open()
        try await holder.value
        #expect(try await lock.withLock { "free" } == "free")
        #expect(!lock.isLocked)
    }
}
