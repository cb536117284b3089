import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// Every subcommand of `mqtt-home` against a running daemon and broker: what a person reads, what a script parses,
/// and the exit codes.
@Suite("mqtt-home subcommands as a user runs them", .timeLimit(.minutes(2)), .awaitedCleanup)
struct CLICommandsTests {
    func cli(_ harness: DaemonHarness, _ arguments: [String], timeout: Double = 30) async throws -> ProcessResult {
        try await ProcessRunner.run(
            Products.cli,
            arguments + ["--host", "127.0.0.1", "--port", String(harness.broker.port)],
            timeout: timeout
        )
    }

    /// A daemon with a manual sensor (reporting), a manual light whose device echoes commands, and nothing else.
    func home() async throws -> (DaemonHarness, MessageCollector, Task<Void, Never>) {
        let harness = try await DaemonHarness.start()
        _ = try await harness.call("devices/add", ["name": "Kitchen sensor", "type": "sensor", "state_topic": "zigbee2mqtt/kitchen", "unit": "°C", "device_class": "temperature"])
        _ = try await harness.call("devices/add", ["name": "Hall light", "type": "light", "state_topic": "hall/light", "command_topic": "hall/light/set"])
        let device = try await MessageCollector.connect(port: harness.broker.port, subscribeTo: ["hall/light/set"])
        try await device.client.publishAndWait("zigbee2mqtt/kitchen", payload: Array(#"{"temperature":21.5,"humidity":40}"#.utf8))
        try await device.client.publishAndWait("hall/light", payload: Array("OFF".utf8))
        let echo = device.echoingCommands()
        // State applied before the first command runs.
        for _ in 0..<100 {
            if (try? await harness.call("devices/get", ["id": "hall_light"]))?["state"]?["state"] == "OFF" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (harness, device, echo)
    }

    func stop(_ home: (DaemonHarness, MessageCollector, Task<Void, Never>)) async {
        home.2.cancel()
        await home.2.value
        await home.1.close()
        await home.0.shutdown()
    }

    @Test("devices list|info|add|update|remove|logs: tables for people, JSON for scripts")
    func devices() async throws {
        let home = try await home()
        let harness = home.0
        let list = try await cli(harness, ["devices", "list"])
        #expect(list.exitCode == 0, "\(list.standardError)")
        let lines = list.standardOutput.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID ") == true)
        #expect(list.standardOutput.contains("kitchen_sensor  Kitchen sensor"))
        #expect(list.standardOutput.contains("● online"))
        #expect(list.standardOutput.contains("21.5 °C"))
        #expect(list.standardOutput.contains("s ago") || list.standardOutput.contains("just now"))
        #expect(list.standardOutput.contains("2 devices, 2 online"))
        let json = try JSONParser.parse(try await cli(harness, ["devices", "list", "--json", "--type", "light"]).standardOutput)
        #expect(json["items"]?.arrayValue?.map { $0["id"] } == ["hall_light"])
        #expect(json["next_cursor"] == .null)

        let info = try await cli(harness, ["devices", "info", "Kitchen sensor"])
        #expect(info.exitCode == 0)
        #expect(info.standardOutput.contains("Kitchen sensor (kitchen_sensor) — sensor, manual"))
        #expect(info.standardOutput.contains("temperature  sensor    21.5 °C  zigbee2mqtt/kitchen"))
        #expect(info.standardOutput.contains("humidity  40"))

        let added = try await cli(harness, ["devices", "add", "Garage door", "--type", "cover", "--state-topic", "garage/state", "--attribute", "room=garage"])
        #expect(added.exitCode == 0, "\(added.standardError)")
        #expect(added.standardOutput == "added garage_door (Garage door)\n")
        let missing = try await cli(harness, ["devices", "add", "Nothing", "--type", "sensor"])
        #expect(missing.exitCode == 2)
        #expect(missing.standardError.contains("--state-topic is required"))
        let updated = try await cli(harness, ["devices", "update", "garage_door", "--name", "Garage"])
        #expect(updated.standardOutput == "updated garage_door (version 2)\n")
        let duplicate = try await cli(harness, ["devices", "add", "garage", "--type", "cover", "--state-topic", "x"])
        #expect(duplicate.exitCode == 1)
        #expect(duplicate.standardError.contains("error -32009: a device named 'garage' already exists"))
        let removed = try await cli(harness, ["devices", "remove", "Garage"])
        #expect(removed.standardOutput == "removed garage_door\n")

        let logs = try await cli(harness, ["devices", "logs", "kitchen_sensor"])
        #expect(logs.exitCode == 0)
        #expect(logs.standardOutput.contains("rx   zigbee2mqtt/kitchen  {\"temperature\":21.5"))
        await stop(home)
    }

    @Test("devices import: a CSV (quoted cells, any column of devices/add) and a JSON file, split in parts, failures listed by line")
    func importFiles() async throws {
        let harness = try await DaemonHarness.start()
        cleanup { await harness.shutdown() }
        let directory = try TemporaryDirectory(prefix: "import")
        cleanup { directory.remove() }
        let csv = #"""
            name,type,state_topic,command_topic,area
            Hall light,light,hall/light,hall/light/set,Hall
            "Desk lamp, left",light,desk/left,desk/left/set,"Office"
            Broken,toaster,x/y,,
            Porch sensor,sensor,porch/t,,
            "Lamp ""A""",light,lamp/a,,
            """#
        try csv.write(toFile: directory.path + "/devices.csv", atomically: true, encoding: .utf8)
        let result = try await cli(harness, ["devices", "import", directory.path + "/devices.csv"])
        #expect(result.exitCode == 1, "\(result.standardOutput) \(result.standardError)")
        #expect(result.standardOutput.contains("added 4 of 5 devices; 1 failed:"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("line 4 (Broken): invalid parameter 'type': unknown type 'toaster'"), "\(result.standardOutput)")
        let desk = try await harness.call("devices/get", ["id": "Desk lamp, left"])
        #expect(desk["area"] == "Office" && desk["entities"]?[0]?["command_topic"] == "desk/left/set")
        #expect(try await harness.call("devices/get", ["id": "Lamp \"A\""])["name"] == "Lamp \"A\"")

        // 2,500 devices: more than one part (at most 2,000 each), every one added.
        let many = (0..<2500).map { index -> JSONValue in ["name": .string("Sensor \(index)"), "type": "sensor", "state_topic": .string("bulk/\(index)")] }
        try JSONValue.array(many).jsonString.write(toFile: directory.path + "/many.json", atomically: true, encoding: .utf8)
        let bulk = try await cli(harness, ["devices", "import", directory.path + "/many.json", "--json"], timeout: 60)
        #expect(bulk.exitCode == 0, "\(bulk.standardError)")
        let summary = try JSONParser.parse(bulk.standardOutput)
        #expect(summary["added"] == 2500 && summary["failed"] == 0)
        #expect(summary["results"]?.arrayValue?.last?["index"] == 2499)
        #expect(try await harness.call("health")["devices"] == 2504)
    }

    @Test("an unknown device: one line with the closest names, exit 1")
    func unknownDevice() async throws {
        let home = try await home()
        let result = try await cli(home.0, ["devices", "info", "kitchn"])
        #expect(result.exitCode == 1)
        #expect(result.standardError == "mqtt-home: error -32004: no device 'kitchn'; did you mean 'kitchen_sensor'?\n")
        #expect(result.standardOutput.isEmpty)
        let sensor = try await cli(home.0, ["sensors", "read", "Hall lihgt", "state"])
        #expect(sensor.standardError.contains("did you mean 'hall_light'?"))
        await stop(home)
    }

    @Test("devices set, devices command and control: confirmed exits 0, unconfirmed exits 5")
    func commands() async throws {
        let home = try await home()
        let harness = home.0
        let set = try await cli(harness, ["devices", "set", "hall_light", "state=ON"])
        #expect(set.exitCode == 0, "\(set.standardOutput)\(set.standardError)")
        #expect(set.standardOutput.hasPrefix("confirmed: hall_light/state = ON ("))
        #expect(set.standardOutput.contains("hall/light/set ← ON"))
        let control = try await cli(harness, ["control", "Hall light", "led", "1", "toggle", "--json"])
        #expect(control.exitCode == 0)
        let controlled = try JSONParser.parse(control.standardOutput)
        #expect(controlled["status"] == "confirmed")
        #expect(controlled["value"] == "OFF")
        #expect(controlled["port"]?["platform"] == "light")
        let command = try await cli(harness, ["devices", "command", "hall_light", "ON"])
        #expect(command.standardOutput == "published to hall/light/set\n")
        // The device echoes ON before it stops answering, so the next OFF has something to contradict.
        for _ in 0..<100 where try await harness.call("devices/get", ["id": "hall_light"])["state"]?["state"] != "ON" {
            try await Task.sleep(for: .milliseconds(20))
        }

        home.2.cancel()  // the device stops answering
        await home.2.value
        let unconfirmed = try await cli(harness, ["devices", "set", "hall_light", "state=OFF", "--wait", "0.3"])
        #expect(unconfirmed.exitCode == 5)
        #expect(unconfirmed.standardOutput.contains("sent, not confirmed: hall_light/state still reports ON, expected OFF"))
        #expect(unconfirmed.standardError.contains("did not confirm"))
        let badField = try await cli(harness, ["devices", "set", "hall_light", "position"])
        #expect(badField.exitCode == 2)
        await home.1.close()
        await harness.shutdown()
    }

    @Test("sensors read and history: value with unit and age, aliases, JSON")
    func sensors() async throws {
        let home = try await home()
        let harness = home.0
        let read = try await cli(harness, ["sensors", "read", "Kitchen sensor", "温度"])
        #expect(read.exitCode == 0, "\(read.standardError)")
        #expect(read.standardOutput.hasPrefix("Kitchen sensor temperature: 21.5 °C (temperature, updated "))
        let humidity = try JSONParser.parse(try await cli(harness, ["sensors", "read", "kitchen_sensor", "湿度", "--json"]).standardOutput)
        #expect(humidity["value"] == 40)
        #expect(humidity["sensor"] == "humidity")
        let history = try await cli(harness, ["sensors", "history", "kitchen_sensor", "temperature", "--since", "1h"])
        #expect(history.exitCode == 0)
        #expect(history.standardOutput.contains("21.5 °C"))
        // `--since -24h` as people write it (a value starting with '-', not an option), with a roll-up table.
        let hourly = try await cli(harness, ["sensors", "history", "kitchen_sensor", "temperature", "--since", "-24h", "--resolution", "hour"])
        #expect(hourly.exitCode == 0 && hourly.standardOutput.contains("MEAN") && hourly.standardOutput.contains("21.5 °C"), "\(hourly.standardOutput) \(hourly.standardError)")
        let badSince = try await cli(harness, ["sensors", "history", "kitchen_sensor", "temperature", "--since", "later"])
        #expect(badSince.exitCode == 1)
        #expect(badSince.standardError.contains("since"))
        await stop(home)
    }

    @Test("broker status, dashboard, health, methods; broker clients on mosquitto explains it needs EMQX")
    func overview() async throws {
        let home = try await home()
        let harness = home.0
        let status = try await cli(harness, ["broker", "status"])
        #expect(status.exitCode == 0)
        #expect(status.standardOutput.hasPrefix("broker         mosquitto"))
        let clients = try await cli(harness, ["broker", "clients"])
        #expect(clients.exitCode == 1)
        #expect(clients.standardError.contains("-32013") && clients.standardError.contains("EMQX_API_URL"))
        let dashboard = try await cli(harness, ["dashboard"])
        #expect(dashboard.exitCode == 0)
        #expect(dashboard.standardOutput.contains("devices    2 (● 2 online, ○ 0 offline)"))
        #expect(dashboard.standardOutput.contains("recent activity"))
        let dashboardJSON = try JSONParser.parse(try await cli(harness, ["dashboard", "--json"]).standardOutput)
        #expect(dashboardJSON["devices"] == 2)
        let methods = try await cli(harness, ["methods"])
        for method in ["sensors/read", "devices/control", "broker/clients"] { #expect(methods.standardOutput.contains(method)) }
        await stop(home)
    }

    @Test("broker clients against the fake EMQX pages through the daemon's cursor")
    func brokerClients() async throws {
        let emqx = try await FakeEMQX.start(clients: 2500)
        let harness = try await DaemonHarness.start(environment: emqx.environment(pollInterval: 5))
        let some = try await cli(harness, ["broker", "clients", "--limit", "3"])
        #expect(some.exitCode == 0, "\(some.standardError)")
        #expect(some.standardOutput.contains("client-00002"))
        #expect(some.standardOutput.contains("3 clients shown (more: --limit N or --all)"))
        let all = try JSONParser.parse(try await cli(harness, ["broker", "clients", "--all", "--json"]).standardOutput)
        #expect(all["items"]?.arrayValue?.count == 2500)
        #expect(all["next_cursor"] == .null)
        let subscriptions = try await cli(harness, ["broker", "subscriptions", "--clientid", "client-00001"])
        #expect(subscriptions.standardOutput.contains("home/00001/state"))
        let topics = try await cli(harness, ["broker", "topics", "--limit", "2"])
        #expect(topics.standardOutput.contains("home/+/set"))
        await harness.shutdown()
        await emqx.shutdown()
    }

    @Test("watch prints the current state and each change, --json one object per line")
    func watch() async throws {
        let home = try await home()
        let harness = home.0
        let watcher = Task { try await cli(harness, ["watch", "Kitchen sensor", "--json", "--count", "3"], timeout: 20) }
        // The change is sent until the watcher has seen one: when the whole suite runs, the CLI can take longer than
        // any fixed pause to start, look the device up and subscribe (a change before that is only retained state).
        let changes = Task {
            var sequence = 0
            while !Task.isCancelled {
                sequence += 1
                try? await home.1.client.publishAndWait("zigbee2mqtt/kitchen", payload: Array(#"{"temperature":22,"sequence":\#(sequence)}"#.utf8))
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        let result = try await watcher.value
        changes.cancel()
        await changes.value
        #expect(result.exitCode == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0["device"] == "kitchen_sensor" })
        #expect(lines.contains { $0["kind"] == "state" && $0["retained"] == true })
        #expect(lines.contains { $0["kind"] == "state" && $0["payload"]?["temperature"] == 22 && $0["retained"] == false })
        let human = Task { try await cli(harness, ["watch", "--count", "1"], timeout: 20) }
        let line = try await human.value.standardOutput
        #expect(line.contains("state") || line.contains("availability"), "\(line)")
        await stop(home)
    }

    @Test("--help of every command has an example; completion scripts are generated")
    func help() async throws {
        for command in [
            ["devices", "list"], ["devices", "info"], ["devices", "add"], ["devices", "update"], ["devices", "remove"],
            ["devices", "command"], ["devices", "set"], ["devices", "logs"], ["sensors", "read"], ["sensors", "history"],
            ["control"], ["broker", "status"], ["broker", "clients"], ["broker", "topics"], ["broker", "subscriptions"],
            ["dashboard"], ["health"], ["methods"], ["call"], ["watch"], ["mcp"], ["devices"], ["sensors"], ["broker"],
            ["areas"], ["areas", "list"], ["areas", "set"],
        ] {
            let result = try await ProcessRunner.run(Products.cli, command + ["--help"])
            #expect(result.exitCode == 0, "\(command)")
            #expect(result.standardOutput.contains("Example"), "\(command) --help has no example")
        }
        for shell in ["bash", "zsh", "fish"] {
            let script = try await ProcessRunner.run(Products.cli, ["--generate-completion-script", shell])
            #expect(script.exitCode == 0)
            #expect(script.standardOutput.contains("devices"))
        }
    }

    @Test("what came from the bus never reaches the terminal raw: escape sequences and bidi overrides print escaped")
    func controlCharactersEscaped() async throws {
        let home = try await home()
        let (harness, device, _) = home
        let hostile = "21.5\u{1B}[2J\u{1B}]0;owned\u{07}\u{202E}gnp.exe"
        try await device.client.publishAndWait("zigbee2mqtt/kitchen", payload: JSONValue.object(["note": .string(hostile)]).jsonBytes)
        var shown = ""
        for _ in 0..<100 {
            shown = try await cli(harness, ["devices", "info", "kitchen_sensor"]).standardOutput
            if shown.contains("note") { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(shown.contains("note"), "\(shown)")
        #expect(!shown.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" || $0 == "\u{202E}" }, "raw control characters printed")
        #expect(shown.contains("\\u{1B}[2J") && shown.contains("\\u{202E}"), "\(shown)")
        await stop(home)
    }

    @Test("areas: --area on add/update/list, the areas table, and areas set with per-device confirmation")
    func areas() async throws {
        let home = try await home()
        let harness = home.0
        #expect(try await cli(harness, ["devices", "update", "hall_light", "--area", "Hall"]).exitCode == 0)
        let added = try await cli(harness, ["devices", "add", "Hall plug", "--type", "switch", "--state-topic", "hall/plug", "--area", "hall"])
        #expect(added.exitCode == 0, "\(added.standardError)")
        let table = try await cli(harness, ["areas"])
        #expect(table.exitCode == 0 && table.standardOutput.contains("Hall") && table.standardOutput.contains("1 light"), "\(table.standardOutput)")
        let listed = try await cli(harness, ["devices", "list", "--area", "HALL", "--json"])
        #expect((try JSONParser.parse(listed.standardOutput))["items"]?.arrayValue?.count == 2)
        let set = try await cli(harness, ["areas", "set", "hall", "state=ON", "--type", "light"])
        #expect(set.exitCode == 0, "\(set.standardOutput) \(set.standardError)")
        #expect(set.standardOutput.contains("hall_light") && set.standardOutput.contains("confirmed"), "\(set.standardOutput)")
        let nowhere = try await cli(harness, ["areas", "set", "garage", "state=ON"])
        #expect(nowhere.exitCode == 1 && nowhere.standardError.contains("no device in area 'garage'"), "\(nowhere.standardError)")
        await stop(home)
    }
}
