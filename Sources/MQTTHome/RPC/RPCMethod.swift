/// One RPC method: its name (the topic suffix), what `rpc/methods` says about it, and its handler.
public struct RPCMethod: Sendable {
    /// A parameter as documented by `rpc/methods`, for people, the CLI and LLM agents.
    public struct Parameter: Sendable, Hashable {
        public var name: String
        public var type: String
        public var required: Bool
        public var description: String

        public init(_ name: String, type: String, required: Bool = false, description: String) {
            self.name = name
            self.type = type
            self.required = required
            self.description = description
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

    /// The method as listed by `rpc/methods`.
    public var descriptionJSON: JSONValue {
        var object = JSONObject()
        object["name"] = .string(name)
        object["summary"] = .string(summary)
        object["params"] = .array(
            parameters.map { parameter in
                [
                    "name": .string(parameter.name),
                    "type": .string(parameter.type),
                    "required": .bool(parameter.required),
                    "description": .string(parameter.description),
                ]
            }
        )
        return .object(object)
    }
}
