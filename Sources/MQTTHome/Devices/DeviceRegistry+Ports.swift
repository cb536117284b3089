/// `devices/control`: the original plugin contract `{device_uuid, port_type, port_id, action}` on top of
/// `devices/set`, so plugins written for it work unchanged and get the same confirmation.
extension DeviceRegistry {
    public func control(
        device query: String,
        portType: String,
        portID: JSONValue,
        action: JSONValue,
        timeout: Duration
    ) async throws(RPCError) -> JSONValue {
        let (device, _) = try find(query)
        let type = portType.trimmed.lowercased()
        // Port words come from the platform descriptors (``Platform/portWords``); a platform name means itself.
        let platforms = Platform.ports[type] ?? ([type], [])
        var ports = device.entities.filter { platforms.primary.contains($0.platform) }
        if ports.isEmpty { ports = device.entities.filter { platforms.fallback.contains($0.platform) } }
        guard !ports.isEmpty else {
            let present = Array(Set(device.entities.map(\.platform))).sorted()
            throw .invalidParams("port_type", "device '\(device.id)' has no \(portType) port (its entities are: \(present.joined(separator: ", ")))")
        }
        let port = try Self.port(portID, among: ports)
        let intent = try Self.intent(for: action, platform: port.platform)
        let result = try await set(id: device.id, entity: port.key, intent: intent, timeout: timeout)
        guard var object = result.objectValue else { return result }
        object["port"] = [
            "type": .string(portType), "id": portID, "platform": .string(port.platform), "entity": .string(port.key),
        ]
        return .object(object)
    }

    /// Port `id`: a number is the n-th port of the type, counting from 1; text is an entity key or name.
    static func port(_ id: JSONValue, among ports: [Entity]) throws(RPCError) -> Entity {
        let listing = ports.enumerated().map { "\($0.offset + 1) = \($0.element.key)" }.joined(separator: ", ")
        if let number = id.intValue ?? id.stringValue.flatMap({ Int64($0.trimmed) }) {
            guard number >= 1 && number <= ports.count else {
                throw .invalidParams("port_id", "ports count from 1; this device has \(ports.count) (\(listing)), got \(number)")
            }
            return ports[Int(number) - 1]
        }
        if let text = id.stringValue?.trimmed.lowercased(),
            let port = ports.first(where: { $0.key.lowercased() == text || $0.name.lowercased() == text })
        {
            return port
        }
        throw .invalidParams("port_id", "expected a port number or an entity key (\(listing)), got \(id.jsonString)")
    }

    /// The `devices/set` intent an action stands for on a platform, by its control dialect.
    static func intent(for action: JSONValue, platform: String) throws(RPCError) -> JSONObject {
        let descriptor = Platform.named(platform)
        let dialect = descriptor?.dialect ?? .onOff
        if let number = action.doubleValue ?? action.stringValue.flatMap({ Double($0.trimmed) }) {
            guard let field = descriptor?.numericIntent else {
                throw .invalidParams("action", "a \(platform) port takes on, off or toggle, not a number")
            }
            return [field: EntityBehavior.number(number)]
        }
        if let flag = action.boolValue { return ["state": .string(flag ? "ON" : "OFF")] }
        guard let text = action.stringValue?.trimmed, !text.isEmpty else {
            throw .invalidParams("action", "expected on, off, toggle, open, close, stop, lock, unlock, press or a value")
        }
        let word = text.lowercased()
        let on = ["on", "开", "打开", "开启"].contains(word)
        let off = ["off", "关", "关闭"].contains(word)
        switch dialect {
        case .cover, .valve:
            if on || word == "open" { return ["state": "open"] }
            if off || word == "close" { return ["state": "close"] }
            if ["stop", "停", "停止"].contains(word) { return ["state": "stop"] }
        case .lock:
            if ["lock", "锁", "上锁"].contains(word) || on { return ["state": "lock"] }
            if ["unlock", "解锁"].contains(word) || off { return ["state": "unlock"] }
            if word == "open" { return ["state": "open"] }
        case .press:
            if ["press", "on", "按"].contains(word) { return ["state": "press"] }
        case .climate, .waterHeater:
            if off { return ["mode": "off"] }
            return ["mode": .string(text)]
        case .number, .select, .text, .date, .time, .dateTime:
            return ["value": .string(text)]
        case .notify:
            return ["message": .string(text)]
        case .lawnMower:
            if on || ["start", "mow", "start_mowing"].contains(word) { return ["state": "start_mowing"] }
            if ["pause", "暂停"].contains(word) { return ["state": "pause"] }
            if off || ["dock", "return"].contains(word) { return ["state": "dock"] }
        case .update:
            if ["install", "安装"].contains(word) || on { return ["state": "install"] }
        case .onOff, .light, .fan, .siren:
            if on { return ["state": "ON"] }
            if off { return ["state": "OFF"] }
            if ["toggle", "切换"].contains(word) { return ["state": "toggle"] }
        }
        throw .invalidParams("action", "a \(platform) port does not take '\(text)'")
    }
}
