import Foundation

/// Evaluation with Jinja's (Python's) semantics: `/` is true division, `//` floors, `~` concatenates text, a missing
/// key is `undefined` (renders empty) but a key *of* a missing key is an error.
extension Template.Expression {
    func evaluate(_ variables: inout Template.Scope) throws(TemplateError) -> Template.Value {
        try variables.step()
        switch self {
        case .literal(let value):
            return value
        case .variable(let name):
            return variables[name] ?? .undefined
        case .list(let elements):
            var values: [JSONValue] = []
            for element in elements { values.append(try element.evaluate(&variables).json) }
            return .json(.array(values))
        case .member(let base, let key):
            let container = try base.evaluate(&variables)
            let key = try key.evaluate(&variables)
            guard case .json(let value) = container else {
                throw .render("'\(key.rendered)' of an undefined value")
            }
            switch (value, key) {
            case (.object(let object), .json(.string(let name))):
                return object[name].map(Template.Value.json) ?? .undefined
            case (.array(let array), .json(.int(let index))):
                let position = index < 0 ? Int(index) + array.count : Int(index)
                return array.indices.contains(position) ? .json(array[position]) : .undefined
            default:
                return .undefined
            }
        case .filter(let name, let input, let arguments):
            let value = try input.evaluate(&variables)
            var evaluated: [Template.Value] = []
            for argument in arguments { evaluated.append(try argument.evaluate(&variables)) }
            return try TemplateFunctions.filter(name, value, evaluated)
        case .method(let name, let input, let arguments):
            let value = try input.evaluate(&variables)
            var evaluated: [Template.Value] = []
            for argument in arguments { evaluated.append(try argument.evaluate(&variables)) }
            return try TemplateFunctions.method(name, value, evaluated)
        case .call(let name, let arguments):
            guard let first = arguments.first else { throw .render("\(name)() needs an argument") }
            var evaluated: [Template.Value] = []
            for argument in arguments.dropFirst() { evaluated.append(try argument.evaluate(&variables)) }
            return try TemplateFunctions.filter(name, try first.evaluate(&variables), evaluated)
        case .test(let name, let input, let negated):
            let result = TemplateFunctions.test(name, try input.evaluate(&variables))
            return .json(.bool(result != negated))
        case .negate(let operand):
            switch try operand.evaluate(&variables).json {
            case .int(let value): return .json(.int(0 &- value))
            case .double(let value): return .json(.double(-value))
            case .bool(let value): return .json(.int(value ? -1 : 0))
            case let other: throw .render("cannot negate \(other.typeName)")
            }
        case .not(let operand):
            return .json(.bool(!(try operand.evaluate(&variables).isTruthy)))
        case .and(let left, let right):
            let value = try left.evaluate(&variables)
            return value.isTruthy ? try right.evaluate(&variables) : value
        case .or(let left, let right):
            let value = try left.evaluate(&variables)
            return value.isTruthy ? value : try right.evaluate(&variables)
        case .conditional(let condition, let value, let otherwise):
            return try condition.evaluate(&variables).isTruthy
                ? try value.evaluate(&variables) : try otherwise.evaluate(&variables)
        case .binary(let symbol, let left, let right):
            return try Self.binary(symbol, try left.evaluate(&variables), try right.evaluate(&variables))
        }
    }

    private static func binary(_ symbol: String, _ left: Template.Value, _ right: Template.Value) throws(TemplateError) -> Template.Value {
        let lhs = left.json
        let rhs = right.json
        switch symbol {
        case "~":
            let (a, b) = (left.rendered, right.rendered)
            try Template.checkSize(a.utf8.count + b.utf8.count, "'~'")
            return .json(.string(a + b))
        case "==":
            return .json(.bool(Template.Value.equal(left, right)))
        case "!=":
            return .json(.bool(!Template.Value.equal(left, right)))
        case "in":
            switch rhs {
            case .string(let text): return .json(.bool(text.contains(left.rendered)))
            case .array(let values): return .json(.bool(values.contains { Template.Value.equal(.json($0), left) }))
            case .object(let object): return .json(.bool(lhs.stringValue.map { object[$0] != nil } ?? false))
            default: throw .render("'in' needs text, a list or an object on its right, not \(rhs.typeName)")
            }
        case "<", ">", "<=", ">=":
            let order: Int
            if let a = lhs.numeric, let b = rhs.numeric {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else if case .string(let a) = lhs, case .string(let b) = rhs {
                order = a < b ? -1 : (a > b ? 1 : 0)
            } else {
                throw .render("cannot compare \(lhs.typeName) with \(rhs.typeName)")
            }
            switch symbol {
            case "<": return .json(.bool(order < 0))
            case ">": return .json(.bool(order > 0))
            case "<=": return .json(.bool(order <= 0))
            default: return .json(.bool(order >= 0))
            }
        default:
            break
        }
        if symbol == "+", case .string(let a) = lhs, case .string(let b) = rhs {
            try Template.checkSize(a.utf8.count + b.utf8.count, "'+'")
            return .json(.string(a + b))
        }
        if symbol == "*", case .string(let text) = lhs, let count = rhs.integer {
            let times = max(0, count)
            // Checked before allocating: `"x" * 1000000000` must fail here, not after asking for a gigabyte.
            let (size, overflow) = Int64(text.utf8.count).multipliedReportingOverflow(by: times)
            try Template.checkSize(overflow ? Int.max : Int(clamping: size), "string repetition")
            return .json(.string(String(repeating: text, count: Int(times))))
        }
        guard let a = lhs.numeric, let b = rhs.numeric else {
            throw .render("cannot apply '\(symbol)' to \(lhs.typeName) and \(rhs.typeName)")
        }
        if let x = lhs.integer, let y = rhs.integer, symbol != "/" {
            switch symbol {
            case "+": return .json(.int(x &+ y))
            case "-": return .json(.int(x &- y))
            case "*": return .json(.int(x &* y))
            case "//", "%":
                guard y != 0 else { throw .render("division by zero") }
                let quotient = Int64((Double(x) / Double(y)).rounded(.down))
                return .json(.int(symbol == "//" ? quotient : x - quotient * y))
            case "**" where y >= 0 && y < 64: return .json(.double(pow(Double(x), Double(y)))).integralIfExact
            default: break
            }
        }
        switch symbol {
        case "+": return .json(.double(a + b))
        case "-": return .json(.double(a - b))
        case "*": return .json(.double(a * b))
        case "/":
            guard b != 0 else { throw .render("division by zero") }
            return .json(.double(a / b))
        case "//":
            guard b != 0 else { throw .render("division by zero") }
            return .json(.double((a / b).rounded(.down)))
        case "%":
            guard b != 0 else { throw .render("division by zero") }
            return .json(.double(a - (a / b).rounded(.down) * b))
        case "**": return .json(.double(pow(a, b)))
        default: throw .render("unknown operator '\(symbol)'")
        }
    }
}

extension Template.Value {
    var json: JSONValue {
        switch self {
        case .undefined: .null
        case .json(let value): value
        }
    }

    /// Python's truthiness: empty text, zero, empty lists and objects, `None` and undefined are false.
    var isTruthy: Bool {
        switch json {
        case .null: false
        case .bool(let value): value
        case .int(let value): value != 0
        case .double(let value): value != 0
        case .string(let value): !value.isEmpty
        case .array(let value): !value.isEmpty
        case .object(let value): !value.isEmpty
        }
    }

    /// As Jinja prints it: Python's `str()` of the value (`True`, `None`, `21.0`); undefined prints nothing.
    var rendered: String {
        guard case .json(let value) = self else { return "" }
        return Self.python(value)
    }

    static func python(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let flag): return flag ? "True" : "False"
        case .int(let number): return String(number)
        case .double(let number):
            if number.isNaN { return "nan" }
            if number.isInfinite { return number < 0 ? "-inf" : "inf" }
            return "\(number)"
        case .string(let text): return text
        case .array(let values): return "[" + values.map(pythonRepr).joined(separator: ", ") + "]"
        case .object(let object): return "{" + object.map { "'\($0.key)': \(pythonRepr($0.value))" }.joined(separator: ", ") + "}"
        }
    }

    private static func pythonRepr(_ value: JSONValue) -> String {
        if case .string(let text) = value { return "'\(text)'" }
        return python(value)
    }

    var integralIfExact: Template.Value {
        if case .json(.double(let value)) = self, value.rounded() == value, abs(value) < 9e15 { return .json(.int(Int64(value))) }
        return self
    }

    static func equal(_ left: Template.Value, _ right: Template.Value) -> Bool {
        if case .undefined = left, case .undefined = right { return true }
        let a = left.json
        let b = right.json
        if case .bool = a, case .bool = b { return a == b }
        if let x = a.numeric, let y = b.numeric, a.isNumber || a.boolValue != nil, b.isNumber || b.boolValue != nil { return x == y }
        return a == b
    }
}

extension JSONValue {
    var isNumber: Bool {
        switch self {
        case .int, .double: true
        default: false
        }
    }

    /// Numbers and booleans as Python treats them in arithmetic.
    var numeric: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        case .bool(let value): value ? 1 : 0
        default: nil
        }
    }

    var integer: Int64? {
        switch self {
        case .int(let value): value
        case .bool(let value): value ? 1 : 0
        default: nil
        }
    }
}
