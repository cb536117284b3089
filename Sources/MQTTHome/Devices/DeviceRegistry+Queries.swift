import Synchronization

/// Reads for RPC: lookups by id or name, filtered and paged lists, the dashboard.
extension DeviceRegistry {
    /// The device and state for an id or (case-insensitive) exact name; not found lists similar names.
    func find(_ query: String) throws(RPCError) -> (Device, DeviceState) {
        try table.withLock { table throws(RPCError) -> (Device, DeviceState) in
            if let found = table.find(query) { return found }
            let suggestions = NameSuggestions.closest(to: query, among: table.devices.values.map { ($0.id, $0.name) })
            throw .deviceNotFound(query, suggestions: suggestions)
        }
    }

    /// A device as RPC returns it: its document plus `state` and `online`.
    static func describe(_ device: Device, _ state: DeviceState) -> JSONValue {
        var object = device.document.objectValue ?? JSONObject()
        object["online"] = .bool(state.online)
        object["last_seen"] = JSONValue(state.lastSeen)
        object["state"] = .object(state.values)
        if !state.attributes.isEmpty { object["state_attributes"] = .object(state.attributes) }
        return .object(object)
    }

    public func get(_ query: String) throws(RPCError) -> JSONValue {
        let (device, state) = try find(query)
        return Self.describe(device, state)
    }

    public struct ListFilter: Sendable {
        public var type: String?
        public var online: Bool?
        public var name: String?
        public var origin: String?
        public var area: String?
        public init(type: String? = nil, online: Bool? = nil, name: String? = nil, origin: String? = nil, area: String? = nil) {
            self.type = type
            self.online = online
            self.name = name
            self.origin = origin
            self.area = area
        }
    }

    /// Devices in id order after `cursor` (the last id of the previous page), at most `limit`.
    public func list(_ filter: ListFilter, limit: Int, cursor: String?) -> JSONValue {
        let needle = filter.name?.lowercased()
        let (page, more) = table.withLock { table -> ([JSONValue], Bool) in
            let matching = table.devices.values.filter { device in
                if let cursor, device.id <= cursor { return false }
                if let type = filter.type, device.type != type { return false }
                if let origin = filter.origin, device.origin != origin { return false }
                if let needle, !device.name.lowercased().contains(needle) { return false }
                if let area = filter.area, !device.isIn(area: area) { return false }
                if let online = filter.online, (table.states[device.id]?.online ?? false) != online { return false }
                return true
            }
            let sorted = matching.sorted { $0.id < $1.id }
            var budget = ReplyBudget()
            var page: [JSONValue] = []
            for device in sorted.prefix(limit) {
                let item = Self.describe(device, table.states[device.id] ?? DeviceState())
                guard budget.admit(item) else { break }
                page.append(item)
            }
            return (page, sorted.count > page.count)
        }
        let nextCursor: JSONValue = more ? (page.last?["id"] ?? .null) : .null
        return ["items": .array(page), "next_cursor": nextCursor]
    }

    /// Every area with its devices: count, online, per type and their ids (sorted by area name).
    func areas() -> JSONValue {
        table.withLock { table in
            struct Area {
                var name: String
                var ids: [String] = []
                var online = 0
                var byType: [String: Int] = [:]
            }
            var areas: [String: Area] = [:]
            var unassigned = 0
            for device in table.devices.values.sorted(by: { $0.id < $1.id }) {
                guard let name = device.area?.trimmed, !name.isEmpty else {
                    unassigned += 1
                    continue
                }
                var area = areas[name.lowercased()] ?? Area(name: name)
                area.ids.append(device.id)
                if table.states[device.id]?.online == true { area.online += 1 }
                area.byType[device.type, default: 0] += 1
                areas[name.lowercased()] = area
            }
            let items = areas.values.sorted { $0.name.lowercased() < $1.name.lowercased() }.map { area -> JSONValue in
                [
                    "area": .string(area.name), "devices": JSONValue(area.ids.count), "online": JSONValue(area.online),
                    "by_type": .object(JSONObject(area.byType.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) })),
                    "ids": .array(area.ids.map(JSONValue.string)),
                ]
            }
            return ["areas": .array(items), "unassigned": JSONValue(unassigned)]
        }
    }

    /// Totals for a person's overview: devices, online/offline, per type and origin.
    func totals() -> JSONValue {
        table.withLock { table in
            var byType: [String: Int] = [:]
            var byOrigin: [String: Int] = [:]
            var online = 0
            for device in table.devices.values {
                byType[device.type, default: 0] += 1
                byOrigin[device.origin, default: 0] += 1
                if table.states[device.id]?.online == true { online += 1 }
            }
            func object(_ counts: [String: Int]) -> JSONValue {
                .object(JSONObject(counts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue($0.value)) }))
            }
            return [
                "devices": JSONValue(table.devices.count), "online": JSONValue(online),
                "offline": JSONValue(table.devices.count - online), "by_type": object(byType),
                "by_origin": object(byOrigin),
            ]
        }
    }
}
