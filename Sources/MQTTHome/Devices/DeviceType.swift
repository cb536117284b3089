/// Device and entity types are Home Assistant's MQTT platform names, so a device maps onto HA without translation.
public enum DeviceType {
    public static let known: [String] = [
        "alarm_control_panel", "binary_sensor", "button", "camera", "climate", "cover", "device_tracker", "event",
        "fan", "humidifier", "image", "lawn_mower", "light", "lock", "notify", "number", "scene", "select", "sensor",
        "siren", "switch", "tag", "text", "update", "vacuum", "valve", "water_heater",
    ]
    private static let knownSet = Set(known)

    public static func isKnown(_ type: String) -> Bool { knownSet.contains(type) }
}
