import CSystemShims

#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator settings for the daemon.
public enum ProcessMemory {
    /// Arenas glibc's malloc may create.
    static let arenaLimit: Int32 = 2

    /// Caps glibc's malloc arenas at two, unless `MALLOC_ARENA_MAX` says otherwise.
    ///
    /// glibc gives each thread that meets contention an arena of its own, up to 8 per core, and each keeps the memory
    /// its thread freed. The daemon's allocating threads (the network thread, the cooperative pool, the store's queue)
    /// each ended up with one: at 10,000 devices after a QoS 1 burst, RSS 81–82 MiB with the default, 72–77 MiB with
    /// one or two arenas, at the same CPU per message (`Benchmarks/run ingest 10000 30000 1 10000`). Call before
    /// the threads start.
    public static func limitMallocArenas() {
        #if canImport(Glibc)
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = mqtthome_limit_malloc_arenas(arenaLimit)
        #endif
    }
}
