import Testing

@testable import MQTTHome

@Suite("JSON parser and serializer")
struct JSONParserTests {
    @Test("parses every JSON type and keeps integers as integers")
    func parsesTypes() throws {
        let value = try JSONParser.parse(#" {"a": 1, "b": -2.5, "c": "x", "d": [true, false, null], "e": {}, "f": 1e3} "#)
        #expect(value["a"] == .int(1))
        #expect(value["b"] == .double(-2.5))
        #expect(value["c"] == "x")
        #expect(value["d"] == [true, false, nil])
        #expect(value["e"] == .object(JSONObject()))
        #expect(value["f"] == .double(1000))
        #expect(value.objectValue?.keys == ["a", "b", "c", "d", "e", "f"])
    }

    @Test("decodes escapes, including surrogate pairs")
    func escapes() throws {
        let value = try JSONParser.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#)
        #expect(value == .string("a\"b\\c/d\n\té😀"))
    }

    @Test(
        "rejects malformed input with a position",
        arguments: [
            ("{", "expected a string key"), ("{\"a\" 1}", "expected ':'"), ("[1,]", "unexpected character"),
            ("01", "unexpected data after"), ("\"\u{01}\"", "control character"), ("{} x", "unexpected data after"),
            ("\"\\ud800\"", "surrogate"), ("nul", "unexpected end"), ("1e999", "out of range"), ("-", "invalid number"), ("nulL", "invalid literal"),
        ]
    )
    func rejects(input: String, fragment: String) {
        #expect {
            try JSONParser.parse(input)
        } throws: { error in
            "\(error)".contains(fragment) && "\(error)".contains("at byte")
        }
    }

    @Test("rejects invalid UTF-8 inside strings")
    func invalidUTF8() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
    }

    @Test("bounds nesting depth instead of overflowing the stack")
    func depthLimit() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        _ = try JSONParser.parse(fine)
    }

    @Test("serializes compactly in insertion order and round-trips")
    func roundTrip() throws {
        let value: JSONValue = ["z": 1, "a": [1.5, "q\"\n\u{1}", nil], "m": ["k": false]]
        #expect(value.jsonString == #"{"z":1,"a":[1.5,"q\"\n\u0001",null],"m":{"k":false}}"#)
        #expect(try JSONParser.parse(value.jsonString) == value)
        #expect(try JSONParser.parse(value.prettyJSONString) == value)
        #expect(JSONValue.double(2).jsonString == "2.0")
        #expect(JSONValue.double(.nan).jsonString == "null")
    }

    @Test("a duplicate key keeps its first position and its last value")
    func duplicateKeys() throws {
        let value = try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#)
        #expect(value.objectValue?.keys == ["a", "b"])
        #expect(value["a"] == 3)
    }
}

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("strings: runs copied whole, every escape HA and JSON need, non-ASCII kept, and it all reads back")
    func escapes() throws {
        let cases: [(String, String)] = [
            ("plain", #""plain""#),
            ("", #""""#),
            (#"a"b\c"#, #""a\"b\\c""#),
            ("line\nbreak\ttab\r\u{8}\u{C}", #""line\nbreak\ttab\r\b\f""#),
            ("\u{0}\u{1F}x", #""\u0000\u001fx""#),
            ("温度 °C é 🌡", "\"温度 °C é 🌡\""),
            ("\"", #""\"""#),
            ("end\\", #""end\\""#),
        ]
        for (value, expected) in cases {
            let written = JSONValue.string(value).jsonString
            #expect(written == expected, "\(value.debugDescription)")
            #expect(try JSONParser.parse(written) == .string(value))
        }
    }

    @Test("numbers: integers digit by digit (both ends of Int64), doubles as Swift prints them, whole doubles keep .0")
    func numbers() throws {
        let integers: [Int64] = [0, 7, -7, 10, 1_000_000, Int64.max, Int64.min, -1]
        for value in integers {
            #expect(JSONValue.int(value).jsonString == String(value))
            #expect(try JSONParser.parse(JSONValue.int(value).jsonString) == .int(value))
        }
        let doubles: [(Double, String)] = [(21.5, "21.5"), (-0.25, "-0.25"), (2, "2.0"), (-3, "-3.0"), (1e20, "1e+20"), (0.1, "0.1")]
        for (value, expected) in doubles {
            #expect(JSONValue.double(value).jsonString == expected)
            #expect(try JSONParser.parse(expected).doubleValue == value)
        }
        #expect(JSONValue.double(.infinity).jsonString == "null")
        #expect(JSONValue.array([.double(-.infinity), .double(.nan)]).jsonString == "[null,null]")
    }

    @Test("pretty output: two spaces per level, a space after colons, empty containers on one line")
    func pretty() {
        let value: JSONValue = ["a": [1, ["b": "c"]], "e": [:], "f": []]
        #expect(value.prettyJSONString == "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"c\"\n    }\n  ],\n  \"e\": {},\n  \"f\": []\n}")
        #expect(Array(value.jsonString.utf8) == value.jsonBytes)
    }

    @Test("JSONObject keeps insertion order and dictionary semantics on both sides of its index threshold")
    func objectSemantics() {
        for size in [3, JSONObject.indexedCount, JSONObject.indexedCount + 1, 100] {
            var object = JSONObject()
            for n in 0..<size { object["k\(n)"] = .int(Int64(n)) }
            #expect(object.count == size)
            #expect(object.keys == (0..<size).map { "k\($0)" })
            object["k1"] = "changed"
            #expect(object["k1"] == "changed" && object.keys[1] == "k1", "an update keeps the position")
            object["k0"] = nil
            #expect(object["k0"] == nil && object.count == size - 1 && object.keys.first == "k1")
            for n in 2..<size { #expect(object["k\(n)"] == .int(Int64(n)), "size \(size): k\(n)") }
            object["new"] = true
            #expect(object.keys.last == "new" && object["new"] == true)
            #expect(object.map(\.key) == object.keys)
            // Equal and hashed alike whatever the order.
            let reversed = JSONObject(object.reversed().map { ($0.key, $0.value) })
            #expect(reversed == object && reversed.hashValue == object.hashValue)
            var other = object
            other["k2"] = "different"
            #expect(other != object)
        }
        // A duplicate key in parsed input keeps its first position and its last value.
        let parsed = try? JSONParser.parse(Array(#"{"a":1,"b":2,"a":3}"#.utf8))
        #expect(parsed?.objectValue?.keys == ["a", "b"] && parsed?["a"] == 3)
    }
}
