/// The MQTT 5 PUBLISH properties mqtt-home uses, as owned Swift values.
///
/// On a 3.1.1 connection none of these travel; the client drops them when publishing.
public struct MQTTProperties: Sendable, Hashable {
    /// Where the receiver should send its answer (makes the message a request).
    public var responseTopic: String?
    /// Opaque bytes the responder copies into its answer unchanged.
    public var correlationData: [UInt8]?
    /// MIME type of the payload, e.g. `application/json`.
    public var contentType: String?
    /// Name/value pairs, order kept, names may repeat.
    public var userProperties: [UserProperty]
    /// Seconds after which the broker discards the message if undelivered.
    public var messageExpiryInterval: UInt32?

    public struct UserProperty: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(
        responseTopic: String? = nil,
        correlationData: [UInt8]? = nil,
        contentType: String? = nil,
        userProperties: [UserProperty] = [],
        messageExpiryInterval: UInt32? = nil
    ) {
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.contentType = contentType
        self.userProperties = userProperties
        self.messageExpiryInterval = messageExpiryInterval
    }

    public var isEmpty: Bool {
        responseTopic == nil && correlationData == nil && contentType == nil && userProperties.isEmpty
            && messageExpiryInterval == nil
    }
}
