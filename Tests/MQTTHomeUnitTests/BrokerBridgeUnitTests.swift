import Configuration
import Curl
import Logging
import Testing

@testable import MQTTHome

@Suite("Broker bridge without a network: EMQX answers, $SYS values, rates, back-off, configuration")
struct BrokerBridgeUnitTests {
    func failure(_ response: HTTPResponse, path: String = "/stats") -> BrokerAPIFailure? {
        do {
            _ = try EMQXClient.decode(response, path: path)
            return nil
        } catch {
            guard case .brokerAPI(let failure) = error else { return nil }
            return failure
        }
    }

    func json(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("each HTTP answer maps to its own state, as protocols.md §4.2 lists them")
    func answerStates() throws {
        let unauthorized = failure(
            HTTPResponse(status: 401, body: json(#"{"code":"BAD_API_KEY_OR_SECRET","message":"Check api_key/api_secret"}"#))
        )
        #expect(unauthorized?.state == .authFailed)
        #expect(unauthorized?.code == "BAD_API_KEY_OR_SECRET")
        #expect(unauthorized?.message.contains("EMQX_API_KEY") == true)
        let forbidden = failure(HTTPResponse(status: 403, body: json(#"{"code":"UNAUTHORIZED_ROLE","message":"x"}"#)))
        #expect(forbidden?.state == .forbidden)
        let down = failure(HTTPResponse(status: 503, headers: ["retry-after": "15"]), path: "/status")
        #expect(down?.state == .unavailable)
        #expect(down?.retryAfter == .seconds(15))
        let nodeDown = failure(HTTPResponse(status: 500, body: json(#"{"code":"NODE_DOWN","message":"node down"}"#)))
        #expect(nodeDown?.state == .unavailable)
        let html = failure(HTTPResponse(status: 200, body: json("<html><body>502 Bad Gateway</body></html>")))
        #expect(html?.state == .badResponse)
        #expect(html?.message.contains("<html><body>502") == true)
        let wrongBase = failure(HTTPResponse(status: 404, body: json(#"{"code":"NOT_FOUND","message":"Request Path Not Found"}"#)))
        #expect(wrongBase?.message.contains("/api/v5") == true)
        let noClient = failure(HTTPResponse(status: 404, body: json(#"{"code":"CLIENTID_NOT_FOUND","message":"Client ID not found"}"#)))
        #expect(noClient?.httpStatus == 404 && noClient?.code == "CLIENTID_NOT_FOUND")
        #expect(try EMQXClient.decode(HTTPResponse(status: 200, body: json(#"{"a.b":1}"#)), path: "/stats")["a.b"] == 1)
    }

    @Test("client ids and query values are percent-encoded")
    func encoding() {
        #expect(EMQXClient.percentEncoded("client-00001_a.b~") == "client-00001_a.b~")
        #expect(EMQXClient.percentEncoded("a b/c?d&e=f#") == "a%20b%2Fc%3Fd%26e%3Df%23")
        #expect(EMQXClient.percentEncoded("温") == "%E6%B8%A9")
        let client = EMQXClient(
            settings: .init(baseURL: "http://h:18083/api/v5", apiKey: "k", apiSecret: "s", pollInterval: .seconds(10), timeout: .seconds(5)),
            http: HTTPClient(workers: 1),
            logger: .init(label: "t")
        )
        #expect(client.url("/clients", query: [("like_clientid", "a&b"), ("limit", "10")]) == "http://h:18083/api/v5/clients?like_clientid=a%26b&limit=10")
    }

    @Test("EMQX reference bodies normalize; per-node arrays are summed; memory as bytes or \"512.00M\"")
    func emqxMapping() throws {
        let status = try JSONParser.parse(#"{"node_name":"emqx@127.0.0.1","rel_vsn":"v5.8.9","broker_status":"started","app_status":"running"}"#)
        let perNode = try JSONParser.parse(
            #"[{"node":"a","connections.count":3,"live_connections.count":2,"sessions.count":3,"subscriptions.count":5,"topics.count":4,"retained.count":7},"#
                + #"{"node":"b","connections.count":1,"live_connections.count":1,"sessions.count":1,"subscriptions.count":1,"topics.count":4,"retained.count":7}]"#
        )
        let metrics = try JSONParser.parse(#"{"messages.received":100,"messages.sent":250,"messages.dropped":3}"#)
        let nodes = try JSONParser.parse(
            #"[{"node":"a","node_status":"running","version":"5.8.9","uptime":7200500,"memory_used":"512.00M","memory_total":1073741824},"#
                + #"{"node":"b","node_status":"stopped","role":"core"}]"#
        )
        let normalized = BrokerStatus.emqx(status: status, stats: perNode, metrics: metrics, nodes: nodes)
        #expect(normalized.version == "5.8.9")
        #expect(normalized.uptimeSeconds == 7200)
        #expect(normalized.nodes == 1)
        #expect(normalized.connections == 4 && normalized.liveConnections == 3 && normalized.subscriptions == 6)
        #expect(normalized.messagesReceived == 100 && normalized.messagesSent == 250 && normalized.messagesDropped == 3)
        let members = BrokerStatus.emqxNodes(nodes, updatedAt: "t")
        #expect(members["nodes"]?["a"]?["memory_used"] == .int(512 * 1024 * 1024))
        #expect(members["nodes"]?["a"]?["uptime_s"] == 7200)
        #expect(members["nodes"]?["b"] == ["status": "stopped", "role": "core"])
        #expect(BrokerStatus.bytes(.string("1.5K")) == 1536)
        #expect(BrokerStatus.bytes(.string("lots")) == .null)
    }

    @Test("mosquitto $SYS text: uptime in seconds, the spaced retained topic, deprecated active as fallback")
    func mosquittoMapping() {
        let status = BrokerStatus.mosquitto([
            "version": "mosquitto version 2.0.11", "uptime": "93 seconds", "clients/active": "4",
            "clients/total": "6", "retained messages/count": "40", "subscriptions/count": "12",
            "publish/messages/received": "500", "publish/messages/sent": "900", "publish/messages/dropped": "2",
            "load/messages/received/1min": "3.25",
        ])
        #expect(status.version == "2.0.11")
        #expect(status.uptimeSeconds == 93)
        #expect(status.liveConnections == 4)
        #expect(status.connections == 6 && status.sessions == 6)
        #expect(status.retained == 40)
        #expect(status.topics == nil)
        #expect(status.messagesReceived == 500 && status.messagesSent == 900 && status.messagesDropped == 2)
        #expect(status.json["topics"] == .null)
    }

    @Test("rates come from successive counters; a counter that went down (restart) has none")
    func rates() {
        var status = BrokerStatus(source: .emqx)
        let before = BrokerStatus.CounterSample(received: 100, sent: 1000, dropped: 5, at: 10)
        status.computeRates(from: before, now: .init(received: 150, sent: 900, dropped: 5, at: 12))
        #expect(status.rates.received == 25)
        #expect(status.rates.sent == nil)
        #expect(status.rates.dropped == 0)
        status.computeRates(from: nil, now: before)
        #expect(status.rates == .init())
    }

    @Test("back-off doubles from the poll interval up to a minute; retry-after wins when longer")
    func backOff() {
        let unreachable = BrokerAPIFailure(state: .unreachable, message: "x")
        let delays = (1...9).map { EMQXPoller.retryDelay(failure: unreachable, consecutiveFailures: $0, interval: .seconds(5)) }
        #expect(delays == [5, 10, 20, 40, 60, 60, 60, 60, 60].map { Duration.seconds($0) })
        let busy = BrokerAPIFailure(state: .unavailable, message: "x", retryAfter: .seconds(15))
        #expect(EMQXPoller.retryDelay(failure: busy, consecutiveFailures: 1, interval: .seconds(2)) == .seconds(15))
        #expect(EMQXPoller.retryDelay(failure: busy, consecutiveFailures: 1, interval: .seconds(600)) == .seconds(600))
        #expect(EMQXPoller.precedence(.authFailed) < EMQXPoller.precedence(.unreachable))
    }

    @Test("the status is republished only when more than its time stamps changed")
    func changeDetection() {
        var status = BrokerStatus(source: .emqx)
        status.connections = 3
        status.updatedAt = "2026-01-01T00:00:00.000Z"
        var later = status
        later.updatedAt = "2026-01-01T00:00:10.000Z"
        #expect(BrokerStatusBoard.sameContent(status.json, later.json))
        later.connections = 4
        #expect(!BrokerStatusBoard.sameContent(status.json, later.json))
    }

    @Test("broker/clients cursors carry page and page size; anything else is refused")
    func cursors() {
        #expect(BrokerMethods.PageCursor("3:10000")?.page == 3)
        #expect(BrokerMethods.PageCursor("3:10000")?.limit == 10_000)
        #expect(BrokerMethods.PageCursor("0:10") == nil)
        #expect(BrokerMethods.PageCursor("2:10001") == nil)
        #expect(BrokerMethods.PageCursor("abc") == nil)
        #expect(BrokerMethods.PageCursor(page: 2, limit: 50).text == "2:50")
    }

    func configuration(_ values: [String: String]) throws(HomeError) -> HomeConfiguration {
        try HomeConfiguration(reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: values)))
    }

    @Test("EMQX_* keys: defaults, fractions of a second, and errors that name the key")
    func emqxConfiguration() throws {
        #expect(try configuration([:]).emqx == nil)
        let settings = try #require(
            try configuration([
                "EMQX_API_URL": "http://127.0.0.1:18083/api/v5/", "EMQX_API_KEY": "k", "EMQX_API_SECRET": "s",
            ]).emqx
        )
        #expect(settings.baseURL == "http://127.0.0.1:18083/api/v5")
        #expect(settings.pollInterval == .seconds(10))
        #expect(settings.timeout == .seconds(5))
        let fast = try configuration([
            "EMQX_API_URL": "https://emqx.lan/api/v5", "EMQX_API_KEY": "k", "EMQX_API_SECRET": "s",
            "EMQX_POLL_INTERVAL": "0.5", "EMQX_TIMEOUT": "2",
        ]).emqx
        #expect(fast?.pollInterval == .milliseconds(500))
        #expect(fast?.timeout == .seconds(2))

        #expect(throws: HomeError.self) { try configuration(["EMQX_API_URL": "http://h/api/v5", "EMQX_API_KEY": "k"]) }
        do {
            _ = try configuration(["EMQX_API_URL": "http://h/api/v5", "EMQX_API_KEY": "k"])
        } catch {
            #expect(error.description.contains("EMQX_API_SECRET"))
        }
        do {
            _ = try configuration(["EMQX_API_URL": "emqx:18083", "EMQX_API_KEY": "k", "EMQX_API_SECRET": "s"])
            Issue.record("a URL without a scheme was accepted")
        } catch {
            #expect(error.description.contains("EMQX_API_URL"))
        }
        do {
            _ = try configuration(["EMQX_API_URL": "http://admin:public@h:18083/api/v5", "EMQX_API_KEY": "k", "EMQX_API_SECRET": "s"])
            Issue.record("credentials in the URL were accepted")
        } catch {
            #expect(error.description.contains("must not contain credentials"))
            #expect(!error.description.contains("public"))
        }
        do {
            _ = try configuration(["EMQX_API_KEY": "k"])
            Issue.record("a key without a URL was accepted")
        } catch {
            #expect(error.description.contains("EMQX_API_URL"))
        }
        do {
            _ = try configuration([
                "EMQX_API_URL": "http://h/api/v5", "EMQX_API_KEY": "k", "EMQX_API_SECRET": "s", "EMQX_POLL_INTERVAL": "0",
            ])
            Issue.record("a zero poll interval was accepted")
        } catch {
            #expect(error.description.contains("EMQX_POLL_INTERVAL"))
        }
    }
}
