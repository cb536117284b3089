import ServiceLifecycle

/// Runs `work` once a second until shutdown, which it does not delay: expiring `expire_after` entities (Home
/// Assistant's resolution for it) and sampling each device's message rate for `health.ingest.busiest_devices`.
public struct EverySecond: Service {
    let work: @Sendable () -> Void

    public init(_ work: @escaping @Sendable () -> Void) { self.work = work }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            work()
        }
    }
}
