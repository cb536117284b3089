/// What stops the daemon or the CLI from doing its job, worded for the person who has to fix it.
///
/// RPC callers never see these; they get ``RPCError``s with wire codes.
public enum HomeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A bad configuration value; `key` is the ENV spelling, e.g. `MQTT_PORT`.
    case configuration(key: String, problem: String)
    /// The embedded mosquitto cannot be started or stopped.
    case embeddedBroker(String)
    /// A file or directory the daemon needs cannot be read or written.
    case fileSystem(path: String, problem: String)
    /// The EMQX REST API did not give a usable answer; the failure's `state` is what `broker/status` shows.
    case brokerAPI(BrokerAPIFailure)

    public var description: String {
        switch self {
        case .configuration(let key, let problem): "configuration error: \(key) \(problem)"
        case .embeddedBroker(let problem): "embedded broker: \(problem)"
        case .fileSystem(let path, let problem): "\(path): \(problem)"
        case .brokerAPI(let failure): failure.description
        }
    }
}
