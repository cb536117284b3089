import Foundation
import Logging
import Mosquitto
import Synchronization
import Testing
import TestSupport

@testable import MQTTHome

@Suite("RPC router and server")
struct RPCRouterTests {
    static func router() -> RPCRouter {
        var router = RPCRouter()
        router.register(
            RPCMethod(
                name: "echo",
                summary: "Echo a name",
                parameters: [.init("name", type: "string", required: true, description: "who"), .init("n", type: "integer", description: "count")]
            ) { params throws(RPCError) in
                let name = try params.string("name")
                let n = try params.optionalInt("n", in: 1...3) ?? 1
                return ["name": .string(name), "n": .int(n)]
            }
        )
        return router
    }

    @Test("calls a method with typed parameters")
    func callsMethod() async throws {
        let result = try await Self.router().call("echo", params: JSONObject([("name", "ann"), ("n", 2)]))
        #expect(result == ["name": "ann", "n": 2])
    }

    @Test("unknown methods are -32601")
    func unknownMethod() async {
        await #expect(throws: RPCError.methodNotFound("nope")) { try await Self.router().call("nope", params: JSONObject()) }
    }

    @Test("unknown, missing and mistyped parameters are -32602 naming the parameter")
    func invalidParams() async {
        for (params, parameter) in [
            (JSONObject([("name", "a"), ("nmae", "b")]), "nmae"),
            (JSONObject(), "name"),
            (JSONObject([("name", 5)]), "name"),
            (JSONObject([("name", "a"), ("n", 9)]), "n"),
        ] {
            do {
                _ = try await Self.router().call("echo", params: params)
                Issue.record("accepted \(params)")
            } catch {
                #expect(error.code == -32602)
                #expect(error.data?["parameter"] == .string(parameter))
                #expect(error.message.contains("'\(parameter)'"))
            }
        }
    }

    @Test("rpc/methods describes itself and every registered method")
    func introspection() async throws {
        let result = try await Self.router().call("rpc/methods", params: JSONObject())
        let names = result["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["rpc/methods", "echo"])
        let echo = result["methods"]?.arrayValue?[1]
        #expect(echo?["params"]?.arrayValue?.first?["required"] == true)
        let codes = result["errors"]?.arrayValue?.compactMap { $0["code"]?.intValue }
        #expect(codes == RPCError.catalogue.map { Int64($0.code) })
    }

    @Test("topics.md's error table lists exactly the codes rpc/methods lists")
    func errorTableMatchesCatalogue() throws {
        let topics = try String(contentsOfFile: Fixtures.path("../../topics.md"), encoding: .utf8)
        let documented = topics.split(separator: "\n").compactMap { line -> Int? in
            guard line.hasPrefix("| -32") else { return nil }
            return Int(line.dropFirst(2).prefix { $0 != " " })
        }
        #expect(documented == RPCError.catalogue.map(\.code))
    }

    @Test("the server answers every request with a route and counts the outcome")
    func serverReplies() async throws {
        let sent = Mutex<[(RPCReplyRoute, JSONValue)]>([])
        let server = RPCServer(
            router: Self.router(),
            topics: Topics(base: "b"),
            settings: .init(maxInFlight: 2, maxPayloadBytes: 1000, shareGroup: nil),
            replyPolicy: ReplyPolicy(allowed: ["r"], topics: Topics(base: "b"), discoveryPrefix: "homeassistant"),
            logger: Logger(label: "test")
        ) { route, payload in
            sent.withLock { $0.append((route, try! JSONParser.parse(payload))) }
        }
        await server.handle(MQTTMessage(topic: "b/rpc/echo", payload: Array(#"{"name":"x","id":1}"#.utf8), properties: .init(responseTopic: "r", correlationData: [9])))
        await server.handle(MQTTMessage(topic: "b/rpc/missing", payload: [], properties: .init(responseTopic: "r")))
        await server.handle(MQTTMessage(topic: "b/rpc/echo", payload: Array(#"{"name":"x"}"#.utf8)))
        let replies = sent.withLock { $0 }
        #expect(replies.count == 2)
        #expect(replies[0].0.correlationData == [9])
        #expect(replies[0].1 == ["jsonrpc": "2.0", "id": 1, "result": ["name": "x", "n": 1]])
        #expect(replies[1].1["error"]?["code"] == -32601)
        let stats = server.statistics
        #expect(stats.received == 3 && stats.succeeded == 2 && stats.failed == 1 && stats.unanswered == 1)
    }

    @Test("beyond max in flight, requests are refused with busy (-32000) instead of queueing")
    func busy() async throws {
        let sent = Mutex<[JSONValue]>([])
        let server = RPCServer(
            router: Self.router(),
            topics: Topics(base: "b"),
            settings: .init(maxInFlight: 2, maxPayloadBytes: 1000, shareGroup: nil),
            replyPolicy: ReplyPolicy(allowed: ["r"], topics: Topics(base: "b"), discoveryPrefix: "homeassistant"),
            logger: Logger(label: "test")
        ) { _, payload in sent.withLock { $0.append(try! JSONParser.parse(payload)) } }
        #expect(server.tryReserveSlot())
        #expect(server.tryReserveSlot())
        #expect(!server.tryReserveSlot())
        server.rejectBusy(MQTTMessage(topic: "b/rpc/echo", payload: Array(#"{"id":"q"}"#.utf8), properties: .init(responseTopic: "r")))
        server.releaseSlot()
        #expect(server.tryReserveSlot())
        let reply = try #require(sent.withLock { $0.first })
        #expect(reply["error"]?["code"] == -32000)
        #expect(reply["id"] == "q")
        #expect(server.statistics.rejectedBusy == 1)
    }

    @Test("a request whose reply topic the policy refuses is neither run nor answered, only counted")
    func refusedReplyTopics() async throws {
        let sent = Mutex<[String]>([])
        let ran = Mutex(0)
        var router = RPCRouter()
        router.register(RPCMethod(name: "count", summary: "counts") { _ throws(RPCError) in
            ran.withLock { $0 += 1 }
            return .null
        })
        let server = RPCServer(
            router: router,
            topics: Topics(base: "b"),
            settings: .init(maxInFlight: 4, maxPayloadBytes: 1000, shareGroup: nil),
            replyPolicy: ReplyPolicy(allowed: ["b/reply/#", "scripts/+/reply"], topics: Topics(base: "b"), discoveryPrefix: "ha"),
            logger: Logger(label: "test"),
            deviceUsing: { $0 == "scripts/lock/reply" ? "lock" : nil }
        ) { route, _ in sent.withLock { $0.append(route.topic) } }
        let refused = [
            "zigbee2mqtt/front_door/set", "b/status", "b/devices/x/state", "b/rpc2", "ha/cover/x/config", "ha/status",
            "$SYS/broker/x", "scripts/lock/reply",
        ]
        for topic in refused {
            await server.handle(MQTTMessage(topic: "b/rpc/count", payload: Array(#"{"id":1}"#.utf8), properties: .init(responseTopic: topic)))
            await server.handle(MQTTMessage(topic: "b/rpc/count", payload: Array("{\"reply_to\":\"\(topic)\"}".utf8)))
        }
        server.rejectBusy(MQTTMessage(topic: "b/rpc/count", payload: [], properties: .init(responseTopic: "b/status")))
        await server.handle(MQTTMessage(topic: "b/rpc/nope", payload: Array("{".utf8), properties: .init(responseTopic: "b/status")))
        #expect(sent.withLock { $0 }.isEmpty)
        #expect(ran.withLock { $0 } == 0)
        #expect(server.statistics.refusedReplyTopics == refused.count * 2 + 2)

        for topic in ["b/reply/cli-1/7", "scripts/agent/reply"] {
            await server.handle(MQTTMessage(topic: "b/rpc/count", payload: [], properties: .init(responseTopic: topic)))
        }
        #expect(sent.withLock { $0 } == ["b/reply/cli-1/7", "scripts/agent/reply"])
        #expect(ran.withLock { $0 } == 2)
    }

    @Test("the rate limiter keys a caller by the level its reply filter leaves open and stays fixed-size")
    func rateLimiterKeys() {
        #expect(CallerRateLimiter.caller(replyTopic: "b/reply/cli-1/7", allowed: ["b/reply/#"]) == "b/reply/cli-1")
        #expect(CallerRateLimiter.caller(replyTopic: "b/reply/cli-1/a/b/c", allowed: ["b/reply/#"]) == "b/reply/cli-1")
        #expect(CallerRateLimiter.caller(replyTopic: "home/agent1/reply", allowed: ["home/+/reply"]) == "home/agent1")
        #expect(CallerRateLimiter.caller(replyTopic: nil) == "")

        let limiter = CallerRateLimiter(perSecond: 1, burst: 3)
        let now = ContinuousClock.now
        for _ in 0..<3 { #expect(limiter.admit("victim", now: now) == nil) }
        #expect(limiter.admit("victim", now: now) != nil)
        // A flood of distinct callers that each spend their burst fills the table, then shares one overflow bucket.
        var admitted = 0
        for index in 0..<20_000 {
            for _ in 0..<3 where limiter.admit("flood-\(index)", now: now) == nil { admitted += 1 }
        }
        #expect(admitted <= CallerRateLimiter.sets * CallerRateLimiter.ways * 3 + 3)
        #expect(limiter.overflowRequests > 0)
        // The victim, active before the flood, keeps its own slot and rate; the flood's newcomers share one bucket.
        #expect(limiter.admit("victim", now: now + .seconds(1)) == nil)
        #expect(limiter.admit("newcomer", now: now + .seconds(1)) != nil || limiter.overflowRequests > 0)
        // Once the flood's slots have been idle for the eviction time, newcomers get slots of their own again.
        let later = now + CallerRateLimiter.idleEviction + .seconds(10)
        let overflowBefore = limiter.overflowRequests
        #expect(limiter.admit("late-\(UInt64.random(in: 0...UInt64.max))", now: later) == nil)
        #expect(limiter.overflowRequests == overflowBefore)
    }
}
