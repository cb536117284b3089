/// Where the registry sends retained per-device values, coalesced: ``StatePublisher`` in the daemon.
public protocol RetainedPublishing: Sendable {
    /// A retained payload; empty clears the retained message.
    func publish(_ topic: String, payload: [UInt8])
    /// A device's normalized state, serialized when it is published (once, shared with the store's row).
    func publish(_ topic: String, state: StateSnapshot)
    /// Publishes asked for and sent (the difference is what coalescing saved), for `health`.
    var statistics: (requested: Int, published: Int) { get }
}

extension StatePublisher: RetainedPublishing {}
