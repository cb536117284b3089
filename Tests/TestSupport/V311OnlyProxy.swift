import MQTTHome

/// `Tests/Fixtures/mqtt311-only-proxy.py` in front of a real broker: refuses MQTT 5 like a 3.1.1-only broker.
public struct V311OnlyProxy: Sendable {
    public let process: BackgroundProcess
    public let port: Int

    public static func start(upstreamPort: Int) async throws -> V311OnlyProxy {
        let process = try BackgroundProcess.start(
            "/usr/bin/env",
            ["python3", Fixtures.path("mqtt311-only-proxy.py"), "0", String(upstreamPort)]
        )
        guard let port = await process.waitForReadyPort() else {
            await process.shutdown()
            throw HarnessError(description: "the 3.1.1 proxy did not start: \(process.log)")
        }
        return V311OnlyProxy(process: process, port: port)
    }

    public func shutdown() async { await process.shutdown() }
}
