import Logging
import MQTTHome
import Mosquitto

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench discovery <configs> <messages>`: Home Assistant discovery at scale.
///
/// 1. `configs` retained Zigbee2MQTT-style sensor configs (value_template, availability list) on the broker before
///    the daemon starts: time from spawn until every entity is registered.
/// 2. `configs` more, plain (no template), published live: time until all are registered.
/// 3. `messages` state messages to the templated sensors, then to the plain ones: daemon CPU µs per message.
enum DiscoveryBenchmark {
    static func run(configs: Int, messages: Int) async throws {
        let directory = "/tmp/mqtt-home-discovery-\(getpid())"
        // A queue nothing overflows, unless MQTT_HOME_BENCH_BROKER=stock asks for Debian's 1,000.
        var options = Bench.brokerOptions(directory + "/broker")
        if !Bench.stockBroker { options.maxQueuedMessages = 10_000_000 }
        let broker = EmbeddedBroker(options: options, logger: Bench.quietLogger)
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        print("discovery: \(configs) retained + \(configs) live configs, \(messages) state messages each way, mosquitto on 127.0.0.1:\(port)\(Bench.stockBroker ? " (stock: set_tcp_nodelay false, max_queued_messages 1000)" : "")")
        let publisher = try await Bench.mqttClient(port: port, name: "bench-producer")
        for index in 0..<configs {
            try publisher.publish("homeassistant/sensor/t\(index)/temperature/config", payload: templated(index).jsonBytes, qos: .atLeastOnce, retain: true)
        }
        try await publisher.publishAndWait("zigbee2mqtt/bridge/state", payload: Array("online".utf8), retain: true)

        let watcher = try await Bench.mqttClient(port: port, name: "bench-watch")
        try await watcher.subscribe("mqtt-home/status", qos: .atLeastOnce)
        let clock = ContinuousClock()
        let started = clock.now
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        for await message in watcher.messages where message.payloadString.contains("\"online\"") { break }
        print("  online \(Bench.format(Bench.milliseconds(clock.now - started))) ms after spawn")
        await watcher.disconnect()
        let rpc = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        guard try await waitForEntities(rpc, configs) else {
            await rpc.close()
            await publisher.disconnect()
            await daemon.terminate()
            await broker.stop()
            return
        }
        let retainedAfter = clock.now - started
        print("  \(configs) retained configs registered \(Bench.format(Bench.milliseconds(retainedAfter))) ms after the daemon was spawned")

        let liveStart = clock.now
        for index in 0..<configs {
            try publisher.publish("homeassistant/sensor/p\(index)/value/config", payload: plain(index).jsonBytes, qos: .atLeastOnce, retain: true)
        }
        guard try await waitForEntities(rpc, 2 * configs) else {
            await rpc.close()
            await publisher.disconnect()
            await daemon.terminate()
            await broker.stop()
            return
        }
        print("  \(configs) live configs registered in \(Bench.format(Bench.milliseconds(clock.now - liveStart))) ms")
        print("  daemon RSS with \(2 * configs) discovered devices: \(Bench.rss(of: daemon.pid) / 1024) MiB")

        for (label, topic, payload) in [
            ("with value_template", { (i: Int) in "zigbee2mqtt/t\(i)" }, { (n: Int) in #"{"temperature":\#(20 + n % 10).5,"battery":90}"# }),
            ("without template", { (i: Int) in "plain/p\(i)/value" }, { (n: Int) in "\(20 + n % 10).5" }),
        ] {
            let before = try await rpc.result("health")["ingest"]?["messages_matched"]?.intValue ?? 0
            let cpu = Bench.cpuMicroseconds(of: daemon.pid)
            let start = clock.now
            for n in 0..<messages {
                try publisher.publish(topic(n % configs), payload: Array(payload(n).utf8), qos: .atLeastOnce)
                if n % 1000 == 999 { try await Task.sleep(for: .milliseconds(1)) }
            }
            var matched: Int64 = 0
            while matched < Int64(messages) {
                try await Task.sleep(for: .milliseconds(50))
                matched = (try await rpc.result("health")["ingest"]?["messages_matched"]?.intValue ?? 0) - before
                if clock.now - start > .seconds(120) { break }
            }
            let used = Bench.cpuMicroseconds(of: daemon.pid) - cpu
            let elapsed = Bench.milliseconds(clock.now - start)
            print("  state \(label): \(matched)/\(messages) applied in \(Bench.format(elapsed)) ms, daemon CPU \(Bench.format(used / Double(max(matched, 1)))) µs/msg")
        }
        await rpc.close()
        await publisher.disconnect()
        await daemon.terminate()
        await broker.stop()
    }

    static func templated(_ index: Int) -> JSONValue {
        [
            "unit_of_measurement": "°C", "device_class": "temperature", "state_class": "measurement",
            "value_template": "{{ value_json.temperature }}", "state_topic": .string("zigbee2mqtt/t\(index)"),
            "json_attributes_topic": .string("zigbee2mqtt/t\(index)"), "name": .string("t\(index) temperature"),
            "unique_id": .string("0x\(index)_temperature_zigbee2mqtt"),
            "device": ["identifiers": [.string("zigbee2mqtt_0x\(index)")], "name": .string("t\(index)"), "manufacturer": "Xiaomi"],
            "availability": [["topic": "zigbee2mqtt/bridge/state"]],
        ]
    }

    static func plain(_ index: Int) -> JSONValue {
        ["name": .string("p\(index)"), "stat_t": .string("plain/p\(index)/value"), "uniq_id": .string("plain_\(index)"), "dev": ["ids": .string("plain_\(index)")]]
    }

    /// Waits until `count` entities are registered (true); says how many were and returns false when the count stops
    /// growing for 10 s (a replay the broker cut short never completes).
    static func waitForEntities(_ rpc: RPCClient, _ count: Int) async throws -> Bool {
        let clock = ContinuousClock()
        var seen = 0
        var lastGrowth = clock.now
        while true {
            let registered = Int(try await rpc.result("health")["discovery"]?["entities"]?.intValue ?? 0)
            if registered >= count { return true }
            if registered > seen {
                seen = registered
                lastGrowth = clock.now
            } else if clock.now - lastGrowth > .seconds(10) {
                print("  only \(registered) of \(count) configs registered; none more in 10 s")
                return false
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
