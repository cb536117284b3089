import Testing

@testable import Curl

@Suite("Loading libcurl on demand")
struct CurlLibraryTests {
    @Test("a missing library and one without libcurl's entry points are refused with what went wrong")
    func loadFailures() {
        guard case .failure(let missing) = CurlLibrary.load("libcurl-that-is-not-installed.so.4") else {
            Issue.record("loaded a library that does not exist")
            return
        }
        #expect("\(missing)".contains("libcurl cannot be loaded") && "\(missing)".contains("install the libcurl4 package"), "\(missing)")
        guard case .failure(let wrong) = CurlLibrary.load("libc.so.6") else {
            Issue.record("took libc for libcurl")
            return
        }
        #expect("\(wrong)".contains("libc.so.6 lacks curl_global_init"), "\(wrong)")
    }

    @Test("the installed libcurl provides every entry point the client calls")
    func loadsInstalledLibrary() {
        guard case .success(let functions) = CurlLibrary.load(CurlLibrary.soname) else {
            Issue.record("\(CurlLibrary.soname) did not load")
            return
        }
        #expect(functions.version().map { String(cString: $0) }?.hasPrefix("libcurl/") == true)
    }
}
