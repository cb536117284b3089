import Logging
import ServiceLifecycle

/// Deletes sensor history older than `HISTORY_DAYS` and statistics older than `STATISTICS_DAYS`: at start-up, then
/// every 10 minutes, through the store writer (so it is one more operation in its batches, never a second writer).
struct HistoryRetention: Service {
    let writer: StoreWriter
    let logger: Logger
    var interval: Duration = .seconds(600)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await writer.pruneHistory(now: Int64((Timestamp.currentSeconds() * 1000).rounded()))
            } catch {
                logger.warning("cannot prune the sensor history", metadata: ["error": "\(error)"])
            }
            // Ends at once on shutdown, not at the end of the interval.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
