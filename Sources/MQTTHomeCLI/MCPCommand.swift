import ArgumentParser
import Dispatch
import MQTTHome
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `mqtt-home mcp`: a Model Context Protocol server on stdin/stdout, backed by the daemon's RPC.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the home to an LLM over the Model Context Protocol (stdio).",
        discussion: """
            Reads JSON-RPC messages, one per line, on stdin and answers on stdout (logs go to stderr), as MCP
            clients such as Claude Desktop and Cursor start it. Tools: list_devices, list_areas, get_device,
            read_sensor, sensor_history, sensor_statistics, set_device, set_area, control_device, broker_status
            (--read-only: only those that change nothing).

            Example client configuration (Claude Desktop's claude_desktop_config.json):
              {"mcpServers": {"mqtt-home": {"command": "/usr/local/bin/mqtt-home",
                                            "args": ["mcp", "--host", "broker.lan"]}}}

            Try it by hand:
              printf '%s\\n' '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' | mqtt-home mcp
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Offer only the tools that change nothing (list, get, read, history, broker status).")
    var readOnly = false

    func run() async throws {
        let link = DaemonLink(connection: connection)
        let server = MCPServer(readOnly: readOnly) { method, params in try await link.call(method, params) }
        let output = Mutex(())
        await server.serve(lines: Self.standardInputLines()) { line in
            // Whole lines from concurrent calls; flush stdout only (fflush(NULL) would wait on stdin's lock, which
            // the reading thread holds while it waits for the client's next line).
            output.withLock { _ in
                print(line)
                flushStandardOutput()
            }
        }
        await link.close()
    }

    /// stdin, line by line, read on a Dispatch thread: a blocking read must not hold a cooperative thread.
    static func standardInputLines() -> AsyncStream<String> {
        AsyncStream { continuation in
            DispatchQueue(label: "mqtt-home.mcp.stdin").async {
                while let line = readLine(strippingNewline: true) { continuation.yield(line) }
                continuation.finish()
            }
        }
    }
}

/// The MCP server's connection to the daemon: made on the first tool call (so `initialize` works with the broker
/// down), and made again after it fails.
final class DaemonLink: Sendable {
    let connection: ConnectionOptions
    private let session = Mutex<CLISession?>(nil)

    init(connection: ConnectionOptions) { self.connection = connection }

    /// A tool failure a model can read: the CLI's one-line message.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func call(_ method: String, _ params: JSONObject) async throws -> JSONValue {
        let current: CLISession
        if let existing = session.withLock({ $0 }) {
            current = existing
        } else {
            do {
                current = try await connection.connect(logger: MQTTHomeCLI.logger)
            } catch let exit as CLIExit {
                throw Failure(description: exit.message)
            }
            session.withLock { $0 = current }
        }
        // Confirmation waits up to 60 s; give the daemon that long to answer a set or control.
        let wait: Double = method == "devices/set" || method == "devices/control" ? 60 : 0
        do {
            return try await current.call(method, params, wait: wait)
        } catch let exit as CLIExit {
            if let error = exit.rpcError { throw error }
            if exit.code == .brokerUnreachable { session.withLock { $0 = nil } }
            throw Failure(description: exit.message)
        }
    }

    func close() async {
        if let current = session.withLock({ $0 }) { await current.close() }
    }
}
