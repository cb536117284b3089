/// A compiled Home Assistant template (`value_template`, `availability_template`, …) for the Jinja subset real
/// discovery producers use; evaluated natively, with Home Assistant's filter semantics (`float`, `int`, `round`).
///
/// Compile once per entity (``compile(_:)`` throws ``TemplateError/unsupported(_:)`` for anything outside the
/// subset), render per message.
public struct Template: Sendable, Hashable {
    public let source: String
    let nodes: [Node]

    indirect enum Node: Sendable, Hashable {
        case text(String)
        case output(Expression)
        case conditional([Branch], [Node])
        case assignment(String, Expression)
    }

    struct Branch: Sendable, Hashable {
        var condition: Expression
        var body: [Node]
    }

    indirect enum Expression: Sendable, Hashable {
        case literal(Value)
        case variable(String)
        case list([Expression])
        case member(Expression, Expression)
        case filter(String, Expression, [Expression])
        case method(String, Expression, [Expression])
        case call(String, [Expression])
        case test(String, Expression, negated: Bool)
        case negate(Expression)
        case not(Expression)
        case and(Expression, Expression)
        case or(Expression, Expression)
        case binary(String, Expression, Expression)
        case conditional(Expression, Expression, Expression)
    }

    /// A template value: JSON, or Jinja's `undefined` (a missing key), which renders as an empty string.
    enum Value: Sendable, Hashable {
        case undefined
        case json(JSONValue)
    }

    /// Home Assistant's templates are a line or two; a longer "template" is refused rather than parsed.
    public static let maxSourceBytes = 16_384
    /// No value or output of one evaluation may be larger: a template comes from whoever may publish discovery,
    /// and `"x" * 1000000000` (or doubling a variable thirty times) must be an error, not 8 GB.
    public static let maxValueBytes = 65_536
    /// Expression evaluations per render. Without loops a template does at most a few per token; the bound keeps
    /// that true whatever the parser lets through.
    public static let maxSteps = 10_000

    /// The variables of one render and the work it has done.
    struct Scope {
        var values: [String: Value]
        var steps = 0

        subscript(name: String) -> Value? {
            get { values[name] }
            set { values[name] = newValue }
        }

        mutating func step() throws(TemplateError) {
            steps += 1
            if steps > Template.maxSteps { throw .render("more than \(Template.maxSteps) evaluation steps") }
        }
    }

    /// Fails when a value of `size` bytes would be larger than ``maxValueBytes``.
    static func checkSize(_ size: Int, _ what: String) throws(TemplateError) {
        if size > maxValueBytes { throw .render("\(what) would make \(size) bytes; a template value may have at most \(maxValueBytes)") }
    }

    public static func compile(_ source: String) throws(TemplateError) -> Template {
        guard source.utf8.count <= maxSourceBytes else {
            throw .unsupported("a template longer than \(maxSourceBytes) bytes (\(source.utf8.count))")
        }
        return Template(source: source, nodes: try TemplateParser.parse(source))
    }

    /// What the template sees: the payload as text (`value`) and, when it parses as JSON, as `value_json`.
    public struct Context: Sendable {
        var variables: [String: Value]

        public init(payload: String, json: JSONValue?, entityID: String? = nil, name: String? = nil) {
            variables = ["value": .json(.string(payload))]
            if let json { variables["value_json"] = .json(json) }
            if let entityID { variables["entity_id"] = .json(.string(entityID)) }
            if let name { variables["name"] = .json(.string(name)) }
        }
    }

    /// Renders to text, as Home Assistant does before comparing or storing the result.
    public func render(_ context: Context) throws(TemplateError) -> String {
        var variables = Scope(values: context.variables)
        var output = ""
        try Self.render(nodes, variables: &variables, into: &output)
        return output
    }

    /// Renders a template whose result is used as a value (`json_attributes_template`): a single `{{ … }}` yields its
    /// value as is; anything else is rendered text.
    public func evaluate(_ context: Context) throws(TemplateError) -> JSONValue {
        var variables = Scope(values: context.variables)
        let meaningful = nodes.filter {
            if case .text(let text) = $0 { return !text.allSatisfy(\.isWhitespace) }
            return true
        }
        if meaningful.count == 1, case .output(let expression) = meaningful[0] {
            switch try expression.evaluate(&variables) {
            case .undefined: return .null
            case .json(let value): return value
            }
        }
        var output = ""
        try Self.render(nodes, variables: &variables, into: &output)
        return .string(output)
    }

    private static func render(_ nodes: [Node], variables: inout Scope, into output: inout String) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text(let text):
                try checkSize(output.utf8.count + text.utf8.count, "the output")
                output += text
            case .output(let expression):
                let text = try expression.evaluate(&variables).rendered
                try checkSize(output.utf8.count + text.utf8.count, "the output")
                output += text
            case .assignment(let name, let expression): variables[name] = try expression.evaluate(&variables)
            case .conditional(let branches, let otherwise):
                var taken = false
                for branch in branches where try branch.condition.evaluate(&variables).isTruthy {
                    try render(branch.body, variables: &variables, into: &output)
                    taken = true
                    break
                }
                if !taken { try render(otherwise, variables: &variables, into: &output) }
            }
        }
    }
}

/// Why a template cannot be used: outside the supported subset (found once, at compile time) or failing on one
/// message (a `float` of text without a default, a key of a missing key).
public enum TemplateError: Error, Sendable, Hashable, CustomStringConvertible {
    case unsupported(String)
    case render(String)

    public var description: String {
        switch self {
        case .unsupported(let what): "unsupported template: \(what)"
        case .render(let what): "template error: \(what)"
        }
    }
}
