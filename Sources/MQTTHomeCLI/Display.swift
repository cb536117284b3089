import MQTTHome

/// How the CLI shows values to a person: relative times, online marks, values with units.
enum Display {
    /// "3 s ago", "5 min ago", "2 h ago", "4 d ago"; "never" for no time.
    static func ago(_ time: String?, now: Double = Timestamp.currentSeconds()) -> String {
        guard let time, let seconds = Timestamp.seconds(from: time) else { return "never" }
        let age = max(0, now - seconds)
        switch age {
        case ..<1: return "just now"
        case ..<60: return "\(Int(age)) s ago"
        case ..<3600: return "\(Int(age / 60)) min ago"
        case ..<86_400: return "\(Int(age / 3600)) h ago"
        default: return "\(Int(age / 86_400)) d ago"
        }
    }

    static func online(_ value: JSONValue?) -> String {
        value?.boolValue == true ? "● online" : "○ offline"
    }

    /// A value as text: strings bare, numbers without a needless `.0`, objects and arrays compact; with its unit.
    static func value(_ value: JSONValue?, unit: String? = nil) -> String {
        let text: String
        switch value {
        case nil, .null?: return "—"
        case .string(let string)?: text = string
        case let value?: text = value.jsonString
        }
        guard let unit, !unit.isEmpty else { return text }
        return text + (unit == "%" ? "" : " ") + unit
    }

    /// At most `width` characters, with an ellipsis when cut.
    static func truncated(_ text: String, _ width: Int) -> String {
        let flat = text.replacing("\n", with: " ")
        return flat.count <= width ? flat : String(flat.prefix(width - 1)) + "…"
    }

    /// Columns a terminal gives `text`: East Asian wide characters (温度, ＰＭ) take two.
    static func width(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { total, scalar in
            let v = scalar.value
            let wide = (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
                || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
                || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1FAFF).contains(v)
            let combining = (0x0300...0x036F).contains(v) || v == 0x200D || (0xFE00...0xFE0F).contains(v)
            return total + (combining ? 0 : (wide ? 2 : 1))
        }
    }

    static func padded(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - Self.width(text)))
    }

    /// Rows under upper-case headers, columns aligned on display width, two spaces apart.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        var widths = headers.map(width)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], width(cell)) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                let last = index == cells.count - 1
                text += last ? cell : padded(cell, to: widths[index]) + "  "
            }
            return text
        }
        return ([line(headers.map { $0.uppercased() })] + rows.map(line)).joined(separator: "\n")
    }

    /// `key  value` lines with the keys aligned.
    static func fields(_ pairs: [(String, String)]) -> String {
        let keyWidth = pairs.map { width($0.0) }.max() ?? 0
        return pairs.map { padded($0.0, to: keyWidth) + "  " + $0.1 }.joined(separator: "\n")
    }

    /// `▁▂▄▆█`: values scaled between their own min and max (oldest first), for a trend at a glance.
    static func sparkline(_ values: [Double]) -> String {
        let bars = Array("▁▂▃▄▅▆▇█")
        guard let low = values.min(), let high = values.max() else { return "" }
        let span = high - low
        return String(values.map { value in
            span == 0 ? bars[3] : bars[min(bars.count - 1, Int((value - low) / span * Double(bars.count - 1) + 0.5))]
        })
    }
}
