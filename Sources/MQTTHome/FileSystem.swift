#if canImport(Glibc)
import Glibc
#endif

/// The few file operations the daemon needs, on libc, so the daemon does not pull in full Foundation.
public enum FileSystem {
    public static func read(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes through a temporary file and rename, so a crash never leaves a half-written file.
    public static func write(_ contents: String, to path: String) throws(HomeError) {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "wb") else { throw error(path) }
        let bytes = Array(contents.utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        fclose(file)
        guard written == bytes.count, rename(temporary, path) == 0 else { throw error(path) }
    }

    /// `mkdir -p`.
    public static func makeDirectory(_ path: String) throws(HomeError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw error(current) }
        }
    }

    public static func remove(_ path: String) { unlink(path) }

    /// An absolute form of `path` (relative to the working directory), for messages and config files.
    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var relative = Substring(path)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        return relative.isEmpty || relative == "." ? cwd : cwd + "/" + relative
    }

    private static func error(_ path: String) -> HomeError {
        .fileSystem(path: path, problem: String(cString: strerror(errno)))
    }
}
