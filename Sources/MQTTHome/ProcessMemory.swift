import CSystemShims

#if canImport(Glibc)
import Glibc
#endif

/// Process-wide allocator settings for the daemon.
public enum ProcessMemory {
    /// Arenas glibc's malloc may create.
    static let arenaLimit: Int32 = 2

    /// Caps glibc's malloc arenas at two, unless `MALLOC_ARENA_MAX` says otherwise, and fixes its mmap and trim
    /// thresholds (unless `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` is set).
    ///
    /// glibc gives each thread that meets contention an arena of its own, up to 8 per core, and each keeps the memory
    /// its thread freed. The daemon's allocating threads (the network thread, the cooperative pool, the store's queue)
    /// each ended up with one: at 10,000 devices after a QoS 1 burst, RSS 81–82 MiB with the default, 72–77 MiB with
    /// one or two arenas, at the same CPU per message (`Benchmarks/run ingest 10000 30000 1 10000`). Call before
    /// the threads start.
    ///
    /// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so after the first
    /// multi-megabyte tables (start-up's rows, the history's slots) every large block came from the heap and stayed
    /// there. Fixed at 256 KiB (trim at 1 MiB): 10,000 devices after 100,000 QoS 1 messages, seven runs each,
    /// RSS 71–75 (mean 72.8) -> 68–72 (mean 70.0) MiB at the same CPU per message.
    public static func configureAllocator() {
        #if canImport(Glibc)
        if getenv("MALLOC_ARENA_MAX") == nil { _ = mqtthome_limit_malloc_arenas(arenaLimit) }
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil && getenv("MALLOC_TRIM_THRESHOLD_") == nil {
            _ = mqtthome_fix_malloc_thresholds(mmapThreshold, trimThreshold)
        }
        #endif
    }

    /// Allocations from this size on get pages of their own, returned to the system when freed.
    static let mmapThreshold: Int32 = 256 * 1024
    /// Free memory at the top of the heap beyond this is returned to the system.
    static let trimThreshold: Int32 = 1024 * 1024
}
