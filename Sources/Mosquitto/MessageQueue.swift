import Synchronization

/// One bounded queue of incoming messages between the network thread and one consumer task, bounded by count and
/// by payload bytes; on overflow the oldest waiting message is dropped and counted — for device state the newest
/// value is the one that matters, and a request that waited longest is the one whose caller has given up.
final class MessageQueue: Sendable {
    let lane: MessageLane

    private struct State: ~Copyable {
        var buffer: [MQTTMessage] = []
        /// Index of the oldest message in `buffer` (consumed ones before it are compacted away in bulk).
        var head = 0
        var bytes = 0
        var waiter: CheckedContinuation<[MQTTMessage], Never>?
        var finished = false
        var dropped = 0
        var count: Int { buffer.count - head }
    }

    private let state = Mutex(State())

    init(lane: MessageLane) {
        self.lane = lane
    }

    var dropped: Int { state.withLock { $0.dropped } }

    /// Appends a message (from the network thread); returns how many old ones it pushed out.
    func push(_ message: MQTTMessage) -> Int {
        let size = message.payload.count + message.topic.utf8.count
        let (waiter, delivery, dropped) = state.withLock { state -> (CheckedContinuation<[MQTTMessage], Never>?, [MQTTMessage], Int) in
            guard !state.finished else { return (nil, [], 0) }
            if let waiter = state.waiter {
                // The consumer is waiting: nothing is queued, hand the message over.
                state.waiter = nil
                return (waiter, [message], 0)
            }
            var dropped = 0
            while state.count > 0 && (state.count >= lane.limit || state.bytes + size > lane.byteLimit) {
                let oldest = state.buffer[state.head]
                state.bytes -= oldest.payload.count + oldest.topic.utf8.count
                state.head += 1
                dropped += 1
            }
            state.buffer.append(message)
            state.bytes += size
            state.dropped += dropped
            if state.head > 1024 && state.head * 2 > state.buffer.count {
                state.buffer.removeFirst(state.head)
                state.head = 0
            }
            return (nil, [], dropped)
        }
        waiter?.resume(returning: delivery)
        return dropped
    }

    /// Up to `limit` waiting messages in arrival order, waiting for the first; empty once finished or cancelled.
    func next(upTo limit: Int) async -> [MQTTMessage] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[MQTTMessage], Never>) in
                let ready = state.withLock { state -> [MQTTMessage]? in
                    if state.count > 0 {
                        let end = min(state.buffer.count, state.head + max(1, limit))
                        let batch = Array(state.buffer[state.head..<end])
                        for message in batch { state.bytes -= message.payload.count + message.topic.utf8.count }
                        state.head = end
                        if state.head == state.buffer.count {
                            state.buffer.removeAll(keepingCapacity: state.buffer.count <= 4096)
                            state.head = 0
                        }
                        return batch
                    }
                    if state.finished || Task.isCancelled { return [] }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<[MQTTMessage], Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: [])
        }
    }

    /// No more messages: the consumer gets what is queued, then the end.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[MQTTMessage], Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: [])
    }
}
