/// A device mqtt-home remembers: identity, type, origin, free attributes, and its entities.
///
/// Its state lives beside it in ``DeviceState``; the registry owns both in memory and the store keeps a copy.
public struct Device: Sendable, Hashable {
    /// Stable, topic-safe (`[a-z0-9_-]`), unique; it names the device's topics: `<base>/devices/<id>`.
    public var id: String
    public var name: String
    public var type: String
    /// `manual` (added over RPC) or `ha_discovery`.
    public var origin: String
    public var attributes: JSONObject
    public var createdAt: String
    public var updatedAt: String
    /// Increases on every change of the document, so consumers can cache it.
    public var version: Int
    public var entities: [Entity]
    /// The room or zone the device is in ("Kitchen"); matched case-insensitively. Discovered devices take
    /// `device.suggested_area` unless someone set the area by hand (`areaSetByHand`).
    public var area: String?
    public var areaSetByHand = false
    /// What the daemon noticed about the device and the user should fix (a command topic another device also
    /// commands, a stored topic the topic policy now refuses); in the document when not empty, never stored.
    public var warnings: [String] = []

    public init(
        id: String,
        name: String,
        type: String,
        origin: String = "manual",
        attributes: JSONObject = JSONObject(),
        createdAt: String,
        updatedAt: String,
        version: Int = 1,
        entities: [Entity]
    ) {
        self.id = id
        self.name = name
        self.type = type
        self.origin = origin
        self.attributes = attributes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
        self.entities = entities
    }

    public func entity(_ key: String) -> Entity? { entities.first { $0.key == key } }

    /// Whether the device is in `area` (case-insensitive, surrounding spaces ignored).
    public func isIn(area wanted: String) -> Bool {
        guard let area else { return false }
        return area.trimmed.lowercased() == wanted.trimmed.lowercased()
    }

    /// The retained device document on `<base>/devices/<id>`.
    public var document: JSONValue {
        var object = JSONObject()
        object["id"] = .string(id)
        object["name"] = .string(name)
        object["type"] = .string(type)
        object["origin"] = .string(origin)
        object["version"] = JSONValue(version)
        object["created_at"] = .string(createdAt)
        object["updated_at"] = .string(updatedAt)
        object["attributes"] = .object(attributes)
        object["area"] = area.map(JSONValue.string) ?? .null
        object["entities"] = .array(entities.map(\.json))
        if !warnings.isEmpty { object["warnings"] = .array(warnings.map(JSONValue.string)) }
        return .object(object)
    }

    /// A topic-safe id from a name: lower-case ASCII letters and digits, other runs become `_`.
    public static func slug(_ name: String) -> String {
        var result = ""
        var pendingSeparator = false
        for scalar in name.lowercased().unicodeScalars {
            let isSafe = (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") || scalar == "-"
            if isSafe {
                if pendingSeparator && !result.isEmpty { result.append("_") }
                pendingSeparator = false
                result.unicodeScalars.append(scalar)
            } else {
                pendingSeparator = true
            }
        }
        if result.isEmpty { result = "device" }
        return String(result.prefix(64))
    }

    /// True when `id` is topic-safe.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_" || $0 == "-" }
    }
}
