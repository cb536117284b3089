import ArgumentParser
import MQTTHome

/// `mqtt-home control`: the plugin contract `devices/control` from a terminal.
struct ControlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "Switch a device's port (the n-th light, relay, cover, …) and wait for its confirmation.",
        discussion: """
            The plugin contract devices/control: port type light/led, switch/relay/outlet, cover/curtain, fan, lock,
            climate, valve (or any platform); port id counts from 1 or is an entity key; action on, off, toggle,
            open, close, stop, lock, unlock, press, or a value (brightness 0-255, position 0-100, temperature).

            Examples:
              mqtt-home control relay_board relay 1 toggle
              mqtt-home control bulb led 1 128
              mqtt-home control blinds cover 1 close --wait 20
            Exit 5 when the device did not confirm within --wait.
            """
    )

    @Argument(help: "Device id or name.") var device: String
    @Argument(help: "Port type, e.g. relay, led, cover.") var portType: String
    @Argument(help: "Port number (from 1) or entity key.") var portID: String
    @Argument(help: "Action or value.") var action: String
    @Option(help: "Seconds to wait for the device's confirmation (default 3).") var wait: Double = 3
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if !(wait >= 0 && wait <= 60) { throw ValidationError("--wait must be from 0 to 60 seconds") }
    }

    func run() async throws {
        let params: JSONObject = [
            "device_uuid": .string(device), "port_type": .string(portType),
            "port_id": Int64(portID).map(JSONValue.int) ?? .string(portID),
            "action": Double(action) != nil ? ((try? JSONParser.parse(action)) ?? .string(action)) : .string(action),
            "confirm_timeout_ms": .int(Int64(wait * 1000)),
        ]
        let result = try await connection.result("devices/control", params, wait: wait)
        try Confirmation.report(result, output: output)
    }
}
