extension MosquittoClient {
    /// How to reach the broker and behave on the connection. Built by the caller; the wrapper reads no environment.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Seconds between PINGREQs when idle; the broker drops the client after 1.5× this without traffic.
        public var keepAlive: Int
        /// How long one attempt may take from its start to the CONNACK (TCP connect, TLS handshake, CONNECT) before
        /// it is abandoned and counted as failed; without it a stalled handshake waited for the keepalive.
        public var connectTimeout: Duration
        public var clientID: String
        public var username: String?
        public var password: String?
        public var tls: TLS?
        /// Start with MQTT 5; when the broker refuses it, fall back to 3.1.1 if `allowFallbackToV311`.
        public var protocolVersion: MQTTProtocolVersion
        public var allowFallbackToV311: Bool
        /// Sent by the broker for us when the connection dies without a DISCONNECT.
        public var will: Will?
        /// First retry delay; doubles after each failure up to `reconnectDelayCap`.
        public var reconnectDelayInitial: Duration
        public var reconnectDelayCap: Duration
        /// When false, the client makes one connection attempt and stops after the first failure or disconnect.
        public var reconnect: Bool
        /// Messages buffered for the consumer of the default lane; beyond it the oldest are dropped (and counted).
        public var messageBufferLimit: Int
        /// Topic + payload bytes buffered in the default lane.
        public var messageBufferBytes: Int
        /// Lanes with queues of their own, tried in order before the default lane (``MessageLane``).
        public var messageLanes: [MessageLane]
        /// Re-arm `TCP_QUICKACK` after every read, so a broker with Nagle on never waits for a delayed ACK (on by
        /// default; off only to measure what it saves).
        public var quickAck: Bool
        /// Asked before every connection attempt; a reason skips the attempt, which counts as failed with that
        /// reason (and backs off). The daemon's own broker says why while its mosquitto is down, so the credentials
        /// never reach another process that took the port meanwhile.
        public var attemptCheck: (@Sendable () -> String?)?

        public struct TLS: Sendable, Hashable {
            public var caFile: String?
            public var caPath: String?
            public var certFile: String?
            public var keyFile: String?
            /// Skip the server host name check (never in production; for self-signed test brokers).
            public var insecure: Bool
            public init(
                caFile: String? = nil,
                caPath: String? = nil,
                certFile: String? = nil,
                keyFile: String? = nil,
                insecure: Bool = false
            ) {
                self.caFile = caFile
                self.caPath = caPath
                self.certFile = certFile
                self.keyFile = keyFile
                self.insecure = insecure
            }
        }

        public struct Will: Sendable, Hashable {
            public var topic: String
            public var payload: [UInt8]
            public var qos: QoS
            public var retain: Bool
            public init(topic: String, payload: [UInt8], qos: QoS = .atLeastOnce, retain: Bool = true) {
                self.topic = topic
                self.payload = payload
                self.qos = qos
                self.retain = retain
            }
        }

        public init(
            host: String = "localhost",
            port: Int = 1883,
            keepAlive: Int = 30,
            connectTimeout: Duration = .seconds(10),
            clientID: String,
            username: String? = nil,
            password: String? = nil,
            tls: TLS? = nil,
            protocolVersion: MQTTProtocolVersion = .v5,
            allowFallbackToV311: Bool = true,
            will: Will? = nil,
            reconnectDelayInitial: Duration = .milliseconds(250),
            reconnectDelayCap: Duration = .seconds(30),
            reconnect: Bool = true,
            messageBufferLimit: Int = 10_000,
            messageBufferBytes: Int = 64 << 20,
            messageLanes: [MessageLane] = [],
            quickAck: Bool = true,
            attemptCheck: (@Sendable () -> String?)? = nil
        ) {
            self.host = host
            self.port = port
            self.keepAlive = keepAlive
            self.connectTimeout = connectTimeout
            self.clientID = clientID
            self.username = username
            self.password = password
            self.tls = tls
            self.protocolVersion = protocolVersion
            self.allowFallbackToV311 = allowFallbackToV311
            self.will = will
            self.reconnectDelayInitial = reconnectDelayInitial
            self.reconnectDelayCap = reconnectDelayCap
            self.reconnect = reconnect
            self.messageBufferLimit = messageBufferLimit
            self.messageBufferBytes = messageBufferBytes
            self.messageLanes = messageLanes
            self.quickAck = quickAck
            self.attemptCheck = attemptCheck
        }
    }
}
