extension JSONValue {
    /// Compact JSON text, keys in the object's order.
    public var jsonString: String {
        var output = ""
        write(to: &output, indent: nil, level: 0)
        return output
    }

    /// Human-readable JSON with two-space indentation.
    public var prettyJSONString: String {
        var output = ""
        write(to: &output, indent: "  ", level: 0)
        return output
    }

    public var jsonBytes: [UInt8] { Array(jsonString.utf8) }

    func write(to output: inout String, indent: String?, level: Int) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .int(let value): output += String(value)
        case .double(let value): output += Self.format(value)
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            guard !values.isEmpty else {
                output += "[]"
                return
            }
            output += "["
            for (offset, value) in values.enumerated() {
                if offset > 0 { output += "," }
                Self.newline(&output, indent: indent, level: level + 1)
                value.write(to: &output, indent: indent, level: level + 1)
            }
            Self.newline(&output, indent: indent, level: level)
            output += "]"
        case .object(let object):
            guard !object.isEmpty else {
                output += "{}"
                return
            }
            output += "{"
            var first = true
            for (key, value) in object {
                if !first { output += "," }
                first = false
                Self.newline(&output, indent: indent, level: level + 1)
                Self.writeString(key, to: &output)
                output += indent == nil ? ":" : ": "
                value.write(to: &output, indent: indent, level: level + 1)
            }
            Self.newline(&output, indent: indent, level: level)
            output += "}"
        }
    }

    private static func newline(_ output: inout String, indent: String?, level: Int) {
        guard let indent else { return }
        output += "\n"
        for _ in 0..<level { output += indent }
    }

    /// JSON has no NaN or infinity; they become null rather than invalid output.
    private static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value.rounded() == value && abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return "\(value)"
    }

    /// Appends `value` quoted and escaped. Runs of characters that need no escape are appended whole (most strings
    /// are one run): per-scalar appends made this a tenth of the daemon's start-up with 10,000 devices.
    static func writeString(_ value: String, to output: inout String) {
        output += "\""
        let utf8 = value.utf8
        var runStart = utf8.startIndex
        var index = runStart
        while index != utf8.endIndex {
            let byte = utf8[index]
            guard byte == 0x22 || byte == 0x5C || byte < 0x20 else {
                index = utf8.index(after: index)
                continue
            }
            // Escapes are ASCII, so both ends of the run are character boundaries.
            if runStart != index { output += value[runStart..<index] }
            switch byte {
            case 0x22: output += "\\\""
            case 0x5C: output += "\\\\"
            case 0x0A: output += "\\n"
            case 0x0D: output += "\\r"
            case 0x09: output += "\\t"
            case 0x08: output += "\\b"
            case 0x0C: output += "\\f"
            default:
                let hex = String(byte, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            }
            index = utf8.index(after: index)
            runStart = index
        }
        if runStart != utf8.endIndex { output += value[runStart...] }
        output += "\""
    }
}
