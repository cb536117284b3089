/// Everything mqtt-home knows about one Home Assistant MQTT platform, in one value: the discovery keys its schema
/// requires, how its state is read, which `devices/set` intents it takes and in which dialect, the port words of the
/// plugin contract, and how strongly it names a device. The parser, ``EntityBehavior``, ``ControlIntent``, the port
/// mapping and `devices/add` all consult it; adding a platform is one entry in ``Platform/catalogue``.
public struct Platform: Sendable {
    /// How `devices/set` intents become the platform's command payloads (``ControlIntent``).
    public enum Dialect: Sendable {
        /// `state` ON/OFF/toggle (and `value` when the platform takes one): switch, siren, humidifier, …
        case onOff
        case light, cover, climate, fan, lock, number, select, text
        /// A stateless trigger: button, scene.
        case press
        case valve, siren, waterHeater, lawnMower, update, notify
        /// A value checked as a date, a time or a date and time before it is sent.
        case date, time, dateTime
    }

    public let name: String
    /// Discovery refuses a config without these (Home Assistant's platform schema); may depend on the config.
    let requiredKeys: @Sendable (JSONObject) -> [String]
    /// Adds the topics that feed the entity's value (the platform's state dialect, with HA's defaults).
    let readState: @Sendable (inout EntityBehavior.Inputs) -> Void
    /// Nil: the platform takes no commands.
    public let dialect: Dialect?
    /// Intent fields `devices/set` accepts for it (checked before anything is published).
    public let intents: [String]
    /// The intent field a bare number means in `devices/control` (`brightness` for a light), if any.
    let numericIntent: String?
    /// Port types of the plugin contract (`devices/control`) that mean this platform, English and Chinese.
    let portWords: [String]
    /// Platforms tried when a device has no entity of this one (a "relay" announced as a light).
    let portFallback: [String]
    /// Higher names a device of several entities first: what it controls before what it measures.
    let rank: Int
    /// Offered as a `devices/add` type (false for discovery-only shapes such as `device_automation`).
    let manual: Bool
    /// How a manual entity of this platform is announced to Home Assistant (``DiscoveryAnnouncement``); nil:
    /// as a read-only sensor of its value (also for platforms older Home Assistants refuse, which would reject
    /// the whole device's config).
    let announce: (@Sendable (inout DiscoveryAnnouncement.Component) -> Void)?

    init(
        _ name: String,
        requires requiredKeys: @escaping @Sendable (JSONObject) -> [String] = { _ in [] },
        state readState: @escaping @Sendable (inout EntityBehavior.Inputs) -> Void = { $0.add("state_topic", "value_template", nil, .typed) },
        dialect: Dialect? = nil,
        intents: [String] = [],
        numericIntent: String? = nil,
        portWords: [String] = [],
        portFallback: [String] = [],
        rank: Int = 0,
        manual: Bool = true,
        announce: (@Sendable (inout DiscoveryAnnouncement.Component) -> Void)? = nil
    ) {
        self.name = name
        self.requiredKeys = requiredKeys
        self.readState = readState
        self.dialect = dialect
        self.intents = intents
        self.numericIntent = numericIntent
        self.portWords = portWords
        self.portFallback = portFallback
        self.rank = rank
        self.manual = manual
        self.announce = announce
    }

    /// The descriptor of a platform by name, nil for one Home Assistant does not discover over MQTT.
    public static func named(_ name: String) -> Platform? { byName[name] }

    /// Every platform's name.
    public static let names: Set<String> = Set(catalogue.map(\.name))
    /// The types `devices/add` accepts, sorted.
    public static let manualTypes: [String] = catalogue.filter(\.manual).map(\.name).sorted()

    private static let byName: [String: Platform] = Dictionary(uniqueKeysWithValues: catalogue.map { ($0.name, $0) })

    /// Port word → the platforms it means and the fallback ones, built from every descriptor's `portWords`.
    static let ports: [String: (primary: [String], fallback: [String])] = {
        var table: [String: (primary: [String], fallback: [String])] = [:]
        for platform in catalogue {
            for word in platform.portWords {
                var entry = table[word] ?? ([], [])
                entry.primary.append(platform.name)
                for fallback in platform.portFallback where !entry.fallback.contains(fallback) { entry.fallback.append(fallback) }
                table[word] = entry
            }
        }
        return table
    }()

    /// The platform that best names a device of several entities (highest rank; ties by the first entity).
    static func primary(of platforms: [String]) -> String? {
        var best: (name: String, rank: Int)?
        for name in platforms {
            let rank = named(name)?.rank ?? 0
            if best == nil || rank > best!.rank { best = (name, rank) }
        }
        return best?.name
    }
}
