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
        /// A caller waits for it (``MosquittoClient/requestSubscription(_:qos:)``): queued ahead of what nobody waits for.
        var ahead: Bool
    }

    /// Returns once every queued SUBSCRIBE of exact topics has been answered, the connection ended, or the task was
    /// cancelled: the daemon publishes `online` only then, so a device publishing right after it is heard.
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
    /// Queues `filters` in packets and returns their keys; call ``pumpSubscriptions(client:)`` after. Entries a
    /// caller waits for (`ahead`: a device added) go before those nobody waits for (the restore at a connect, the
    /// devices loaded at start-up, the discovery prefix): 10,000 devices are 50 packets, a round trip and a replay
    /// each, which an added device no longer waits behind.
    mutating func queueSubscriptions(_ filters: [String], qos: QoS, expected: Bool, ahead: Bool) -> [Int32] {
        var position = ahead ? (subscribeQueue.firstIndex { !$0.ahead } ?? subscribeQueue.endIndex) : subscribeQueue.endIndex
        return MosquittoClient.chunks(filters).map { chunk in
            let key = nextSubscribeKey
            nextSubscribeKey = key == Int32.min ? -1 : key - 1
            let exact = chunk.allSatisfy(MosquittoClient.isExact)
            let entry = MosquittoClient.PendingSubscribe(filters: Array(chunk), qos: qos, key: key, exact: exact, ahead: ahead)
            subscribeQueue.insert(entry, at: position)
            position += 1
            if exact { exactSubscribesPending += 1 }
            if expected { expectedAcks.insert(key) }
            return key
        }
    }

    /// Entries of the queue answered, found empty or failed to send; `exact` of them held only exact topics.
    mutating func finishSubscribes(exact: Int) -> [CheckedContinuation<Void, Never>] {
        guard exact > 0 else { return [] }
        exactSubscribesPending -= exact
        guard exactSubscribesPending == 0 else { return [] }
        defer { subscriptionWaiters.removeAll() }
        return Array(subscriptionWaiters.values)
    }

    /// Sends the next packet when none is in flight: the first queued entry and those after it with the same QoS and
    /// kind (exact or wildcard), up to ``MosquittoClient/filtersPerSubscribe`` filters, so that devices added one by
    /// one while a packet is in flight share the next one instead of waiting a round trip each. Filters unsubscribed
    /// while queued are left out (an UNSUBSCRIBE sent meanwhile must not be undone by a later SUBSCRIBE). Returns
    /// what was settled here, to complete outside the lock: entries left empty, and sends that failed (logged).
    mutating func pumpSubscriptions(client: MosquittoClient) -> Settled {
        var settled = Settled()
        while subscribeInFlight == nil, !subscribeQueue.isEmpty {
            var packet: [String] = []
            var entries: [InFlightEntry] = []
            let first = subscribeQueue[0]
            while let next = subscribeQueue.first, next.qos == first.qos, next.exact == first.exact,
                packet.isEmpty || packet.count + next.filters.count <= MosquittoClient.filtersPerSubscribe
            {
                subscribeQueue.removeFirst()
                let filters = next.filters.filter { subscriptions[$0] != nil }
                if filters.isEmpty {
                    settled.keys.append((next.key, nil))
                    settled.waiters += finishSubscribes(exact: next.exact ? 1 : 0)
                    continue
                }
                packet += filters
                entries.append(InFlightEntry(key: next.key, count: filters.count, exact: next.exact, filter: filters[0]))
            }
            guard !packet.isEmpty else { continue }
            do throws(MosquittoError) {
                let mid = try client.sendSubscribe(filters: packet[...], qos: first.qos)
                subscribeInFlight = (mid, entries)
            } catch {
                client.logger.warning(
                    "cannot subscribe; retried at the next connect",
                    metadata: ["mqtt.filter": "\(MosquittoClient.describe(packet[...]))", "error": "\(error)"]
                )
                for entry in entries { settled.keys.append((entry.key, error)) }
                settled.waiters += finishSubscribes(exact: entries.count { $0.exact })
            }
        }
        return settled
    }

    /// A connection ended: nothing queued or in flight will be answered on it. Returns the waiters to resume.
    mutating func clearSubscribeQueue() -> [CheckedContinuation<Void, Never>] {
        subscribeQueue.removeAll()
        subscribeInFlight = nil
        exactSubscribesPending = 0
        defer { subscriptionWaiters.removeAll() }
        return Array(subscriptionWaiters.values)
    }
}

/// A queued entry sent in the packet in flight: its share of the SUBACK's granted codes.
struct InFlightEntry {
    var key: Int32
    var count: Int
    var exact: Bool
    /// Its first filter, to name it when the broker refuses one of its filters.
    var filter: String
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
