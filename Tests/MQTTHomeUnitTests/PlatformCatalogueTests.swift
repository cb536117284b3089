import Testing

@testable import MQTTHome

@Suite("Platform descriptors: one entry per Home Assistant platform")
struct PlatformCatalogueTests {
    @Test("names are unique; discovery, devices/add and the port words all come from the catalogue")
    func oneSourceOfTruth() throws {
        let names = Platform.catalogue.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(DiscoveryParser.platforms == Set(names))
        #expect(!Platform.manualTypes.contains("device_automation"))
        #expect(Platform.manualTypes.count == names.count - 1)
        for platform in Platform.catalogue {
            for field in platform.intents {
                #expect(ControlIntent.fields.contains(field), "\(platform.name): unknown intent field \(field)")
            }
            if let numeric = platform.numericIntent { #expect(platform.intents.contains(numeric), "\(platform.name)") }
            for fallback in platform.portFallback { #expect(Platform.named(fallback) != nil, "\(platform.name): \(fallback)") }
        }
        #expect(Platform.ports["relay"]?.primary == ["switch"] && Platform.ports["relay"]?.fallback == ["light"])
        #expect(Platform.ports["空调"]?.primary == ["climate", "water_heater"])
        #expect(Platform.primary(of: ["sensor", "binary_sensor", "light", "switch"]) == "light")
        #expect(Platform.primary(of: ["button", "update"]) == "button")
        #expect(Platform.primary(of: []) == nil)
    }

    @Test("every platform reads its state_topic when it has one, and refuses a config without its required keys")
    func stateAndRequiredKeys() throws {
        for platform in Platform.catalogue {
            let config: JSONObject = [
                "state_topic": "t/\(platform.name)", "mode_state_topic": "m/\(platform.name)", "activity_state_topic": "a/\(platform.name)",
            ]
            let behavior = EntityBehavior(platform: platform.name, config: config)
            // notify only takes messages: Home Assistant gives it no state.
            #expect(behavior.inputs.isEmpty == (platform.name == "notify"), "\(platform.name) reads nothing")
            let required = DiscoveryParser.requiredKeys(platform.name, [:])
            if !required.isEmpty {
                let parsed = DiscoveryParser.parse(topic: "homeassistant/\(platform.name)/x/config", payload: Array("{}".utf8), prefix: "homeassistant")
                guard case .invalid(let reason)? = parsed else {
                    Issue.record("\(platform.name): {} should be refused, got \(String(describing: parsed))")
                    continue
                }
                #expect(reason.contains(required[0]), "\(platform.name): \(reason)")
            }
        }
    }

    @Test("devices/set declares every intent field a platform accepts")
    func setDeclaresIntents() {
        let declared = Set(DeviceMethods.set.parameters.map(\.name))
        for field in ControlIntent.fields { #expect(declared.contains(field), "devices/set does not declare \(field)") }
    }
}
