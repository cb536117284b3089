import Logging
import MQTTHome
import Mosquitto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench ingest <devices> <messages> <qos>`: state messages from many devices through the daemon.
///
/// 1. The broker's ceiling: the same publisher to a plain subscriber.
/// 2. Start-up: `devices` stored devices, time until `online` and every retained state topic is republished; then a
///    restart, when the broker holds what the first run published (Home Assistant configs included).
/// 3. Ingest: `messages` state messages (`{"seq":n,…}`) round-robin over the devices; loss counted exactly from the
///    daemon's counters, the last sequence number of every device checked on its retained state topic.
enum IngestBenchmark {
    /// - Parameter rate: messages per second in all, paced (nil: as fast as the publisher can). At a rate where every
    ///   device updates less often than the 100 ms publish window (10,000 devices at 10,000 msg/s: each once a second,
    ///   as real sensors do), coalescing cannot help and every message costs its own retained publish.
    static func run(devices: Int, messages: Int, qos: QoS, rate: Int? = nil) async throws {
        let directory = "/tmp/mqtt-home-ingest-\(getpid())"
        let broker = EmbeddedBroker(
            options: .init(directory: directory + "/broker", persistence: false, extraConfiguration: ["max_queued_messages 10000000"]),
            logger: Bench.quietLogger
        )
        let port = try await broker.start()
        defer { _ = system("rm -rf '\(directory)'") }
        print("ingest: \(devices) devices, \(messages) messages at QoS \(qos.rawValue), mosquitto on 127.0.0.1:\(port)"
            + (rate.map { ", paced at \($0) msg/s: each device every \(Bench.format(Double(devices) / Double($0) * 1000)) ms" } ?? ""))

        let ceiling = try await measureCeiling(port: port, devices: devices, messages: messages, qos: qos)
        print("  broker ceiling (publisher -> plain subscriber): \(Bench.format(ceiling)) msg/s")
        let floor = try await measureStartFloor(port: port, devices: devices)
        print("  start-up floor (one plain client doing a start-up's broker work): online after \(Bench.format(Bench.milliseconds(floor))) ms")

        // Stored devices, written straight into the daemon's database before it starts.
        let store = try DeviceStore(directory: directory + "/data")
        let now = Timestamp.now()
        try await store.saveAll(
            (0..<devices).map { index in
                Device(
                    id: "dev\(index)", name: "Device \(index)", type: "sensor", createdAt: now, updatedAt: now,
                    entities: [Entity(key: "temperature", name: "T", platform: "sensor", stateTopic: "bench/dev/\(index)")]
                )
            }
        )
        let first = try await measureStart(port: port, directory: directory, devices: devices, retainedBefore: false)
        print("  start-up with \(devices) stored devices: online after \(Bench.format(Bench.milliseconds(first.online))) ms, "
            + "all \(devices) state topics seen after \(Bench.format(Bench.milliseconds(first.everything))) ms")
        // What every later start meets: the broker holds the last run's retained topics and Home Assistant configs,
        // and the discovery subscription replays those configs to the daemon while it republishes.
        let setup = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        while try await setup.result("health")["ha_discovery"]?["configs_published"]?.intValue ?? 0 < Int64(devices) {
            try await Task.sleep(for: .milliseconds(20))
        }
        await setup.close()
        await first.daemon.terminate()
        let restart = try await measureStart(port: port, directory: directory, devices: devices, retainedBefore: true)
        let daemon = restart.daemon
        print("  restart (the broker holding the last run's retained topics and \(devices) Home Assistant configs): online after "
            + "\(Bench.format(Bench.milliseconds(restart.online))) ms, all \(devices) state topics republished after "
            + "\(Bench.format(Bench.milliseconds(restart.everything))) ms")

        let clock = ContinuousClock()
        let rpc = try await Bench.rpcClient(port: port, logger: Bench.quietLogger)
        let before = try await rpc.result("health")
        let matchedBefore = before["ingest"]?["messages_matched"]?.intValue ?? 0
        let persistedBefore = before["ingest"]?["store_log_rows_persisted"]?.intValue ?? 0
        let cpuBefore = Bench.cpuMicroseconds(of: daemon.pid)
        let publishStart = clock.now
        let publisher = try await Bench.mqttClient(port: port, name: "bench-pub")
        try await publish(publisher, devices: devices, messages: messages, qos: qos, rate: rate)
        let published = clock.now - publishStart
        // Wait until everything is persisted, or nothing moved for 3 s.
        var last = (matched: 0, persisted: 0, dropped: 0, storeDropped: 0)
        var lastProgress = clock.now
        while true {
            let health = try await rpc.result("health")
            let current = (
                matched: Int(health["ingest"]?["messages_matched"]?.intValue ?? 0) - Int(matchedBefore),
                persisted: Int(health["ingest"]?["store_log_rows_persisted"]?.intValue ?? 0) - Int(persistedBefore),
                dropped: Int(health["mqtt"]?["messages_dropped"]?.intValue ?? 0),
                storeDropped: Int(health["ingest"]?["store_rows_dropped"]?.intValue ?? 0)
            )
            if current != last { lastProgress = clock.now }
            last = current
            if current.persisted >= messages || clock.now - lastProgress > .seconds(3) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let persistedAfter = clock.now - publishStart - (clock.now - lastProgress)
        let cpu = Bench.cpuMicroseconds(of: daemon.pid) - cpuBefore
        let rss = Bench.rss(of: daemon.pid)
        let peak = Bench.peakRSS(of: daemon.pid)
        let (anonymous, files) = (Bench.statusField("RssAnon", of: daemon.pid), Bench.statusField("RssFile", of: daemon.pid))
        // The newest state of each device is published at most one coalescing window (100 ms) after it arrived.
        try await Task.sleep(for: .milliseconds(300))
        let verified = try await verifyLastSequence(port: port, devices: devices, messages: messages)
        await rpc.close()
        await publisher.disconnect()
        await daemon.terminate()
        await broker.stop()

        let seconds = Bench.milliseconds(persistedAfter) / 1000
        let rate = Double(last.persisted) / seconds
        print("  published in \(Bench.format(Bench.milliseconds(published))) ms; persisted \(last.persisted) in "
            + "\(Bench.format(seconds * 1000)) ms = \(Bench.format(rate)) msg/s (\(Bench.format(rate / ceiling * 100)) % of ceiling)")
        print("  lost: \(messages - last.matched) (daemon received \(last.matched) of \(messages); "
            + "client buffer drops \(last.dropped), store drops \(last.storeDropped))")
        print("  last sequence number correct on \(verified) of \(devices) retained state topics")
        print("  daemon CPU: \(Bench.format(cpu / Double(max(1, last.matched)))) µs per message; RSS \(rss / 1024) MiB (peak \(peak / 1024) MiB; "
            + "heap and stacks \(anonymous / 1024) MiB, the binary's and its libraries' pages \(files / 1024) MiB)")
    }

    /// Publishes `{"seq":n,"temperature":…}` round-robin to `bench/dev/<n % devices>`, then waits for the last.
    static func publish(_ client: MosquittoClient, devices: Int, messages: Int, qos: QoS, rate: Int? = nil) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        for sequence in 0..<(messages - 1) {
            if let rate, rate > 0, sequence % 50 == 0 {
                // Paced: message n is due at start + n / rate.
                let due = start + .microseconds(Int64(sequence) * 1_000_000 / Int64(rate))
                if due > clock.now { try await Task.sleep(until: due, clock: clock) }
            }
            let payload = Array("{\"seq\":\(sequence),\"temperature\":\(20 + sequence % 10)}".utf8)
            while true {
                do {
                    try client.publish("bench/dev/\(sequence % devices)", payload: payload, qos: qos)
                    break
                } catch {
                    // libmosquitto refuses when its outgoing queue is full; wait for it to drain.
                    try await Task.sleep(for: .microseconds(200))
                }
            }
        }
        let last = messages - 1
        try await client.publishAndWait(
            "bench/dev/\(last % devices)",
            payload: Array("{\"seq\":\(last),\"temperature\":20}".utf8),
            qos: qos == .atMostOnce ? .atMostOnce : qos
        )
    }

    /// The broker's own rate for this stream: the same publisher, one plain subscriber counting messages.
    static func measureCeiling(port: Int, devices: Int, messages: Int, qos: QoS) async throws -> Double {
        let subscriber = try await Bench.mqttClient(port: port, name: "bench-ceiling-sub")
        try await subscriber.subscribe("bench/#", qos: qos)
        let publisher = try await Bench.mqttClient(port: port, name: "bench-ceiling-pub")
        let clock = ContinuousClock()
        let start = clock.now
        async let publishing: Void = publish(publisher, devices: devices, messages: messages, qos: qos)
        let reader = Task {
            var count = 0
            for await _ in subscriber.messages {
                count += 1
                if count == messages { break }
            }
            return (count, ContinuousClock.now)
        }
        try await publishing
        let outcome = try await withTimeout(.seconds(60)) { await reader.value }
        await publisher.disconnect()
        await subscriber.disconnect()
        return Double(outcome.0) / (Bench.milliseconds(outcome.1 - start) / 1000)
    }

    /// Spawns the daemon on the stored devices and times it until a watcher has seen `online` and every device's
    /// state topic published by it. `retainedBefore`: the broker still holds them from the last run, so the watcher
    /// first takes those replays and then counts only what the daemon publishes live.
    static func measureStart(
        port: Int, directory: String, devices: Int, retainedBefore: Bool
    ) async throws -> (daemon: ChildProcess, online: Duration, everything: Duration) {
        let watcher = try await Bench.mqttClient(port: port, name: "bench-watch")
        // One iterator for both phases: it fetches messages in batches, and a second one would lose the first's rest.
        var messages = watcher.messages.makeAsyncIterator()
        try await watcher.subscribe(["mqtt-home/status", "mqtt-home/devices/+/state"], qos: .atLeastOnce)
        var replayed = 0
        while retainedBefore && replayed < devices + 1, let message = await messages.next() {
            if message.retain { replayed += 1 }
        }
        let clock = ContinuousClock()
        let started = clock.now
        let daemon = try Bench.startDaemon(port: port, dataDirectory: directory + "/data", log: directory + "/daemon.log")
        var states = 0
        var online = Duration.zero
        var everything = Duration.zero
        while let message = await messages.next() {
            if message.retain { continue }
            if message.topic == "mqtt-home/status" {
                if message.payloadString.contains("online") { online = clock.now - started }
            } else {
                states += 1
            }
            if states == devices && online > .zero {
                everything = clock.now - started
                break
            }
        }
        await watcher.disconnect()
        return (daemon, online, everything)
    }

    /// What the broker alone needs for the daemon's start-up, as the ceiling is for ingest: one client connects,
    /// subscribes to every device's state topic without waiting, publishes each device's document, state and
    /// availability retained at QoS 0 (the daemon's payloads, built beforehand) and then a retained QoS 1 `online`;
    /// timed from before the connect until a watcher has seen `online` and every state, as the start-up is.
    static func measureStartFloor(port: Int, devices: Int) async throws -> Duration {
        let now = Timestamp.now()
        let documents = (0..<devices).map { index in
            Device(
                id: "dev\(index)", name: "Device \(index)", type: "sensor", createdAt: now, updatedAt: now,
                entities: [Entity(key: "temperature", name: "T", platform: "sensor", stateTopic: "bench/dev/\(index)")]
            ).document.jsonBytes
        }
        let state = DeviceState().json.jsonBytes
        let watcher = try await Bench.mqttClient(port: port, name: "bench-floor-watch")
        try await watcher.subscribe(["floor/status", "floor/devices/+/state"], qos: .atLeastOnce)
        let clock = ContinuousClock()
        let started = clock.now
        let client = try await Bench.mqttClient(port: port, name: "bench-floor")
        let subscribing = Task { try await client.subscribe((0..<devices).map { "floor/dev/\($0)" }, qos: .atLeastOnce) }
        for (index, document) in documents.enumerated() {
            try client.publish("floor/devices/dev\(index)", payload: document, qos: .atMostOnce, retain: true)
            try client.publish("floor/devices/dev\(index)/state", payload: state, qos: .atMostOnce, retain: true)
            try client.publish("floor/devices/dev\(index)/availability", payload: Array("offline".utf8), qos: .atMostOnce, retain: true)
        }
        try await client.publishAndWait("floor/status", payload: Array(#"{"state":"online"}"#.utf8), qos: .atLeastOnce, retain: true)
        var states = 0
        var online = false
        for await message in watcher.messages {
            if message.topic == "floor/status" { online = true } else { states += 1 }
            if online && states == devices { break }
        }
        let elapsed = clock.now - started
        try await subscribing.value
        // Retained topics cleared, so the broker holds no more than the daemon's run adds.
        for index in 0..<devices {
            for suffix in ["", "/state", "/availability"] {
                try client.publish("floor/devices/dev\(index)\(suffix)", payload: [], qos: .atMostOnce, retain: true)
            }
        }
        try await client.publishAndWait("floor/status", payload: [], qos: .atLeastOnce, retain: true)
        await client.disconnect()
        await watcher.disconnect()
        return elapsed
    }

    /// Counts devices whose retained state carries the last sequence number sent to them.
    static func verifyLastSequence(port: Int, devices: Int, messages: Int) async throws -> Int {
        let reader = try await Bench.mqttClient(port: port, name: "bench-verify")
        try await reader.subscribe("mqtt-home/devices/+/state", qos: .atLeastOnce)
        let messagesStream = reader.messages
        let result = try? await withTimeout(.seconds(20)) { () async -> Int in
            var correct = 0
            var seen = 0
            for await message in messagesStream {
                seen += 1
                let device = Int(message.topic.split(separator: "/")[2].dropFirst(3)) ?? -1
                let expected = ((messages - 1 - device) / devices) * devices + device
                if (try? JSONParser.parse(message.payload))?["seq"]?.intValue == Int64(expected) { correct += 1 }
                if seen == devices { break }
            }
            return correct
        }
        await reader.disconnect()
        return result ?? 0
    }
}
