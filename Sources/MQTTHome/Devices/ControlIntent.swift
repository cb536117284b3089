/// Translates a structured intent (`state`, `brightness`, `position`, …) into an entity's own command topics and
/// payloads, per its platform schema and Home Assistant's defaults, and says what confirms it.
///
/// Pure, so every platform's dialect is unit-tested without a broker.
public struct ControlIntent: Sendable {
    public struct Publish: Sendable, Hashable {
        public var topic: String
        public var payload: String
    }

    /// Fields `devices/set` accepts besides `id`, `entity` and `confirm_timeout_ms`.
    public static let fields = [
        "state", "brightness", "color_temp", "rgb", "position", "tilt", "temperature", "mode", "fan_mode", "preset_mode",
        "percentage", "value",
    ]

    public var publishes: [Publish] = []
    /// The entity value (scalar) or fields (object) whose report confirms the command; nil when nothing can.
    public var expected: JSONValue?

    /// - Parameters:
    ///   - current: the entity's value now (for `toggle`).
    public init(entity: Entity, intent: JSONObject, current: JSONValue?) throws(RPCError) {
        let given = Self.fields.filter { intent[$0] != nil && intent[$0] != .null }
        guard !given.isEmpty else {
            throw .invalidParams("state", "give at least one of \(Self.fields.joined(separator: ", "))")
        }
        let config = entity.discovery?.config ?? JSONObject()
        var schema = Schema(entity: entity, config: config, intent: intent)
        try schema.check(given)
        switch Platform.named(entity.platform)?.dialect ?? .onOff {
        case .light: try schema.light(current: current)
        case .cover: try schema.cover()
        case .climate: try schema.climate()
        case .fan: try schema.fan(current: current)
        case .lock: try schema.lock()
        case .number: try schema.number()
        case .select: try schema.select()
        case .text: try schema.text()
        case .press: try schema.press()
        case .onOff: try schema.onOff(current: current)
        }
        publishes = schema.publishes
        // `Optional.none` spelled out: JSONValue is ExpressibleByNilLiteral, so a bare `nil` here became `.null`,
        // and a command nothing can confirm waited for a null instead of answering `sent`.
        expected = schema.expected.isEmpty ? Optional<JSONValue>.none : (schema.scalarKey.flatMap { schema.expected[$0] } ?? .object(schema.expected))
    }

    /// Which intent fields a platform accepts (``Platform/intents``), for the error that names them.
    static func accepted(_ platform: String) -> [String] {
        Platform.named(platform)?.intents ?? Platform.onOffIntents
    }

    /// The working state of one translation.
    private struct Schema {
        let entity: Entity
        let config: JSONObject
        let intent: JSONObject
        var publishes: [Publish] = []
        var expected = JSONObject()
        /// Scalar entities confirm on their value, not on an object of fields.
        var scalarKey: String?

        init(entity: Entity, config: JSONObject, intent: JSONObject) {
            self.entity = entity
            self.config = config
            self.intent = intent
        }

        func check(_ given: [String]) throws(RPCError) {
            let accepted = ControlIntent.accepted(entity.platform)
            for field in given where !accepted.contains(field) {
                throw .invalidParams(field, "\(entity.platform) '\(entity.key)' does not take \(field); it accepts \(accepted.joined(separator: ", "))")
            }
        }

        func string(_ key: String) -> String? { config[key]?.scalarText }
        func number(_ key: String) -> Double? { config[key]?.doubleValue }

        func topic(_ key: String, for field: String) throws(RPCError) -> String {
            if let topic = string(key) { return topic }
            if key == "command_topic", entity.discovery == nil, let topic = entity.commandTopic { return topic }
            throw .invalidParams(field, "\(entity.platform) '\(entity.key)' has no \(key), so it cannot set \(field)")
        }

        /// Applies `command_template`-style templates: `value` is the payload, plus any named variables.
        func render(_ templateKey: String, _ payload: String, _ variables: JSONObject = JSONObject()) throws(RPCError) -> String {
            guard let source = string(templateKey) else { return payload }
            do {
                let template = try Template.compile(source)
                var context = Template.Context(payload: payload, json: EntityBehavior.json(Array(payload.utf8)))
                for (name, value) in variables { context.variables[name] = .json(value) }
                return try template.render(context)
            } catch {
                throw .invalidParams(templateKey, "the entity's \(templateKey) cannot be used: \(error)")
            }
        }

        func onOffValue(_ field: String, current: JSONValue?) throws(RPCError) -> Bool {
            switch intent[field] {
            case .bool(let flag)?: return flag
            case .string(let text)?:
                switch text.lowercased() {
                case "on", "true": return true
                case "off", "false": return false
                case "toggle": return current?.stringValue?.uppercased() != "ON" && current?["state"]?.stringValue?.uppercased() != "ON"
                default: break
                }
            default: break
            }
            throw .invalidParams(field, "\(entity.platform) '\(entity.key)' accepts ON, OFF, toggle or true/false, got \(intent[field]?.jsonString ?? "null")")
        }

        func numeric(_ field: String, in range: ClosedRange<Double>?) throws(RPCError) -> Double {
            guard let value = intent[field]?.doubleValue else {
                throw .invalidParams(field, "expected a number, got \(intent[field]?.typeName ?? "null")")
            }
            if let range, !range.contains(value) {
                throw .invalidParams(field, "\(entity.platform) '\(entity.key)' accepts \(Self.format(range.lowerBound))–\(Self.format(range.upperBound)), got \(Self.format(value))")
            }
            return value
        }

        static func format(_ value: Double) -> String { EntityBehavior.number(value).jsonString }

        func choice(_ field: String, from key: String, defaults: [String]) throws(RPCError) -> String {
            guard let value = intent[field]?.scalarText else { throw .invalidParams(field, "expected a string") }
            let options = config[key]?.arrayValue?.compactMap(\.scalarText) ?? defaults
            guard options.isEmpty || options.contains(value) else {
                throw .invalidParams(field, "\(entity.platform) '\(entity.key)' accepts \(options.joined(separator: ", ")), got '\(value)'")
            }
            return value
        }

        // MARK: Platforms

        mutating func onOff(current: JSONValue?) throws(RPCError) {
            let topic = try topic("command_topic", for: intent["state"] != nil ? "state" : "value")
            scalarKey = "value"
            if intent["value"] != nil {
                let payload = intent["value"]!.scalarText ?? intent["value"]!.jsonString
                publishes.append(Publish(topic: topic, payload: try render("command_template", payload)))
                if entity.discovery == nil { expected["value"] = intent["value"]! }
                return
            }
            let on = try onOffValue("state", current: current)
            let payload = on ? (string("payload_on") ?? "ON") : (string("payload_off") ?? "OFF")
            publishes.append(Publish(topic: topic, payload: try render("command_template", payload)))
            expected["value"] = on ? "ON" : "OFF"
        }

        mutating func light(current: JSONValue?) throws(RPCError) {
            let scale = number("brightness_scale") ?? 255
            let modes = Set(config["supported_color_modes"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let on = try intent["state"].map { _ throws(RPCError) in try onOffValue("state", current: current) }
            let brightness = try intent["brightness"].map { _ throws(RPCError) in try numeric("brightness", in: 0...255) }
            let colorTemp = try intent["color_temp"].map { _ throws(RPCError) in
                try numeric("color_temp", in: (number("min_mireds") ?? 153)...(number("max_mireds") ?? 500))
            }
            var rgb: [Int64]?
            if let value = intent["rgb"] {
                guard let parts = value.arrayValue?.compactMap(\.intValue), parts.count == 3, parts.allSatisfy({ (0...255).contains($0) }) else {
                    throw .invalidParams("rgb", "expected [r, g, b] with each 0–255")
                }
                rgb = parts
            }
            if let on { expected["state"] = on ? "ON" : "OFF" }
            if string("schema") == "json" {
                let colorModes: Set<String> = ["rgb", "rgbw", "rgbww", "hs", "xy"]
                if brightness != nil, config["brightness"]?.boolValue != true, modes.isDisjoint(with: ["brightness", "color_temp"] + colorModes) {
                    throw .invalidParams("brightness", "light '\(entity.key)' has no brightness (supported_color_modes: \(modes.sorted().joined(separator: ", ")))")
                }
                if colorTemp != nil, !modes.contains("color_temp") {
                    throw .invalidParams("color_temp", "light '\(entity.key)' has no color_temp (supported_color_modes: \(modes.sorted().joined(separator: ", ")))")
                }
                if rgb != nil, modes.isDisjoint(with: colorModes) {
                    throw .invalidParams("rgb", "light '\(entity.key)' has no colour (supported_color_modes: \(modes.sorted().joined(separator: ", ")))")
                }
                var command = JSONObject()
                command["state"] = .string(on == false ? "OFF" : "ON")
                if on == nil && brightness == nil && colorTemp == nil && rgb == nil { command["state"] = nil }
                if let brightness {
                    command["brightness"] = EntityBehavior.number((brightness / 255 * scale).rounded())
                    expected["brightness"] = EntityBehavior.number(brightness)
                }
                if let colorTemp {
                    command["color_temp"] = EntityBehavior.number(colorTemp)
                    expected["color_temp"] = EntityBehavior.number(colorTemp)
                }
                if let rgb { command["color"] = ["r": .int(rgb[0]), "g": .int(rgb[1]), "b": .int(rgb[2])] }
                publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: JSONValue.object(command).jsonString))
                return
            }
            if string("schema") == "template" {
                var variables: JSONObject = ["state": .string(on == false ? "off" : "on")]
                if let brightness { variables["brightness"] = EntityBehavior.number(brightness) }
                if let colorTemp { variables["color_temp"] = EntityBehavior.number(colorTemp) }
                if let rgb {
                    variables["red"] = .int(rgb[0])
                    variables["green"] = .int(rgb[1])
                    variables["blue"] = .int(rgb[2])
                }
                let key = on == false ? "command_off_template" : "command_on_template"
                guard string(key) != nil else { throw .invalidParams("state", "light '\(entity.key)' has no \(key)") }
                publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: try render(key, "", variables)))
                if let brightness { expected["brightness"] = EntityBehavior.number(brightness) }
                return
            }
            // Basic schema: one topic per attribute.
            if let on {
                let payload = on ? (string("payload_on") ?? "ON") : (string("payload_off") ?? "OFF")
                publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: payload))
            }
            if let brightness {
                let device = EntityBehavior.number((brightness / 255 * scale).rounded())
                let topic = try topic("brightness_command_topic", for: "brightness")
                publishes.append(Publish(topic: topic, payload: try render("brightness_command_template", device.jsonString)))
                if string("brightness_state_topic") != nil { expected["brightness"] = EntityBehavior.number(brightness) }
            }
            if let colorTemp {
                let topic = try topic("color_temp_command_topic", for: "color_temp")
                let text = EntityBehavior.number(colorTemp).jsonString
                publishes.append(Publish(topic: topic, payload: try render("color_temp_command_template", text)))
                if string("color_temp_state_topic") != nil { expected["color_temp"] = EntityBehavior.number(colorTemp) }
            }
            if let rgb {
                let topic = try topic("rgb_command_topic", for: "rgb")
                let text = rgb.map(String.init).joined(separator: ",")
                publishes.append(Publish(topic: topic, payload: try render("rgb_command_template", text, ["red": .int(rgb[0]), "green": .int(rgb[1]), "blue": .int(rgb[2])])))
                if string("rgb_state_topic") != nil { expected["rgb"] = .array(rgb.map(JSONValue.int)) }
            }
            if entity.discovery == nil {
                // A manual light's value is its state payload as it arrives ("ON", or the state field of a JSON
                // payload): only the on/off part can be confirmed, and only when it has a state topic.
                expected = JSONObject()
                if let on, entity.stateTopic != nil {
                    expected["value"] = on ? "ON" : "OFF"
                    scalarKey = "value"
                }
                return
            }
            if string("state_topic") == nil { expected.removeValue(forKey: "state") }
        }

        mutating func cover() throws(RPCError) {
            if let state = intent["state"] {
                let action = state.stringValue?.lowercased() ?? ""
                let payloads = ["open": string("payload_open") ?? "OPEN", "close": string("payload_close") ?? "CLOSE", "stop": string("payload_stop") ?? "STOP"]
                guard let payload = payloads[action] else {
                    throw .invalidParams("state", "\(entity.platform) '\(entity.key)' accepts open, close or stop, got \(state.jsonString)")
                }
                publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: payload))
                if action != "stop" { expected["state"] = .string(action == "open" ? "open" : "closed") }
            }
            if intent["position"] != nil {
                guard let topic = string("set_position_topic") else {
                    throw .invalidParams("position", "\(entity.platform) '\(entity.key)' has no set_position_topic; it accepts state open, close or stop")
                }
                let position = try numeric("position", in: 0...100)
                let closed = number("position_closed") ?? 0
                let open = number("position_open") ?? 100
                let device = EntityBehavior.number((closed + position / 100 * (open - closed)).rounded())
                publishes.append(Publish(topic: topic, payload: try render("set_position_template", device.jsonString, ["position": device])))
                if string("position_topic") != nil { expected["position"] = EntityBehavior.number(position) }
            }
            if intent["tilt"] != nil {
                let topic = try topic("tilt_command_topic", for: "tilt")
                let tilt = try numeric("tilt", in: (number("tilt_min") ?? 0)...(number("tilt_max") ?? 100))
                publishes.append(Publish(topic: topic, payload: try render("tilt_command_template", EntityBehavior.number(tilt).jsonString)))
                if string("tilt_status_topic") != nil { expected["tilt"] = EntityBehavior.number(tilt) }
            }
        }

        mutating func climate() throws(RPCError) {
            if intent["temperature"] != nil {
                let topic = try topic("temperature_command_topic", for: "temperature")
                let temperature = try numeric("temperature", in: (number("min_temp") ?? 7)...(number("max_temp") ?? 35))
                let text = EntityBehavior.number(temperature).jsonString
                publishes.append(Publish(topic: topic, payload: try render("temperature_command_template", text)))
                if string("temperature_state_topic") != nil { expected["temperature"] = EntityBehavior.number(temperature) }
            }
            for (field, key, defaults) in [
                ("mode", "modes", ["auto", "off", "cool", "heat", "dry", "fan_only"]),
                ("fan_mode", "fan_modes", ["auto", "low", "medium", "high"]), ("preset_mode", "preset_modes", []),
            ] where intent[field] != nil {
                let value = try choice(field, from: key, defaults: defaults)
                let topic = try topic("\(field)_command_topic", for: field)
                publishes.append(Publish(topic: topic, payload: try render("\(field)_command_template", value)))
                if string("\(field)_state_topic") != nil { expected[field] = .string(value) }
            }
        }

        mutating func fan(current: JSONValue?) throws(RPCError) {
            if intent["state"] != nil {
                let on = try onOffValue("state", current: current)
                let payload = on ? (string("payload_on") ?? "ON") : (string("payload_off") ?? "OFF")
                publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: try render("command_template", payload)))
                if string("state_topic") != nil { expected["state"] = on ? "ON" : "OFF" }
            }
            if intent["percentage"] != nil {
                let percentage = try numeric("percentage", in: 0...100)
                let low = (number("speed_range_min") ?? 1) - 1
                let high = number("speed_range_max") ?? 100
                let device = EntityBehavior.number((low + percentage / 100 * (high - low)).rounded())
                let topic = try topic("percentage_command_topic", for: "percentage")
                publishes.append(Publish(topic: topic, payload: try render("percentage_command_template", device.jsonString)))
                if string("percentage_state_topic") != nil { expected["percentage"] = EntityBehavior.number(percentage) }
            }
            if intent["preset_mode"] != nil {
                let value = try choice("preset_mode", from: "preset_modes", defaults: [])
                let topic = try topic("preset_mode_command_topic", for: "preset_mode")
                publishes.append(Publish(topic: topic, payload: try render("preset_mode_command_template", value)))
                if string("preset_mode_state_topic") != nil { expected["preset_mode"] = .string(value) }
            }
        }

        mutating func lock() throws(RPCError) {
            scalarKey = "value"
            let action = intent["state"]?.stringValue?.lowercased() ?? ""
            let payloads = ["lock": string("payload_lock") ?? "LOCK", "unlock": string("payload_unlock") ?? "UNLOCK", "open": string("payload_open") ?? "OPEN"]
            guard let payload = payloads[action] else {
                throw .invalidParams("state", "lock '\(entity.key)' accepts lock, unlock or open, got \(intent["state"]?.jsonString ?? "null")")
            }
            publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: try render("command_template", payload)))
            expected["value"] = .string(action == "lock" ? "locked" : action == "unlock" ? "unlocked" : "open")
        }

        mutating func number() throws(RPCError) {
            scalarKey = "value"
            let value = try numeric("value", in: (number("min") ?? 1)...(number("max") ?? 100))
            let text = EntityBehavior.number(value).jsonString
            publishes.append(Publish(topic: try topic("command_topic", for: "value"), payload: try render("command_template", text)))
            expected["value"] = EntityBehavior.number(value)
        }

        mutating func select() throws(RPCError) {
            scalarKey = "value"
            let value = try choice("value", from: "options", defaults: [])
            publishes.append(Publish(topic: try topic("command_topic", for: "value"), payload: try render("command_template", value)))
            expected["value"] = .string(value)
        }

        mutating func text() throws(RPCError) {
            scalarKey = "value"
            guard let value = intent["value"]?.stringValue else { throw .invalidParams("value", "expected a string") }
            let length = (number("min") ?? 0)...(number("max") ?? 255)
            guard length.contains(Double(value.count)) else {
                throw .invalidParams("value", "text '\(entity.key)' accepts \(Self.format(length.lowerBound))–\(Self.format(length.upperBound)) characters, got \(value.count)")
            }
            publishes.append(Publish(topic: try topic("command_topic", for: "value"), payload: try render("command_template", value)))
            expected["value"] = .string(value)
        }

        mutating func press() throws(RPCError) {
            let action = intent["state"]?.stringValue?.lowercased()
            guard action == "press" || action == "on" else {
                throw .invalidParams("state", "\(entity.platform) '\(entity.key)' accepts press, got \(intent["state"]?.jsonString ?? "null")")
            }
            let payload = string(entity.platform == "button" ? "payload_press" : "payload_on") ?? (entity.platform == "button" ? "PRESS" : "ON")
            publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: try render("command_template", payload)))
        }
    }
}
