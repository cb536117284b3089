import Configuration
import Logging
import Mosquitto
import Testing

@testable import MQTTHome

@Suite("Configuration keys, defaults and errors")
struct HomeConfigurationTests {
    func configuration(_ values: [String: String]) throws(HomeError) -> HomeConfiguration {
        let provider = EnvironmentVariablesProvider(environmentVariables: values)
        return try HomeConfiguration(reader: ConfigReader(provider: provider))
    }

    @Test("defaults: embedded broker, mqtt-home base, ./data, info, 64 in flight, 256 KiB")
    func defaults() throws {
        let config = try configuration([:])
        #expect(config.mqtt.host == nil)
        #expect(config.mqtt.port == nil)
        #expect(config.mqtt.protocolVersion == .v5)
        #expect(config.mqtt.clientID.hasPrefix("mqtt-homed-"))
        #expect(config.baseTopic == "mqtt-home")
        #expect(config.dataDirectory == "./data")
        #expect(config.logLevel == .info)
        #expect(config.rpc.maxInFlight == 64)
        #expect(config.rpc.maxPayloadBytes == 262_144)
        #expect(config.mqtt.effectivePort == 1883)
    }

    @Test("every ENV key is read")
    func readsKeys() throws {
        let config = try configuration([
            "MQTT_HOST": "broker.lan", "MQTT_PORT": "8884", "MQTT_USERNAME": "u", "MQTT_PASSWORD": "p",
            "MQTT_CLIENT_ID": "me", "MQTT_TLS_CA_FILE": "/ca.pem", "BASE_TOPIC": "home/mh", "DATA_DIR": "/var/lib/mh",
            "LOG_LEVEL": "DEBUG", "RPC_SHARE_GROUP": "g", "RPC_MAX_IN_FLIGHT": "8", "RPC_MAX_PAYLOAD_BYTES": "1024",
            "MQTT_PROTOCOL": "3.1.1", "MQTT_KEEPALIVE": "60", "MQTT_RECONNECT_MAX_DELAY": "5",
        ])
        #expect(config.mqtt.host == "broker.lan")
        #expect(config.mqtt.port == 8884)
        #expect(config.mqtt.username == "u" && config.mqtt.password == "p")
        #expect(config.mqtt.clientID == "me")
        #expect(config.mqtt.tls?.caFile == "/ca.pem")
        #expect(config.baseTopic == "home/mh")
        #expect(config.dataDirectory == "/var/lib/mh")
        #expect(config.logLevel == .debug)
        #expect(config.rpc.shareGroup == "g" && config.rpc.maxInFlight == 8 && config.rpc.maxPayloadBytes == 1024)
        #expect(config.mqtt.protocolVersion == .v311)
        #expect(config.mqtt.keepAlive == 60 && config.mqtt.reconnectMaxDelay == 5)
    }

    @Test("TLS switches the default port to 8883")
    func tlsPort() throws {
        #expect(try configuration(["MQTT_HOST": "h", "MQTT_TLS_CA_FILE": "/x"]).mqtt.effectivePort == 8883)
    }

    @Test(
        "an invalid value stops start-up with one line naming the key",
        arguments: [
            ("MQTT_PORT", "abc"), ("MQTT_PORT", "70000"), ("LOG_LEVEL", "loud"), ("BASE_TOPIC", "a/#"),
            ("BASE_TOPIC", "/lead"), ("MQTT_PROTOCOL", "4.0"), ("RPC_SHARE_GROUP", "a/b"), ("MQTT_TLS_INSECURE", "maybe"),
            ("RPC_MAX_IN_FLIGHT", "0"), ("MQTT_KEEPALIVE", "1"),
        ]
    )
    func invalid(key: String, value: String) {
        #expect {
            try configuration([key: value])
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("configuration error: \(key) ") && !text.contains("\n")
        }
    }

    @Test("a client certificate without its key names the missing key")
    func certWithoutKey() {
        #expect(throws: HomeError.configuration(key: "MQTT_TLS_KEY_FILE", problem: "must be set together with MQTT_TLS_CERT_FILE")) {
            try configuration(["MQTT_TLS_CERT_FILE": "/c.pem"])
        }
    }
}
