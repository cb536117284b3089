import CCurl

/// Once-per-process libcurl set-up; `curl_global_init` is not thread-safe, so it runs behind a `static let`.
public enum CurlLibrary {
    private static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    /// Initializes libcurl if it has not been; true when it is usable.
    @discardableResult
    static func ensureInitialized() -> Bool { initialized }

    /// libcurl's version text, e.g. `libcurl/7.88.1 OpenSSL/3.0.15 …`.
    public static var version: String { String(cString: curl_version()) }
}
