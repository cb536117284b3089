#if canImport(Glibc)
import Glibc
#endif

/// The few file operations the daemon needs, on libc, so the daemon does not pull in full Foundation.
public enum FileSystem {
    /// The file's text from byte `offset` on (what a log gained since then).
    public static func read(_ path: String, from offset: Int = 0) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        if offset > 0 { fseek(file, offset, SEEK_SET) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes through a temporary file and rename, so a crash never leaves a half-written file. The file gets
    /// `mode` (default 0600: what the daemon writes is its own), whatever the umask.
    public static func write(_ contents: String, to path: String, mode: mode_t = 0o600) throws(HomeError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw error(path) }
        fchmod(descriptor, mode)
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written <= 0 {
                close(descriptor)
                throw error(path)
            }
            offset += written
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else { throw error(path) }
    }

    /// `mkdir -p`; directories it creates get `mode` (default 0700).
    public static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws(HomeError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST { throw error(current) }
        }
    }

    /// Sets the mode of `path` (no error when it does not exist).
    public static func setMode(_ path: String, _ mode: mode_t) { chmod(path, mode) }

    /// Gives `path` (and, when `recursive`, everything directly inside it) to `user`.
    public static func changeOwner(_ path: String, recursive: Bool, to user: String) {
        guard let entry = getpwnam(user) else { return }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        chown(path, uid, gid)
        guard recursive else { return }
        for name in entries(path) { chown(path + "/" + name, uid, gid) }
    }

    /// The first directory above `path` that `user` may not pass through (no search permission), or nil.
    public static func firstUnsearchableAncestor(of path: String, for user: String) -> String? {
        guard let entry = getpwnam(user) else { return "/" }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        var current = ""
        for component in absolute(path).split(separator: "/").dropLast() {
            current += "/" + component
            var info = stat()
            guard stat(current, &info) == 0 else { return current }
            let mode = info.st_mode
            let searchable =
                info.st_uid == uid ? mode & S_IXUSR != 0 : (info.st_gid == gid ? mode & S_IXGRP != 0 : mode & S_IXOTH != 0)
            if !searchable { return current }
        }
        return nil
    }

    /// The file's size in bytes, nil when it does not exist.
    public static func size(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    public static func isDirectory(_ path: String) -> Bool {
        guard let directory = opendir(path) else { return false }
        closedir(directory)
        return true
    }

    /// Files directly inside `path` (not `.` and `..`).
    public static func entries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let item = readdir(directory) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// 32 hex digits from the system's cryptographic random source (``SystemRandomNumberGenerator``: getrandom on
    /// Linux), for the passwords of the embedded broker's users and the RPC client's reply topics.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return [generator.next(), generator.next()].map { (value: UInt64) -> String in
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
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
