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
        var variables = context.variables
        var output = ""
        try Self.render(nodes, variables: &variables, into: &output)
        return output
    }

    /// Renders a template whose result is used as a value (`json_attributes_template`): a single `{{ … }}` yields its
    /// value as is; anything else is rendered text.
    public func evaluate(_ context: Context) throws(TemplateError) -> JSONValue {
        var variables = context.variables
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

    private static func render(_ nodes: [Node], variables: inout [String: Value], into output: inout String) throws(TemplateError) {
        for node in nodes {
            switch node {
            case .text(let text): output += text
            case .output(let expression): output += try expression.evaluate(&variables).rendered
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
