/// The messages a client receives, in arrival order; a single consumer iterates it.
///
/// The buffer is bounded (``MosquittoClient/Configuration/messageBufferLimit``); on overflow the oldest unprocessed
/// message is dropped and counted in ``MosquittoClient/Statistics/messagesDropped``, never silently lost.
public struct MQTTMessages: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    let stream: AsyncStream<MQTTMessage>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<MQTTMessage>.AsyncIterator
        public mutating func next() async -> MQTTMessage? { await base.next() }
        public mutating func next(isolation actor: isolated (any Actor)?) async -> MQTTMessage? {
            await base.next(isolation: actor)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: stream.makeAsyncIterator()) }
}
