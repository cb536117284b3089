/// Which topics a device may read (state, availability, attributes) and be commanded on, whoever declared it:
/// `devices/add|update` or a discovery config. The daemon subscribes and publishes on these topics with its own
/// rights, so a device topic is a privilege lent to whoever declared the device.
///
/// Refused, for every role: `$` topics; anything inside `<base>/` (the daemon's own tree: a state topic there feeds
/// the daemon its own output, a command topic there forges its status or calls its RPC); discovery configs and
/// Home Assistant's status under the discovery prefix (a command there plants devices in Home Assistant and here).
/// Other topics under the prefix are allowed, since Home Assistant's own documentation puts state and command
/// topics there (`homeassistant/switch/irrigation/state`). A filter (only where the role reads) must not overlap the
/// daemon's tree or the discovery prefix at all: `#` and `+/#` are refused as catch-alls.
public struct DeviceTopicPolicy: Sendable {
    public let base: String
    public let discoveryPrefix: String
    // Built once: every stored device's topics are checked at start-up (10,000 devices, ~20,000 topics), and
    // building these per call was most of the check.
    private let baseTree: String
    private let discoveryTree: String
    private let baseFilter: String
    private let discoveryFilter: String
    private let discoveryStatus: String

    public init(base: String, discoveryPrefix: String) {
        self.base = base
        self.discoveryPrefix = discoveryPrefix
        baseTree = base + "/"
        discoveryTree = discoveryPrefix + "/"
        baseFilter = base + "/#"
        discoveryFilter = discoveryPrefix + "/#"
        discoveryStatus = discoveryPrefix + "/status"
    }

    /// Why a device may not use `topic`, or nil.
    public func problem(_ topic: String) -> String? {
        if topic.hasPrefix("$") { return "must not be a broker topic ('$…')" }
        let isFilter = TopicRules.isFilter(topic)
        if isFilter {
            if TopicRules.overlaps(topic, baseFilter) {
                return topic.hasPrefix("#") || topic.hasPrefix("+")
                    ? "is a catch-all filter: it would match every topic, the daemon's own \(base)/ included"
                    : "would match topics in the daemon's own tree \(base)/"
            }
            if TopicRules.overlaps(topic, discoveryFilter) {
                return "would match topics under the discovery prefix \(discoveryPrefix)/"
            }
            return nil
        }
        if topic == base || topic.hasPrefix(baseTree) { return "must not be inside the daemon's own tree \(base)/" }
        if topic == discoveryStatus { return "must not be Home Assistant's status topic \(topic)" }
        if topic.hasPrefix(discoveryTree) && topic.hasSuffix("/config") {
            return "must not be a discovery config topic under \(discoveryPrefix)/"
        }
        return nil
    }
}
