/// What `devices/add` and `devices/update` may set, validated field by field with the field's name in every error.
public struct DeviceSpec: Sendable {
    public var id: String?
    public var name: String?
    public var type: String?
    public var attributes: JSONObject?
    public var entityKey: String?
    public var stateTopic: String?
    public var stateTopicIsFilter: Bool?
    /// `.some(nil)` clears the command topic on update.
    public var commandTopic: String??
    public var availabilityTopic: String??
    public var payloadAvailable: String?
    public var payloadNotAvailable: String?
    public var unit: String??
    public var deviceClass: String??
    public var retain: Bool?
    /// `.some(nil)` clears the area.
    public var area: String??

    public init() {}

    /// The parameters `devices/add` and `devices/update` share, for `rpc/methods`.
    public static let parameters: [RPCMethod.Parameter] = [
        .init("name", type: "string", description: "display name, unique (case-insensitive)"),
        .init("type", type: "string", description: "Home Assistant platform: switch, light, sensor, binary_sensor, cover, …"),
        .init("state_topic", type: "string", description: "where the device publishes its state (JSON object or a value)"),
        .init("state_topic_filter", type: "boolean", description: "true to allow + and # in state_topic"),
        .init("command_topic", type: "string|null", description: "where devices/command publishes"),
        .init("availability_topic", type: "string|null", description: "where the device publishes online/offline"),
        .init("payload_available", type: "string", description: "availability payload meaning online (default online)"),
        .init("payload_not_available", type: "string", description: "availability payload meaning offline (default offline)"),
        .init("unit", type: "string|null", description: "unit of measurement, e.g. °C"),
        .init("device_class", type: "string|null", description: "Home Assistant device class, e.g. temperature"),
        .init("area", type: "string|null", description: "room or zone, e.g. Kitchen (null clears it)"),
        .init("retain", type: "boolean", description: "publish commands retained, as Home Assistant's retain (default false)"),
        .init("entity", type: "string", description: "entity key (default: device_class, else value for sensors, else state)"),
        .init("attributes", type: "object", description: "free attributes kept with the device"),
    ]

    /// `devices/add`'s parameters (also each item of `devices/import`).
    public static let addParameters: [RPCMethod.Parameter] = [
        .init("name", type: "string", required: true, description: "display name, unique (case-insensitive)"),
        .init("type", type: "string", required: true, description: "Home Assistant platform: switch, light, sensor, …"),
        .init("state_topic", type: "string", required: true, description: "where the device publishes its state"),
        .init("id", type: "string", description: "id to use (default: a slug of the name)"),
    ] + parameters.filter { !["name", "type", "state_topic"].contains($0.name) }

    /// Reads and validates the parameters; `adding` requires name, type and state_topic.
    public static func parse(_ params: RPCParams, adding: Bool) throws(RPCError) -> DeviceSpec {
        var spec = DeviceSpec()
        spec.name = try params.optionalString("name")
        if let name = spec.name {
            let trimmed = name.trimmed
            guard !trimmed.isEmpty, trimmed.count <= 200 else {
                throw .invalidParams("name", "must be 1 to 200 characters")
            }
            if let problem = DisplayText.problem(trimmed) { throw .invalidParams("name", problem) }
            spec.name = trimmed
        }
        spec.type = try params.optionalString("type")
        if let type = spec.type, !Platform.manualTypes.contains(type) {
            throw .invalidParams("type", "unknown type '\(type)'; one of \(Platform.manualTypes.joined(separator: ", "))")
        }
        spec.stateTopicIsFilter = try params.optionalBool("state_topic_filter")
        spec.stateTopic = try params.optionalString("state_topic")
        if let topic = spec.stateTopic {
            let problem =
                spec.stateTopicIsFilter == true
                ? TopicRules.filterProblem(topic) : TopicRules.publishTopicProblem(topic)
            if let problem {
                let hint = spec.stateTopicIsFilter != true && TopicRules.isFilter(topic) ? " (set state_topic_filter: true to subscribe to a filter)" : ""
                throw .invalidParams("state_topic", problem + hint)
            }
        }
        spec.commandTopic = try optionalTopic(params, "command_topic")
        spec.availabilityTopic = try optionalTopic(params, "availability_topic")
        spec.payloadAvailable = try params.optionalString("payload_available")
        spec.payloadNotAvailable = try params.optionalString("payload_not_available")
        spec.unit = try clearable(params, "unit")
        spec.deviceClass = try clearable(params, "device_class")
        spec.retain = try params.optionalBool("retain")
        if let area = try clearable(params, "area") {
            if let text = area?.trimmed {
                guard !text.isEmpty, text.count <= 100 else { throw .invalidParams("area", "must be 1 to 100 characters") }
                if let problem = DisplayText.problem(text) { throw .invalidParams("area", problem) }
                spec.area = .some(text)
            } else {
                spec.area = .some(nil)
            }
        }
        spec.entityKey = try params.optionalString("entity")
        if let key = spec.entityKey, !Device.isValidID(key) {
            throw .invalidParams("entity", "must be lower-case letters, digits, '_' or '-'")
        }
        spec.attributes = try params.optionalObject("attributes")
        if adding {
            spec.id = try params.optionalString("id")
            if let id = spec.id, !Device.isValidID(id) {
                throw .invalidParams("id", "must be 1 to 128 of a-z, 0-9, '_' and '-'")
            }
            if spec.name == nil { throw .invalidParams("name", "required") }
            if spec.type == nil { throw .invalidParams("type", "required") }
            if spec.stateTopic == nil { throw .invalidParams("state_topic", "required") }
        }
        return spec
    }

    /// Absent: nil. Present and null: `.some(nil)` (clear). Present: a validated publish topic.
    private static func optionalTopic(_ params: RPCParams, _ name: String) throws(RPCError) -> String?? {
        guard let value = params.object[name] else { return nil }
        if value.isNull { return .some(nil) }
        let topic = try params.string(name)
        if let problem = TopicRules.publishTopicProblem(topic) { throw .invalidParams(name, problem) }
        return .some(topic)
    }

    private static func clearable(_ params: RPCParams, _ name: String) throws(RPCError) -> String?? {
        guard let value = params.object[name] else { return nil }
        if value.isNull { return .some(nil) }
        return .some(try params.string(name))
    }

    /// The entity of a new device, or the entity with these changes applied.
    func applied(to entity: Entity) -> Entity {
        var entity = entity
        if let stateTopic {
            entity.stateTopic = stateTopic
            entity.stateTopicIsFilter = stateTopicIsFilter ?? false
        }
        if let commandTopic { entity.commandTopic = commandTopic }
        if let retain { entity.retain = retain }
        if let availabilityTopic {
            entity.availability = availabilityTopic.map {
                Entity.Availability(
                    topic: $0,
                    payloadAvailable: payloadAvailable ?? entity.availability?.payloadAvailable ?? "online",
                    payloadNotAvailable: payloadNotAvailable ?? entity.availability?.payloadNotAvailable ?? "offline"
                )
            }
        } else if var availability = entity.availability {
            if let payloadAvailable { availability.payloadAvailable = payloadAvailable }
            if let payloadNotAvailable { availability.payloadNotAvailable = payloadNotAvailable }
            entity.availability = availability
        }
        if let unit { entity.unit = unit }
        if let deviceClass { entity.deviceClass = deviceClass }
        return entity
    }
}
