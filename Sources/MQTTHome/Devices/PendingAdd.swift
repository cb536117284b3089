import Synchronization

/// One `devices/add` call waiting to be committed, possibly by another call's task: adds that arrive while one is
/// committing are checked, committed and subscribed together by whichever of them gets the registry's lock next.
final class PendingAdd: Sendable {
    let spec: DeviceSpec
    private let state = Mutex<(result: Result<JSONValue, RPCError>?, waiter: CheckedContinuation<Result<JSONValue, RPCError>, Never>?)>((nil, nil))

    init(_ spec: DeviceSpec) {
        self.spec = spec
    }

    /// Called once by the task that committed it (after its SUBACK), or with its refusal.
    func resolve(_ result: Result<JSONValue, RPCError>) {
        let waiter = state.withLock { state -> CheckedContinuation<Result<JSONValue, RPCError>, Never>? in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: result)
    }

    /// The outcome, once resolved. Not cancellable: once taken into a batch the add runs to its end, and the caller
    /// learns how it ended.
    var outcome: Result<JSONValue, RPCError> {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Result<JSONValue, RPCError>? in
                    if let result = state.result { return result }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
