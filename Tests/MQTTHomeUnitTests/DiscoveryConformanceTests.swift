import Foundation
import Testing
import Mosquitto
import TestSupport

@testable import MQTTHome

/// Real discovery payloads from Zigbee2MQTT, Tasmota, ESPHome and Home Assistant's documentation
/// (`Tests/Fixtures/discovery`, each citing its source): what Home Assistant would set up, and what mqtt-home makes
/// of the state, availability and commands that follow.
@Suite("Discovery conformance: real payloads read as Home Assistant reads them")
struct DiscoveryConformanceTests {
    static let fixtures: [String] = {
        let directory = Fixtures.path("discovery")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }()

    @Test("there are fixtures from every producer family")
    func fixturesPresent() {
        #expect(Self.fixtures.count >= 9)
        for family in ["z2m-", "tasmota-", "esphome-", "ha-docs-"] {
            #expect(Self.fixtures.contains { $0.hasPrefix(family) }, "no \(family) fixture")
        }
    }

    @Test("fixture", arguments: fixtures)
    func conformance(name: String) throws {
        let text = try String(contentsOfFile: Fixtures.path("discovery/\(name)"), encoding: .utf8)
        let fixture = try JSONParser.parse(text)
        #expect(fixture["source"]?.stringValue?.isEmpty == false, "fixture must cite its source")
        let topic = try #require(fixture["topic"]?.stringValue)
        let payload = try #require(fixture["payload"])
        let expect = try #require(fixture["expect"])
        guard case .configs(let components, _)? = DiscoveryParser.parse(topic: topic, payload: payload.jsonBytes, prefix: "homeassistant") else {
            Issue.record("\(name): not parsed as configs: \(String(describing: DiscoveryParser.parse(topic: topic, payload: payload.jsonBytes, prefix: "homeassistant")))")
            return
        }
        let expected = expect["components"]?.arrayValue ?? []
        #expect(components.count == expected.count)
        let behaviors = components.map { EntityBehavior(platform: $0.platform, config: $0.config) }
        for (index, (component, wanted)) in zip(components, expected).enumerated() {
            #expect(component.platform == wanted["platform"]?.stringValue)
            #expect(component.discoveryID == wanted["discovery_id"]?.stringValue)
            for (key, value) in wanted["topics"]?.objectValue ?? JSONObject() {
                #expect(component.config[key] == value, "\(name): \(key)")
            }
            #expect(component.config["~"] == nil)
            let behavior = behaviors[index]
            let availability: [JSONValue] = behavior.availability.map {
                ["topic": .string($0.topic), "payload_available": .string($0.payloadAvailable), "payload_not_available": .string($0.payloadNotAvailable)]
            }
            #expect(availability == wanted["availability"]?.arrayValue, "\(name): availability")
            #expect(behavior.availabilityMode == wanted["availability_mode"]?.stringValue)
            #expect(behavior.isOptimistic == wanted["optimistic"]?.boolValue)
            #expect(behavior.unsupportedTemplates.isEmpty, "\(name): \(behavior.unsupportedTemplates)")
        }
        // State messages in order, each routed and applied by the registry's own table; `value` is the entity's
        // value after it.
        var table = DeviceTable()
        let entities = components.enumerated().map { index, component in
            DeviceRegistry.entity(from: component, key: "e\(index)", deviceName: "device")
        }
        _ = table.insert(Device(id: "device", name: "device", type: components[0].platform, origin: "ha_discovery", createdAt: "", updatedAt: "", entities: entities), state: DeviceState())
        let context = DeviceTable.IngestContext(now: "t", sampleAt: nil, stateKeys: 256)
        for message in expect["state"]?.arrayValue ?? [] {
            let index = Int(message["component"]?.intValue ?? 0)
            let topic = try #require(message["topic"]?.stringValue)
            let bytes = Array(try #require(message["payload"]?.stringValue).utf8)
            let outcome = table.apply(MQTTMessage(topic: topic, payload: bytes), context)
            #expect(outcome.templateErrors == 0, "\(name): \(outcome.templateFailures)")
            #expect(table.states["device"]?.values["e\(index)"] == message["value"], "\(name): after \(message["payload"]?.stringValue ?? "")")
        }
        for message in expect["availability_messages"]?.arrayValue ?? [] {
            let behavior = behaviors[0]
            let source = try #require(behavior.availability.firstIndex { $0.topic == message["topic"]?.stringValue })
            let bytes = Array((message["payload"]?.stringValue ?? "").utf8)
            let result = try behavior.availabilityValue(source: source, payload: bytes, json: EntityBehavior.json(bytes)).get()
            #expect(result.map(JSONValue.bool) ?? .null == message["available"], "\(name): availability \(message)")
        }
        for control in expect["control"]?.arrayValue ?? [] {
            let component = components[0]
            let entity = DeviceRegistry.entity(from: component, key: Device.slug(component.objectID), deviceName: "device")
            let intent = try #require(control["intent"]?.objectValue)
            if let wanted = control["error"]?.stringValue {
                do {
                    _ = try ControlIntent(entity: entity, intent: intent, current: nil)
                    Issue.record("\(name): \(intent) should be refused")
                } catch {
                    #expect(error.code == -32602)
                    #expect(error.message.contains(wanted), "\(name): \(error.message)")
                }
                continue
            }
            let translation = try ControlIntent(entity: entity, intent: intent, current: nil)
            let publishes: [JSONValue] = translation.publishes.map { ["topic": .string($0.topic), "payload": .string($0.payload)] }
            #expect(publishes == control["publishes"]?.arrayValue, "\(name): \(intent)")
            #expect(translation.expected == control["expected"], "\(name): expected of \(intent)")
        }
    }
}
