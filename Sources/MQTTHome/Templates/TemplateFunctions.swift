import Foundation

/// The filters, functions, methods and tests of the supported subset, with Home Assistant's semantics: `float`,
/// `int`, `round` and the timestamp filters fail without a default (HA's "forgiving" filters), `round(0)` is an int.
enum TemplateFunctions {
    static let filters: Set<String> = [
        "float", "int", "round", "lower", "upper", "default", "d", "timestamp_local", "timestamp_utc", "string", "trim",
        "abs", "bool", "length", "count", "tojson", "to_json", "from_json", "capitalize", "title", "replace",
        "is_defined", "multiply", "first", "last",
    ]
    /// Functions callable as `float(x)`: the same code as the filter of that name.
    static let functions: Set<String> = ["float", "int", "bool", "round", "timestamp_local", "timestamp_utc"]
    static let methods: Set<String> = ["split", "lower", "upper", "strip", "replace", "startswith", "endswith", "get", "title", "capitalize"]
    static let tests: Set<String> = ["defined", "undefined", "none", "number", "string", "mapping", "boolean", "integer", "float", "even", "odd"]

    /// `replace`, refused before it runs when its worst case (every match, or between every character for an empty
    /// target) would exceed ``Template/maxValueBytes``.
    static func replaced(_ text: String, _ target: String, _ replacement: String) throws(TemplateError) -> String {
        let growth = replacement.utf8.count - target.utf8.count
        if growth > 0 {
            let matches = target.isEmpty ? text.count + 1 : text.utf8.count / target.utf8.count
            let (extra, overflow) = matches.multipliedReportingOverflow(by: growth)
            try Template.checkSize(overflow ? Int.max : text.utf8.count + extra, "replace")
        }
        return text.replacingOccurrences(of: target, with: replacement)
    }

    static func filter(_ name: String, _ value: Template.Value, _ arguments: [Template.Value]) throws(TemplateError) -> Template.Value {
        let fallback = arguments.first
        switch name {
        case "float":
            if let number = toDouble(value) { return .json(.double(number)) }
            return try orDefault(fallback, name, value)
        case "int":
            if let number = toInt(value) { return .json(.int(number)) }
            return try orDefault(fallback, name, value)
        case "round":
            let precision = arguments.first?.json.integer ?? 0
            let method = arguments.count > 1 ? arguments[1].json.stringValue ?? "common" : "common"
            guard let number = toDouble(value) else {
                return try orDefault(arguments.count > 2 ? arguments[2] : nil, name, value)
            }
            let multiplier = pow(10, Double(precision))
            let rounded: Double
            switch method {
            case "ceil": rounded = (number * multiplier).rounded(.up) / multiplier
            case "floor": rounded = (number * multiplier).rounded(.down) / multiplier
            case "half": rounded = (number * 2).rounded(.toNearestOrEven) / 2
            default: rounded = (number * multiplier).rounded(.toNearestOrEven) / multiplier
            }
            if precision == 0, rounded.isFinite, abs(rounded) < 9e18 { return .json(.int(Int64(rounded))) }
            return .json(.double(rounded))
        case "lower": return .json(.string(value.rendered.lowercased()))
        case "upper": return .json(.string(value.rendered.uppercased()))
        case "capitalize":
            let text = value.rendered
            return .json(.string(text.prefix(1).uppercased() + text.dropFirst().lowercased()))
        case "title": return .json(.string(value.rendered.capitalized))
        case "trim": return .json(.string(value.rendered.trimmed))
        case "string": return .json(.string(value.rendered))
        case "default", "d":
            let useIfFalsy = arguments.count > 1 && arguments[1].isTruthy
            if case .undefined = value { return fallback ?? .json(.string("")) }
            if useIfFalsy && !value.isTruthy { return fallback ?? .json(.string("")) }
            return value
        case "abs":
            switch value.json {
            case .int(let number): return .json(.int(number.magnitude > UInt64(Int64.max) ? number : abs(number)))
            case .double(let number): return .json(.double(abs(number)))
            case let other: throw .render("abs of \(other.typeName)")
            }
        case "bool":
            if let flag = toBool(value) { return .json(.bool(flag)) }
            return try orDefault(fallback, name, value)
        case "length", "count":
            switch value.json {
            case .string(let text): return .json(.int(Int64(text.count)))
            case .array(let values): return .json(.int(Int64(values.count)))
            case .object(let object): return .json(.int(Int64(object.count)))
            case let other: throw .render("length of \(other.typeName)")
            }
        case "first", "last":
            switch value.json {
            case .array(let values):
                return (name == "first" ? values.first : values.last).map(Template.Value.json) ?? .undefined
            case .string(let text):
                return (name == "first" ? text.first : text.last).map { .json(.string(String($0))) } ?? .undefined
            case let other: throw .render("\(name) of \(other.typeName)")
            }
        case "tojson", "to_json": return .json(.string(value.json.jsonString))
        case "from_json":
            guard let parsed = try? JSONParser.parse(value.rendered, maxDepth: 32) else {
                throw .render("from_json: not JSON: '\(value.rendered.prefix(40))'")
            }
            return .json(parsed)
        case "replace":
            guard arguments.count >= 2 else { throw .render("replace needs two arguments") }
            return .json(.string(try replaced(value.rendered, arguments[0].rendered, arguments[1].rendered)))
        case "is_defined":
            if case .undefined = value { throw .render("a value is undefined") }
            return value
        case "multiply":
            guard let number = toDouble(value), let factor = fallback?.json.numeric else {
                return try orDefault(arguments.count > 1 ? arguments[1] : nil, name, value)
            }
            return .json(.double(number * factor))
        case "timestamp_local", "timestamp_utc":
            guard let seconds = value.json.numeric, case .json(let raw) = value, raw.isNumber, seconds.isFinite,
                abs(seconds) < 253_402_300_800
            else {
                return try orDefault(fallback, name, value)
            }
            return .json(.string(isoFormat(seconds, local: name == "timestamp_local")))
        default:
            throw .unsupported("the filter '\(name)'")
        }
    }

    static func method(_ name: String, _ value: Template.Value, _ arguments: [Template.Value]) throws(TemplateError) -> Template.Value {
        if name == "get" {
            guard case .object(let object) = value.json, let key = arguments.first?.json.stringValue else {
                throw .render(".get() of \(value.json.typeName)")
            }
            return object[key].map(Template.Value.json) ?? (arguments.count > 1 ? arguments[1] : .json(.null))
        }
        guard case .string(let text) = value.json else { throw .render(".\(name)() of \(value.json.typeName)") }
        switch name {
        case "split":
            let parts: [String]
            if let separator = arguments.first?.json.stringValue, !separator.isEmpty {
                parts = text.components(separatedBy: separator)
            } else {
                parts = text.split(whereSeparator: \.isWhitespace).map(String.init)
            }
            return .json(.array(parts.map(JSONValue.string)))
        case "lower": return .json(.string(text.lowercased()))
        case "upper": return .json(.string(text.uppercased()))
        case "title": return .json(.string(text.capitalized))
        case "capitalize": return .json(.string(text.prefix(1).uppercased() + text.dropFirst().lowercased()))
        case "strip": return .json(.string(text.trimmed))
        case "replace":
            guard arguments.count >= 2 else { throw .render(".replace() needs two arguments") }
            return .json(.string(try replaced(text, arguments[0].rendered, arguments[1].rendered)))
        case "startswith": return .json(.bool(text.hasPrefix(arguments.first?.rendered ?? "")))
        case "endswith": return .json(.bool(text.hasSuffix(arguments.first?.rendered ?? "")))
        default: throw .unsupported("the method '.\(name)()'")
        }
    }

    static func test(_ name: String, _ value: Template.Value) -> Bool {
        let json = value.json
        switch name {
        case "defined": if case .undefined = value { return false } else { return true }
        case "undefined": if case .undefined = value { return true } else { return false }
        case "none": return value == .json(.null)
        case "number": return json.isNumber
        case "integer": if case .int = json { return true } else { return false }
        case "float": if case .double = json { return true } else { return false }
        case "string": if case .string = json, value != .undefined { return true } else { return false }
        case "mapping": return json.objectValue != nil
        case "boolean": return json.boolValue != nil
        case "even": return json.integer.map { $0 % 2 == 0 } ?? false
        case "odd": return json.integer.map { $0 % 2 != 0 } ?? false
        default: return false
        }
    }

    // MARK: - Conversions (Python's float() and Jinja's int)

    private static func orDefault(_ fallback: Template.Value?, _ name: String, _ value: Template.Value) throws(TemplateError) -> Template.Value {
        if let fallback { return fallback }
        let shown = value == .undefined ? "an undefined value" : "'\(value.rendered.prefix(40))'"
        throw .render("\(name) got \(shown) and no default was given")
    }

    static func toDouble(_ value: Template.Value) -> Double? {
        switch value.json {
        case .int(let number): return Double(number)
        case .double(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        case .string(let text):
            let trimmed = text.trimmed
            guard !trimmed.isEmpty, !trimmed.hasPrefix("0x"), !trimmed.contains("__") else { return nil }
            let cleaned = trimmed.replacingOccurrences(of: "_", with: "")
            if cleaned.lowercased().hasSuffix("inity") || ["inf", "+inf", "-inf", "nan", "+nan", "-nan"].contains(cleaned.lowercased()) {
                return Double(cleaned.lowercased())
            }
            guard cleaned.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }) else { return nil }
            return Double(cleaned)
        default: return nil
        }
    }

    static func toInt(_ value: Template.Value) -> Int64? {
        switch value.json {
        case .int(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        case .string(let text):
            if let number = Int64(text.trimmed) { return number }
            fallthrough
        default:
            guard let number = toDouble(value), number.isFinite, abs(number) < 9.2e18 else { return nil }
            return Int64(number.rounded(.towardZero))
        }
    }

    static func toBool(_ value: Template.Value) -> Bool? {
        switch value.json {
        case .bool(let flag): return flag
        case .int(let number): return number != 0
        case .double(let number): return number != 0
        case .string(let text):
            switch text.trimmed.lowercased() {
            case "1", "true", "yes", "on", "enable": return true
            case "0", "false", "no", "off", "disable": return false
            default: return nil
            }
        default: return nil
        }
    }

    /// Python's `datetime.isoformat()`: microseconds only when non-zero, offset as `+HH:MM`.
    static func isoFormat(_ seconds: Double, local: Bool) -> String {
        let whole = seconds.rounded(.down)
        let micros = Int(((seconds - whole) * 1_000_000).rounded())
        let date = Date(timeIntervalSince1970: whole)
        let offset = local ? TimeZone.current.secondsFromGMT(for: date) : 0
        var time = time_t(Int(whole) + offset)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ number: Int32) -> String { number < 10 ? "0\(number)" : "\(number)" }
        var text = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
        text += "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        if micros > 0 && micros < 1_000_000 {
            let digits = String(micros)
            text += "." + String(repeating: "0", count: 6 - digits.count) + digits
        }
        let sign = offset < 0 ? "-" : "+"
        let magnitude = abs(offset)
        text += "\(sign)\(two(Int32(magnitude / 3600))):\(two(Int32(magnitude % 3600 / 60)))"
        return text
    }
}
