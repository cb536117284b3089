import CMosquitto

/// The MQTT protocol spoken on a connection.
public enum MQTTProtocolVersion: String, Sendable, Hashable {
    case v5 = "5"
    case v311 = "3.1.1"

    var libraryValue: Int32 {
        switch self {
        case .v5: MQTT_PROTOCOL_V5
        case .v311: MQTT_PROTOCOL_V311
        }
    }
}
