import Mosquitto
import ServiceLifecycle
import Synchronization

/// Republishes every Home Assistant config when Home Assistant announces itself (`<prefix>/status` = `online`, its
/// birth message): a restarted Home Assistant, or one whose broker lost the retained configs, sees every device
/// again.
///
/// Anyone who may publish under the prefix can send that message, so it is debounced: births within ``delay`` of
/// each other are one republish, and after a republish the next waits ``cooldown`` — a flood of births costs one
/// republish per cooldown, not one per message.
public final class HomeAssistantBirth: Service, Sendable {
    let registry: DeviceRegistry
    let delay: Duration
    let cooldown: Duration
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let heardCount = Atomic<Int>(0)

    public init(registry: DeviceRegistry, delay: Duration = .seconds(1), cooldown: Duration = .seconds(10)) {
        self.registry = registry
        self.delay = delay
        self.cooldown = cooldown
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// A message on the birth topic; only `online` counts (`offline` is Home Assistant's will).
    public func heard(_ message: MQTTMessage) {
        guard message.payload == Array("online".utf8) else { return }
        heardCount.add(1, ordering: .relaxed)
        wake.yield()
    }

    public var births: Int { heardCount.load(ordering: .relaxed) }

    public func run() async throws {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            // Home Assistant subscribes to discovery right after its birth; a short wait lets it, and merges births.
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: self.delay) })) != nil else { return }
            registry.reannounce(birth: true)
            guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: self.cooldown) })) != nil else { return }
        }
    }
}
