import ArgumentParser
import MQTTHome

/// `--json`: the result exactly as the RPC returned it, for scripts; without it, the human form.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print the result exactly as the RPC returned it (JSON), for scripts.")
    var json = false

    /// Prints `result` as JSON with `--json`, else `human()`.
    func emit(_ result: JSONValue, human: () -> String) {
        if json {
            print(result.jsonString)
        } else {
            let text = human()
            // Names, values and payloads come from the bus: no escape sequence or bidi override reaches the terminal.
            if !text.isEmpty { print(DisplayText.sanitized(text, keepingNewlines: true)) }
        }
    }
}
