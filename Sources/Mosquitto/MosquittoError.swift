import CMosquitto

#if canImport(Glibc)
import Glibc
#endif

/// Everything that can go wrong in the libmosquitto wrapper, with a message a person can act on.
public enum MosquittoError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A libmosquitto call returned `MOSQ_ERR_*`; `message` comes from `mosquitto_strerror` (or `strerror` for errno).
    case library(code: Int32, message: String)
    /// The broker answered CONNACK with a refusal; `message` from `mosquitto_reason_string`/`mosquitto_connack_string`.
    case connectionRefused(reasonCode: Int32, message: String)
    /// The broker refused a subscription (SUBACK reason code ≥ 0x80), e.g. denied by its ACL.
    case subscriptionRefused(filter: String, reasonCode: Int32, message: String)
    /// The broker refused a publish (PUBACK/PUBREC reason code ≥ 0x80).
    case publishRefused(topic: String, reasonCode: Int32, message: String)
    /// The operation needs a connection and there is none.
    case notConnected
    /// The connection dropped while the operation waited for the broker.
    case connectionLost
    /// A value the caller passed cannot be used (e.g. a topic with a NUL byte, an unreadable TLS file).
    case invalidArgument(String)
    /// The configuration's ``MosquittoClient/Configuration/attemptCheck`` held a connection attempt back.
    case attemptHeld(String)

    /// Maps a `MOSQ_ERR_*` return code; call right after the failing function so `errno` is still the cause.
    public init(code: Int32) {
        if code == Int32(MOSQ_ERR_ERRNO.rawValue) {
            let text = String(cString: strerror(errno))
            self = .library(code: code, message: text)
        } else if code == Int32(MOSQ_ERR_TLS.rawValue) {
            self = .library(
                code: code,
                message: "TLS handshake failed: the broker's certificate is not signed by the configured CA, does not "
                    + "match the host name, or the broker does not speak TLS on this port"
            )
        } else if code == Int32(MOSQ_ERR_KEEPALIVE.rawValue) {
            // libmosquitto 2.0.11 has no text for it ("Unknown error.").
            self = .library(code: code, message: "nothing came from the broker within the keepalive interval; the connection is treated as lost")
        } else {
            self = .library(code: code, message: String(cString: mosquitto_strerror(code)))
        }
    }

    /// A CONNACK refusal, worded for the protocol the connection used.
    public static func refused(reasonCode: Int32, protocolVersion: MQTTProtocolVersion) -> MosquittoError {
        let text: String =
            switch protocolVersion {
            case .v5: String(cString: mosquitto_reason_string(reasonCode))
            case .v311: String(cString: mosquitto_connack_string(reasonCode))
            }
        return .connectionRefused(reasonCode: reasonCode, message: text)
    }

    static func reasonText(_ code: Int32) -> String { String(cString: mosquitto_reason_string(code)) }

    public var description: String {
        switch self {
        case .library(_, let message): message
        case .connectionRefused(let code, let message):
            "broker refused the connection: \(message) (reason \(code))"
                + (isAuthenticationFailure ? "; check the username and password" : "")
        case .subscriptionRefused(let filter, let code, let message):
            "broker refused subscription to '\(filter)': \(message) (reason \(code))"
        case .publishRefused(let topic, let code, let message):
            "broker refused publish to '\(topic)': \(message) (reason \(code))"
        case .notConnected: "not connected to the broker"
        case .connectionLost: "the connection to the broker was lost"
        case .invalidArgument(let message): message
        case .attemptHeld(let reason): reason
        }
    }

    /// True for refusals that retrying with the same settings will not fix (bad credentials, not authorized).
    public var isAuthenticationFailure: Bool {
        guard case .connectionRefused(let code, _) = self else { return false }
        // 3.1.1: 4 bad username or password, 5 not authorized; MQTT 5: 0x86, 0x87, 0x8C.
        return [4, 5, 0x86, 0x87, 0x8C].contains(code)
    }
}
