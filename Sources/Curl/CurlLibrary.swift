import CCurl
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// libcurl, loaded with `dlopen` when the first HTTP client needs it (only the EMQX bridge does) and initialized once.
///
/// Linking it made every process map it and the 27 libraries it pulls in (GnuTLS, Kerberos, LDAP, SSH, …): ~4 MiB
/// resident in a daemon that talks to mosquitto only, and their relocation at every start of the daemon and the CLI.
public enum CurlLibrary {
    /// The entry points the Curl module calls, found with `dlsym`.
    struct Functions: @unchecked Sendable {  // immutable C function addresses in a library never unloaded once loaded
        let globalInit: @convention(c) (Int) -> CURLcode
        let version: @convention(c) () -> UnsafeMutablePointer<CChar>?
        let easyInit: @convention(c) () -> UnsafeMutableRawPointer?
        let easyCleanup: @convention(c) (UnsafeMutableRawPointer?) -> Void
        let easyReset: @convention(c) (UnsafeMutableRawPointer?) -> Void
        let easyPerform: @convention(c) (UnsafeMutableRawPointer?) -> CURLcode
        let easyStrerror: @convention(c) (CURLcode) -> UnsafePointer<CChar>?
        let slistAppend: @convention(c) (UnsafeMutablePointer<curl_slist>?, UnsafePointer<CChar>?) -> UnsafeMutablePointer<curl_slist>?
        let slistFreeAll: @convention(c) (UnsafeMutablePointer<curl_slist>?) -> Void
        /// Variadic: called through the shim's typed helpers (`mqtthome_curl_setopt_long`, …).
        let easySetopt: UnsafeMutableRawPointer
        let easyGetinfo: UnsafeMutableRawPointer
    }

    /// The soname of libcurl's ABI 4, the one the headers it was built against describe.
    static let soname = "libcurl.so.4"

    private static let loaded = Atomic<Bool>(false)

    /// `curl_global_init` is not thread-safe: it runs once, behind a `static let`.
    private static let library: Result<Functions, CurlError> = {
        let result = load(soname)
        if case .success(let functions) = result {
            let code = functions.globalInit(Int(CURL_GLOBAL_DEFAULT))
            guard code == CURLE_OK else { return .failure(.transfer(code: Int(code.rawValue), message: "curl_global_init failed")) }
        }
        loaded.store(true, ordering: .releasing)
        return result
    }()

    /// libcurl's entry points, loading and initializing it the first time.
    static func functions() -> Result<Functions, CurlError> { library }

    /// libcurl's version text (`libcurl/7.88.1 OpenSSL/3.0.15 …`), or nil while no HTTP client has loaded it; asking
    /// does not load it.
    public static var loadedVersion: String? {
        guard loaded.load(ordering: .acquiring), case .success(let functions) = library, let text = functions.version() else { return nil }
        return String(cString: text)
    }

    /// Opens `library` and finds every entry point; what failed, worded for the log, otherwise.
    static func load(_ library: String) -> Result<Functions, CurlError> {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            return .failure(.transfer(code: -1, message: "libcurl cannot be loaded (\(reason)); install the libcurl4 package"))
        }
        var missing: [String] = []
        func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
            guard let address = dlsym(handle, name) else {
                missing.append(name)
                return nil
            }
            return unsafeBitCast(address, to: type)
        }
        func pointer(_ name: String) -> UnsafeMutableRawPointer? {
            guard let address = dlsym(handle, name) else {
                missing.append(name)
                return nil
            }
            return address
        }
        let globalInit = symbol("curl_global_init", as: (@convention(c) (Int) -> CURLcode).self)
        let version = symbol("curl_version", as: (@convention(c) () -> UnsafeMutablePointer<CChar>?).self)
        let easyInit = symbol("curl_easy_init", as: (@convention(c) () -> UnsafeMutableRawPointer?).self)
        let easyCleanup = symbol("curl_easy_cleanup", as: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self)
        let easyReset = symbol("curl_easy_reset", as: (@convention(c) (UnsafeMutableRawPointer?) -> Void).self)
        let easyPerform = symbol("curl_easy_perform", as: (@convention(c) (UnsafeMutableRawPointer?) -> CURLcode).self)
        let easyStrerror = symbol("curl_easy_strerror", as: (@convention(c) (CURLcode) -> UnsafePointer<CChar>?).self)
        let slistAppend = symbol(
            "curl_slist_append",
            as: (@convention(c) (UnsafeMutablePointer<curl_slist>?, UnsafePointer<CChar>?) -> UnsafeMutablePointer<curl_slist>?).self
        )
        let slistFreeAll = symbol("curl_slist_free_all", as: (@convention(c) (UnsafeMutablePointer<curl_slist>?) -> Void).self)
        let easySetopt = pointer("curl_easy_setopt")
        let easyGetinfo = pointer("curl_easy_getinfo")
        guard let globalInit, let version, let easyInit, let easyCleanup, let easyReset, let easyPerform, let easyStrerror,
            let slistAppend, let slistFreeAll, let easySetopt, let easyGetinfo
        else {
            dlclose(handle)
            return .failure(.transfer(code: -1, message: "\(library) lacks \(missing.joined(separator: ", "))"))
        }
        return .success(
            Functions(
                globalInit: globalInit, version: version, easyInit: easyInit, easyCleanup: easyCleanup, easyReset: easyReset,
                easyPerform: easyPerform, easyStrerror: easyStrerror, slistAppend: slistAppend, slistFreeAll: slistFreeAll,
                easySetopt: easySetopt, easyGetinfo: easyGetinfo
            )
        )
    }
}
