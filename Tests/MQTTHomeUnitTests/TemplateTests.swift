import Testing

@testable import MQTTHome

@Suite("Templates: the Jinja subset of discovery payloads, with Home Assistant's filter semantics")
struct TemplateTests {
    private func render(_ source: String, _ payload: String) throws -> String {
        let json = try? JSONParser.parse(payload)
        return try Template.compile(source).render(Template.Context(payload: payload, json: json))
    }

    @Test(
        "renders the forms real producers emit",
        arguments: [
            // Zigbee2MQTT
            ("{{ value_json.temperature }}", #"{"temperature": 21.5}"#, "21.5"),
            ("{{ value_json['color_temp'] }}", #"{"color_temp": 370}"#, "370"),
            (#"{{ value_json["update-available"] }}"#, #"{"update-available": true}"#, "True"),
            ("{{ value_json.update.state }}", #"{"update": {"state": "idle"}}"#, "idle"),
            // Tasmota
            ("{{value_json.ENERGY.Power}}", #"{"ENERGY": {"Power": 12}}"#, "12"),
            ("{{ value_json.POWER }}", #"{"POWER": "ON"}"#, "ON"),
            // ESPHome and documentation examples
            ("{{ value }}", "42", "42"),
            ("{{ value | float * 10 }}", "2.5", "25.0"),
            ("{{ value_json.x | round(1) }}", #"{"x": 21.55}"#, "21.6"),
            ("{{ value_json.x | round }}", #"{"x": 21.5}"#, "22"),
            ("{{ value_json.x | round(0) }}", #"{"x": 2.5}"#, "2"),
            ("{{ value_json.x | int }}", #"{"x": "21.7"}"#, "21"),
            ("{{ value_json.x | float(0) }}", #"{"x": "n/a"}"#, "0"),
            ("{{ value_json.missing | float(0) }}", "{}", "0"),
            ("{{ value_json.x | lower }}", #"{"x": "ON"}"#, "on"),
            ("{{ value | upper }}", "on", "ON"),
            ("{{ 'ON' if value_json.x else 'OFF' }}", #"{"x": true}"#, "ON"),
            ("{{ 'ON' if value_json.x == 'open' else 'OFF' }}", #"{"x": "closed"}"#, "OFF"),
            ("{% if value_json.x > 10 %}high{% else %}low{% endif %}", #"{"x": 11}"#, "high"),
            ("{% if value == '1' %}ON{% elif value == '0' %}OFF{% else %}None{% endif %}", "0", "OFF"),
            ("{%- if value_json.a -%}  yes  {%- endif -%}", #"{"a": 1}"#, "yes"),
            (#"{{ "offline" }}"#, "anything", "offline"),
            ("{{ value_json.tst | timestamp_utc }}", #"{"tst": 1700000000}"#, "2023-11-14T22:13:20+00:00"),
            ("{{ (value_json.a + value_json.b) / 2 }}", #"{"a": 3, "b": 4}"#, "3.5"),
            ("{{ value_json.a // 2 }} {{ value_json.a % 4 }} {{ -value_json.a }}", #"{"a": 7}"#, "3 3 -7"),
            ("{{ value_json.a ~ ' W' }}", #"{"a": 7}"#, "7 W"),
            ("{{ value_json.missing }}", "{}", ""),
            ("{{ value_json.list[1] }}", #"{"list": [1, 2]}"#, "2"),
            ("{{ value.split(',')[1] }}", "a,b", "b"),
            ("{{ value_json.x is defined }}", "{}", "False"),
            ("{{ value_json.x | default('none') }}", "{}", "none"),
            ("{{ value_json.state | bool }}", #"{"state": "on"}"#, "True"),
            ("{{ 'on' in value }}", "turned on", "True"),
            ("{{ value_json.x is not none and value_json.x > 0 }}", #"{"x": 2}"#, "True"),
            ("{% set t = value_json.x | float %}{{ t * 2 }}", #"{"x": "1.5"}"#, "3.0"),
            ("{{ float(value) + 1 }}", "1", "2.0"),
            ("{{ value_json.x | abs }}", #"{"x": -3}"#, "3"),
            ("{{ 2 ** 10 }}", "", "1024"),
            ("{{ value_json.x | round(2, 'floor') }}", #"{"x": 1.239}"#, "1.23"),
            ("{{ value_json }}", #"{"a": 1}"#, "{'a': 1}"),
            ("{# a comment #}{{ value }}", "v", "v"),
        ]
    )
    func renders(source: String, payload: String, expected: String) throws {
        #expect(try render(source, payload) == expected)
    }

    @Test(
        "refuses constructs outside the subset at compile time, naming them",
        arguments: [
            ("{% for x in value_json %}{{ x }}{% endfor %}", "'{% for %}'"),
            ("{{ states('sensor.x') }}", "function 'states()'"),
            ("{{ value | regex_replace('a', 'b') }}", "filter 'regex_replace'"),
            ("{{ value", "never closed"),
            ("{% if value %}yes", "without '{% endif %}'"),
            ("{{ value_json.x.y( ) }}", "method '.y()'"),
            ("{{ value | int(base=16) }}", "keyword arguments"),
            ("{{ value $ 2 }}", "character '$'"),
        ]
    )
    func unsupported(source: String, reason: String) {
        #expect {
            try Template.compile(source)
        } throws: { error in
            guard case TemplateError.unsupported(let what) = error else { return false }
            return what.contains(reason)
        }
    }

    @Test(
        "fails a single render the way Home Assistant does, without a default",
        arguments: [
            ("{{ value | float }}", "n/a", "float got 'n/a'"),
            ("{{ value_json.a.b }}", "{}", "of an undefined value"),
            ("{{ value_json.a | int }}", "{}", "int got an undefined value"),
            ("{{ value_json.a / 0 }}", #"{"a": 1}"#, "division by zero"),
            ("{{ value_json.a + 'x' }}", #"{"a": 1}"#, "cannot apply '+'"),
        ]
    )
    func renderErrors(source: String, payload: String, reason: String) throws {
        let template = try Template.compile(source)
        #expect {
            try template.render(Template.Context(payload: payload, json: try? JSONParser.parse(payload)))
        } throws: { error in
            guard case TemplateError.render(let what) = error else { return false }
            return what.contains(reason)
        }
    }

    @Test("evaluate() keeps the value of a single expression (json_attributes_template)")
    func evaluateKeepsValues() throws {
        let template = try Template.compile("{{ value_json.attrs }}")
        let value = try template.evaluate(Template.Context(payload: "", json: #"{"attrs": {"a": 1}}"#.parsedJSON))
        #expect(value == ["a": 1])
    }
}

extension String {
    var parsedJSON: JSONValue? { try? JSONParser.parse(self) }
}
