@_exported import TrailCore
import NIOCore
import NIOPosix
import Synchronization
import TrailNIO

/// One TCP connection to a collector, after the handshake. Requests may be issued from any task
/// and many at once; responses are matched by request id. Thread-safe.
public final class TrailConnection: Sendable {
    public let limits: ServerLimits
    public let nodeKey: PublicKey
    let channel: Channel
    let handler: NIOLoopBound<ClientHandler>
    private let nextID = Atomic<UInt64>(1)

    init(channel: Channel, handler: NIOLoopBound<ClientHandler>, limits: ServerLimits, nodeKey: PublicKey) {
        self.channel = channel
        self.handler = handler
        self.limits = limits
        self.nodeKey = nodeKey
    }

    /// Connects and performs the HELLO handshake.
    public static func connect(
        host: String, port: Int, clientName: String = "agenttrail-swift",
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TrailConnection {
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrame: 64 << 20)))
                        try channel.pipeline.syncOperations.addHandler(ClientHandler())
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw TrailError(.connection, "cannot connect to \(host):\(port): \(error)")
        }
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ClientHandler.self), eventLoop: channel.eventLoop)
        }.get()
        let reply = try await request(channel: channel, handler: handler, key: ClientHandler.helloKey,
            frame: WireCodec.encode(ClientMessage.hello(version: ServerLimits.protocolVersion, client: clientName)))
        guard case .helloOK(let version, let limits, let nodeKey) = reply, version == ServerLimits.protocolVersion else {
            channel.close(promise: nil)
            throw TrailError(.unsupportedProtocol, "unexpected handshake reply")
        }
        return TrailConnection(channel: channel, handler: handler, limits: limits, nodeKey: nodeKey)
    }

    static func request(channel: Channel, handler: NIOLoopBound<ClientHandler>, key: UInt64, frame: [UInt8]) async throws -> ServerMessage {
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: ServerMessage.self)
        loop.execute {
            handler.value.register(key, promise)
            var buffer = channel.allocator.buffer(capacity: frame.count)
            buffer.writeBytes(frame)
            channel.writeAndFlush(buffer).whenFailure { promise.fail(TrailError(.connection, "write failed: \($0)")) }
        }
        let reply = try await promise.futureResult.get()
        if case .error(let code, let message) = reply { throw TrailError(code, message) }
        return reply
    }

    /// Appends a batch of encoded entries; returns one status per entry, in order.
    public func append(_ entries: [[UInt8]]) async throws -> [AppendStatus] {
        try await sendAppend(entries).get()
    }

    /// Queues an APPEND now, so that frames leave in the order of these calls, and returns the
    /// future of its statuses. Use it to pipeline batches of one chain from concurrent tasks.
    public func sendAppend(_ entries: [[UInt8]]) -> EventLoopFuture<[AppendStatus]> {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let frame = WireCodec.encode(ClientMessage.append(requestID: id, entries: entries))
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: ServerMessage.self)
        let (channel, handler) = (self.channel, self.handler)
        loop.execute {
            handler.value.register(id, promise)
            var buffer = channel.allocator.buffer(capacity: frame.count)
            buffer.writeBytes(frame)
            channel.writeAndFlush(buffer).whenFailure { promise.fail(TrailError(.connection, "write failed: \($0)")) }
        }
        let count = entries.count
        return promise.futureResult.flatMapThrowing { reply in
            if case .error(let code, let message) = reply { throw TrailError(code, message) }
            guard case .ack(_, let statuses) = reply, statuses.count == count else {
                throw TrailError(.malformedFrame, "unexpected reply to APPEND")
            }
            return statuses
        }
    }

    /// The head of a signer's chain on the server.
    public func head(of signer: PublicKey) async throws -> ChainHead {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let reply = try await Self.request(channel: channel, handler: handler, key: id,
            frame: WireCodec.encode(ClientMessage.headQuery(requestID: id, signer: signer)))
        guard case .head(_, let head) = reply else { throw TrailError(.malformedFrame, "unexpected reply to HEAD_QUERY") }
        return head
    }

    /// Round trip to the server.
    public func ping() async throws {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        _ = try await Self.request(channel: channel, handler: handler, key: id, frame: WireCodec.encode(ClientMessage.ping(nonce: id)))
    }

    public var isActive: Bool { channel.isActive }

    public func close() async {
        try? await channel.close()
    }
}

/// Matches server frames to waiting requests. Loop-bound.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    static let helloKey: UInt64 = 0

    private var waiting: [UInt64: EventLoopPromise<ServerMessage>] = [:]
    private var closedError: TrailError?

    func register(_ key: UInt64, _ promise: EventLoopPromise<ServerMessage>) {
        if let closedError {
            promise.fail(closedError)
            return
        }
        waiting[key] = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message: ServerMessage
        do {
            message = try frame.payload.withUnsafeReadableBytes { try WireCodec.decodeServer(type: frame.type, payload: $0) }
        } catch {
            failAll((error as? TrailError) ?? TrailError(.malformedFrame, "\(error)"))
            context.close(promise: nil)
            return
        }
        let key: UInt64
        switch message {
        case .helloOK: key = Self.helloKey
        case .ack(let id, _), .head(let id, _): key = id
        case .pong(let nonce): key = nonce
        case .error(let code, let text):
            // The server closes after an ERROR: every waiting request fails with it.
            failAll(TrailError(code, text))
            return
        }
        waiting.removeValue(forKey: key)?.succeed(message)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(closedError ?? TrailError(.connection, "connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll((error as? TrailError) ?? TrailError(.connection, "\(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: TrailError) {
        if closedError == nil { closedError = error }
        let w = waiting
        waiting = [:]
        for (_, p) in w { p.fail(error) }
    }
}

@available(*, unavailable)
extension ClientHandler: Sendable {}
