import Synchronization
import Testing

/// Teardown that a test awaits: `cleanup { await harness.shutdown() }` registers work that runs, newest first,
/// after the test body returns or throws — awaited, so a broker or daemon never outlives its test into the next
/// one (a `defer { Task { … } }` returned before the shutdown even started).
///
/// Needs the ``AwaitedCleanup`` trait on the suite (`@Suite(.awaitedCleanup)`), which owns the list.
public func cleanup(_ work: @escaping @Sendable () async -> Void) {
    guard let bag = CleanupBag.current else {
        Issue.record("cleanup { } needs the .awaitedCleanup trait on its suite; running it detached")
        Task { await work() }
        return
    }
    bag.add(work)
}

/// ``cleanup(_:)`` for helpers that start something a test must not leak (``TestBroker``): registered when the test
/// runs under ``AwaitedCleanup``, nothing otherwise (that test stops it itself).
public func cleanupIfScoped(_ work: @escaping @Sendable () async -> Void) {
    CleanupBag.current?.add(work)
}

final class CleanupBag: Sendable {
    @TaskLocal static var current: CleanupBag?
    private let work = Mutex<[@Sendable () async -> Void]>([])

    func add(_ item: @escaping @Sendable () async -> Void) {
        work.withLock { $0.append(item) }
    }

    func run() async {
        let items = work.withLock { items in
            defer { items = [] }
            return items
        }
        for item in items.reversed() { await item() }
    }
}

/// Runs each test with its own cleanup list and awaits it after the test (see ``cleanup(_:)``).
public struct AwaitedCleanup: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope (testCase nil) has no body to clean up after; each test case gets a list.
        guard testCase != nil || !test.isSuite else {
            try await function()
            return
        }
        let bag = CleanupBag()
        do {
            try await CleanupBag.$current.withValue(bag) { try await function() }
        } catch {
            await bag.run()
            throw error
        }
        await bag.run()
    }
}

extension Trait where Self == AwaitedCleanup {
    /// Awaits every ``cleanup(_:)`` a test registered, after it.
    public static var awaitedCleanup: AwaitedCleanup { AwaitedCleanup() }
}
