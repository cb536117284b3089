/// One RPC method: its name (the topic suffix), what `rpc/methods` says about it, and its handler.
public struct RPCMethod: Sendable {
    /// A parameter, declared once: `rpc/methods`, the router's validation, the CLI's help and the MCP tools'
    /// `inputSchema` all read this declaration.
    public struct Parameter: Sendable, Hashable {
        public var name: String
        /// `string`, `integer`, `number`, `boolean`, `object`, `array`, `any`, or a union such as `string|null`.
        public var type: String
        public var required: Bool
        public var description: String
        public var minimum: Double?
        public var maximum: Double?
        /// The JSON schema of an array's items.
        public var items: JSONValue?

        public init(
            _ name: String,
            type: String,
            required: Bool = false,
            description: String,
            minimum: Double? = nil,
            maximum: Double? = nil,
            items: JSONValue? = nil
        ) {
            self.name = name
            self.type = type
            self.required = required
            self.description = description
            self.minimum = minimum
            self.maximum = maximum
            self.items = items
        }

        var types: [String] { type.split(separator: "|").map(String.init) }

        /// The parameter as JSON Schema (what an MCP client shows a model).
        public var schema: JSONValue {
            var object = JSONObject()
            let named = types.filter { $0 != "any" }
            if !types.contains("any") {
                object["type"] = named.count == 1 ? .string(named[0]) : .array(named.map(JSONValue.string))
            }
            object["description"] = .string(description)
            if let minimum { object["minimum"] = EntityBehavior.number(minimum) }
            if let maximum { object["maximum"] = EntityBehavior.number(maximum) }
            if let items { object["items"] = items }
            return .object(object)
        }

        /// Why `value` does not fit the declaration, or nil (`null` means absent and is checked as `required`).
        public func problem(_ value: JSONValue) -> String? {
            if value.isNull || types.contains("any") { return nil }
            let fits = types.contains { kind in
                switch (kind, value) {
                case ("string", .string), ("boolean", .bool), ("object", .object), ("array", .array), ("integer", .int): true
                case ("number", .int), ("number", .double): true
                default: false
                }
            }
            guard fits else { return "expected \(types.joined(separator: " or ")), got \(value.typeName)" }
            if let number = value.doubleValue {
                if let minimum, number < minimum { return "must be at least \(EntityBehavior.number(minimum).jsonString), got \(value.jsonString)" }
                if let maximum, number > maximum { return "must be at most \(EntityBehavior.number(maximum).jsonString), got \(value.jsonString)" }
            }
            return nil
        }
    }

    /// A method's name, summary and parameters: its declaration, apart from its handler, so that what runs only in
    /// the CLI (the MCP server) derives its tools from the same words.
    public struct Signature: Sendable {
        public var name: String
        public var summary: String
        public var parameters: [Parameter]

        public init(name: String, summary: String, parameters: [Parameter] = []) {
            self.name = name
            self.summary = summary
            self.parameters = parameters
        }
    }

    public typealias Handler = @Sendable (RPCParams) async throws(RPCError) -> JSONValue

    public var name: String
    public var summary: String
    public var parameters: [Parameter]
    public var handler: Handler

    public init(name: String, summary: String, parameters: [Parameter] = [], handler: @escaping Handler) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.handler = handler
    }

    public init(_ signature: Signature, handler: @escaping Handler) {
        self.init(name: signature.name, summary: signature.summary, parameters: signature.parameters, handler: handler)
    }

    /// The method as listed by `rpc/methods`.
    public var descriptionJSON: JSONValue {
        var object = JSONObject()
        object["name"] = .string(name)
        object["summary"] = .string(summary)
        object["params"] = .array(
            parameters.map { parameter in
                var object: JSONObject = [
                    "name": .string(parameter.name),
                    "type": .string(parameter.type),
                    "required": .bool(parameter.required),
                    "description": .string(parameter.description),
                ]
                if let minimum = parameter.minimum { object["minimum"] = EntityBehavior.number(minimum) }
                if let maximum = parameter.maximum { object["maximum"] = EntityBehavior.number(maximum) }
                if let items = parameter.items { object["items"] = items }
                return .object(object)
            }
        )
        return .object(object)
    }
}
