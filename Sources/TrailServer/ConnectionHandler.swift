import Logging
import NIOCore
import TrailNIO
import Synchronization
import TrailCore
import TrailStore

/// Serves one client connection: handshake, append batches into the pipeline, head queries
/// and pings. Holds reads back while the connection's unacknowledged bytes exceed the limit.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = InboundFrame
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    let pipeline: IngestPipeline
    let store: ChainStore
    let limits: ServerLimits
    let nodeKey: PublicKey
    let metrics: ConnectionMetrics
    let logger: Logger

    private var greeted = false
    private var inFlightBytes = 0
    private var pendingBatches = 0
    private var readHeld = false
    private var closing = false

    init(pipeline: IngestPipeline, store: ChainStore, limits: ServerLimits, nodeKey: PublicKey, metrics: ConnectionMetrics, logger: Logger) {
        self.metrics = metrics
        self.pipeline = pipeline
        self.store = store
        self.limits = limits
        self.nodeKey = nodeKey
        self.logger = logger
    }

    /// Whether the connection has work in the pipeline (an idle timeout must not cut it).
    var isBusy: Bool { pendingBatches > 0 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        let frame = unwrapInboundIn(data)
        let message: ClientMessage
        do {
            message = try frame.payload.withUnsafeReadableBytes { raw in
                try WireCodec.decodeClient(type: frame.type, payload: raw, maxBatch: Int(limits.maxBatch))
            }
        } catch {
            fail(context: context, (error as? TrailError) ?? TrailError(.malformedFrame, "\(error)"))
            return
        }
        if !greeted {
            guard case .hello(let version, _) = message else {
                fail(context: context, TrailError(.helloRequired, "the first frame must be HELLO"))
                return
            }
            guard version == ServerLimits.protocolVersion else {
                fail(context: context, TrailError(.unsupportedProtocol, "protocol version \(version) is not supported; this server speaks \(ServerLimits.protocolVersion)"))
                return
            }
            greeted = true
            send(context: context, .helloOK(version: ServerLimits.protocolVersion, limits: limits, nodeKey: nodeKey))
            return
        }
        switch message {
        case .hello:
            fail(context: context, TrailError(.malformedFrame, "HELLO sent twice"))
        case .ping(let nonce):
            send(context: context, .pong(nonce: nonce))
        case .headQuery(let id, let signer):
            do {
                send(context: context, .head(requestID: id, head: try store.head(of: signer)))
            } catch {
                fail(context: context, (error as? TrailError) ?? TrailError(.storage, "\(error)"))
            }
        case .append(let id, let rawEntries):
            append(context: context, requestID: id, rawEntries: rawEntries, frameBytes: frame.payload.readableBytes + 5)
        }
    }

    private func append(context: ChannelHandlerContext, requestID: UInt64, rawEntries: [[UInt8]], frameBytes: Int) {
        var decoded: [Result<Entry, TrailError>] = []
        decoded.reserveCapacity(rawEntries.count)
        for raw in rawEntries {
            decoded.append(Result { () throws(TrailError) in try EntryCodec.decode(raw) })
        }
        inFlightBytes += frameBytes
        pendingBatches += 1
        let loop = context.eventLoop
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        let boundSelf = NIOLoopBound(self, eventLoop: loop)
        pipeline.submit(decoded) { result in
            loop.execute {
                boundSelf.value.completed(context: boundContext.value, requestID: requestID, frameBytes: frameBytes, result: result)
            }
        }
    }

    private func completed(context: ChannelHandlerContext, requestID: UInt64, frameBytes: Int, result: Result<[AppendStatus], TrailError>) {
        inFlightBytes -= frameBytes
        pendingBatches -= 1
        guard !closing else { return }
        switch result {
        case .success(let statuses):
            send(context: context, .ack(requestID: requestID, statuses: statuses))
        case .failure(let error):
            fail(context: context, error)
            return
        }
        if readHeld && inFlightBytes < Int(limits.maxInFlightBytes) {
            readHeld = false
            context.read()
        }
    }

    // Backpressure: a read is only passed on while the connection is under its in-flight limit.
    func read(context: ChannelHandlerContext) {
        if inFlightBytes >= Int(limits.maxInFlightBytes) {
            if !readHeld { metrics.heldReads.add(1, ordering: .relaxed) }
            readHeld = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !isBusy { fail(context: context, TrailError(.idleTimeout, "no traffic within the idle timeout")) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let e = error as? TrailError {
            fail(context: context, e)
        } else if error is ByteToMessageDecoderError {
            fail(context: context, TrailError(.malformedFrame, "\(error)"))
        } else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    private func send(context: ChannelHandlerContext, _ message: ServerMessage) {
        let bytes = WireCodec.encode(message)
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Sends an ERROR frame and closes: for errors that leave the stream unusable.
    func fail(context: ChannelHandlerContext, _ error: TrailError) {
        guard !closing else { return }
        closing = true
        metrics.errors.add(1, ordering: .relaxed)
        logger.debug("closing connection", metadata: ["error": "\(error)"])
        let bytes = WireCodec.encode(ServerMessage.error(code: error.code, message: error.reason))
        var buffer = context.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}
