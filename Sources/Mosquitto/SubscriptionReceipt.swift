/// SUBSCRIBE packets sent and not yet acknowledged: what ``MosquittoClient/confirm(_:)`` waits for.
///
/// Sending and waiting are split so that a caller can send under its own lock (packets leave in lock order, so a
/// later UNSUBSCRIBE cannot overtake them) and wait for the broker after releasing it.
public struct SubscriptionReceipt: Sendable, Hashable {
    /// Message ids of the SUBSCRIBE packets; empty when the client was not connected (sent at the next connect).
    public let messageIDs: [Int32]

    public init(messageIDs: [Int32]) {
        self.messageIDs = messageIDs
    }
}
