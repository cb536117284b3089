import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Blocking libcurl transfers on a small pool of dedicated threads, awaited from async code.
///
/// `curl_easy_perform` blocks for as long as the server takes, so it never runs on Swift's cooperative pool: each
/// worker is its own pthread with its own easy handle. The pool is bounded, so a stalled server costs at most
/// `workers` threads; requests beyond that wait in a queue (``statistics`` shows it). Threads start with the first
/// request, so a daemon that never makes one never has them. Cancelling the awaiting task aborts the transfer.
public final class HTTPClient: Sendable {
    public struct Statistics: Sendable, Hashable {
        public var queued: Int
        public var running: Int
        public var completed: Int
    }

    private let queue: JobQueue
    private let workerCount: Int
    private let started = Mutex(false)

    public init(workers: Int = 4) {
        precondition(workers > 0)
        workerCount = workers
        queue = JobQueue()
    }

    deinit { queue.close() }

    public var statistics: Statistics { queue.statistics }

    /// Performs `request` on a worker thread. HTTP error statuses are responses, not errors.
    public func perform(_ request: HTTPRequest) async throws(CurlError) -> HTTPResponse {
        startWorkersIfNeeded()
        let job = Job(request: request)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                job.attach(continuation)
                if !queue.push(job) { job.finish(.failure(.cancelled)) }
            }
        } onCancel: {
            job.cancel()
        }
        return try result.get()
    }

    /// Stops the workers after their current transfer; queued requests fail with ``CurlError/cancelled``.
    public func shutdown() { queue.close() }

    private func startWorkersIfNeeded() {
        let start = started.withLock { started -> Bool in
            defer { started = true }
            return !started
        }
        guard start else { return }
        var running = 0
        for _ in 0..<workerCount {
            let queue = queue
            let didStart = WorkerThread.start {
                let transfer: CurlTransfer
                do throws(CurlError) {
                    transfer = try CurlTransfer()
                } catch {
                    queue.close(failing: error)
                    return
                }
                while let job = queue.pop() {
                    if job.isCancelled {
                        job.finish(.failure(.cancelled))
                        continue
                    }
                    let result = transfer.perform(job.request, isCancelled: { job.isCancelled })
                    queue.markDone()
                    job.finish(result)
                }
            }
            if didStart { running += 1 }
        }
        if running == 0 { queue.close(failing: .transfer(code: -1, message: "cannot start an HTTP worker thread")) }
    }
}

/// One request waiting for, or running on, a worker.
final class Job: Sendable {
    let request: HTTPRequest
    private let continuation = Mutex<CheckedContinuation<Result<HTTPResponse, CurlError>, Never>?>(nil)
    private let cancelled = Atomic<Bool>(false)

    init(request: HTTPRequest) { self.request = request }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    func attach(_ continuation: CheckedContinuation<Result<HTTPResponse, CurlError>, Never>) {
        self.continuation.withLock { $0 = continuation }
    }

    func cancel() { cancelled.store(true, ordering: .releasing) }

    /// Resumes the waiting task once; later calls do nothing.
    func finish(_ result: Result<HTTPResponse, CurlError>) {
        continuation.withLock { slot in
            slot?.resume(returning: result)
            slot = nil
        }
    }
}

/// A first-in, first-out queue of jobs that worker threads block on.
final class JobQueue: Sendable {
    private struct State {
        var jobs: [Job] = []
        var head = 0
        var closed = false
        var running = 0
        var completed = 0
    }
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)

    /// False when the queue is closed.
    func push(_ job: Job) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.jobs.append(job)
            return true
        }
        if accepted { available.signal() }
        return accepted
    }

    /// Blocks until a job arrives; nil once the queue is closed.
    func pop() -> Job? {
        while true {
            available.wait()
            let next = state.withLock { state -> (job: Job?, closed: Bool) in
                if state.closed { return (nil, true) }
                guard state.head < state.jobs.count else { return (nil, false) }
                let job = state.jobs[state.head]
                state.head += 1
                if state.head > 64 && state.head * 2 > state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                state.running += 1
                return (job, false)
            }
            if next.closed {
                available.signal()  // wake the next worker so it sees the close too
                return nil
            }
            if let job = next.job { return job }
        }
    }

    func markDone() {
        state.withLock {
            $0.running -= 1
            $0.completed += 1
        }
    }

    /// Refuses new jobs, fails the queued ones and lets every worker exit.
    func close(failing error: CurlError = .cancelled) {
        let abandoned = state.withLock { state -> [Job] in
            guard !state.closed else { return [] }
            state.closed = true
            let rest = Array(state.jobs[state.head...])
            state.jobs = []
            state.head = 0
            return rest
        }
        for job in abandoned {
            job.cancel()
            job.finish(.failure(error))
        }
        available.signal()
    }

    var statistics: HTTPClient.Statistics {
        state.withLock { HTTPClient.Statistics(queued: $0.jobs.count - $0.head, running: $0.running, completed: $0.completed) }
    }
}

/// A detached pthread: libcurl's blocking calls must not occupy a cooperative-pool thread.
enum WorkerThread {
    private final class Body {
        let run: @Sendable () -> Void
        init(run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// False when the system refused a new thread.
    static func start(_ run: @escaping @Sendable () -> Void) -> Bool {
        let context = Unmanaged.passRetained(Body(run: run)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread,
            nil,
            { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            },
            context
        )
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
