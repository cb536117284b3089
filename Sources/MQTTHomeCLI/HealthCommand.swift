import ArgumentParser
import MQTTHome

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Show the daemon's version, uptime, broker connection and request counters.",
        discussion: """
            Example:
              mqtt-home health
              mqtt-home health --json | jq .mqtt
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let result = try await connection.result("health", JSONObject())
        output.emit(result) { Self.describe(result) }
    }

    static func describe(_ health: JSONValue) -> String {
        let mqtt = health["mqtt"] ?? .null
        let rpc = health["rpc"] ?? .null
        let connected = mqtt["connected"]?.boolValue == true
        let embedded = mqtt["embedded_broker"]?.boolValue == true
        var brokerLine = "\(mqtt["broker"]?.stringValue ?? "?")\(embedded ? " (embedded)" : ""), "
        brokerLine += "MQTT \(mqtt["protocol"]?.stringValue ?? "?")"
        if mqtt["fell_back_to_3_1_1"]?.boolValue == true { brokerLine += " (broker refused 5)" }
        brokerLine += connected ? ", connected" : ", DISCONNECTED"
        if let reconnects = mqtt["reconnects"]?.intValue, reconnects > 0 { brokerLine += ", \(reconnects) reconnects" }
        var lines = [
            "mqtt-homed \(health["version"]?.stringValue ?? "?"), up \(formatDuration(health["uptime_s"]?.doubleValue ?? 0))",
            "broker    \(brokerLine)",
            "topics    \(health["base_topic"]?.stringValue ?? "?")/#",
        ]
        if let error = mqtt["last_error"]?.stringValue { lines.append("last err  \(error)") }
        let count = { (key: String) in rpc[key]?.intValue ?? 0 }
        lines.append(
            "requests  \(count("received")) received, \(count("succeeded")) ok, \(count("failed")) failed, "
                + "\(count("rejected_busy")) busy, \(count("unanswered")) unanswered"
        )
        lines.append(
            "messages  \(mqtt["messages_received"]?.intValue ?? 0) received, "
                + "\(mqtt["messages_dropped"]?.intValue ?? 0) dropped, \(mqtt["messages_published"]?.intValue ?? 0) published"
        )
        let announced = health["ha_discovery"] ?? .null
        if announced["publishing"]?.boolValue == true {
            lines.append(
                "home asst \(announced["configs_published"]?.intValue ?? 0) configs published under \(announced["prefix"]?.stringValue ?? "?")/device/, "
                    + "\(announced["births"]?.intValue ?? 0) births heard"
            )
        } else if announced["publishing"] != nil {
            lines.append("home asst not announcing devices (HA_DISCOVERY_PUBLISH=false)")
        }
        let setTopic = health["set_topic"] ?? .null
        if let received = setTopic["received"]?.intValue, received > 0 {
            let count = { (key: String) in setTopic[key]?.intValue ?? 0 }
            lines.append(
                "set topic \(received) commands: \(count("confirmed")) confirmed, \(count("unconfirmed")) unconfirmed, \(count("sent")) sent, "
                    + "\(count("refused")) refused, \(count("rejected_busy")) busy"
            )
        }
        return lines.joined(separator: "\n")
    }

    static func formatDuration(_ seconds: Double) -> String {
        var remaining = Int(seconds)
        let days = remaining / 86_400
        remaining %= 86_400
        let hours = remaining / 3600
        remaining %= 3600
        let minutes = remaining / 60
        let secs = remaining % 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(secs)s" }
        return "\(secs)s"
    }
}
