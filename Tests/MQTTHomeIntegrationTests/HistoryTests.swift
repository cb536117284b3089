import Foundation
import MQTTHome
import Mosquitto
import TestSupport
import Testing

/// "How cold did it get last night?": numeric values become history and statistics, through the real daemon.
/// Runs in scripts/test's serial phase (`MQTT_HOME_SERIAL=1`): its daemons, brokers and waits, added to the
/// parallel phase, pushed the time-limited tests of other suites past their bounds on 2 cores.
@Suite(
    "Sensor history and statistics over a real broker",
    .serialPhase,
    .timeLimit(.minutes(2)),
    .awaitedCleanup
)
struct HistoryTests {
    @Test("values become raw history and 5-minute/hourly statistics; both survive a restart; text falls back to the log")
    func historyAndStatistics() async throws {
        let directory = try TemporaryDirectory(prefix: "mqtt-homed-history")
        let broker = try await TestBroker.start()
        let first = try await DaemonHarness.start(broker: broker, directory: directory)
        _ = try await first.call("devices/add", ["name": "Bedroom", "type": "sensor", "state_topic": "z2m/bedroom"])
        _ = try await first.call("devices/add", ["name": "Door", "type": "sensor", "state_topic": "z2m/door"])
        let producer = try await MessageCollector.connect(port: broker.port, subscribeTo: [])
        // The samples take ~2 s and the assertions below expect them in one 5-minute (and hourly) bucket: started
        // within 5 s of a boundary, wait until it has passed (a run at 02:04:59 split them 1 + 2).
        let intoBucket = Int64((Date().timeIntervalSince1970 * 1000).rounded()) % 300_000
        if intoBucket > 295_000 { try await Task.sleep(for: .milliseconds(300_000 - intoBucket + 100)) }
        // Two values each second: a device gives the history at most one sample a second (its first message's).
        for (index, value) in [19.5, 18.0, 17.25, 18.0, 20.0].enumerated() {
            try await producer.client.publishAndWait("z2m/bedroom", payload: JSONValue.object(["temperature": .double(value), "humidity": 40]).jsonBytes)
            try await Task.sleep(for: .milliseconds(index % 2 == 0 ? 5 : 1050))
        }
        try await producer.client.publishAndWait("z2m/door", payload: Array(#"{"contact":"open"}"#.utf8))
        var raw: JSONValue = .null
        for _ in 0..<100 {
            raw = try await first.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-1h"])
            if raw["items"]?.arrayValue?.count == 3 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(raw["items"]?.arrayValue?.map { $0["value"] } == [20, 17.25, 19.5], "\(raw.jsonString)")
        #expect(raw["resolution"] == "raw")
        // Paged: two at a time, the cursor continues where the page ended.
        let page = try await first.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-1h", "limit": 2])
        let cursor = try #require(page["next_cursor"]?.stringValue)
        let next = try await first.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-1h", "limit": 2, "cursor": .string(cursor)])
        #expect(next["items"]?.arrayValue?.map { $0["value"] } == [19.5])

        let buckets = try await first.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-1h", "resolution": "5min"])
        let bucket = try #require(buckets["items"]?[0])
        #expect(bucket["count"] == 3 && bucket["min"] == 17.25 && bucket["max"] == 20 && bucket["last"] == 20 && bucket["mean"] == 18.917, "\(buckets.jsonString)")
        let hours = try await first.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-2h", "resolution": "hour"])
        #expect(hours["items"]?[0]?["count"] == 3)
        let statistics = try await first.call("sensors/statistics", [
            "sensors": [["device": "bedroom", "sensor": "temperature"], ["device": "Bedroom", "sensor": "湿度"]], "since": "-24h",
        ])
        #expect(statistics["items"]?[0]?["mean"] == 18.917 && statistics["items"]?[1]?["sensor"] == "humidity")
        // A text sensor has no numeric history: the answer comes from the message log.
        let door = try await first.call("sensors/history", ["device": "door", "sensor": "contact"])
        #expect(door["source"] == "log" && door["items"]?[0]?["value"] == "open")
        let bad = try await first.callError("sensors/history", ["device": "bedroom", "sensor": "temperature", "resolution": "minute"])
        #expect(bad?.code == -32602)
        let health = try await first.call("health")
        #expect(health["history"]?["series"] == 2 && (health["history"]?["rows_recorded"]?.intValue ?? 0) >= 3)

        await first.daemon.stop()
        await first.status.close()
        let second = try await DaemonHarness.start(broker: broker, directory: directory)
        cleanup { await second.shutdown(); directory.remove() }
        let after = try await second.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-1h", "resolution": "5min"])
        #expect(after["items"]?[0]?["count"] == 3, "statistics written at shutdown survive: \(after.jsonString)")
        #expect(try await second.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "since": "-1h"])["items"]?.arrayValue?.count == 3)
        await producer.close()
    }

    @Test("HISTORY_DAYS=0 keeps no history and no statistics")
    func off() async throws {
        let harness = try await DaemonHarness.start(environment: ["HISTORY_DAYS": "0"])
        cleanup { await harness.shutdown() }
        _ = try await harness.call("devices/add", ["name": "Bedroom", "type": "sensor", "state_topic": "z2m/bedroom"])
        try await harness.status.client.publishAndWait("z2m/bedroom", payload: Array(#"{"temperature":20}"#.utf8))
        try await Task.sleep(for: .milliseconds(100))
        let history = try await harness.call("sensors/history", ["device": "bedroom", "sensor": "temperature", "resolution": "5min"])
        #expect(history["items"]?.arrayValue?.isEmpty == true)
        #expect(try await harness.call("health")["history"] == .null)
    }
}
