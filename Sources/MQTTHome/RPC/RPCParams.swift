/// Typed access to a request's parameters that names the offending parameter in every error.
///
/// Unknown and missing required parameters are refused by ``RPCRouter`` from the method's declared list.
public struct RPCParams: Sendable {
    public let object: JSONObject

    public init(_ object: JSONObject) { self.object = object }

    public func optionalString(_ name: String) throws(RPCError) -> String? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let string = value.stringValue else { throw .invalidParams(name, "expected a string, got \(value.typeName)") }
        return string
    }

    public func string(_ name: String) throws(RPCError) -> String {
        guard let value = try optionalString(name) else { throw .invalidParams(name, "required") }
        return value
    }

    public func optionalInt(_ name: String, in range: ClosedRange<Int64>? = nil) throws(RPCError) -> Int64? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let int = value.intValue else { throw .invalidParams(name, "expected an integer, got \(value.typeName)") }
        if let range, !range.contains(int) {
            throw .invalidParams(name, "must be between \(range.lowerBound) and \(range.upperBound), got \(int)")
        }
        return int
    }

    public func optionalBool(_ name: String) throws(RPCError) -> Bool? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let bool = value.boolValue else { throw .invalidParams(name, "expected true or false, got \(value.typeName)") }
        return bool
    }

    /// An array of strings (`ids`).
    public func optionalStringArray(_ name: String) throws(RPCError) -> [String]? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let array = value.arrayValue else { throw .invalidParams(name, "expected an array of strings, got \(value.typeName)") }
        var strings: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw .invalidParams(name, "expected an array of strings, found \(element.typeName)") }
            strings.append(string)
        }
        return strings
    }

    public func optionalObject(_ name: String) throws(RPCError) -> JSONObject? {
        guard let value = object[name], !value.isNull else { return nil }
        guard let object = value.objectValue else { throw .invalidParams(name, "expected an object, got \(value.typeName)") }
        return object
    }
}
