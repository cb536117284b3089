import CMosquitto
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The network thread: connect, drive `mosquitto_loop`, and on failure back off and reconnect.
extension MosquittoClient {
    func runNetworkLoop() {
        let pointer = handle.pointer
        var delay = configuration.reconnectDelayInitial
        var firstAttempt = true
        while !stopRequested {
            state.withLock { state in
                state.attemptAccepted = false
                state.attemptRefusal = nil
                state.retryImmediately = false
            }
            var rc: Int32
            if firstAttempt {
                rc = mosquitto_connect_bind_async(
                    pointer,
                    configuration.host,
                    Int32(configuration.port),
                    Int32(configuration.keepAlive),
                    nil
                )
                firstAttempt = false
            } else {
                rc = mosquitto_reconnect_async(pointer)
            }
            var failure: MosquittoError? = rc == Int32(MOSQ_ERR_SUCCESS.rawValue) ? nil : MosquittoError(code: rc)
            if failure == nil {
                while true {
                    rc = mosquitto_loop(pointer, 1000, 1)
                    if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                        failure = MosquittoError(code: rc)
                        break
                    }
                    if configuration.quickAck { Self.acknowledgeQuickly(mosquitto_socket(pointer)) }
                }
            }
            let (accepted, refusal, retryNow) = state.withLock {
                ($0.attemptAccepted, $0.attemptRefusal, $0.retryImmediately)
            }
            if stopRequested { break }
            if accepted {
                // An established connection ended: start the backoff from the beginning.
                delay = configuration.reconnectDelayInitial
            } else if !retryNow {
                let error = refusal ?? failure ?? .connectionLost
                recordFailedAttempt(error)
            }
            if !configuration.reconnect && !retryNow { break }
            if retryNow { continue }
            NetworkThread.sleep(delay) { stopRequested }
            delay = min(delay * 2, configuration.reconnectDelayCap)
        }
        finishNetworkLoop()
    }

    /// Re-arms Linux's `TCP_QUICKACK` after each read: a broker with Nagle on (Debian's mosquitto: `set_tcp_nodelay
    /// false`) holds its second small packet in a row (a reply after a PUBACK, a SUBACK after a delivery) until this
    /// side ACKs the first, and a delayed ACK costs ~40 ms per round trip. The kernel clears the flag again on its
    /// own, hence once per loop; one `setsockopt` is far cheaper than the packets it follows.
    static func acknowledgeQuickly(_ socket: Int32) {
        guard socket >= 0 else { return }
        var on: Int32 = 1
        _ = setsockopt(socket, Int32(IPPROTO_TCP), Int32(TCP_QUICKACK), &on, socklen_t(MemoryLayout<Int32>.size))
    }

    var stopRequested: Bool {
        state.withLock { $0.phase == .stopping || $0.phase == .stopped }
    }

    private func recordFailedAttempt(_ error: MosquittoError) {
        let waiters = state.withLock { state -> [CheckedContinuation<MQTTConnectionInfo, any Error>] in
            state.failedAttempts += 1
            state.lastError = error
            guard !configuration.reconnect else { return [] }
            let waiters = Array(state.connectWaiters.values)
            state.connectWaiters.removeAll()
            return waiters
        }
        logFailure("cannot connect to broker: \(error)")
        eventContinuation.yield(.connectionFailed(error))
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    private func finishNetworkLoop() {
        let (stopWaiters, connectWaiters, ackWaiters, lastError) = state.withLock { state in
            state.phase = .stopped
            state.connected = false
            let result = (
                state.stopWaiters,
                Array(state.connectWaiters.values),
                Array(state.ackWaiters.values),
                state.lastError
            )
            state.stopWaiters.removeAll()
            state.connectWaiters.removeAll()
            state.ackWaiters.removeAll()
            return result
        }
        for waiter in connectWaiters { waiter.resume(throwing: lastError ?? MosquittoError.notConnected) }
        for waiter in ackWaiters { waiter.resume(throwing: MosquittoError.connectionLost) }
        eventContinuation.finish()
        for queue in queues { queue.finish() }
        for waiter in stopWaiters { waiter.resume() }
    }
}
