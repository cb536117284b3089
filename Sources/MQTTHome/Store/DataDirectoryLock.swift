#if canImport(Glibc)
import Glibc
#endif

/// One mqtt-homed per `DATA_DIR`: an exclusive `flock` on `<DATA_DIR>/mqtt-homed.lock`, held for the life of the
/// process. Two daemons on one database would each believe they own every device; the second now refuses to
/// start and names the first. The kernel drops the lock when the process dies, even by SIGKILL, so a crash never
/// leaves a stale lock behind.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let descriptor: Int32

    public static func acquire(directory: String) throws(HomeError) -> DataDirectoryLock {
        try FileSystem.makeDirectory(directory)
        let path = FileSystem.absolute(directory) + "/mqtt-homed.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .fileSystem(path: path, problem: "cannot open the lock file: \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = FileSystem.read(path)?.split(separator: "\n").first.map(String.init) ?? "?"
            close(descriptor)
            throw .fileSystem(
                path: FileSystem.absolute(directory),
                problem: "another mqtt-homed (pid \(holder)) is using this DATA_DIR; stop it, or give this one its own DATA_DIR"
            )
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(path: path, descriptor: descriptor)
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
