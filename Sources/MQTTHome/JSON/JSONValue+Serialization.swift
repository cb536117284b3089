extension JSONValue {
    /// Compact JSON text, keys in the object's order.
    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }

    /// Human-readable JSON with two-space indentation.
    public var prettyJSONString: String {
        var writer = JSONWriter(indent: Array("  ".utf8))
        writer.write(self)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Compact JSON as UTF-8: what is published and stored. Written straight into bytes: building a `String` first
    /// and copying it out cost every retained publish a second pass and `String`'s append bookkeeping.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter(indent: nil)
        writer.write(self)
        return writer.bytes
    }
}
