import Logging
import Synchronization

/// SUBSCRIBE packets one at a time: the next goes when the broker has answered the last.
///
/// A broker holds only so much of a subscriber's retained replay: a stock mosquitto keeps 20 messages in flight plus
/// `max_queued_messages` (1,000) queued and drops the rest. Sent back to back, SUBSCRIBE packets for 10,000 topics
/// with a retained message each delivered 1,020 of them (a daemon restart: 2,481 of 10,001 device states). A SUBACK
/// follows its packet's replay, so the next packet going only then keeps what the broker holds to about two packets'
/// worth.
extension MosquittoClient {
    struct PendingSubscribe {
        var filters: [String]
        var qos: QoS
        /// What the receipt holds: negative, so it never meets a libmosquitto message id (1…65,535).
        var key: Int32
        /// Only exact topics: what ``subscriptionsInPlace()`` waits for. Wildcard filters (a discovery prefix) go
        /// after them; their replays have no bound and nothing needs them before `online`.
        var exact: Bool
    }

    /// Returns once every queued SUBSCRIBE of exact topics has been answered (or the connection ended): the daemon
    /// publishes `online` only then, so a device publishing right after it is heard.
    /// Returns at once when cancelled.
    public func subscriptionsInPlace() async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    guard state.exactSubscribesPending > 0, !Task.isCancelled else { return true }
                    state.subscriptionWaiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.subscriptionWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    static func isExact(_ filter: String) -> Bool {
        !filter.utf8.contains(UInt8(ascii: "+")) && !filter.utf8.contains(UInt8(ascii: "#"))
    }

    /// Filters per SUBSCRIBE. Two packets' replays should fit in mosquitto's 1,020, but 2.0.11 still dropped 160 of
    /// 3,000 at 400 per packet; at 300 and 200 none of 10,000 (MosquittoClientTests). 200 leaves room for live traffic.
    static let filtersPerSubscribe = 200

    static func chunks(_ filters: [String]) -> [ArraySlice<String>] {
        stride(from: 0, to: filters.count, by: filtersPerSubscribe).map {
            filters[$0..<min($0 + filtersPerSubscribe, filters.count)]
        }
    }

    static func describe(_ filters: ArraySlice<String>) -> String {
        filters.count == 1 ? filters.first! : "\(filters.first!) and \(filters.count - 1) more"
    }
}

extension MosquittoClient.State {
    /// Queues `filters` in packets and returns their keys; call ``pumpSubscriptions(client:)`` after.
    mutating func queueSubscriptions(_ filters: [String], qos: QoS, expected: Bool) -> [Int32] {
        MosquittoClient.chunks(filters).map { chunk in
            let key = nextSubscribeKey
            nextSubscribeKey = key == Int32.min ? -1 : key - 1
            let exact = chunk.allSatisfy(MosquittoClient.isExact)
            subscribeQueue.append(MosquittoClient.PendingSubscribe(filters: Array(chunk), qos: qos, key: key, exact: exact))
            if exact { exactSubscribesPending += 1 }
            if expected { expectedAcks.insert(key) }
            return key
        }
    }

    /// An entry of the queue was answered, found empty or failed to send.
    mutating func finishSubscribe(exact: Bool) -> [CheckedContinuation<Void, Never>] {
        guard exact else { return [] }
        exactSubscribesPending -= 1
        guard exactSubscribesPending == 0 else { return [] }
        defer { subscriptionWaiters.removeAll() }
        return Array(subscriptionWaiters.values)
    }

    /// Sends the next queued packet when none is in flight. Filters unsubscribed while queued are left out (an
    /// UNSUBSCRIBE sent meanwhile must not be undone by a later SUBSCRIBE). Returns the keys settled here, to
    /// complete outside the lock: packets left empty, and sends that failed (logged).
    mutating func pumpSubscriptions(client: MosquittoClient) -> Settled {
        var settled = Settled()
        while subscribeInFlight == nil, !subscribeQueue.isEmpty {
            var next = subscribeQueue.removeFirst()
            next.filters.removeAll { subscriptions[$0] == nil }
            guard !next.filters.isEmpty else {
                settled.keys.append((next.key, nil))
                settled.waiters += finishSubscribe(exact: next.exact)
                continue
            }
            do throws(MosquittoError) {
                let mid = try client.sendSubscribe(filters: next.filters[...], qos: next.qos)
                subscribeInFlight = (mid, next.exact)
                subscribeKeys[mid] = next.key
                subscribeFilters[mid] = MosquittoClient.describe(next.filters[...])
            } catch {
                client.logger.warning(
                    "cannot subscribe; retried at the next connect",
                    metadata: ["mqtt.filter": "\(MosquittoClient.describe(next.filters[...]))", "error": "\(error)"]
                )
                settled.keys.append((next.key, error))
                settled.waiters += finishSubscribe(exact: next.exact)
            }
        }
        return settled
    }

    /// A connection ended: nothing queued or in flight will be answered on it. Returns the waiters to resume.
    mutating func clearSubscribeQueue() -> [CheckedContinuation<Void, Never>] {
        subscribeQueue.removeAll()
        subscribeInFlight = nil
        subscribeKeys.removeAll()
        exactSubscribesPending = 0
        defer { subscriptionWaiters.removeAll() }
        return Array(subscriptionWaiters.values)
    }
}

/// What a step of the queue settled, to complete once the lock is released.
struct Settled {
    var keys: [(key: Int32, result: MosquittoError?)] = []
    var waiters: [CheckedContinuation<Void, Never>] = []

    func complete(on client: MosquittoClient) {
        for (key, result) in keys { client.completeAck(key, result) }
        for waiter in waiters { waiter.resume() }
    }
}
