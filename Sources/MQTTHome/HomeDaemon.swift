import Curl
import Logging
import Mosquitto
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The daemon, assembled: embedded broker (when no host is configured), broker link, message router, RPC.
///
/// `mqtt-homed`'s `main` only gathers configuration and a logger and calls ``build(configuration:logger:)``; tests
/// call the same function.
public struct HomeDaemon: Sendable {
    public let configuration: HomeConfiguration
    public let link: BrokerLink
    public let rpcServer: RPCServer
    public let registry: DeviceRegistry
    public let embeddedBroker: EmbeddedBroker?
    /// Held while the daemon lives: no second mqtt-homed on the same DATA_DIR.
    let dataDirectoryLock: DataDirectoryLock
    /// Host and port the daemon connects to.
    public let brokerHost: String
    public let brokerPort: Int
    let services: [(name: String, service: any Service)]
    let logger: Logger

    /// Starts the embedded broker if needed and wires every service; nothing connects until ``run()``.
    public static func build(configuration: HomeConfiguration, logger: Logger) async throws -> HomeDaemon {
        let topics = configuration.topics
        // Everything the daemon writes (database, broker files, credentials) is its own: no group or other access.
        umask(0o077)
        // Before anything else touches DATA_DIR: the embedded broker's files and the database are this daemon's.
        let lock = try DataDirectoryLock.acquire(directory: configuration.dataDirectory)
        let dropsRoot = geteuid() == 0 && configuration.mqtt.host == nil
        Self.restrict(dataDirectory: configuration.dataDirectory, traversable: dropsRoot)
        var embedded: EmbeddedBroker? = nil
        let host: String
        let port: Int
        if let configuredHost = configuration.mqtt.host {
            host = configuredHost
            port = configuration.mqtt.effectivePort
        } else {
            let broker = EmbeddedBroker(
                options: .init(
                    directory: configuration.dataDirectory + "/mosquitto",
                    port: configuration.mqtt.port,
                    access: .privateUsers(baseTopic: topics.base),
                    unprivilegedUser: getpwnam("mosquitto") != nil ? "mosquitto" : "nobody"
                ),
                logger: logger
            )
            port = try await broker.start()
            host = "127.0.0.1"
            embedded = broker
            logger.notice(
                "no MQTT_HOST configured: running an embedded mosquitto on 127.0.0.1:\(port)",
                metadata: ["broker.dir": "\(broker.directory)"]
            )
        }
        do {
            return try await assemble(
                configuration: configuration, topics: topics, lock: lock, embedded: embedded, host: host, port: port, logger: logger
            )
        } catch {
            // A later step failed (the store, a subscription…): the broker started above must not outlive this attempt.
            await embedded?.stop()
            throw error
        }
    }

    /// Wires every service once the broker is known.
    private static func assemble(
        configuration: HomeConfiguration,
        topics: Topics,
        lock: DataDirectoryLock,
        embedded: EmbeddedBroker?,
        host: String,
        port: Int,
        logger: Logger
    ) async throws -> HomeDaemon {
        let mqtt = configuration.mqtt
        // On its own private broker the daemon is the generated user, whatever MQTT_USERNAME says.
        let credentials = embedded?.daemonCredentials
        // Its own broker only: whatever else took the port while mosquitto was down never sees the login.
        var ownBrokerCheck: (@Sendable () -> String?)? = nil
        if let embedded {
            ownBrokerCheck = { embedded.isListening() ? nil : "the embedded mosquitto is not listening on its port (being restarted)" }
        }
        let link = try BrokerLink(
            configuration: MosquittoClient.Configuration(
                host: host,
                port: port,
                keepAlive: mqtt.keepAlive,
                clientID: mqtt.clientID,
                username: credentials?.username ?? mqtt.username,
                password: credentials?.password ?? mqtt.password,
                tls: embedded == nil ? mqtt.tls : nil,
                protocolVersion: mqtt.protocolVersion,
                reconnectDelayCap: .seconds(mqtt.reconnectMaxDelay),
                messageBufferLimit: configuration.messageBufferLimit,
                messageBufferBytes: configuration.messageBufferBytes,
                messageLanes: DaemonLanes.lanes(topics: topics, discoveryPrefix: configuration.discoveryPrefix),
                attemptCheck: ownBrokerCheck
            ),
            topics: topics,
            embeddedBroker: embedded != nil,
            logger: logger
        )
        let client = link.client
        let store = try DeviceStore(directory: configuration.dataDirectory)
        let writer = StoreWriter(store: store, settings: configuration.store, logger: logger)
        writer.onErrorChange { error in link.setStoreError(error) }
        let publisher = StatePublisher(client: client, window: configuration.statePublishInterval, logger: logger)
        let registry = DeviceRegistry(
            writer: writer,
            publisher: publisher,
            client: client,
            topics: topics,
            discoveryPrefix: configuration.discoveryTopicPrefix,
            announces: configuration.publishesDiscovery,
            limits: configuration.limits,
            logger: logger
        )
        // Connecting while the devices load: each part of them is subscribed and published as soon as it is read,
        // so the broker's share of the start-up runs alongside the load instead of after it.
        try client.start()
        do {
            try await registry.load()
        } catch {
            await client.disconnect()
            throw error
        }
        let board = BrokerStatusBoard(source: configuration.emqx == nil ? .mosquitto : .emqx, topics: topics, publisher: publisher)
        // Six HTTP workers: a poll uses four at most, so RPC listings never queue behind a slow poll.
        let emqx = configuration.emqx.map { EMQXClient(settings: $0, http: HTTPClient(workers: 6), logger: logger) }
        let poller = emqx.map { EMQXPoller(client: $0, board: board, logger: logger) }
        let sysCollector = emqx == nil ? SysTopicCollector(board: board, logger: logger) : nil
        link.beforeOnline {
            registry.republishAll()
            board.republish()
            publisher.resume()
        }
        let notifier = SystemdNotifier(environment: SystemdNotifier.processEnvironment(), logger: logger)
        link.afterOnline {
            registry.reannounce()
            let devices = registry.count
            notifier.online(status: "online, broker \(host):\(port), \(devices) devices")
        }
        let rpcCounters = RPCCounters(settings: configuration.rpc)
        // Half of RPC_MAX_IN_FLIGHT: commands waiting for confirmation never take what requests need.
        let setTopic = DeviceSetTopic(registry: registry, topics: topics, maxInFlight: configuration.rpc.maxInFlight / 2, logger: logger)
        let birth = configuration.publishesDiscovery ? HomeAssistantBirth(registry: registry) : nil
        let health = DaemonHealth(
            configuration: configuration, link: link, host: host, port: port, rpcCounters: rpcCounters, registry: registry,
            writer: writer, board: board, poller: poller, sysCollector: sysCollector, setTopic: setTopic, birth: birth, started: .now
        )
        var router = RPCRouter()
        router.register(
            RPCMethod(
                name: "health",
                summary: "Daemon version, uptime, MQTT connection and protocol, broker address, and request counters"
            ) { _ throws(RPCError) in health.report() }
        )
        DeviceMethods.register(into: &router, registry: registry, writer: writer)
        BrokerMethods.register(into: &router, board: board, emqx: emqx) {
            if board.status.state != .ok { poller?.pollSoon() }
        }
        PluginMethods.register(into: &router, registry: registry, writer: writer, staleAfter: configuration.sensorStaleAfter)
        let replyPolicy = ReplyPolicy(
            allowed: configuration.rpc.replyTopics ?? ReplyPolicy.defaultAllowed(topics),
            topics: topics,
            discoveryPrefix: configuration.discoveryPrefix ?? "homeassistant"
        )
        let rpcServer = RPCServer(
            router: router,
            topics: topics,
            settings: configuration.rpc,
            replyPolicy: replyPolicy,
            logger: logger,
            counters: rpcCounters,
            deviceUsing: { registry.deviceUsing($0) }
        ) { route, payload throws in
            try client.publish(
                route.topic,
                payload: payload,
                qos: route.qos,
                retain: false,
                properties: MQTTProperties(correlationData: route.correlationData, contentType: "application/json")
            )
        }
        // The client may be connected by now (it was started before the load). Not waited for, as when these were
        // only sent at connect: a SUBACK comes after the broker's replay of every retained discovery config, and
        // `online` must not queue behind that. A refusal (an ACL, say for $SYS: the collector then reports no_data)
        // is logged by the client; every filter is subscribed again after each reconnect.
        func subscribe(_ filters: [String], qos: QoS, paced: Bool = false) {
            // A send that fails (the connection dropping right then) is retried with the others at the next connect.
            do throws(MosquittoError) {
                try client.subscribeWithoutWaiting(filters, qos: qos, paced: paced)
            } catch {
                logger.warning("cannot subscribe now; retried at the next connect", metadata: ["mqtt.filter": "\(filters.joined(separator: " "))", "error": "\(error)"])
            }
        }
        // QoS 2 so that a QoS 2 request arrives (and is answered) at QoS 2; the broker downgrades to what each caller sent.
        subscribe([topics.rpcSubscription(shareGroup: configuration.rpc.shareGroup)], qos: .exactlyOnce)
        // QoS 0: a stock mosquitto keeps only 1,020 of a QoS 1 replay (20 in flight, `max_queued_messages 1000`) and
        // drops the rest, but sends a QoS 0 replay whole (20,000 configs measured); with a clean session QoS 1 adds
        // nothing here, as every reconnect replays the retained configs again. Paced, behind the devices' topics, so
        // its replay does not crowd out the device states' replays still to come. The others go at once, ahead of
        // `online`, so a caller who sees `online` finds its request heard; their replays are small.
        if configuration.discoveryPrefix != nil { subscribe(registry.discoveryFilters, qos: .atMostOnce, paced: true) }
        // Commands on <base>/devices/<id>/set at QoS 1, as Home Assistant sends them. The session is clean: a command sent
        // while the link is down is not kept for the daemon (Home Assistant shows the device unavailable meanwhile).
        subscribe([setTopic.filter], qos: .atLeastOnce)
        if birth != nil { subscribe([registry.announcement.birthTopic], qos: .atMostOnce) }
        if sysCollector != nil { subscribe([SysTopicCollector.filter], qos: .atMostOnce) }

        var services: [(name: String, service: any Service)] = []
        if let embedded { services.append(("embedded-broker", EmbeddedBrokerService(broker: embedded, logger: logger))) }
        services.append(("store-writer", writer))
        services.append(("broker-link", link))
        services.append(("state-publisher", publisher))
        services.append(("availability-expiry", EverySecond { registry.expireStale(now: .now) }))
        services.append(("traffic-rates", EverySecond { registry.sampleTraffic() }))
        if configuration.store.recordsHistory { services.append(("history-retention", HistoryRetention(writer: writer, logger: logger))) }
        let discovery = client.messages(lane: DaemonLanes.discovery).map { DiscoveryService(registry: registry, configs: $0) }
        if let discovery { services.append(("discovery", discovery)) }
        if let poller { services.append(("emqx-poller", poller)) }
        if let birth { services.append(("home-assistant-birth", birth)) }
        if let sysCollector { services.append(("sys-collector", sysCollector)) }
        services.append(
            (
                "message-router",
                MessageRouter(
                    requests: client.messages(lane: DaemonLanes.rpc)!,
                    messages: client.messages,
                    topics: topics,
                    rpcServer: rpcServer,
                    registry: registry,
                    sysCollector: sysCollector,
                    setTopic: setTopic,
                    birth: birth,
                    logger: logger
                )
            )
        )
        // Last in the group, so first to stop: systemd hears STOPPING=1 as soon as the shutdown begins.
        if notifier.isEnabled { services.append(("systemd-notify", notifier)) }
        return HomeDaemon(
            configuration: configuration,
            link: link,
            rpcServer: rpcServer,
            registry: registry,
            embeddedBroker: embedded,
            dataDirectoryLock: lock,
            brokerHost: host,
            brokerPort: port,
            services: services,
            logger: logger
        )
    }

    /// DATA_DIR 0700 and every file in it 0600, also for files an earlier version left 0644. `traversable` (root
    /// running the embedded broker, which drops to an unprivileged user) leaves DATA_DIR 0711 so that user can
    /// reach its own directory inside without listing or reading anything else.
    static func restrict(dataDirectory: String, traversable: Bool) {
        let directory = FileSystem.absolute(dataDirectory)
        FileSystem.setMode(directory, traversable ? 0o711 : 0o700)
        for name in FileSystem.entries(directory) where !FileSystem.isDirectory(directory + "/" + name) {
            FileSystem.setMode(directory + "/" + name, 0o600)
        }
        let broker = directory + "/mosquitto"
        FileSystem.setMode(broker, 0o700)
        for name in FileSystem.entries(broker) where !FileSystem.isDirectory(broker + "/" + name) {
            FileSystem.setMode(broker + "/" + name, 0o600)
        }
    }

    /// Runs until SIGTERM/SIGINT and shuts down in reverse order: router (no more input), state publisher (last
    /// flush), link (offline, disconnect), store writer (last flush), embedded broker.
    public func run(gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map {
                    .init(service: $0.service, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: $0.name)
                },
                gracefulShutdownSignals: gracefulShutdownSignals,
                logger: logger
            )
        )
        try await group.run()
    }
}
