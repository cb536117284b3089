import ArgumentParser
import MQTTHome

/// `--json`: print the raw reply for scripts instead of the human form.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the daemon's whole JSON-RPC reply, unformatted, for scripts.")
    var json = false

    /// Prints the reply: raw with `--json`, else `human(result)`. A reply carrying an error exits 1.
    func emit(_ reply: JSONValue, human: (JSONValue) -> String) throws {
        if json {
            print(reply.jsonString)
        }
        if let error = reply["error"] {
            let code = error["code"]?.intValue.map(String.init) ?? "?"
            let message = error["message"]?.stringValue ?? error.jsonString
            throw CLIExit(code: .rpcError, message: "error \(code): \(message)")
        }
        if !json, let result = reply["result"] {
            print(human(result))
        }
    }
}
