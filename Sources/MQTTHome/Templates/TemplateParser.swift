import Foundation

/// Parses the Jinja subset that discovery producers use (protocols.md §1.12) into ``Template/Node``s.
///
/// Anything outside the subset (`for`, macros, unknown filters or functions) is a ``TemplateError/unsupported(_:)``
/// at compile time, so an entity is flagged once instead of failing on every message.
struct TemplateParser {
    /// Real templates are a few dozen tokens and a few levels deep. These bounds keep a hostile one from exhausting
    /// the stack, in the recursive-descent parser, in evaluation, and when the tree is freed (found by fuzzing).
    static let maxTokens = 1000
    static let maxNesting = 64
    static let maxBlockNesting = 32

    enum Token: Equatable {
        case number(JSONValue)
        case string(String)
        case name(String)
        case symbol(String)
        case end
    }

    private var tokens: [Token] = []
    private var position = 0
    private var depth = 0

    // MARK: - Segments

    static func parse(_ source: String) throws(TemplateError) -> [Template.Node] {
        var segments: [(kind: Character, body: String)] = []
        var text = Substring(source)
        var trimNextText = false
        while !text.isEmpty {
            guard let open = Self.nextTag(in: text) else {
                segments.append(("t", trimNextText ? String(text.drop { $0.isWhitespace }) : String(text)))
                break
            }
            var literal = text[text.startIndex..<open]
            if trimNextText { literal = literal.drop { $0.isWhitespace } }
            let kind = text[text.index(after: open)]
            let bodyStart = text.index(open, offsetBy: 2)
            let closing: String = kind == "{" ? "}}" : kind == "%" ? "%}" : "#}"
            guard let close = text[bodyStart...].range(of: closing) else {
                throw .unsupported("a '\(kind == "{" ? "{{" : kind == "%" ? "{%" : "{#")}' is never closed")
            }
            var body = text[bodyStart..<close.lowerBound]
            if body.hasPrefix("-") {
                body = body.dropFirst()
                while let last = literal.last, last.isWhitespace { literal = literal.dropLast() }
            }
            trimNextText = false
            if body.hasSuffix("-") {
                body = body.dropLast()
                trimNextText = true
            }
            if !literal.isEmpty { segments.append(("t", String(literal))) }
            if kind != "#" { segments.append((kind, String(body))) }
            text = text[close.upperBound...]
        }
        var index = 0
        let nodes = try Self.block(segments, &index, until: [])
        if index < segments.count { throw .unsupported("unexpected '{% \(segments[index].body.trimmed) %}'") }
        return nodes
    }

    private static func nextTag(in text: Substring) -> Substring.Index? {
        var index = text.startIndex
        while let brace = text[index...].firstIndex(of: "{") {
            let next = text.index(after: brace)
            if next < text.endIndex, "{%#".contains(text[next]) { return brace }
            index = next
        }
        return nil
    }

    /// Nodes until one of the `until` statements (`elif`, `else`, `endif`), which is left at `index`.
    private static func block(
        _ segments: [(kind: Character, body: String)],
        _ index: inout Int,
        until: Set<String>,
        depth: Int = 0
    ) throws(TemplateError) -> [Template.Node] {
        guard depth <= maxBlockNesting else { throw .unsupported("'{% if %}' nested more than \(maxBlockNesting) deep") }
        var nodes: [Template.Node] = []
        while index < segments.count {
            let segment = segments[index]
            switch segment.kind {
            case "t":
                nodes.append(.text(segment.body))
                index += 1
            case "{":
                nodes.append(.output(try expression(segment.body)))
                index += 1
            default:
                let statement = segment.body.trimmed
                let keyword = String(statement.prefix { $0.isLetter || $0 == "_" })
                if until.contains(keyword) { return nodes }
                switch keyword {
                case "if":
                    index += 1
                    var branches: [Template.Branch] = []
                    var condition = try expression(String(statement.dropFirst(2)))
                    var otherwise: [Template.Node] = []
                    while true {
                        let body = try block(segments, &index, until: ["elif", "else", "endif"], depth: depth + 1)
                        guard index < segments.count else { throw .unsupported("'{% if %}' without '{% endif %}'") }
                        let next = segments[index].body.trimmed
                        index += 1
                        if next.hasPrefix("elif") {
                            branches.append(Template.Branch(condition: condition, body: body))
                            condition = try expression(String(next.dropFirst(4)))
                        } else if next == "else" {
                            branches.append(Template.Branch(condition: condition, body: body))
                            otherwise = try block(segments, &index, until: ["endif"], depth: depth + 1)
                            guard index < segments.count else { throw .unsupported("'{% if %}' without '{% endif %}'") }
                            index += 1
                            break
                        } else {
                            branches.append(Template.Branch(condition: condition, body: body))
                            break
                        }
                    }
                    nodes.append(.conditional(branches, otherwise))
                case "set":
                    let assignment = statement.dropFirst(3)
                    guard let equals = assignment.firstIndex(of: "=") else { throw .unsupported("'{% set %}' needs '='") }
                    let name = assignment[..<equals].trimmed
                    guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                        throw .unsupported("'{% set %}' of '\(name)'")
                    }
                    nodes.append(.assignment(name, try expression(String(assignment[assignment.index(after: equals)...]))))
                    index += 1
                default:
                    throw .unsupported("the '{% \(keyword) %}' statement")
                }
            }
        }
        return nodes
    }

    static func expression(_ source: String) throws(TemplateError) -> Template.Expression {
        var parser = TemplateParser()
        parser.tokens = try Self.tokenize(source)
        guard parser.tokens.count <= maxTokens else { throw .unsupported("an expression of more than \(maxTokens) tokens") }
        let expression = try parser.conditional()
        guard parser.peek == .end else { throw .unsupported("unexpected \(parser.peek.text) in '\(source.trimmed)'") }
        return expression
    }

    // MARK: - Tokens

    static func tokenize(_ source: String) throws(TemplateError) -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(source.unicodeScalars)
        var index = 0
        func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar >= "0" && scalar <= "9" }
        func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || scalar == "_"
        }
        while index < scalars.count {
            guard tokens.count <= maxTokens else { throw .unsupported("an expression of more than \(maxTokens) tokens") }
            let scalar = scalars[index]
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                index += 1
            } else if isDigit(scalar) {
                var end = index
                var isDouble = false
                while end < scalars.count, isDigit(scalars[end]) || scalars[end] == "_" { end += 1 }
                if end + 1 < scalars.count, scalars[end] == ".", isDigit(scalars[end + 1]) {
                    isDouble = true
                    end += 1
                    while end < scalars.count, isDigit(scalars[end]) { end += 1 }
                }
                if end < scalars.count, scalars[end] == "e" || scalars[end] == "E" {
                    var exponentEnd = end + 1
                    if exponentEnd < scalars.count, scalars[exponentEnd] == "+" || scalars[exponentEnd] == "-" { exponentEnd += 1 }
                    if exponentEnd < scalars.count, isDigit(scalars[exponentEnd]) {
                        isDouble = true
                        end = exponentEnd
                        while end < scalars.count, isDigit(scalars[end]) { end += 1 }
                    }
                }
                var text = ""
                text.unicodeScalars.append(contentsOf: scalars[index..<end].filter { $0 != "_" })
                if !isDouble, let value = Int64(text) {
                    tokens.append(.number(.int(value)))
                } else if let value = Double(text) {
                    tokens.append(.number(.double(value)))
                } else {
                    throw .unsupported("the number '\(text)'")
                }
                index = end
            } else if scalar == "'" || scalar == "\"" {
                var text = ""
                index += 1
                var closed = false
                while index < scalars.count {
                    let current = scalars[index]
                    if current == scalar {
                        closed = true
                        index += 1
                        break
                    }
                    if current == "\\", index + 1 < scalars.count {
                        index += 1
                        switch scalars[index] {
                        case "n": text += "\n"
                        case "t": text += "\t"
                        case "r": text += "\r"
                        default: text.unicodeScalars.append(scalars[index])
                        }
                    } else {
                        text.unicodeScalars.append(current)
                    }
                    index += 1
                }
                guard closed else { throw .unsupported("a string that is never closed") }
                tokens.append(.string(text))
            } else if isNameStart(scalar) {
                var end = index
                while end < scalars.count, isNameStart(scalars[end]) || isDigit(scalars[end]) { end += 1 }
                var text = ""
                text.unicodeScalars.append(contentsOf: scalars[index..<end])
                tokens.append(.name(text))
                index = end
            } else {
                let two = index + 1 < scalars.count ? String(scalar) + String(scalars[index + 1]) : ""
                if ["==", "!=", "<=", ">=", "//", "**"].contains(two) {
                    tokens.append(.symbol(two))
                    index += 2
                } else if "+-*/%<>()[].,|~:{}=".unicodeScalars.contains(scalar) {
                    tokens.append(.symbol(String(scalar)))
                    index += 1
                } else {
                    throw .unsupported("the character '\(scalar)'")
                }
            }
        }
        tokens.append(.end)
        return tokens
    }

    private var peek: Token { tokens[position] }

    private mutating func next() -> Token {
        defer { position += 1 }
        return tokens[position]
    }

    private mutating func accept(_ symbol: String) -> Bool {
        if peek == .symbol(symbol) || peek == .name(symbol) {
            position += 1
            return true
        }
        return false
    }

    private mutating func expect(_ symbol: String) throws(TemplateError) {
        guard accept(symbol) else { throw .unsupported("expected '\(symbol)' but found \(peek.text)") }
    }

    // MARK: - Grammar (Jinja's precedence)

    /// Counts one level of recursion; past ``maxNesting`` the template is refused.
    private mutating func enter() throws(TemplateError) {
        depth += 1
        guard depth <= Self.maxNesting else { throw .unsupported("an expression nested more than \(Self.maxNesting) deep") }
    }

    private mutating func conditional() throws(TemplateError) -> Template.Expression {
        try enter()
        defer { depth -= 1 }
        let value = try or()
        guard accept("if") else { return value }
        let condition = try or()
        let otherwise: Template.Expression = accept("else") ? try conditional() : .literal(.undefined)
        return .conditional(condition, value, otherwise)
    }

    private mutating func or() throws(TemplateError) -> Template.Expression {
        var left = try and()
        while accept("or") { left = .or(left, try and()) }
        return left
    }

    private mutating func and() throws(TemplateError) -> Template.Expression {
        var left = try not()
        while accept("and") { left = .and(left, try not()) }
        return left
    }

    private mutating func not() throws(TemplateError) -> Template.Expression {
        try enter()
        defer { depth -= 1 }
        if accept("not") { return .not(try not()) }
        return try comparison()
    }

    private mutating func comparison() throws(TemplateError) -> Template.Expression {
        var left = try concatenation()
        while true {
            if case .symbol(let symbol) = peek, ["==", "!=", "<", ">", "<=", ">="].contains(symbol) {
                position += 1
                left = .binary(symbol, left, try concatenation())
            } else if accept("in") {
                left = .binary("in", left, try concatenation())
            } else if peek == .name("not"), tokens[position + 1] == .name("in") {
                position += 2
                left = .not(.binary("in", left, try concatenation()))
            } else if accept("is") {
                let negated = accept("not")
                guard case .name(let test) = next() else { throw .unsupported("a test after 'is'") }
                guard TemplateFunctions.tests.contains(test) else { throw .unsupported("the test 'is \(test)'") }
                left = .test(test, left, negated: negated)
            } else {
                return left
            }
        }
    }

    private mutating func concatenation() throws(TemplateError) -> Template.Expression {
        var left = try additive()
        while accept("~") { left = .binary("~", left, try additive()) }
        return left
    }

    private mutating func additive() throws(TemplateError) -> Template.Expression {
        var left = try multiplicative()
        while case .symbol(let symbol) = peek, symbol == "+" || symbol == "-" {
            position += 1
            left = .binary(symbol, left, try multiplicative())
        }
        return left
    }

    private mutating func multiplicative() throws(TemplateError) -> Template.Expression {
        var left = try unary()
        while case .symbol(let symbol) = peek, ["*", "/", "//", "%"].contains(symbol) {
            position += 1
            left = .binary(symbol, left, try unary())
        }
        return left
    }

    private mutating func unary() throws(TemplateError) -> Template.Expression {
        try enter()
        defer { depth -= 1 }
        if accept("-") { return .negate(try unary()) }
        if accept("+") { return try unary() }
        let base = try postfix()
        if accept("**") { return .binary("**", base, try unary()) }
        return base
    }

    private mutating func postfix() throws(TemplateError) -> Template.Expression {
        var value = try primary()
        while true {
            if accept(".") {
                guard case .name(let name) = next() else { throw .unsupported("a name after '.'") }
                if peek == .symbol("(") {
                    guard TemplateFunctions.methods.contains(name) else { throw .unsupported("the method '.\(name)()'") }
                    position += 1
                    value = .method(name, value, try arguments())
                } else {
                    value = .member(value, .literal(.json(.string(name))))
                }
            } else if accept("[") {
                value = .member(value, try conditional())
                try expect("]")
            } else if accept("|") {
                guard case .name(let name) = next() else { throw .unsupported("a filter name after '|'") }
                guard TemplateFunctions.filters.contains(name) else { throw .unsupported("the filter '\(name)'") }
                let arguments = accept("(") ? try arguments() : []
                value = .filter(name, value, arguments)
            } else {
                return value
            }
        }
    }

    /// Arguments after an opening parenthesis, through the closing one. Keyword arguments keep their value only.
    private mutating func arguments() throws(TemplateError) -> [Template.Expression] {
        var arguments: [Template.Expression] = []
        if accept(")") { return arguments }
        repeat {
            if case .name = peek, tokens[position + 1] == .symbol("=") {
                throw .unsupported("keyword arguments")
            }
            arguments.append(try conditional())
        } while accept(",")
        try expect(")")
        return arguments
    }

    private mutating func primary() throws(TemplateError) -> Template.Expression {
        switch next() {
        case .number(let value): return .literal(.json(value))
        case .string(let text): return .literal(.json(.string(text)))
        case .name(let name):
            switch name {
            case "true", "True": return .literal(.json(.bool(true)))
            case "false", "False": return .literal(.json(.bool(false)))
            case "none", "None": return .literal(.json(.null))
            default: break
            }
            if peek == .symbol("(") {
                guard TemplateFunctions.functions.contains(name) else { throw .unsupported("the function '\(name)()'") }
                position += 1
                return .call(name, try arguments())
            }
            return .variable(name)
        case .symbol("("):
            let inner = try conditional()
            try expect(")")
            return inner
        case .symbol("["):
            var elements: [Template.Expression] = []
            if !accept("]") {
                repeat { elements.append(try conditional()) } while accept(",")
                try expect("]")
            }
            return .list(elements)
        case let token:
            throw .unsupported("unexpected \(token.text)")
        }
    }
}

extension TemplateParser.Token {
    var text: String {
        switch self {
        case .number(let value): "'\(value.jsonString)'"
        case .string(let text): "'\"\(text)\"'"
        case .name(let name): "'\(name)'"
        case .symbol(let symbol): "'\(symbol)'"
        case .end: "the end"
        }
    }
}
