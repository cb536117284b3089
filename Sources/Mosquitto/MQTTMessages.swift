/// The messages of one lane (``MessageLane``), in arrival order; a single consumer iterates it.
///
/// The queue is bounded by count and bytes; on overflow the oldest unprocessed message is dropped and counted in
/// ``MosquittoClient/Statistics/messagesDropped`` (per lane in `droppedByLane`), never silently lost.
public struct MQTTMessages: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    let queue: MessageQueue

    /// The lane's name (`default` for messages no other lane takes).
    public var lane: String { queue.lane.name }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: MessageQueue
        var pending: [MQTTMessage] = []
        var position = 0

        public mutating func next() async -> MQTTMessage? {
            if let message = take() { return message }
            refill(await queue.next(upTo: 64))
            return take()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> MQTTMessage? {
            if let message = take() { return message }
            refill(await queue.next(upTo: 64))
            return take()
        }

        /// The next message already fetched, if any (an empty fetch means the end).
        private mutating func take() -> MQTTMessage? {
            guard position < pending.count else { return nil }
            defer { position += 1 }
            return pending[position]
        }

        private mutating func refill(_ batch: [MQTTMessage]) {
            pending = batch
            position = 0
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: queue) }

    /// Waits for the next messages and returns up to `limit` of those waiting (empty at the end): for consumers that
    /// apply a burst as one batch.
    public func nextBatch(upTo limit: Int) async -> [MQTTMessage] {
        await queue.next(upTo: limit)
    }
}
