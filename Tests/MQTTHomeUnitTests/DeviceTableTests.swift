import Mosquitto
import Testing

@testable import MQTTHome

@Suite("Device table: the registry's maps as a value")
struct DeviceTableTests {
    static func device(_ id: String, state: String, command: String? = nil) -> Device {
        Device(
            id: id, name: id.uppercased(), type: "switch", createdAt: "t", updatedAt: "t",
            entities: [Entity(key: "state", name: id, platform: "switch", stateTopic: state, commandTopic: command)]
        )
    }

    @Test("insert indexes, replace reports stale and fresh filters, remove leaves nothing behind")
    func lifecycle() {
        var table = DeviceTable()
        #expect(table.insert(Self.device("a", state: "a/state", command: "a/set"), state: DeviceState()) == ["a/state"])
        // A second reader of the same topic subscribes nothing new.
        #expect(table.insert(Self.device("b", state: "a/state"), state: DeviceState()).isEmpty)
        #expect(table.find("A")?.0.id == "a")
        #expect(table.find("a")?.0.id == "a")
        #expect(table.id(named: "b") == "b")
        #expect(Set(table.routes(for: "a/state").map(\.deviceID)) == ["a", "b"])
        #expect(table.deviceUsing("a/set") == "a")
        #expect(table.freeID("a") == "a_2")
        #expect(table.freeName("A", for: "new") == "A 2")

        let (stale, fresh) = table.replace(Self.device("b", state: "a/state"), with: Self.device("b", state: "b/state"))
        #expect(stale.isEmpty, "a/state is still read by a")
        #expect(fresh == ["b/state"])
        #expect(table.routes(for: "a/state").map(\.deviceID) == ["a"])

        #expect(table.remove(Self.device("a", state: "a/state", command: "a/set")) == ["a/state"])
        #expect(table.remove(Self.device("b", state: "b/state")) == ["b/state"])
        #expect(table.count == 0 && table.states.isEmpty && table.tracking.isEmpty)
        #expect(table.deviceUsing("a/set") == nil && table.id(named: "a") == nil)
        #expect(!table.isRouted("a/state") && !table.isRouted("b/state"))
    }

    @Test("a shared command topic is a warning on both devices, gone when one leaves")
    func sharedCommandTopicWarnings() {
        var table = DeviceTable()
        _ = table.insert(Self.device("a", state: "a/state", command: "shared/set"), state: DeviceState())
        _ = table.insert(Self.device("b", state: "b/state", command: "shared/set"), state: DeviceState())
        #expect(table.sharedCommandTopics == 1)
        #expect(table.devices["a"]?.warnings.count == 1 && table.devices["b"]?.warnings.count == 1)
        _ = table.remove(table.devices["b"]!)
        #expect(table.sharedCommandTopics == 0)
        #expect(table.devices["a"]?.warnings.isEmpty == true)

        // An update that drops the shared topic clears the warning on both sides; a sensor never gets one.
        _ = table.insert(Self.device("c", state: "c/state", command: "shared/set"), state: DeviceState())
        #expect(table.devices["a"]?.warnings.count == 1 && table.devices["c"]?.warnings.count == 1)
        _ = table.replace(table.devices["c"]!, with: Self.device("c", state: "c/state", command: "c/set"))
        #expect(table.devices["a"]?.warnings.isEmpty == true && table.devices["c"]?.warnings.isEmpty == true)
        _ = table.insert(Self.device("d", state: "shared/set"), state: DeviceState())
        #expect(table.devices["d"]?.warnings.isEmpty == true && table.devices["a"]?.warnings.isEmpty == true)
    }

    @Test("replace keeps the state the table has now")
    func replaceKeepsCurrentState() {
        var table = DeviceTable()
        let device = Self.device("a", state: "a/state")
        _ = table.insert(device, state: DeviceState())
        let context = DeviceTable.IngestContext(now: "t1", sampleAt: nil, stateKeys: 256)
        let outcome = table.apply(MQTTMessage(topic: "a/state", payload: Array(#"{"state":"ON"}"#.utf8)), context)
        #expect(outcome.changed.map(\.0) == ["a"] && outcome.logs.count == 1)
        var renamed = device
        renamed.name = "Renamed"
        _ = table.replace(device, with: renamed)
        #expect(table.find("renamed")?.1.values["state"] == "ON")
        #expect(table.find("A") == nil, "the old name is free")
    }

    @Test("history samples: at most one a second per device")
    func samplingBound() {
        var table = DeviceTable()
        _ = table.insert(Self.device("a", state: "a/state"), state: DeviceState())
        let message = MQTTMessage(topic: "a/state", payload: Array(#"{"power":5}"#.utf8))
        var sampled = 0
        for ms in stride(from: Int64(0), to: 3000, by: 100) {
            sampled += table.apply(message, .init(now: "t", sampleAt: 1_000_000 + ms, stateKeys: 256)).sampled.count
        }
        #expect(sampled == 3)
    }
}
