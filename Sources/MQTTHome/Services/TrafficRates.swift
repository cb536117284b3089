import ServiceLifecycle

/// Samples each device's message count once a second, so `health.ingest.busiest_devices` shows a device flooding
/// its topic as a rate, not only as a slower daemon.
public struct TrafficRates: Service {
    let registry: DeviceRegistry

    public init(registry: DeviceRegistry) { self.registry = registry }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // Ends at once on graceful shutdown instead of finishing the second (the group waits for every service).
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) }
            registry.sampleTraffic()
        }
    }
}
