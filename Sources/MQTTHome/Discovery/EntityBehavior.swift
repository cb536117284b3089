/// How a discovered entity turns incoming messages into its normalized value and its availability, compiled once
/// from its expanded config: the topics it listens on, their templates, and its platform's payload dialect with
/// Home Assistant's defaults (protocols.md §1.7, §1.10).
public struct EntityBehavior: Sendable {
    public let platform: String
    public let config: JSONObject
    /// Topics feeding the entity's value; `field` nil means the value itself, else a field of an object value.
    public private(set) var inputs: [Input] = []
    public private(set) var attributesTopic: String?
    var attributesTemplate: Template?
    public private(set) var availability: [AvailabilitySource] = []
    public let availabilityMode: String
    /// Seconds without a state message after which the entity is unavailable (`expire_after`, 0 = never).
    public let expireAfter: Double
    /// Config keys whose template is outside the supported subset: those inputs keep the raw value.
    public private(set) var unsupportedTemplates: [String] = []

    public struct Input: Sendable {
        public var topic: String
        public var field: String?
        var template: Template?
        var kind: Kind
    }

    enum Kind: Sendable {
        /// Compare with on/off payloads → `"ON"` / `"OFF"`.
        case onOff(on: String, off: String)
        /// One of several named payloads → its normalized name (`state_locked` → `"locked"`).
        case named([(payload: String, name: String)])
        case number
        /// A number rescaled from the device's range to mqtt-home's (brightness 0–255, position 0–100).
        case scaled(from: ClosedRange<Double>, to: ClosedRange<Double>)
        case text
        /// `r,g,b` text → `[r, g, b]`.
        case rgb
        /// The JSON light schema: one object with state, brightness, color_temp, color, effect.
        case lightJSON(brightnessScale: Double)
        /// Rendered text typed as JSON would be: numbers as numbers, anything else as text.
        case typed
    }

    public struct AvailabilitySource: Sendable {
        public var topic: String
        public var payloadAvailable: String
        public var payloadNotAvailable: String
        var template: Template?
    }

    public init(platform: String, config: JSONObject) {
        self.platform = platform
        self.config = config
        availabilityMode = config["availability_mode"]?.stringValue ?? "latest"
        expireAfter = config["expire_after"]?.doubleValue ?? 0
        let unset = ["on": "ON", "off": "OFF"]
        let payloadOn = string("payload_on") ?? unset["on"]!
        let payloadOff = string("payload_off") ?? unset["off"]!
        switch platform {
        case "switch":
            add("state_topic", "value_template", nil, .onOff(on: string("state_on") ?? payloadOn, off: string("state_off") ?? payloadOff))
        case "binary_sensor":
            add("state_topic", "value_template", nil, .onOff(on: payloadOn, off: payloadOff))
        case "sensor", "number":
            add("state_topic", "value_template", nil, .typed)
        case "select", "text", "event", "device_tracker", "update", "image", "camera", "tag", "device_automation":
            add("state_topic", "value_template", nil, .text)
        case "lock":
            add("state_topic", "value_template", nil, .named([
                (string("state_locked") ?? "LOCKED", "locked"), (string("state_unlocked") ?? "UNLOCKED", "unlocked"),
                (string("state_locking") ?? "LOCKING", "locking"), (string("state_unlocking") ?? "UNLOCKING", "unlocking"),
                (string("state_jammed") ?? "JAMMED", "jammed"), (string("state_open") ?? "OPEN", "open"),
                (string("state_opening") ?? "OPENING", "opening"),
            ]))
        case "cover", "valve":
            add("state_topic", "value_template", "state", .named([
                (string("state_open") ?? "open", "open"), (string("state_opening") ?? "opening", "opening"),
                (string("state_closed") ?? "closed", "closed"), (string("state_closing") ?? "closing", "closing"),
                (string("state_stopped") ?? "stopped", "stopped"),
            ]))
            let closed = number("position_closed") ?? 0
            let open = number("position_open") ?? 100
            add("position_topic", "position_template", "position", .scaled(from: min(closed, open)...max(closed, open), to: 0...100))
            add("tilt_status_topic", "tilt_status_template", "tilt", .typed)
        case "light":
            let brightnessScale = number("brightness_scale") ?? 255
            switch string("schema") ?? "basic" {
            case "json":
                add("state_topic", nil, nil, .lightJSON(brightnessScale: brightnessScale))
            case "template":
                add("state_topic", "state_template", "state", .onOff(on: "on", off: "off"))
                add("state_topic", "brightness_template", "brightness", .scaled(from: 0...255, to: 0...255))
                add("state_topic", "color_temp_template", "color_temp", .number)
            default:
                add("state_topic", "state_value_template", "state", .onOff(on: payloadOn, off: payloadOff))
                add("brightness_state_topic", "brightness_value_template", "brightness", .scaled(from: 0...brightnessScale, to: 0...255))
                add("color_temp_state_topic", "color_temp_value_template", "color_temp", .number)
                add("rgb_state_topic", "rgb_value_template", "rgb", .rgb)
                add("effect_state_topic", "effect_value_template", "effect", .text)
            }
        case "fan":
            add("state_topic", "state_value_template", "state", .onOff(on: payloadOn, off: payloadOff))
            add("percentage_state_topic", "percentage_value_template", "percentage", .scaled(
                from: (number("speed_range_min") ?? 1) - 1...(number("speed_range_max") ?? 100), to: 0...100))
            add("preset_mode_state_topic", "preset_mode_value_template", "preset_mode", .text)
            add("oscillation_state_topic", "oscillation_value_template", "oscillation", .onOff(
                on: string("payload_oscillation_on") ?? "oscillate_on", off: string("payload_oscillation_off") ?? "oscillate_off"))
        case "climate", "water_heater":
            add("mode_state_topic", "mode_state_template", "mode", .text)
            add("temperature_state_topic", "temperature_state_template", "temperature", .number)
            add("current_temperature_topic", "current_temperature_template", "current_temperature", .number)
            add("action_topic", "action_template", "action", .text)
            add("fan_mode_state_topic", "fan_mode_state_template", "fan_mode", .text)
            add("preset_mode_state_topic", "preset_mode_value_template", "preset_mode", .text)
            add("swing_mode_state_topic", "swing_mode_state_template", "swing_mode", .text)
            add("temperature_low_state_topic", "temperature_low_state_template", "temperature_low", .number)
            add("temperature_high_state_topic", "temperature_high_state_template", "temperature_high", .number)
        case "humidifier":
            add("state_topic", "state_value_template", "state", .onOff(on: payloadOn, off: payloadOff))
            add("target_humidity_state_topic", "target_humidity_state_template", "humidity", .number)
            add("mode_state_topic", "mode_state_template", "mode", .text)
            add("current_humidity_topic", "current_humidity_template", "current_humidity", .number)
        default:
            add("state_topic", "value_template", nil, .typed)
        }
        if let topic = string("json_attributes_topic") {
            attributesTopic = topic
            attributesTemplate = compile("json_attributes_template")
        }
        let sharedTemplate = compile("availability_template")
        if let topic = string("availability_topic") {
            availability.append(AvailabilitySource(
                topic: topic,
                payloadAvailable: string("payload_available") ?? "online",
                payloadNotAvailable: string("payload_not_available") ?? "offline",
                template: sharedTemplate
            ))
        }
        for (index, entry) in (config["availability"]?.arrayValue ?? []).enumerated() {
            guard let topic = entry["topic"]?.stringValue else { continue }
            var template: Template?
            if let source = entry["value_template"]?.stringValue {
                do { template = try Template.compile(source) } catch { unsupportedTemplates.append("availability[\(index)].value_template") }
            }
            availability.append(AvailabilitySource(
                topic: topic,
                payloadAvailable: entry["payload_available"]?.scalarText ?? "online",
                payloadNotAvailable: entry["payload_not_available"]?.scalarText ?? "offline",
                template: template
            ))
        }
    }

    /// No state topic: Home Assistant treats the entity as optimistic.
    public var isOptimistic: Bool {
        config["optimistic"]?.boolValue ?? inputs.isEmpty
    }

    // MARK: - Messages

    /// The normalized value an input's message carries, `.null` for Home Assistant's `None` (unknown), or nil
    /// when the message says nothing for this input (no matching payload, empty rendering, a template error).
    /// `json` is the payload parsed once by the caller (``json(_:)``), shared by every entity the message feeds.
    public func value(of input: Input, payload: [UInt8], json: JSONValue?) -> Result<JSONValue?, TemplateError> {
        let text = String(decoding: payload, as: UTF8.self)
        let rendered: String
        if let template = input.template {
            do {
                rendered = try template.render(Template.Context(payload: text, json: json))
            } catch {
                return .failure(error)
            }
        } else {
            rendered = text
        }
        if case .lightJSON(let scale) = input.kind { return .success(Self.lightJSON(json, brightnessScale: scale)) }
        if rendered == "None" { return .success(.null) }
        switch input.kind {
        case .onOff(let on, let off):
            if rendered == on { return .success("ON") }
            if rendered == off { return .success("OFF") }
            return .success(nil)
        case .named(let names):
            return .success(names.first { $0.payload == rendered }.map { .string($0.name) })
        case .number:
            return .success(Double(rendered.trimmed).map(Self.number))
        case .scaled(let from, let to):
            guard let raw = Double(rendered.trimmed), from.upperBound > from.lowerBound else { return .success(nil) }
            let scaled = to.lowerBound + (raw - from.lowerBound) / (from.upperBound - from.lowerBound) * (to.upperBound - to.lowerBound)
            return .success(Self.number((scaled * 100).rounded() / 100))
        case .text:
            return .success(rendered.isEmpty ? nil : .string(rendered))
        case .rgb:
            let parts = rendered.split(separator: ",").compactMap { Int64($0.trimmed) }
            return .success(parts.count == 3 ? .array(parts.map(JSONValue.int)) : nil)
        case .typed:
            if rendered.isEmpty { return .success(nil) }
            if let number = Double(rendered.trimmed), rendered.trimmed.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true {
                return .success(Self.number(number))
            }
            return .success(.string(rendered))
        case .lightJSON:
            return .success(nil)
        }
    }

    /// `true`/`false` for a message on availability source `index`, nil when it matches neither payload; a failed
    /// template is an error for the caller to count and log, not a silent "unknown".
    public func availabilityValue(source index: Int, payload: [UInt8], json: JSONValue?) -> Result<Bool?, TemplateError> {
        let source = availability[index]
        var text = String(decoding: payload, as: UTF8.self)
        if let template = source.template {
            do {
                text = try template.render(Template.Context(payload: text, json: json))
            } catch {
                return .failure(error)
            }
        }
        if text == source.payloadAvailable { return .success(true) }
        if text == source.payloadNotAvailable { return .success(false) }
        return .success(nil)
    }

    /// The attributes object a `json_attributes_topic` message carries, or nil when it is not an object.
    public func attributes(payload: [UInt8], json: JSONValue?) -> Result<JSONObject?, TemplateError> {
        guard let template = attributesTemplate else { return .success(json?.objectValue) }
        let context = Template.Context(payload: String(decoding: payload, as: UTF8.self), json: json)
        do {
            switch try template.evaluate(context) {
            case .object(let object): return .success(object)
            case .string(let text): return .success((try? JSONParser.parse(text, maxDepth: 32))?.objectValue)
            default: return .success(nil)
            }
        } catch {
            return .failure(error)
        }
    }

    // MARK: - Helpers

    /// A payload as JSON when it looks like JSON and parses (depth-bounded), else nil: `value_json` of templates.
    public static func json(_ payload: [UInt8]) -> JSONValue? {
        guard let first = payload.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || first == UInt8(ascii: "\"")
                || first == UInt8(ascii: "-") || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
                || first == UInt8(ascii: "t") || first == UInt8(ascii: "f") || first == UInt8(ascii: "n")
        else { return nil }
        return try? JSONParser.parse(payload, maxDepth: 32)
    }

    static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value && abs(value) < 9e15 { return .int(Int64(value)) }
        return .double(value)
    }

    private static func lightJSON(_ json: JSONValue?, brightnessScale: Double) -> JSONValue? {
        guard case .object(let object) = json ?? .null else { return nil }
        var value = JSONObject()
        if let state = object["state"] {
            value["state"] = state.stringValue.map { .string($0.uppercased()) } ?? .null
        }
        if let brightness = object["brightness"]?.doubleValue, brightnessScale > 0 {
            value["brightness"] = number((brightness / brightnessScale * 255).rounded())
        }
        for key in ["color_temp", "color_mode", "color", "effect"] where object[key] != nil { value[key] = object[key] }
        return value.isEmpty ? nil : .object(value)
    }

    private func string(_ key: String) -> String? { config[key]?.scalarText }
    private func number(_ key: String) -> Double? { config[key]?.doubleValue }

    private mutating func compile(_ key: String) -> Template? {
        guard let source = config[key]?.stringValue else { return nil }
        do {
            return try Template.compile(source)
        } catch {
            if !unsupportedTemplates.contains(key) { unsupportedTemplates.append(key) }
            return nil
        }
    }

    private mutating func add(_ topicKey: String, _ templateKey: String?, _ field: String?, _ kind: Kind) {
        guard let topic = string(topicKey) else { return }
        let template = templateKey.flatMap { compile($0) }
        inputs.append(Input(topic: topic, field: field, template: template, kind: kind))
    }
}

extension JSONValue {
    /// A config scalar as Home Assistant compares it: text as is, numbers and booleans as their JSON text
    /// (Zigbee2MQTT sends `payload_on: true` for `{"occupancy": true}` rendered as `True`).
    var scalarText: String? {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        case .double(let number): Template.Value.python(.double(number))
        case .bool(let flag): flag ? "True" : "False"
        default: nil
        }
    }
}
