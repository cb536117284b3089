/// Text that reaches a person's terminal or a dashboard: device and entity names, and whatever the CLI prints from
/// the bus. Control characters (C0, DEL, C1: ANSI escapes, NUL, a carriage return that overwrites a line) and the
/// bidirectional overrides and isolates (U+202A…U+202E, U+2066…U+2069, which reorder what is shown, "Trojan
/// Source") can make a name look like another or rewrite the screen.
public enum DisplayText {
    /// Whether a scalar may not be shown as is.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value)
            || (0x2066...0x2069).contains(value) || value == 0x200E || value == 0x200F || value == 0x061C
    }

    /// Why `text` cannot be a name, or nil.
    public static func problem(_ text: String) -> String? {
        guard let scalar = text.unicodeScalars.first(where: isUnsafe) else { return nil }
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return "must not contain control or bidirectional-override characters (found \(code)); use plain text"
    }

    /// `text` with every unsafe scalar shown as a visible escape (`\u{1B}`), for printing what came from the bus.
    /// `keepingNewlines` leaves line feeds alone (multi-line output the CLI itself laid out).
    public static func sanitized(_ text: String, keepingNewlines: Bool = false) -> String {
        func unsafe(_ scalar: Unicode.Scalar) -> Bool { isUnsafe(scalar) && !(keepingNewlines && scalar == "\n") }
        guard text.unicodeScalars.contains(where: unsafe) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if unsafe(scalar) {
                result.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// `text` with unsafe scalars removed: for names that producers send (discovery), which are kept, not refused.
    public static func stripped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isUnsafe) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.filter { !isUnsafe($0) }))
    }
}
