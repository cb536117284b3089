import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench announce <devices>`: what publishing Home Assistant discovery costs at start-up. Imports
/// `devices` manual devices (a third each switches, lights and JSON sensors with temperature, humidity and battery,
/// so those are 3 entities each), stops the daemon, clears every retained config from the broker, then spawns the
/// daemon again and times, from the spawn, its retained `online` and the arrival of the last config (one per device
/// plus the bridge), and counts the bytes of those configs (topic + payload, as the broker delivers them).
enum AnnounceBenchmark {
    static func run(devices: Int) async throws {
        let directory = "/tmp/mqtt-home-announce-\(getpid())"
        let broker = EmbeddedBroker(options: Bench.brokerOptions(directory + "/broker"), logger: Bench.quietLogger)
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        print("announce: \(devices) manual devices announced to Home Assistant at start-up, mosquitto on 127.0.0.1:\(port)")
        var daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        let setup = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        for _ in 0..<100 where (try? await setup.result("health")) == nil { try await Task.sleep(for: .milliseconds(20)) }
        let kinds = ["switch", "light", "sensor"]
        for start in stride(from: 0, to: devices, by: 2000) {
            let part: [JSONValue] = (start..<min(devices, start + 2000)).map { index in
                let kind = kinds[index % 3]
                var spec: JSONObject = ["name": .string("Device \(index)"), "type": .string(kind), "state_topic": .string("announce/\(index)"), "area": "Room \(index % 20)"]
                if kind != "sensor" { spec["command_topic"] = .string("announce/\(index)/set") }
                return .object(spec)
            }
            _ = try await setup.result("devices/import", params: ["devices": .array(part)], timeout: .seconds(60))
        }
        // The sensors report JSON with three known fields; switches and lights a plain state.
        let feeder = try await Bench.mqttClient(port: port, name: "announce-feeder")
        for index in 0..<devices {
            let payload = index % 3 == 2 ? #"{"temperature":21.5,"humidity":40,"battery":90}"# : "ON"
            try feeder.publish("announce/\(index)", payload: Array(payload.utf8), qos: .atMostOnce, retain: false)
        }
        try await feeder.publishAndWait("announce/flush", payload: [])
        try await Task.sleep(for: .seconds(2))
        await setup.close()
        await daemon.terminate()

        // Nothing retained under the prefix: every config that arrives now was published by the new daemon.
        let cleaner = try await Bench.mqttClient(port: port, name: "announce-cleaner")
        try await cleaner.subscribe("homeassistant/device/#", qos: .atMostOnce)
        var retained: [String] = []
        let quiet = ContinuousClock.now + .seconds(2)
        for await message in cleaner.messages {
            if message.retain && !message.payload.isEmpty { retained.append(message.topic) }
            if ContinuousClock.now > quiet || retained.count == devices + 1 { break }
        }
        for topic in retained { try cleaner.publish(topic, payload: [], qos: .atLeastOnce, retain: true) }
        try await cleaner.publishAndWait("announce/flush", payload: [])
        await cleaner.disconnect()

        let watcher = try await Bench.mqttClient(port: port, name: "announce-watcher")
        try await watcher.subscribe(["homeassistant/device/#", "mqtt-home/status"], qos: .atMostOnce)
        let clock = ContinuousClock()
        let spawned = clock.now
        daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        var configs = Set<String>()
        var bytes = 0
        var online: Duration?
        var last: Duration?
        var components = 0
        let deadline = clock.now + .seconds(120)
        for await message in watcher.messages {
            if message.topic == "mqtt-home/status" {
                if online == nil, message.payloadString.contains("\"online\"") { online = clock.now - spawned }
            } else if !message.payload.isEmpty, configs.insert(message.topic).inserted {
                bytes += message.topic.utf8.count + message.payload.count
                components += (try? JSONParser.parse(message.payload))?["components"]?.objectValue?.count ?? 0
                last = clock.now - spawned
            }
            if configs.count == devices + 1 && online != nil { break }
            if clock.now > deadline { break }
        }
        let rss = Bench.peakRSS(of: daemon.pid)
        print("  retained configs cleared before the start: \(retained.count)")
        print("  spawn to online: \(Bench.format(Bench.milliseconds(online ?? .zero))) ms; spawn to the last config: \(Bench.format(Bench.milliseconds(last ?? .zero))) ms")
        print("  configs: \(configs.count) (expected \(devices + 1)), components \(components), \(bytes) bytes (\(Bench.format(Double(bytes) / Double(max(configs.count, 1)))) per config)")
        print("  daemon peak RSS: \(rss / 1024) MiB")
        await watcher.disconnect()
        await daemon.terminate()
        await broker.stop()
    }
}
