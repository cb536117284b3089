import Mosquitto
import Testing

@testable import MQTTHome

@Suite("RPC request decoding and reply routing")
struct RPCRequestTests {
    let topics = Topics(base: "mqtt-home")

    func decode(
        _ payload: String,
        topic: String = "mqtt-home/rpc/health",
        responseTopic: String? = nil,
        correlation: [UInt8]? = nil,
        qos: QoS = .atLeastOnce,
        limit: Int = 1024
    ) -> Result<RPCRequest, RPCRejection> {
        let message = MQTTMessage(
            topic: topic,
            payload: Array(payload.utf8),
            qos: qos,
            properties: MQTTProperties(responseTopic: responseTopic, correlationData: correlation)
        )
        return RPCRequest.decode(message, topics: topics, maxPayloadBytes: limit)
    }

    @Test("MQTT 5 response topic wins, correlation data and QoS are carried to the reply")
    func responseTopicRoute() throws {
        let request = try decode(#"{"id":"x","a":1}"#, responseTopic: "me/reply", correlation: [1, 2]).get()
        #expect(request.method == "health")
        #expect(request.id == "x")
        // `id` stays available to methods that declare it; the router drops it for the others.
        #expect(request.params == JSONObject([("id", "x"), ("a", 1)]))
        #expect(request.replyRoute == RPCReplyRoute(topic: "me/reply", correlationData: [1, 2], qos: .atLeastOnce, source: .responseTopic))
    }

    @Test("3.1.1 callers route with reply_to, which is not passed as a parameter")
    func replyToRoute() throws {
        let request = try decode(#"{"id":5,"reply_to":"cli/1","b":true}"#, topic: "mqtt-home/rpc/devices/list").get()
        #expect(request.method == "devices/list")
        #expect(request.id == 5)
        #expect(request.params == JSONObject([("id", 5), ("b", true)]))
        #expect(request.replyRoute?.topic == "cli/1")
        #expect(request.replyRoute?.source == .replyTo)
    }

    @Test("the JSON-RPC envelope form separates the request id from an id parameter")
    func envelope() throws {
        let request = try decode(#"{"jsonrpc":"2.0","id":9,"reply_to":"cli/2","params":{"id":"lamp"}}"#).get()
        #expect(request.id == 9)
        #expect(request.params == JSONObject([("id", "lamp")]))
        #expect(request.replyRoute?.topic == "cli/2")
        guard case .failure(let bad) = decode(#"{"jsonrpc":"2.0","params":[1]}"#, responseTopic: "r") else {
            Issue.record("accepted array params")
            return
        }
        #expect(bad.error.code == -32600)
        guard case .failure(let wrongMethod) = decode(#"{"jsonrpc":"2.0","method":"other"}"#, responseTopic: "r") else {
            Issue.record("accepted a different method")
            return
        }
        #expect(wrongMethod.error.code == -32600)
    }

    @Test("an empty or blank payload means no parameters")
    func emptyPayload() throws {
        #expect(try decode("").get().params.isEmpty)
        #expect(try decode(" \n").get().params.isEmpty)
    }

    @Test("a request with no route is still decoded (executed, not answered)")
    func noRoute() throws {
        #expect(try decode("{}").get().replyRoute == nil)
    }

    @Test("malformed JSON is -32700, answered on the response topic")
    func parseError() {
        guard case .failure(let rejection) = decode("{nope", responseTopic: "r") else { Issue.record("decoded"); return }
        #expect(rejection.error.code == -32700)
        #expect(rejection.replyRoute?.topic == "r")
    }

    @Test("a JSON value that is not an object is -32600")
    func notAnObject() {
        guard case .failure(let rejection) = decode("[1,2]", responseTopic: "r") else { Issue.record("decoded"); return }
        #expect(rejection.error.code == -32600)
        #expect(rejection.error.message.contains("an array"))
    }

    @Test(
        "unusable reply_to is -32600 and cannot be answered",
        arguments: [#"{"reply_to":"a/+/b"}"#, #"{"reply_to":"mqtt-home/rpc/x"}"#, #"{"reply_to":7}"#, #"{"reply_to":""}"#]
    )
    func badReplyTo(payload: String) {
        guard case .failure(let rejection) = decode(payload) else { Issue.record("decoded"); return }
        #expect(rejection.error.code == -32600)
        #expect(rejection.replyRoute == nil)
        #expect(rejection.unanswerableReason != nil)
    }

    @Test("a response topic inside our own RPC tree is never answered (it would loop)")
    func loopingResponseTopic() {
        guard case .failure(let rejection) = decode("{bad", responseTopic: "mqtt-home/rpc/health") else {
            Issue.record("decoded")
            return
        }
        #expect(rejection.replyRoute == nil)
    }

    @Test("oversized payloads are refused with -32001 before parsing")
    func oversized() {
        let payload = "{\"a\":\"" + String(repeating: "x", count: 2000) + "\"}"
        guard case .failure(let rejection) = decode(payload, responseTopic: "r") else { Issue.record("decoded"); return }
        #expect(rejection.error.code == -32001)
        #expect(rejection.error.data?["limit"] == 1024)
    }

    @Test("replies are JSON-RPC 2.0 envelopes echoing the id")
    func replies() {
        #expect(RPCReply.success(id: 3, result: ["ok": true]).jsonString == #"{"jsonrpc":"2.0","id":3,"result":{"ok":true}}"#)
        #expect(
            RPCReply.failure(id: nil, error: .methodNotFound("x")).jsonString
                == #"{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"unknown method 'x'; call rpc/methods for the list","data":{"method":"x"}}}"#
        )
    }

    @Test("share group subscription and reply topic helpers")
    func topicHelpers() {
        #expect(topics.rpcSubscription(shareGroup: nil) == "mqtt-home/rpc/#")
        #expect(topics.rpcSubscription(shareGroup: "g") == "$share/g/mqtt-home/rpc/#")
        #expect(topics.replyTopicProblem(topics.replyTopic(clientID: "c", call: "1")) == nil)
        #expect(Topics.baseTopicProblem("a/#") != nil)
        #expect(Topics.baseTopicProblem("home/mqtt-home") == nil)
    }
}
