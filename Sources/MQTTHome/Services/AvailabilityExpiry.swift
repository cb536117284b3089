import ServiceLifecycle

/// Marks discovered entities unavailable once `expire_after` seconds pass without a state message, checking once a
/// second (Home Assistant's resolution for `expire_after`).
public struct AvailabilityExpiry: Service {
    let registry: DeviceRegistry

    public init(registry: DeviceRegistry) { self.registry = registry }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Ends at once on graceful shutdown instead of finishing the second (the group waits for every service).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            registry.expireStale(now: .now)
        }
    }
}
