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

    /// What a platform's state dialect builds: the inputs it reads, from the config's keys, with HA's defaults.
    struct Inputs {
        let config: JSONObject
        var inputs: [Input] = []
        var unsupportedTemplates: [String] = []

        init(config: JSONObject) {
            self.config = config
        }

        func string(_ key: String) -> String? { config[key]?.scalarText }
        func number(_ key: String) -> Double? { config[key]?.doubleValue }
        var payloadOn: String { string("payload_on") ?? "ON" }
        var payloadOff: String { string("payload_off") ?? "OFF" }

        /// An input on the topic under `topicKey`, if the config has one, rendered by `templateKey`'s template.
        mutating func add(_ topicKey: String, _ templateKey: String?, _ field: String?, _ kind: Kind) {
            guard let topic = string(topicKey) else { return }
            var template: Template?
            if let templateKey, let source = config[templateKey]?.stringValue {
                do {
                    template = try Template.compile(source)
                } catch {
                    if !unsupportedTemplates.contains(templateKey) { unsupportedTemplates.append(templateKey) }
                }
            }
            inputs.append(Input(topic: topic, field: field, template: template, kind: kind))
        }
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
        // The platform's own state dialect (``Platform/catalogue``); an unknown one reads a typed value.
        var reading = Inputs(config: config)
        if let descriptor = Platform.named(platform) {
            descriptor.readState(&reading)
        } else {
            reading.add("state_topic", "value_template", nil, .typed)
        }
        inputs = reading.inputs
        unsupportedTemplates = reading.unsupportedTemplates
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
