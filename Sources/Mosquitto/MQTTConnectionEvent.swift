/// What happened to a client's connection; observed through ``MQTTConnectionEvents``.
public enum MQTTConnectionEvent: Sendable, Hashable {
    /// The broker accepted the connection (first time or after a reconnect).
    case connected(MQTTConnectionInfo)
    /// An established connection ended; the client reconnects unless it was asked to stop.
    case disconnected(reason: String)
    /// A connection attempt failed (network, TLS, or CONNACK refusal); the client retries with backoff.
    case connectionFailed(MosquittoError)
}

/// Facts about an accepted connection.
public struct MQTTConnectionInfo: Sendable, Hashable {
    public var protocolVersion: MQTTProtocolVersion
    /// True when the broker refused MQTT 5 and the client fell back to 3.1.1.
    public var fellBackFromV5: Bool
    /// How many connections this client has had before this one.
    public var reconnectCount: Int
}

/// Connection events in order; a single consumer iterates it. Bounded: the newest events are kept.
public struct MQTTConnectionEvents: AsyncSequence, Sendable {
    public typealias Element = MQTTConnectionEvent
    let stream: AsyncStream<MQTTConnectionEvent>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<MQTTConnectionEvent>.AsyncIterator
        public mutating func next() async -> MQTTConnectionEvent? { await base.next() }
        public mutating func next(isolation actor: isolated (any Actor)?) async -> MQTTConnectionEvent? {
            await base.next(isolation: actor)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }
}
