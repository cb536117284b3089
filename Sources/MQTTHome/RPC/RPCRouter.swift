/// The method table: a request's method name → its handler. Features register their methods here at start-up;
/// `rpc/methods` is built in and always describes the table as it is.
public struct RPCRouter: Sendable {
    public static let introspectionMethod = "rpc/methods"
    static let introspectionSummary =
        "List every RPC method with a one-line summary and its parameters (the self-description the CLI and agents read)"

    private var methods: [String: RPCMethod] = [:]
    private var order: [String] = []

    public init() {}

    public mutating func register(_ method: RPCMethod) {
        precondition(
            methods[method.name] == nil && method.name != Self.introspectionMethod,
            "RPC method \(method.name) registered twice"
        )
        methods[method.name] = method
        order.append(method.name)
    }

    /// What `rpc/methods` returns: `{"methods":[{name, summary, params:[…]}, …], "errors":[{code, meaning}, …]}`.
    public var methodsDescription: JSONValue {
        let introspection: JSONValue = [
            "name": .string(Self.introspectionMethod),
            "summary": .string(Self.introspectionSummary),
            "params": [],
        ]
        let errors = RPCError.catalogue.map { code, meaning -> JSONValue in ["code": .int(Int64(code)), "meaning": .string(meaning)] }
        return ["methods": .array([introspection] + order.compactMap { methods[$0]?.descriptionJSON }), "errors": .array(errors)]
    }

    /// Checks the parameters against the method's declared list (unknown or missing ones are refused before the
    /// handler runs, so a typo never half-executes a command), then runs the handler.
    public func call(_ name: String, params object: JSONObject) async throws(RPCError) -> JSONValue {
        if name == Self.introspectionMethod {
            if let unknown = object.keys.first(where: { $0 != "id" }) { throw .invalidParams(unknown, "rpc/methods takes no parameters") }
            return methodsDescription
        }
        guard let method = methods[name] else { throw .methodNotFound(name) }
        var object = object
        // In the plain body form `id` is the request id; it is a parameter only for methods that declare it.
        if !method.parameters.contains(where: { $0.name == "id" }) { object.removeValue(forKey: "id") }
        try Self.check(object, against: method.parameters, of: name)
        return try await method.handler(RPCParams(object))
    }

    /// Refuses an unknown or missing parameter, or one of the wrong type or out of range (-32602 naming it): for a
    /// request, and for each item of a bulk request (`devices/import` checks each device as `devices/add` would).
    public static func check(_ object: JSONObject, against parameters: [RPCMethod.Parameter], of name: String) throws(RPCError) {
        if let unknown = object.keys.first(where: { key in !parameters.contains { $0.name == key } }) {
            let accepted = parameters.isEmpty ? "none" : parameters.map(\.name).joined(separator: ", ")
            throw .invalidParams(unknown, "not a parameter of \(name) (accepted: \(accepted))")
        }
        for parameter in parameters {
            guard let value = object[parameter.name], !value.isNull else {
                if parameter.required { throw .invalidParams(parameter.name, "required") }
                continue
            }
            if let problem = parameter.problem(value) { throw .invalidParams(parameter.name, problem) }
        }
    }
}
