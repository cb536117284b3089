#if canImport(Glibc)
import Glibc
#endif

/// Where `swift build` put the executables: the directory of the running test binary.
public enum Products {
    public static var directory: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let executable = String(decoding: buffer[0..<max(0, count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        // The test binary may sit inside a `.xctest` bundle directory on some layouts.
        if directory.last?.hasSuffix(".xctest") == true { directory = directory.dropLast() }
        return directory.joined(separator: "/")
    }

    public static var daemon: String { directory + "/mqtt-homed" }
    public static var cli: String { directory + "/mqtt-home" }
}

/// Files under Tests/Fixtures.
public enum Fixtures {
    public static func path(_ name: String, file: StaticString = #filePath) -> String {
        let testSupport = "\(file)".split(separator: "/", omittingEmptySubsequences: false).dropLast()
        return (testSupport.dropLast() + ["Fixtures", Substring(name)]).joined(separator: "/")
    }
}
