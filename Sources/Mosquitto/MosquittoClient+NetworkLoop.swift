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
            if let held = configuration.attemptCheck?() {
                recordFailedAttempt(.attemptHeld(held))
                if !configuration.reconnect { break }
                NetworkThread.sleep(delay) { stopRequested }
                delay = min(delay * 2, configuration.reconnectDelayCap)
                continue
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
                let deadline = ContinuousClock.now + configuration.connectTimeout
                failure = configuration.tls == nil
                    ? serveConnection(pointer, connectDeadline: deadline) : serveConnectionThroughLibraryLoop(pointer, connectDeadline: deadline)
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

    /// Drives one connection by hand until it ends, with the library's own steps (`mosquitto_loop_read`, `_write`,
    /// `_misc`) around a `poll` of the socket and ``NetworkWakeup``: what a read queued (the PUBACK of a delivery)
    /// is written in the same pass, a batch queued by other threads costs one wake-up, and the quick ACK is
    /// re-armed only after a read that nothing written answered. `mosquitto_loop` instead reads one socketpair byte per pass, one pass per queued
    /// packet. Returns why the connection ended.
    func serveConnection(_ pointer: OpaquePointer, connectDeadline: ContinuousClock.Instant) -> MosquittoError {
        var connectDeadline: ContinuousClock.Instant? = connectDeadline
        let success = Int32(MOSQ_ERR_SUCCESS.rawValue)
        // Filled in place each pass: no allocation per message on this thread.
        var descriptors = [pollfd(), pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)]
        while true {
            let socket = mosquitto_socket(pointer)
            guard socket >= 0 else { return MosquittoError(code: Int32(MOSQ_ERR_NO_CONN.rawValue)) }
            if let stalled = connectStalled(pointer, deadline: &connectDeadline) { return stalled }
            descriptors[0] = pollfd(fd: socket, events: Int16(POLLIN) | (mosquitto_want_write(pointer) ? Int16(POLLOUT) : 0), revents: 0)
            descriptors[1].revents = 0
            // One second: libmosquitto's keepalive has a granularity of seconds and a minimum of five.
            let ready = poll(&descriptors, 2, 1000)
            if ready < 0 && errno != EINTR { return MosquittoError(code: Int32(MOSQ_ERR_ERRNO.rawValue)) }
            let woken = descriptors[1].revents != 0
            if woken { wakeup.consume() }
            let socketEvents = descriptors[0].revents
            let readable = socketEvents & Int16(POLLIN | POLLHUP | POLLERR) != 0
            if readable {
                // Every packet already in the socket, up to a bound, before writing what they queued (their PUBACKs):
                // one poll and one quick-ACK re-arm per burst instead of per message. `mosquitto_loop_read` reads one
                // packet and returns success both after a packet and when the socket had nothing more; errno says
                // which (EAGAIN). A spurious EAGAIN only ends the burst early.
                var packets = 0
                repeat {
                    errno = 0
                    let rc = mosquitto_loop_read(pointer, 1)
                    if rc != success { return MosquittoError(code: rc) }
                    packets += 1
                } while packets < Self.packetsPerRead && errno != EAGAIN && errno != EWOULDBLOCK && mosquitto_socket(pointer) >= 0
            }
            let writable = socketEvents & Int16(POLLOUT) != 0
            var wrote = false
            if (readable || woken || writable) && mosquitto_socket(pointer) >= 0 && mosquitto_want_write(pointer) {
                let rc = mosquitto_loop_write(pointer, 1)
                if rc != success { return MosquittoError(code: rc) }
                wrote = true
            }
            // A pass that wrote after its read carried the ACK in its data (the PUBACK of a QoS 1 delivery): only a
            // read answered with nothing needs the quick ACK, which saves a `setsockopt` per message at QoS 1.
            if readable && !wrote && configuration.quickAck { Self.acknowledgeQuickly(mosquitto_socket(pointer)) }
            guard mosquitto_socket(pointer) >= 0 else { return MosquittoError(code: Int32(MOSQ_ERR_NO_CONN.rawValue)) }
            let rc = mosquitto_loop_misc(pointer)
            if rc != success { return MosquittoError(code: rc) }
        }
    }

    /// Packets read in one pass before what they queued is written: bounds how long PUBACKs and other threads'
    /// packets wait behind a flood of incoming ones.
    static let packetsPerRead = 64

    /// TLS connections keep `mosquitto_loop`: its handshake steps are not reachable through the public API.
    func serveConnectionThroughLibraryLoop(_ pointer: OpaquePointer, connectDeadline: ContinuousClock.Instant) -> MosquittoError {
        var connectDeadline: ContinuousClock.Instant? = connectDeadline
        while true {
            if let stalled = connectStalled(pointer, deadline: &connectDeadline) { return stalled }
            let rc = mosquitto_loop(pointer, 1000, 1)
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) { return MosquittoError(code: rc) }
            if configuration.quickAck { Self.acknowledgeQuickly(mosquitto_socket(pointer)) }
        }
    }

    /// An attempt with no CONNACK by `deadline`, described: whether TCP got connected tells a listener that never
    /// answered (a stalled broker, a TLS port reached in plain text) from one that never took the connection. Checked
    /// once per pass (at most a second apart: both loops wait one second at most) until the CONNACK, then `deadline`
    /// is cleared: an established connection's passes read no clock and take no lock for it.
    func connectStalled(_ pointer: OpaquePointer, deadline: inout ContinuousClock.Instant?) -> MosquittoError? {
        guard let pending = deadline, ContinuousClock.now >= pending else { return nil }
        if state.withLock({ $0.attemptAccepted }) {
            deadline = nil
            return nil
        }
        let socket = mosquitto_socket(pointer)
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let tcpConnected = socket >= 0 && withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(socket, $0, &length) == 0 }
        }
        let phase = !tcpConnected ? "the TCP connection was not established"
            : configuration.tls != nil ? "TCP connected; the TLS handshake or the CONNECT got no answer"
            : "TCP connected; the CONNECT got no answer"
        // The next attempt's mosquitto_reconnect_async closes this socket before opening its own.
        return .library(
            code: Int32(MOSQ_ERR_TIMEOUT.rawValue),
            message: "no CONNACK within \(configuration.connectTimeout.components.seconds) s of starting the connection (\(phase))"
        )
    }

    /// Re-arms Linux's `TCP_QUICKACK` after each read: a broker with Nagle on (Debian's mosquitto: `set_tcp_nodelay
    /// false`) holds its second small packet in a row (a reply after a PUBACK, a SUBACK after a delivery) until this
    /// side ACKs the first, and a delayed ACK costs ~40 ms per round trip. The kernel clears the flag again on its
    /// own, hence after every such read; one `setsockopt` is far cheaper than the packets it follows.
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
