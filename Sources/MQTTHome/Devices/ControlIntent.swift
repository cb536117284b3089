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
        "percentage", "value", "tone", "volume_level", "duration", "message",
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
        case .waterHeater: try schema.waterHeater()
        case .valve: try schema.valve()
        case .siren: try schema.siren(current: current)
        case .lawnMower: try schema.lawnMower()
        case .update: try schema.update()
        case .notify: try schema.notify()
        case .date, .time, .dateTime: try schema.moment()
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

        mutating func waterHeater() throws(RPCError) {
            if intent["temperature"] != nil {
                let topic = try topic("temperature_command_topic", for: "temperature")
                // Home Assistant's water heater defaults are 110–140 °F, converted when the unit is Celsius.
                let fahrenheit = string("temperature_unit")?.uppercased().hasSuffix("F") == true
                let range = (number("min_temp") ?? (fahrenheit ? 110 : 43.3))...(number("max_temp") ?? (fahrenheit ? 140 : 60))
                let temperature = try numeric("temperature", in: range)
                let text = EntityBehavior.number(temperature).jsonString
                publishes.append(Publish(topic: topic, payload: try render("temperature_command_template", text)))
                if string("temperature_state_topic") != nil { expected["temperature"] = EntityBehavior.number(temperature) }
            }
            if intent["mode"] != nil {
                let value = try choice("mode", from: "mode_list", defaults: ["eco", "electric", "gas", "heat_pump", "high_demand", "performance", "off"])
                publishes.append(Publish(topic: try topic("mode_command_topic", for: "mode"), payload: try render("mode_command_template", value)))
                if string("mode_state_topic") != nil { expected["mode"] = .string(value) }
            }
        }

        /// A valve opens, closes and stops on its command topic; one that reports a position also takes a
        /// position there (scaled to `position_closed`…`position_open`), as Home Assistant sends it.
        mutating func valve() throws(RPCError) {
            let reportsPosition = config["reports_position"]?.boolValue == true
            if let state = intent["state"] {
                let action = state.stringValue?.lowercased() ?? ""
                // HA's valve has no stop unless payload_stop is set; a manual valve stops like a manual cover.
                var payloads = ["stop": string("payload_stop") ?? (entity.discovery == nil ? "STOP" : nil)]
                if !reportsPosition {
                    payloads["open"] = string("payload_open") ?? "OPEN"
                    payloads["close"] = string("payload_close") ?? "CLOSE"
                } else {
                    payloads["open"] = string("payload_open") ?? EntityBehavior.number(number("position_open") ?? 100).jsonString
                    payloads["close"] = string("payload_close") ?? EntityBehavior.number(number("position_closed") ?? 0).jsonString
                }
                guard let found = payloads[action], let payload = found else {
                    let accepted = payloads.filter { $0.value != nil }.keys.sorted().joined(separator: ", ")
                    throw .invalidParams("state", "valve '\(entity.key)' accepts \(accepted), got \(state.jsonString)")
                }
                publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: try render("command_template", payload)))
                if action != "stop", string("state_topic") != nil || entity.discovery == nil {
                    expected["state"] = .string(action == "open" ? "open" : "closed")
                }
            }
            if intent["position"] != nil {
                guard reportsPosition else {
                    throw .invalidParams("position", "valve '\(entity.key)' does not report a position (reports_position is false); it accepts state open, close or stop")
                }
                let position = try numeric("position", in: 0...100)
                let closed = number("position_closed") ?? 0
                let open = number("position_open") ?? 100
                // Rounded half to even, as Home Assistant's Python round() does.
                let device = EntityBehavior.number((closed + position / 100 * (open - closed)).rounded(.toNearestOrEven))
                let variables: JSONObject = ["position": EntityBehavior.number(position), "position_open": EntityBehavior.number(open), "position_closed": EntityBehavior.number(closed)]
                publishes.append(Publish(topic: try topic("command_topic", for: "position"), payload: try render("command_template", device.jsonString, variables)))
                if string("state_topic") != nil { expected["position"] = EntityBehavior.number(position) }
            }
        }

        /// Home Assistant's siren: without a command template the payload is JSON, `{"state": "ON", "tone": …}`.
        mutating func siren(current: JSONValue?) throws(RPCError) {
            let on = intent["state"] == nil ? true : try onOffValue("state", current: current)
            var variables = JSONObject()
            if let tone = intent["tone"] {
                let tones = config["available_tones"]?.arrayValue?.compactMap(\.scalarText) ?? []
                guard config["support_tone"]?.boolValue != false, let name = tone.scalarText, tones.isEmpty || tones.contains(name) else {
                    throw .invalidParams("tone", "siren '\(entity.key)' accepts the tones \(tones.isEmpty ? "none" : tones.joined(separator: ", ")), got \(tone.jsonString)")
                }
                variables["tone"] = tone
            }
            if intent["volume_level"] != nil {
                guard config["support_volume_set"]?.boolValue != false else { throw .invalidParams("volume_level", "siren '\(entity.key)' has no volume") }
                variables["volume_level"] = EntityBehavior.number(try numeric("volume_level", in: 0...1))
            }
            if intent["duration"] != nil {
                guard config["support_duration"]?.boolValue != false else { throw .invalidParams("duration", "siren '\(entity.key)' has no duration") }
                variables["duration"] = EntityBehavior.number(try numeric("duration", in: 0...86_400))
            }
            if !on && !variables.isEmpty {
                throw .invalidParams("state", "tone, volume_level and duration go with state ON, not OFF")
            }
            let payload = on ? (string("payload_on") ?? "ON") : (string("payload_off") ?? "OFF")
            let templateKey = on ? "command_template" : "command_off_template"
            var message: String
            if string(templateKey) != nil {
                var all = variables
                all["state"] = .string(payload)
                message = try render(templateKey, payload, all)
            } else {
                // Home Assistant's order: the state, then the service's options.
                var object: JSONObject = ["state": .string(payload)]
                for (key, value) in variables { object[key] = value }
                message = JSONValue.object(object).jsonString
            }
            if entity.discovery == nil && variables.isEmpty { message = payload }
            publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: message))
            expected["value"] = on ? "ON" : "OFF"
            scalarKey = "value"
        }

        /// `start_mowing`, `pause` or `dock`, each on its own topic (Home Assistant's lawn_mower).
        mutating func lawnMower() throws(RPCError) {
            let action = intent["state"]?.stringValue?.lowercased() ?? ""
            let actions = ["start_mowing", "pause", "dock"]
            guard actions.contains(action) else {
                throw .invalidParams("state", "lawn_mower '\(entity.key)' accepts start_mowing, pause or dock, got \(intent["state"]?.jsonString ?? "null")")
            }
            let topic = try topic("\(action)_command_topic", for: "state")
            publishes.append(Publish(topic: topic, payload: try render("\(action)_command_template", action)))
            if string("activity_state_topic") != nil {
                expected["value"] = .string(["start_mowing": "mowing", "pause": "paused", "dock": "docked"][action]!)
                scalarKey = "value"
            }
        }

        /// `install` publishes `payload_install`; an update entity without one cannot install.
        mutating func update() throws(RPCError) {
            guard intent["state"]?.stringValue?.lowercased() == "install" else {
                throw .invalidParams("state", "update '\(entity.key)' accepts install, got \(intent["state"]?.jsonString ?? "null")")
            }
            guard let payload = string("payload_install") else {
                throw .invalidParams("state", "update '\(entity.key)' has no payload_install, so it cannot install")
            }
            publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: payload))
        }

        mutating func notify() throws(RPCError) {
            guard let message = intent["message"]?.stringValue else {
                throw .invalidParams("message", "notify '\(entity.key)' takes message (a string)")
            }
            publishes.append(Publish(topic: try topic("command_topic", for: "message"), payload: try render("command_template", message)))
        }

        /// date (`YYYY-MM-DD`), time (`HH:MM[:SS]`) and datetime (ISO 8601), checked before they are sent.
        mutating func moment() throws(RPCError) {
            scalarKey = "value"
            guard let value = intent["value"]?.stringValue, let normalized = Self.moment(value, platform: entity.platform) else {
                let shapes = ["date": "YYYY-MM-DD", "time": "HH:MM or HH:MM:SS", "datetime": "an ISO 8601 date and time (2026-05-01T07:30:00+02:00)"]
                throw .invalidParams("value", "\(entity.platform) '\(entity.key)' takes \(shapes[entity.platform] ?? "a string"), got \(intent["value"]?.jsonString ?? "null")")
            }
            publishes.append(Publish(topic: try topic("command_topic", for: "value"), payload: try render("command_template", normalized)))
            expected["value"] = .string(normalized)
        }

        static func moment(_ text: String, platform: String) -> String? {
            func digits(_ part: Substring, _ count: Int, _ range: ClosedRange<Int>) -> Bool {
                part.count == count && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) && Int(part).map(range.contains) == true
            }
            func isDate(_ part: Substring) -> Bool {
                let fields = part.split(separator: "-", omittingEmptySubsequences: false)
                return fields.count == 3 && digits(fields[0], 4, 1...9999) && digits(fields[1], 2, 1...12) && digits(fields[2], 2, 1...31)
            }
            func isTime(_ part: Substring) -> Bool {
                let fields = part.split(separator: ":", omittingEmptySubsequences: false)
                guard fields.count == 2 || fields.count == 3, digits(fields[0], 2, 0...23), digits(fields[1], 2, 0...59) else { return false }
                guard fields.count == 3 else { return true }
                let seconds = fields[2].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                return digits(seconds[0], 2, 0...59) && (seconds.count == 1 || (!seconds[1].isEmpty && seconds[1].allSatisfy { $0.isASCII && $0.isNumber }))
            }
            switch platform {
            case "date": return isDate(text[...]) ? text : nil
            case "time": return isTime(text[...]) ? text : nil
            default:
                guard let separator = text.firstIndex(where: { $0 == "T" || $0 == " " }), isDate(text[..<separator]) else { return nil }
                var rest = text[text.index(after: separator)...]
                if rest.hasSuffix("Z") {
                    rest = rest.dropLast()
                } else if let sign = rest.lastIndex(where: { $0 == "+" || $0 == "-" }) {
                    let zone = rest[rest.index(after: sign)...]
                    let parts = zone.split(separator: ":", omittingEmptySubsequences: false)
                    guard (parts.count == 2 && digits(parts[0], 2, 0...23) && digits(parts[1], 2, 0...59)) || digits(zone, 4, 0...2359) else { return nil }
                    rest = rest[..<sign]
                }
                return isTime(rest) ? text : nil
            }
        }

        mutating func press() throws(RPCError) {
            let action = intent["state"]?.stringValue?.lowercased()
            guard action == "press" || action == "on" || action == "activate" else {
                throw .invalidParams("state", "\(entity.platform) '\(entity.key)' accepts press (or activate), got \(intent["state"]?.jsonString ?? "null")")
            }
            let payload = string(entity.platform == "button" ? "payload_press" : "payload_on") ?? (entity.platform == "button" ? "PRESS" : "ON")
            publishes.append(Publish(topic: try topic("command_topic", for: "state"), payload: try render("command_template", payload)))
        }
    }
}
