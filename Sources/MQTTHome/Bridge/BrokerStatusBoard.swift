import Synchronization

/// The broker bridge's current knowledge and its two retained topics, `<base>/broker/status` and `/nodes`.
///
/// Pollers hand it every reading; it publishes only when something but the time stamp changed, so a quiet broker
/// costs no traffic, and ``republish()`` puts both back after a reconnect (a broker restart loses retained topics).
public final class BrokerStatusBoard: Sendable {
    let topics: Topics
    let publisher: StatePublisher
    private struct Board {
        var status: BrokerStatus
        var nodes: JSONValue?
        var publishedStatus: JSONValue?
        var publishedNodes: JSONValue?
        var nodesCleared = false
        var publishes = 0
    }
    private let board: Mutex<Board>

    public init(source: BrokerStatus.Source, topics: Topics, publisher: StatePublisher) {
        self.topics = topics
        self.publisher = publisher
        board = Mutex(Board(status: BrokerStatus(source: source)))
    }

    public var status: BrokerStatus { board.withLock { $0.status } }

    /// The `<base>/broker/nodes` document, nil when the broker has no cluster view (mosquitto) or none was read yet.
    public var nodes: JSONValue? { board.withLock { $0.nodes } }

    /// Retained publishes made so far (for `health`).
    public var publishes: Int { board.withLock { $0.publishes } }

    /// Records a reading; publishes each document whose content changed.
    public func update(_ status: BrokerStatus, nodes: JSONValue? = nil) {
        let outgoing = board.withLock { board -> [(String, [UInt8])] in
            board.status = status
            if let nodes { board.nodes = nodes }
            var outgoing: [(String, [UInt8])] = []
            let statusJSON = status.json
            if board.publishedStatus.map({ !Self.sameContent($0, statusJSON) }) ?? true {
                board.publishedStatus = statusJSON
                outgoing.append((topics.brokerStatus, statusJSON.jsonBytes))
            }
            if let nodes, board.publishedNodes.map({ !Self.sameContent($0, nodes) }) ?? true {
                board.publishedNodes = nodes
                outgoing.append((topics.brokerNodes, nodes.jsonBytes))
            } else if status.source == .mosquitto && !board.nodesCleared {
                // A retained cluster view left by an earlier EMQX configuration would describe the wrong broker.
                board.nodesCleared = true
                outgoing.append((topics.brokerNodes, []))
            }
            board.publishes += outgoing.count
            return outgoing
        }
        for (topic, payload) in outgoing { publisher.publish(topic, payload: payload) }
    }

    /// Queues both documents again; called after every (re)connect.
    public func republish() {
        let documents = board.withLock { board -> [(String, [UInt8])] in
            var documents: [(String, [UInt8])] = []
            if let status = board.publishedStatus { documents.append((topics.brokerStatus, status.jsonBytes)) }
            if let nodes = board.publishedNodes { documents.append((topics.brokerNodes, nodes.jsonBytes)) }
            return documents
        }
        for (topic, payload) in documents { publisher.publish(topic, payload: payload) }
    }

    /// Equal apart from the time stamps, which change at every reading.
    static func sameContent(_ left: JSONValue, _ right: JSONValue) -> Bool {
        func stripped(_ value: JSONValue) -> JSONValue {
            guard var object = value.objectValue else { return value }
            object["updated_at"] = nil
            object["retry_in_s"] = nil
            return .object(object)
        }
        return stripped(left) == stripped(right)
    }
}
