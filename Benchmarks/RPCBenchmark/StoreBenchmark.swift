import Logging
import MQTTHome
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home-bench store <devices> <messages> [log-rows-per-device-first]`: the store writer alone, without MQTT —
/// what the daemon's writer does per state message at sparse rates (a log row, the device's state, two history
/// samples), fed in flush-window batches as ingest feeds it at 10,000 msg/s. The log is first filled to its steady
/// state (pruning included) so the measured rows meet tables of the size a running home has. Prints the process's CPU
/// per message: with no broker and no publisher beside it, far steadier than the ingest benchmark's daemon CPU, so a
/// change to the writer can be measured on its own.
enum StoreBenchmark {
    static func run(devices: Int, messages: Int, fillPerDevice: Int?) async throws {
        let directory = "/tmp/mqtt-home-store-\(getpid())"
        defer { _ = system("rm -rf '\(directory)'") }
        let store = try DeviceStore(directory: directory)
        let now = Timestamp.now()
        try await store.saveAll((0..<devices).map { index in
            Device(id: "bench_device_\(index)", name: "Bench device \(index)", type: "sensor", createdAt: now, updatedAt: now,
                entities: [Entity(key: "temperature", name: "Temperature", platform: "sensor", stateTopic: "bench/devices/\(index)/state")])
        })
        // The daemon's STORE_FLUSH_MS; each batch is what 10,000 msg/s bring in one window.
        let flushMilliseconds = getenv("STORE_FLUSH_MS").flatMap { Int(String(cString: $0)) } ?? 25
        let writer = StoreWriter(store: store, settings: .init(flushInterval: .milliseconds(flushMilliseconds)), logger: Bench.quietLogger)
        let group = ServiceGroup(services: [writer], logger: Bench.quietLogger)
        let running = Task { try await group.run() }

        let batch = max(1, 10 * flushMilliseconds)
        var sequence = 0
        func feed(_ count: Int, batch: Int) async {
            var sent = 0
            while sent < count {
                let size = min(batch, count - sent)
                var logs: [DeviceStore.LogEntry] = []
                var states: [(String, StateSnapshot)] = []
                var samples: [DeviceStore.Sample] = []
                logs.reserveCapacity(size)
                let at = Timestamp.now()
                let sampleAt = Int64((Timestamp.currentSeconds() * 1000).rounded())
                for _ in 0..<size {
                    sequence += 1
                    let seq = sequence
                    let index = seq % devices
                    let id = "bench_device_\(index)"
                    let temperature = 20 + Double(seq % 100) / 10
                    let payload = Array("{\"seq\":\(seq),\"temperature\":\(temperature)}".utf8)
                    logs.append(.init(deviceID: id, at: at, direction: "rx", topic: "bench/devices/\(index)/state", payload: payload))
                    let state = DeviceState(values: ["seq": .int(Int64(seq)), "temperature": .double(temperature)], lastSeen: at, online: true)
                    states.append((id, StateSnapshot(state)))
                    samples.append(.init(deviceID: id, key: "seq", at: sampleAt, value: Double(seq)))
                    samples.append(.init(deviceID: id, key: "temperature", at: sampleAt, value: temperature))
                }
                let target = writer.statistics.persisted + size
                writer.enqueue(logs: logs, states: states, samples: samples)
                while writer.statistics.persisted < target { try? await Task.sleep(for: .milliseconds(1)) }
                sent += size
            }
        }

        let fill = devices * (fillPerDevice ?? 120)
        let clock = ContinuousClock()
        let filling = clock.now
        await feed(fill, batch: 2_500)
        print("store: \(devices) devices; log filled with \(fill) rows (\(fill / max(1, devices)) per device, pruned to 100–150) in "
            + "\(Bench.format(Bench.milliseconds(clock.now - filling))) ms")

        let cpuBefore = Bench.cpuMicroseconds(of: getpid())
        let writtenBefore = written()
        let started = clock.now
        await feed(messages, batch: batch)
        let elapsed = clock.now - started
        let cpu = Bench.cpuMicroseconds(of: getpid()) - cpuBefore
        let bytes = written() - writtenBefore
        let statistics = writer.statistics
        print("  \(messages) messages (a log row, a state, two samples each) in batches of \(batch) (flush window \(flushMilliseconds) ms): \(Bench.format(Bench.milliseconds(elapsed))) ms, "
            + "\(statistics.flushes) flushes, dropped \(statistics.dropped)")
        print("  CPU: \(Bench.format(cpu / Double(max(1, messages)))) µs per message (this process: the writer and the batches it is fed); "
            + "written: \(Bench.format(Double(bytes) / Double(max(1, messages)) / 1024)) KiB per message (WAL and checkpoints)")
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// Bytes this process handed to write(2) and pwrite(2) (`wchar` of /proc/self/io).
    static func written() -> Int {
        guard let io = FileSystem.read("/proc/self/io") else { return 0 }
        for line in io.split(separator: "\n") where line.hasPrefix("wchar:") {
            return Int(line.dropFirst("wchar:".count).filter { $0 != " " }) ?? 0
        }
        return 0
    }
}
