import CMosquitto

/// Process-wide libmosquitto state: `mosquitto_lib_init` must run exactly once before any client exists.
public enum MosquittoLibrary {
    private static let initialized: Bool = {
        mosquitto_lib_init() == Int32(MOSQ_ERR_SUCCESS.rawValue)
    }()

    /// Initializes libmosquitto once; every client calls this, so callers rarely need to.
    @discardableResult
    public static func ensureInitialized() -> Bool { initialized }

    /// The linked libmosquitto version, e.g. `2.0.11`.
    public static var version: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var revision: Int32 = 0
        mosquitto_lib_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }
}
