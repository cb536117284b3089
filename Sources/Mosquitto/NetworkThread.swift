#if canImport(Glibc)
import Glibc
#endif

/// A detached pthread for libmosquitto's blocking network loop, kept off Swift's cooperative pool.
enum NetworkThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func start(_ run: @escaping @Sendable () -> Void) throws(MosquittoError) {
        let context = Unmanaged.passRetained(Body(run: run)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread,
            nil,
            { context in
                let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
                body.run()
                return nil
            },
            context
        )
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw .library(code: rc, message: "cannot start the network thread: \(String(cString: strerror(rc)))")
        }
        pthread_detach(thread)
    }

    /// Sleeps up to `duration`, waking every 50 ms to ask `shouldStop`; returns early when it says yes.
    static func sleep(_ duration: Duration, until shouldStop: () -> Bool) {
        var remaining = duration
        let slice = Duration.milliseconds(50)
        while remaining > .zero && !shouldStop() {
            let step = min(remaining, slice)
            let (seconds, attoseconds) = step.components
            var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            _ = nanosleep(&request, nil)
            remaining -= step
        }
    }
}
