/// A device's normalized state: entity key → last value, plus when it was last heard from and whether it is online.
public struct DeviceState: Sendable, Hashable {
    public var values: JSONObject
    public var lastSeen: String?
    /// From the availability topic when the device has one; else true once the device has been heard from.
    public var online: Bool
    /// Discovered devices: what their `json_attributes_topic`s said, merged key by key (one copy per device, since
    /// producers such as Zigbee2MQTT point every entity at the same payload).
    public var attributes: JSONObject
    /// When each value last arrived (RFC 3339), for `sensors/read`'s `updated_at` and `stale`. Kept in memory only:
    /// after a restart a value's time is the device's `last_seen`.
    public var updatedAt: [String: String] = [:]

    public init(values: JSONObject = JSONObject(), lastSeen: String? = nil, online: Bool = false, attributes: JSONObject = JSONObject()) {
        self.values = values
        self.lastSeen = lastSeen
        self.online = online
        self.attributes = attributes
    }

    /// The retained payload on `<base>/devices/<id>/state`.
    public var json: JSONValue {
        var object = values
        object["last_seen"] = JSONValue(lastSeen)
        object["online"] = .bool(online)
        if !attributes.isEmpty { object["attributes"] = .object(attributes) }
        return .object(object)
    }

    /// Reads what ``json`` wrote.
    public init(json: JSONValue) {
        var values = json.objectValue ?? JSONObject()
        let lastSeen = values.removeValue(forKey: "last_seen")?.stringValue
        let online = values.removeValue(forKey: "online")?.boolValue ?? false
        let attributes = values.removeValue(forKey: "attributes")?.objectValue ?? JSONObject()
        self.init(values: values, lastSeen: lastSeen, online: online, attributes: attributes)
    }

    /// Applies one state message for `entityKey`, the way Zigbee2MQTT's state topics work: a JSON object is merged
    /// key by key; anything else becomes the entity's value, numbers as numbers, JSON literals as themselves, other
    /// text as a string. Returns whether a value changed. A key that would take the state past `maxKeys` values is
    /// not added, and counted in `droppedKeys` (a device sending a new key per message must not grow without bound).
    @discardableResult
    public mutating func apply(
        payload: [UInt8],
        entityKey: String,
        at time: String,
        hasAvailability: Bool,
        maxKeys: Int = Int.max,
        droppedKeys: inout Int
    ) -> Bool {
        lastSeen = time
        if !hasAvailability { online = true }
        let value = Self.decode(payload)
        var changed = false
        if case .object(let object) = value {
            for (key, newValue) in object where !Self.reserved.contains(key) {
                if values[key] == nil && values.count >= maxKeys {
                    droppedKeys += 1
                    continue
                }
                updatedAt[key] = time
                if values[key] != newValue {
                    values[key] = newValue
                    changed = true
                }
            }
        } else {
            if values[entityKey] == nil && values.count >= maxKeys {
                droppedKeys += 1
                return false
            }
            updatedAt[entityKey] = time
            if values[entityKey] != value {
                values[entityKey] = value
                changed = true
            }
        }
        return changed
    }

    /// Sets a discovered entity's value, or one field of it (`brightness` of a light); an object value (the JSON
    /// light schema) is merged into the entity's object.
    mutating func set(_ value: JSONValue, entity key: String, field: String?, at time: String) {
        lastSeen = time
        updatedAt[key] = time
        guard field != nil || value.objectValue != nil else {
            values[key] = value
            return
        }
        var object = values[key]?.objectValue ?? JSONObject()
        if let field {
            object[field] = value
        } else if case .object(let fields) = value {
            for (name, fieldValue) in fields { object[name] = fieldValue }
        }
        values[key] = .object(object)
    }

    /// ``apply(payload:entityKey:at:hasAvailability:maxKeys:droppedKeys:)`` without a bound on keys.
    @discardableResult
    public mutating func apply(payload: [UInt8], entityKey: String, at time: String, hasAvailability: Bool) -> Bool {
        var dropped = 0
        return apply(payload: payload, entityKey: entityKey, at: time, hasAvailability: hasAvailability, droppedKeys: &dropped)
    }

    /// When `key`'s value last arrived: its own time, else the device's `last_seen`.
    public func updated(_ key: String) -> String? { updatedAt[key] ?? lastSeen }

    /// Keys of the state document that are not entity values.
    static let reserved: Set<String> = ["last_seen", "online", "attributes"]

    /// A payload as a JSON value: JSON when it parses, else the text (empty payload: null).
    static func decode(_ payload: [UInt8]) -> JSONValue {
        if payload.isEmpty { return .null }
        if let first = payload.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || first == UInt8(ascii: "\"")
                || first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
                || first == UInt8(ascii: "t") || first == UInt8(ascii: "f") || first == UInt8(ascii: "n"),
            let value = try? JSONParser.parse(payload, maxDepth: 32)
        {
            return value
        }
        return .string(String(decoding: payload, as: UTF8.self))
    }
}
