import Foundation
import Logging
import NIOCore
import TrailNIO
import NIOPosix
import Synchronization
import TrailCore
import TrailStore

/// A single collector node: the LMDB store in `dataDirectory`, the ingest pipeline and the
/// TCP listener.
public final class Collector: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var dataDirectory: String = "./data"
        public var host: String = "127.0.0.1"
        public var port: Int = 7411
        /// HTTP read API; nil turns it off.
        public var httpHost: String? = "127.0.0.1"
        public var httpPort: Int = 7412
        public var limits = ServerLimits()
        public var maxConnections: Int = 1024
        /// SO_SNDBUF of each connection; nil leaves the kernel's autotuning. A fixed, small value
        /// makes a client that does not read hit the connection's budget sooner.
        public var socketSendBuffer: Int32?
        /// Handshake, frame and idle deadlines of every connection.
        public var timeouts = ConnectionTimeouts()
        /// Connections without traffic (and nothing in flight) are closed after this long.
        public var idleTimeout: TimeAmount {
            get { timeouts.idle }
            set { timeouts.idle = newValue }
        }
        public var durable: Bool = true
        public var mapSize: Int = 1 << 30
        /// How the store cuts its derived indexes.
        public var layout = ChainStore.Layout()
        public var pipeline = IngestPipeline.Configuration()
        public var eventLoopThreads: Int = 1
        public init() {}
    }

    public let configuration: Configuration
    public let store: ChainStore
    public let pipeline: IngestPipeline
    public let nodeKey: SigningKey
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    private var channel: Channel?
    private var httpChannel: Channel?
    private var checkpointTask: RepeatedTask?
    public let checkpointer: Checkpointer
    let httpGroup: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    private let connections = Atomic<Int>(0)
    /// Live counters of the network side.
    public let metrics = ConnectionMetrics()

    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        var options = LMDBEnvironment.Options()
        options.durable = configuration.durable
        options.mapSize = configuration.mapSize
        store = try ChainStore(directory: configuration.dataDirectory, options: options, layout: configuration.layout)
        nodeKey = try NodeKey.loadOrCreate(directory: configuration.dataDirectory)
        pipeline = try IngestPipeline(store: store, configuration: configuration.pipeline, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.eventLoopThreads))
        httpGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pool = NIOThreadPool(numberOfThreads: 2)
        checkpointer = Checkpointer(key: nodeKey)
    }

    /// The HTTP API's bound address.
    public var httpAddress: SocketAddress? { httpChannel?.localAddress }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { channel?.localAddress }

    /// Starts the pipeline and binds the listener.
    public func start() async throws {
        pipeline.start()
        let c = configuration
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                let count = connections.wrappingAdd(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in self.connections.wrappingSubtract(1, ordering: .relaxed) }
                if count > c.maxConnections {
                    self.metrics.refused.add(1, ordering: .relaxed)
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            RefuseHandler(error: TrailError(.tooManyConnections, "connection limit \(c.maxConnections) reached")))
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    let progress = FrameProgress()
                    try sync.addHandler(progress)
                    try sync.addHandler(ByteToMessageHandler(FrameDecoder(maxFrame: c.limits.maxFrame)))
                    try sync.addHandler(
                        ConnectionHandler(
                            pipeline: pipeline, store: store, limits: c.limits, timeouts: c.timeouts, progress: progress,
                            nodeKey: nodeKey.publicKey, metrics: metrics, logger: logger))
                }
            }
        if let size = c.socketSendBuffer { bootstrap = bootstrap.childChannelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size)) }
        channel = try await bootstrap.bind(host: c.host, port: c.port).get()
        if let httpHost = c.httpHost {
            pool.start()
            let api = HTTPAPI(store: store, pipeline: pipeline, checkpointer: checkpointer, pool: pool, logger: logger)
            httpChannel = try await ServerBootstrap(group: httpGroup)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(HTTPHandler(api: api))
                    }
                }
                .bind(host: httpHost, port: c.httpPort).get()
            logger.info("HTTP API listening", metadata: ["address": "\(httpChannel!.localAddress!)"])
        }
        // Sign a checkpoint at least once a second while entries arrive, HTTP API or not.
        let signer = self.checkpointer
        let ingest = self.pipeline
        checkpointTask = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            _ = signer.note(for: ingest.tree)
        }
        logger.info("collector listening", metadata: ["address": "\(channel!.localAddress!)", "data": "\(c.dataDirectory)"])
    }

    /// Stops accepting, drains the pipeline and releases the event loops.
    public func shutdown() async throws {
        checkpointTask?.cancel()
        checkpointTask = nil
        try? await channel?.close()
        try? await httpChannel?.close()
        channel = nil
        httpChannel = nil
        pipeline.stop()
        // Relaxed mode never fsyncs on commit: a clean stop still makes everything durable.
        if !configuration.durable { try store.environment.sync() }
        try await group.shutdownGracefully()
        try await httpGroup.shutdownGracefully()
        try? await pool.shutdownGracefully()
    }
}

/// The node's Ed25519 key, kept in `node.key` in the data folder and created at first start.
public enum NodeKey {
    public static func path(directory: String) -> String { (directory as NSString).appendingPathComponent("node.key") }

    public static func loadOrCreate(directory: String) throws -> SigningKey {
        let p = path(directory: directory)
        if let data = FileManager.default.contents(atPath: p) {
            return try KeyFile.decode([UInt8](data))
        }
        let key = SigningKey.generate()
        guard FileManager.default.createFile(atPath: p, contents: Data(KeyFile.encode(key).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw TrailError(.io, "cannot write \(p)")
        }
        return key
    }
}

/// Counters of the network side, readable from any thread.
public final class ConnectionMetrics: Sendable {
    /// Times a connection stopped being read because its unacknowledged bytes hit the limit.
    public let heldReads = Atomic<Int>(0)
    /// Connections refused at the connection limit.
    public let refused = Atomic<Int>(0)
    /// Connections closed with an ERROR frame.
    public let errors = Atomic<Int>(0)
    public init() {}
}

/// Answers a connection over the limit with an ERROR frame as soon as it is active, then closes.
final class RefuseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let error: TrailError
    init(error: TrailError) { self.error = error }

    func channelActive(context: ChannelHandlerContext) {
        let bytes = WireCodec.encode(ServerMessage.error(code: error.code, message: error.reason))
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@available(*, unavailable)
extension RefuseHandler: Sendable {}
