import ArgumentParser
import MQTTHome

/// `mqtt-home broker …`: what the broker itself is doing (EMQX REST or mosquitto `$SYS`, through the daemon).
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "The broker's status, and on EMQX its clients, topics and subscriptions.",
        discussion: """
            Examples:
              mqtt-home broker status
              mqtt-home broker clients --like sensor
            """,
        subcommands: [BrokerStatusCommand.self, BrokerClients.self, BrokerTopics.self, BrokerSubscriptions.self]
    )
}

struct BrokerStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "State, version, uptime, connections, messages and rates.",
        discussion: """
            Examples:
              mqtt-home broker status
              mqtt-home broker status --json | jq .rates
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let status = try await connection.result("broker/status")
        output.emit(status) { Self.describe(status) }
    }

    /// `emqx 5.8.9 ok, up 2h 3m, 25000 connections`.
    static func headline(_ status: JSONValue) -> String {
        // The version is unknown until the first successful reading.
        var text = [status["source"]?.stringValue ?? "?", status["version"]?.stringValue, status["state"]?.stringValue ?? "?"]
            .compactMap { $0 }.joined(separator: " ")
        if let uptime = status["uptime_s"]?.doubleValue { text += ", up \(HealthCommand.formatDuration(uptime))" }
        if let live = status["live_connections"]?.intValue { text += ", \(live) connected" }
        return text
    }

    static func describe(_ status: JSONValue) -> String {
        let rates = status["rates"] ?? .null
        func rate(_ key: String) -> String {
            rates[key].flatMap { $0.isNull ? nil : Display.value($0) + "/s" } ?? "—"
        }
        var pairs: [(String, String)] = [
            ("broker", headline(status)),
            ("updated", Display.ago(status["updated_at"]?.stringValue)),
        ]
        if let error = status["error"]?.stringValue { pairs.append(("error", error)) }
        if let retry = status["retry_in_s"] { pairs.append(("retry in", Display.value(retry) + " s")) }
        pairs += [
            ("nodes", Display.value(status["nodes"])),
            ("connections", "\(Display.value(status["live_connections"])) connected, \(Display.value(status["connections"])) with a session"),
            ("subscriptions", Display.value(status["subscriptions"])),
            ("topics", Display.value(status["topics"])),
            ("retained", Display.value(status["retained"])),
            ("messages", "\(Display.value(status["messages_received"])) received (\(rate("messages_received_per_s"))), "
                + "\(Display.value(status["messages_sent"])) sent (\(rate("messages_sent_per_s"))), "
                + "\(Display.value(status["messages_dropped"])) dropped (\(rate("messages_dropped_per_s")))"),
        ]
        var text = Display.fields(pairs)
        if let cluster = status["cluster"]?.objectValue, !cluster.isEmpty {
            text += "\n\n" + Display.table(
                ["node", "status", "version", "uptime", "load1", "memory"],
                cluster.map { name, node in
                    let used = node["memory_used"]?.doubleValue
                    let total = node["memory_total"]?.doubleValue
                    let memory = used.map { "\(Int($0 / 1_048_576)) MiB" + (total.map { " of \(Int($0 / 1_048_576)) MiB" } ?? "") } ?? "—"
                    return [
                        name, node["status"]?.stringValue ?? "?", node["version"]?.stringValue ?? "—",
                        node["uptime_s"]?.doubleValue.map(HealthCommand.formatDuration) ?? "—", Display.value(node["load1"]), memory,
                    ]
                }
            )
        }
        return text
    }
}

/// `--limit` / `--all` for the EMQX listings, which can hold tens of thousands of rows.
struct ListingOptions: ParsableArguments {
    @Option(help: "At most this many rows (default 100).") var limit: Int = 100
    @Flag(help: "Every row, paged 1000 at a time.") var all = false

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func fetch(_ method: String, _ params: JSONObject, connection: ConnectionOptions) async throws -> (items: [JSONValue], next: JSONValue) {
        try await connection.withSession { try await $0.pages(method, params, limit: all ? nil : limit, pageSize: 1000) }
    }

    static func footer(_ count: Int, _ noun: String, next: JSONValue) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")" + (next.isNull ? "" : " shown (more: --limit N or --all)")
    }
}

struct BrokerClients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "EMQX clients with their address, protocol and subscriptions.",
        discussion: """
            Examples:
              mqtt-home broker clients
              mqtt-home broker clients --like sensor --state connected
              mqtt-home broker clients --client-username zigbee2mqtt
              mqtt-home broker clients --all --json | jq '.items | length'
            """
    )

    @Option(help: "Client id contains this.") var like: String?
    @Option(help: "Only clients logged in with exactly this username.") var clientUsername: String?
    @Option(help: "connected, idle or disconnected.") var state: String?
    @OptionGroup var listing: ListingOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var params = JSONObject()
        if let like { params["like_clientid"] = .string(like) }
        if let clientUsername { params["username"] = .string(clientUsername) }
        if let state { params["conn_state"] = .string(state) }
        let (items, next) = try await listing.fetch("broker/clients", params, connection: connection)
        output.emit(["items": .array(items), "next_cursor": next]) {
            Display.table(
                ["client id", "username", "address", "status", "since", "proto", "subs"],
                items.map { client in
                    let connected = client["connected"]?.boolValue == true
                    return [
                        client["clientid"]?.stringValue ?? "?", client["username"]?.stringValue ?? "—",
                        "\(client["ip_address"]?.stringValue ?? "?"):\(Display.value(client["port"]))",
                        connected ? "● connected" : "○ disconnected",
                        Display.ago((connected ? client["connected_at"] : client["disconnected_at"])?.stringValue),
                        "\(client["proto_name"]?.stringValue ?? "MQTT") \(Display.value(client["proto_ver"]))",
                        Display.value(client["subscriptions_cnt"]),
                    ]
                }
            ) + "\n" + ListingOptions.footer(items.count, "client", next: next)
        }
    }
}

struct BrokerTopics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "EMQX topics that have subscribers.",
        discussion: """
            Examples:
              mqtt-home broker topics
              mqtt-home broker topics --topic home/kitchen/state
            """
    )

    @Option(help: "Exactly this topic.") var topic: String?
    @OptionGroup var listing: ListingOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let params: JSONObject = topic.map { ["topic": .string($0)] } ?? [:]
        let (items, next) = try await listing.fetch("broker/topics", params, connection: connection)
        output.emit(["items": .array(items), "next_cursor": next]) {
            Display.table(["topic", "node"], items.map { [$0["topic"]?.stringValue ?? "?", $0["node"]?.stringValue ?? ""] })
                + "\n" + ListingOptions.footer(items.count, "topic", next: next)
        }
    }
}

struct BrokerSubscriptions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriptions",
        abstract: "EMQX subscriptions, shared ones as $share/<group>/<topic>.",
        discussion: """
            Examples:
              mqtt-home broker subscriptions --clientid zigbee2mqtt
              mqtt-home broker subscriptions --topic 'home/+/set'
            """
    )

    @Option(help: "Only this client's.") var clientid: String?
    @Option(help: "Exactly this topic filter.") var topic: String?
    @OptionGroup var listing: ListingOptions
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var params = JSONObject()
        if let clientid { params["clientid"] = .string(clientid) }
        if let topic { params["topic"] = .string(topic) }
        let (items, next) = try await listing.fetch("broker/subscriptions", params, connection: connection)
        output.emit(["items": .array(items), "next_cursor": next]) {
            Display.table(
                ["client id", "topic", "qos", "node"],
                items.map { [$0["clientid"]?.stringValue ?? "?", $0["topic"]?.stringValue ?? "?", Display.value($0["qos"]), $0["node"]?.stringValue ?? ""] }
            ) + "\n" + ListingOptions.footer(items.count, "subscription", next: next)
        }
    }
}
