/// Polls `condition` every 20 ms until it holds; throws ``WaitTimedOut`` after `timeout`. For state that a daemon
/// reaches asynchronously (a flood drained, a config applied), never for timing assertions.
public func waitUntil(
    timeout: Duration = .seconds(10),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if (try? await condition()) == true { return }
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(timeout: timeout) }
        try await Task.sleep(for: .milliseconds(20))
    }
}

public struct WaitTimedOut: Error, CustomStringConvertible {
    public var timeout: Duration
    public var description: String { "the condition did not hold within \(timeout)" }
}
