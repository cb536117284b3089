import MQTTHome

/// The CLI's documented exit codes, each with the one line a person reads on stderr.
struct CLIExit: Error {
    /// 0 ok, 1 the daemon answered with an error, 2 usage, 3 no answer in time, 4 cannot connect to the broker,
    /// 5 a command was sent but the device did not confirm it in time.
    enum Code: Int32 {
        case ok = 0
        case rpcError = 1
        case usage = 2
        case noAnswer = 3
        case brokerUnreachable = 4
        case unconfirmed = 5
    }

    var code: Code
    var message: String
    /// The daemon's error reply, printed on stdout with `--json` so scripts can read the code and data.
    var rpcError: RPCError? = nil

    static let exitCodesHelp = """
        Exit codes: 0 success; 1 the daemon answered with an error; 2 usage or configuration error;
        3 no answer from mqtt-homed before --timeout (is it running?); 4 cannot connect to the broker;
        5 a command was sent but the device did not confirm it in time.
        """
}
