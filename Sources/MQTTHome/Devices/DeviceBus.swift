import Mosquitto

/// The broker as the device registry uses it: ``MosquittoClient`` in the daemon, a recording fake in unit tests.
public protocol DeviceBus: Sendable {
    var isConnected: Bool { get }
    /// The current connection's number, nil while disconnected (``MosquittoClient/connection``).
    var connection: Int? { get }
    /// Queues a publish; never waits for the broker.
    func send(_ topic: String, payload: [UInt8], qos: QoS, retain: Bool) throws(MosquittoError)
    /// Queues SUBSCRIBE packets, sent one at a time (a later UNSUBSCRIBE of a filter still queued leaves it out);
    /// the SUBACKs are awaited with ``confirm(_:)`` once the caller holds no lock.
    func requestSubscription(_ filters: [String], qos: QoS) -> SubscriptionReceipt
    func confirm(_ receipt: SubscriptionReceipt) async throws
    /// Subscribes through the same queue (and after every reconnect) with nobody waiting for the SUBACKs; a
    /// refusal is logged.
    func subscribeWithoutWaiting(_ filters: [String], qos: QoS) throws(MosquittoError)
    func unsubscribe(_ filter: String) throws(MosquittoError)
}

extension MosquittoClient: DeviceBus {
    public func subscribeWithoutWaiting(_ filters: [String], qos: QoS) throws(MosquittoError) {
        try subscribeWithoutWaiting(filters, qos: qos, paced: true)
    }

    public func send(_ topic: String, payload: [UInt8], qos: QoS, retain: Bool) throws(MosquittoError) {
        try publish(topic, payload: payload, qos: qos, retain: retain)
    }
}
