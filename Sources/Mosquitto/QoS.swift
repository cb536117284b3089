/// MQTT quality of service levels.
public enum QoS: Int32, Sendable, Hashable, Codable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2
}
