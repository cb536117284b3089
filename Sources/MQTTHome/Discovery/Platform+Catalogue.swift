/// One entry per Home Assistant MQTT platform (protocols.md §1.7, §1.10): required keys from HA's platform
/// schemas, state dialects with HA's defaults, control dialects, plugin port words.
extension Platform {
    static let onOffIntents = ["state", "value"]

    public static let catalogue: [Platform] = [
        Platform(
            "alarm_control_panel", requires: { _ in ["state_topic", "command_topic"] }, dialect: .onOff, intents: onOffIntents, rank: 6
        ),
        Platform(
            "binary_sensor", requires: { _ in ["state_topic"] },
            state: { $0.add("state_topic", "value_template", nil, .onOff(on: $0.payloadOn, off: $0.payloadOff)) },
            dialect: .onOff, intents: onOffIntents, rank: 2, announce: { $0.config["value_template"] = .string(DiscoveryAnnouncement.Component.onOffTemplate($0.key)) }
        ),
        Platform(
            "button", requires: { _ in ["command_topic"] }, dialect: .press, intents: ["state"], portWords: ["button", "按钮"],
            announce: { $0.withoutState(); $0.commands(to: ["payload_press": ["state": "press"]]) }
        ),
        Platform("camera", requires: { _ in ["topic"] }, state: readText, dialect: .onOff, intents: onOffIntents, rank: 3),
        Platform(
            "climate", state: readClimate, dialect: .climate, intents: ["temperature", "mode", "fan_mode", "preset_mode"],
            numericIntent: "temperature", portWords: climateWords, rank: 16
        ),
        Platform(
            "cover", state: readCover, dialect: .cover, intents: ["state", "position", "tilt"], numericIntent: "position",
            portWords: ["cover", "curtain", "blind", "shutter", "shade", "garage", "窗帘"], rank: 15, announce: announceOpenClose
        ),
        Platform(
            "device_automation", requires: { _ in ["topic", "type", "subtype", "automation_type"] }, state: readText,
            dialect: .onOff, intents: onOffIntents, manual: false
        ),
        Platform("date", requires: { _ in ["command_topic"] }, state: readText, dialect: .date, intents: ["value"]),
        Platform("datetime", requires: { _ in ["command_topic"] }, state: readText, dialect: .dateTime, intents: ["value"]),
        Platform("device_tracker", state: readText, dialect: .onOff, intents: onOffIntents),
        Platform("event", requires: { _ in ["state_topic", "event_types"] }, state: readText),
        Platform(
            "fan", requires: { _ in ["command_topic"] }, state: readFan, dialect: .fan, intents: ["state", "percentage", "preset_mode"],
            numericIntent: "percentage", portWords: ["fan", "风扇"], rank: 14,
            announce: announceOnOff("state_value_template", matchingPayloads: true)
        ),
        Platform(
            "humidifier", requires: { _ in ["command_topic", "target_humidity_command_topic"] }, state: readHumidifier,
            dialect: .onOff, intents: onOffIntents, rank: 10
        ),
        Platform("image", state: readText),
        /// An emitter sends codes on its command topic; a receiver reports them on its state topic (2026).
        Platform(
            "infrared", requires: { $0["schema"]?.stringValue == "receiver" ? ["state_topic"] : ["command_topic"] }, state: readText,
            dialect: .onOff, intents: ["value"]
        ),
        Platform(
            "lawn_mower", state: { $0.add("activity_state_topic", "activity_value_template", nil, .text) }, dialect: .lawnMower,
            intents: ["state"], rank: 7
        ),
        Platform(
            "light", requires: { _ in ["command_topic"] }, state: readLight, dialect: .light,
            intents: ["state", "brightness", "color_temp", "rgb"], numericIntent: "brightness",
            portWords: ["light", "led", "lamp", "bulb", "灯", "灯光"], portFallback: ["switch"], rank: 17,
            announce: announceOnOff("state_value_template", matchingPayloads: true)
        ),
        Platform(
            "lock", requires: { _ in ["command_topic"] }, state: readLock, dialect: .lock, intents: ["state"],
            portWords: ["lock", "锁", "门锁"], rank: 13,
            announce: { component in
                component.commands(to: ["payload_lock": ["state": "lock"], "payload_unlock": ["state": "unlock"]])
                component.readValue(" | string | upper")
            }
        ),
        Platform(
            "notify", requires: { _ in ["command_topic"] }, state: { _ in }, dialect: .notify, intents: ["message"],
            announce: { component in
                component.withoutState()
                component.config["command_topic"] = .string(component.setTopic)
                component.config["command_template"] = .string(component.commandTemplate("message", quoted: true))
            }
        ),
        Platform(
            "number", requires: { _ in ["command_topic"] }, dialect: .number, intents: ["value"], numericIntent: "value",
            portWords: ["number", "数值"],
            announce: { component in
                component.config["command_topic"] = .string(component.setTopic)
                component.config["command_template"] = .string(component.commandTemplate("value", quoted: false))
                component.readValue()
            }
        ),
        Platform(
            "scene", requires: { _ in ["command_topic"] }, dialect: .press, intents: ["state"], portWords: ["scene", "场景"],
            announce: { $0.withoutState(); $0.commands(to: ["payload_on": ["state": "activate"]]) }
        ),
        Platform(
            "select", requires: { _ in ["command_topic", "options"] }, state: readText, dialect: .select, intents: ["value"],
            numericIntent: "value",
            announce: { component in
                // Home Assistant requires the options; without them the value is shown read-only.
                guard let options = component.options, !options.isEmpty else { return DiscoveryAnnouncement.Component.readOnly(&component) }
                component.config["options"] = .array(options.map(JSONValue.string))
                component.config["command_topic"] = .string(component.setTopic)
                component.config["command_template"] = .string(component.commandTemplate("value", quoted: true))
                component.readValue()
            }
        ),
        Platform(
            "sensor", requires: { _ in ["state_topic"] }, dialect: .onOff, intents: onOffIntents, rank: 1,
            announce: { component in
                component.readValue()
                if component.config["unit_of_measurement"] != nil { component.config["state_class"] = "measurement" }
            }
        ),
        Platform(
            "siren", requires: { _ in ["command_topic"] },
            state: { reading in
                let on = reading.string("state_on") ?? reading.payloadOn
                let off = reading.string("state_off") ?? reading.payloadOff
                reading.add("state_topic", "state_value_template", nil, .onOff(on: on, off: off))
            },
            dialect: .siren, intents: ["state", "tone", "volume_level", "duration"], rank: 5,
            announce: { component in
                announceOnOff("state_value_template")(&component)
                // With a template Home Assistant sends the payload as it is, not wrapped in {"state": …}.
                component.config["command_template"] = "{{ value }}"
                component.config["command_off_template"] = "{{ value }}"
            }
        ),
        Platform(
            "switch", requires: { _ in ["command_topic"] },
            state: { reading in
                let on = reading.string("state_on") ?? reading.payloadOn
                let off = reading.string("state_off") ?? reading.payloadOff
                reading.add("state_topic", "value_template", nil, .onOff(on: on, off: off))
            },
            dialect: .onOff, intents: onOffIntents,
            portWords: ["switch", "relay", "outlet", "plug", "socket", "开关", "继电器", "插座"], portFallback: ["light"], rank: 12,
            announce: announceOnOff("value_template")
        ),
        Platform("tag", requires: { _ in ["topic"] }, state: readText, dialect: .onOff, intents: onOffIntents),
        Platform(
            "text", requires: { _ in ["command_topic"] }, state: readText, dialect: .text, intents: ["value"], numericIntent: "value",
            announce: { component in
                component.config["command_topic"] = .string(component.setTopic)
                component.config["command_template"] = .string(component.commandTemplate("value", quoted: true))
                component.readValue()
            }
        ),
        Platform("time", requires: { _ in ["command_topic"] }, state: readText, dialect: .time, intents: ["value"]),
        Platform(
            "update", state: { $0.add("state_topic", "value_template", nil, .typed); $0.add("latest_version_topic", "latest_version_template", "latest_version", .text) },
            dialect: .update, intents: ["state"]
        ),
        Platform("vacuum", dialect: .onOff, intents: onOffIntents, rank: 8),
        Platform(
            "valve", state: readValve, dialect: .valve, intents: ["state", "position"], numericIntent: "position",
            portWords: ["valve", "阀门"], portFallback: ["switch"], rank: 11, announce: announceOpenClose
        ),
        Platform(
            "water_heater", state: readClimate, dialect: .waterHeater, intents: ["temperature", "mode"],
            numericIntent: "temperature", portWords: climateWords, rank: 9
        ),
    ]

    static let climateWords = ["climate", "thermostat", "ac", "hvac", "heater", "空调"]

    // MARK: - How manual entities are announced to Home Assistant

    /// ON/OFF commands as `{"state": …}` on the set topic, and the state read under `templateKey`: as ON/OFF
    /// with `state_on`/`state_off` (switch, siren), or as the command payloads themselves for the platforms that
    /// compare the state with those (light, fan).
    static func announceOnOff(_ templateKey: String, matchingPayloads: Bool = false) -> @Sendable (inout DiscoveryAnnouncement.Component) -> Void {
        { component in
            let on = component.command(["state": "ON"])
            let off = component.command(["state": "OFF"])
            component.config["command_topic"] = .string(component.setTopic)
            component.config["payload_on"] = .string(on)
            component.config["payload_off"] = .string(off)
            if matchingPayloads {
                component.config[templateKey] = .string(DiscoveryAnnouncement.Component.onOffTemplate(component.key, on: on, off: off))
            } else {
                component.config["state_on"] = "ON"
                component.config["state_off"] = "OFF"
                component.config[templateKey] = .string(DiscoveryAnnouncement.Component.onOffTemplate(component.key))
            }
        }
    }

    /// Covers and valves: open, close and stop as `{"state": …}`; the state read in lower case (`open`, `closed`).
    static let announceOpenClose: @Sendable (inout DiscoveryAnnouncement.Component) -> Void = { component in
        component.commands(to: ["payload_open": ["state": "open"], "payload_close": ["state": "close"], "payload_stop": ["state": "stop"]])
        component.readValue(" | string | lower")
    }

    // MARK: - State dialects shared by several platforms

    static func readText(_ reading: inout EntityBehavior.Inputs) {
        reading.add("state_topic", "value_template", nil, .text)
    }

    static func readLock(_ reading: inout EntityBehavior.Inputs) {
        let names = [
            ("state_locked", "LOCKED", "locked"), ("state_unlocked", "UNLOCKED", "unlocked"), ("state_locking", "LOCKING", "locking"),
            ("state_unlocking", "UNLOCKING", "unlocking"), ("state_jammed", "JAMMED", "jammed"), ("state_open", "OPEN", "open"),
            ("state_opening", "OPENING", "opening"),
        ]
        let named = names.map { key, payload, name in (payload: reading.string(key) ?? payload, name: name) }
        reading.add("state_topic", "value_template", nil, .named(named))
    }

    static func readCover(_ reading: inout EntityBehavior.Inputs) {
        let names = [("state_open", "open"), ("state_opening", "opening"), ("state_closed", "closed"), ("state_closing", "closing"), ("state_stopped", "stopped")]
        reading.add("state_topic", "value_template", "state", .named(names.map { key, name in (payload: reading.string(key) ?? name, name: name) }))
        let closed = reading.number("position_closed") ?? 0
        let open = reading.number("position_open") ?? 100
        reading.add("position_topic", "position_template", "position", .scaled(from: min(closed, open)...max(closed, open), to: 0...100))
        reading.add("tilt_status_topic", "tilt_status_template", "tilt", .typed)
    }

    /// A valve's state topic carries its state or, when it reports a position, a number (or JSON with both).
    static func readValve(_ reading: inout EntityBehavior.Inputs) {
        if reading.config["reports_position"]?.boolValue == true {
            let closed = reading.number("position_closed") ?? 0
            let open = reading.number("position_open") ?? 100
            reading.add("state_topic", "value_template", "position", .scaled(from: min(closed, open)...max(closed, open), to: 0...100))
            return
        }
        let names = [("state_open", "open"), ("state_opening", "opening"), ("state_closed", "closed"), ("state_closing", "closing")]
        reading.add("state_topic", "value_template", "state", .named(names.map { key, name in (payload: reading.string(key) ?? name, name: name) }))
    }

    static func readLight(_ reading: inout EntityBehavior.Inputs) {
        let brightnessScale = reading.number("brightness_scale") ?? 255
        switch reading.string("schema") ?? "basic" {
        case "json":
            reading.add("state_topic", nil, nil, .lightJSON(brightnessScale: brightnessScale))
        case "template":
            reading.add("state_topic", "state_template", "state", .onOff(on: "on", off: "off"))
            reading.add("state_topic", "brightness_template", "brightness", .scaled(from: 0...255, to: 0...255))
            reading.add("state_topic", "color_temp_template", "color_temp", .number)
        default:
            reading.add("state_topic", "state_value_template", "state", .onOff(on: reading.payloadOn, off: reading.payloadOff))
            reading.add("brightness_state_topic", "brightness_value_template", "brightness", .scaled(from: 0...brightnessScale, to: 0...255))
            reading.add("color_temp_state_topic", "color_temp_value_template", "color_temp", .number)
            reading.add("rgb_state_topic", "rgb_value_template", "rgb", .rgb)
            reading.add("effect_state_topic", "effect_value_template", "effect", .text)
        }
    }

    static func readFan(_ reading: inout EntityBehavior.Inputs) {
        reading.add("state_topic", "state_value_template", "state", .onOff(on: reading.payloadOn, off: reading.payloadOff))
        let speeds = (reading.number("speed_range_min") ?? 1) - 1...(reading.number("speed_range_max") ?? 100)
        reading.add("percentage_state_topic", "percentage_value_template", "percentage", .scaled(from: speeds, to: 0...100))
        reading.add("preset_mode_state_topic", "preset_mode_value_template", "preset_mode", .text)
        let oscillation = EntityBehavior.Kind.onOff(
            on: reading.string("payload_oscillation_on") ?? "oscillate_on", off: reading.string("payload_oscillation_off") ?? "oscillate_off"
        )
        reading.add("oscillation_state_topic", "oscillation_value_template", "oscillation", oscillation)
    }

    static func readClimate(_ reading: inout EntityBehavior.Inputs) {
        reading.add("mode_state_topic", "mode_state_template", "mode", .text)
        reading.add("temperature_state_topic", "temperature_state_template", "temperature", .number)
        reading.add("current_temperature_topic", "current_temperature_template", "current_temperature", .number)
        reading.add("action_topic", "action_template", "action", .text)
        reading.add("fan_mode_state_topic", "fan_mode_state_template", "fan_mode", .text)
        reading.add("preset_mode_state_topic", "preset_mode_value_template", "preset_mode", .text)
        reading.add("swing_mode_state_topic", "swing_mode_state_template", "swing_mode", .text)
        reading.add("temperature_low_state_topic", "temperature_low_state_template", "temperature_low", .number)
        reading.add("temperature_high_state_topic", "temperature_high_state_template", "temperature_high", .number)
    }

    static func readHumidifier(_ reading: inout EntityBehavior.Inputs) {
        reading.add("state_topic", "state_value_template", "state", .onOff(on: reading.payloadOn, off: reading.payloadOff))
        reading.add("target_humidity_state_topic", "target_humidity_state_template", "humidity", .number)
        reading.add("mode_state_topic", "mode_state_template", "mode", .text)
        reading.add("current_humidity_topic", "current_humidity_template", "current_humidity", .number)
    }
}
