import Logging
import NIOCore
import Synchronization
import TrailCore
import TrailNIO
import TrailStore

/// The deadlines of one connection (SPEC 2.2, codes 107, 109 and 110).
public struct ConnectionTimeouts: Sendable, Hashable {
    /// HELLO must have arrived this long after the connection opened.
    public var hello: TimeAmount = .seconds(5)
    /// A frame whose first byte has arrived must be complete this long after it (time while
    /// the server itself holds reads back does not count).
    public var frame: TimeAmount = .seconds(10)
    /// No complete frame received and no response byte written for this long, with nothing in
    /// the pipeline: the connection is closed. A partial frame is not traffic.
    public var idle: TimeAmount = .seconds(300)
    public init() {}

    /// How often a connection checks its deadlines: an eighth of the shortest, 10 ms to 1 s.
    var checkInterval: TimeAmount {
        let shortest = min(hello.nanoseconds, frame.nanoseconds, idle.nanoseconds)
        return .nanoseconds(max(10_000_000, min(1_000_000_000, shortest / 8)))
    }
}

/// Follows frame boundaries in the raw bytes before the frame decoder sees them, so that the
/// connection knows whether a frame is half received, and since when.
final class FrameProgress: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// When the first byte of the frame now being received arrived; nil at a frame boundary.
    private(set) var partialSince: NIODeadline?
    private var header: UInt32 = 0
    private var headerBytes = 0
    private var remaining = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var completedOne = false
        buffer.withUnsafeReadableBytes { raw in
            var i = 0
            while i < raw.count {
                if remaining > 0 {
                    let take = min(remaining, raw.count - i)
                    i += take
                    remaining -= take
                    if remaining == 0 { completedOne = true }
                } else {
                    header = header << 8 | UInt32(raw[i])
                    headerBytes += 1
                    i += 1
                    if headerBytes == 4 {
                        // A zero or oversized length is the decoder's to reject; this only counts.
                        remaining = Int(header)
                        header = 0
                        headerBytes = 0
                        if remaining == 0 { completedOne = true }
                    }
                }
            }
        }
        if remaining == 0 && headerBytes == 0 {
            partialSince = nil
        } else if partialSince == nil || completedOne {
            partialSince = .now()
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension FrameProgress: Sendable {}

/// Serves one client connection: handshake, append batches into the pipeline, head queries
/// and pings.
///
/// Every response goes out in request order: each request takes a slot in a FIFO, a slot is
/// filled when its answer is known (an ACK when the pipeline completes the batch, at once or
/// later on the sequencer thread), and the ready slots at the head are written. A HEAD is read
/// from the store only when its slot reaches the head, so it reflects every APPEND before it.
///
/// Budget: unacknowledged APPEND bytes plus response bytes not yet handed to the kernel
/// (queued in slots or in the channel's write buffer) are counted against `max_inflight`; past
/// it the connection is not read until the client reads its responses.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = InboundFrame
    typealias OutboundIn = Never
    typealias OutboundOut = ByteBuffer

    /// What answers one request.
    private enum Slot {
        /// An APPEND still in the pipeline.
        case waiting
        /// An encoded response.
        case ready([UInt8])
        /// A HEAD_QUERY, answered when it reaches the head of the queue.
        case head(requestID: UInt64, signer: PublicKey)
        /// An ERROR frame, after which the connection closes.
        case error(TrailError)
    }

    /// Memory a queued response costs beyond its bytes (slot, array header), for the budget.
    static let slotOverhead = 64
    /// A HEAD frame: length, type, request id, next seq, head hash.
    static let headFrameBytes = 53

    let pipeline: IngestPipeline
    let store: ChainStore
    let limits: ServerLimits
    let timeouts: ConnectionTimeouts
    let progress: FrameProgress
    let nodeKey: PublicKey
    let metrics: ConnectionMetrics
    let logger: Logger

    private var greeted = false
    /// Bytes of APPEND frames whose ACK is not known yet.
    private var inFlightBytes = 0
    private var pendingBatches = 0
    /// Responses known but not yet written (their bytes plus `slotOverhead` each).
    private var queuedBytes = 0
    /// Bytes handed to the channel whose write has not completed.
    private var unwrittenBytes = 0
    private var slots = CircularBuffer<Slot>(initialCapacity: 16)
    /// The number of `slots.first`: slot numbers grow by one per request.
    private var firstSlot: UInt64 = 0
    private var readHeld = false
    /// An ERROR is queued: nothing more is read or answered.
    private var closing = false
    private var closingSince: NIODeadline?
    private var inactive = false
    /// The ERROR has been written: nothing may follow it.
    private var errorWritten = false
    private var openedAt = NIODeadline.now()
    private var lastTraffic = NIODeadline.now()
    /// When reads were last resumed after a hold (a frame's deadline restarts then).
    private var resumedAt = NIODeadline.distantPast
    private var timer: RepeatedTask?

    init(
        pipeline: IngestPipeline, store: ChainStore, limits: ServerLimits, timeouts: ConnectionTimeouts, progress: FrameProgress,
        nodeKey: PublicKey, metrics: ConnectionMetrics, logger: Logger
    ) {
        self.metrics = metrics
        self.pipeline = pipeline
        self.store = store
        self.limits = limits
        self.timeouts = timeouts
        self.progress = progress
        self.nodeKey = nodeKey
        self.logger = logger
    }

    /// Whether the connection has work in the pipeline (an idle timeout must not cut it).
    var isBusy: Bool { pendingBatches > 0 }

    /// Everything the connection holds for this client, against `max_inflight`.
    private var load: Int { inFlightBytes + queuedBytes + unwrittenBytes }

    // MARK: Lifecycle and deadlines

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        inactive = true
        timer?.cancel()
        timer = nil
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard timer == nil, !inactive else { return }
        openedAt = .now()
        lastTraffic = openedAt
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let interval = timeouts.checkInterval
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = bound.value
            handler.checkDeadlines(context: context)
        }
    }

    private func checkDeadlines(context: ChannelHandlerContext) {
        guard !inactive else { return }
        let now = NIODeadline.now()
        if closing {
            // The ERROR could not be delivered (the client reads nothing): close anyway.
            if let since = closingSince, now - since >= .seconds(5) { context.close(promise: nil) }
            return
        }
        if !greeted && now - openedAt >= timeouts.hello {
            fail(context: context, TrailError(.helloTimeout, "no HELLO within \(Self.seconds(timeouts.hello)) s of connecting"))
            return
        }
        if let since = progress.partialSince, !readHeld, now - max(since, resumedAt) >= timeouts.frame {
            fail(context: context, TrailError(.frameTimeout, "a frame was not completed within \(Self.seconds(timeouts.frame)) s"))
            return
        }
        if !isBusy && now - lastTraffic >= timeouts.idle {
            fail(context: context, TrailError(.idleTimeout, "no traffic within the idle timeout"))
        }
    }

    static func seconds(_ t: TimeAmount) -> String {
        let ms = t.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)" : "\(Double(ms) / 1000)"
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        lastTraffic = .now()
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
                fail(
                    context: context,
                    TrailError(
                        .unsupportedProtocol,
                        "protocol version \(version) is not supported; this server speaks \(ServerLimits.protocolVersion)"))
                return
            }
            greeted = true
            enqueue(.helloOK(version: ServerLimits.protocolVersion, limits: limits, nodeKey: nodeKey))
            return
        }
        switch message {
        case .hello:
            fail(context: context, TrailError(.malformedFrame, "HELLO sent twice"))
        case .ping(let nonce):
            enqueue(.pong(nonce: nonce))
        case .headQuery(let id, let signer):
            // Answered when its turn comes: it must see every earlier APPEND's outcome.
            slots.append(.head(requestID: id, signer: signer))
            queuedBytes += Self.headFrameBytes + Self.slotOverhead
        case .append(let id, let rawEntries):
            append(context: context, requestID: id, rawEntries: rawEntries, frameBytes: frame.payload.readableBytes + 5)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        writeReady(context: context)
        context.fireChannelReadComplete()
    }

    private func append(context: ChannelHandlerContext, requestID: UInt64, rawEntries: [[UInt8]], frameBytes: Int) {
        var decoded: [Result<Entry, TrailError>] = []
        decoded.reserveCapacity(rawEntries.count)
        for raw in rawEntries {
            decoded.append(Result { () throws(TrailError) in try EntryCodec.decode(raw) })
        }
        inFlightBytes += frameBytes
        pendingBatches += 1
        let slot = firstSlot + UInt64(slots.count)
        slots.append(.waiting)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        // The completion may run right here (overloaded, shutting down) or later on the
        // sequencer thread; either way the slot keeps the ACK in its place.
        pipeline.submit(decoded) { result in
            loop.execute {
                let (handler, context) = bound.value
                handler.completed(context: context, slot: slot, requestID: requestID, frameBytes: frameBytes, result: result)
            }
        }
    }

    private func completed(
        context: ChannelHandlerContext, slot: UInt64, requestID: UInt64, frameBytes: Int, result: Result<[AppendStatus], TrailError>
    ) {
        inFlightBytes -= frameBytes
        pendingBatches -= 1
        guard slot >= firstSlot, slot - firstSlot < UInt64(slots.count) else { return }
        let position = Int(slot - firstSlot)
        switch result {
        case .success(let statuses):
            let bytes = WireCodec.encode(ServerMessage.ack(requestID: requestID, statuses: statuses))
            slots[slots.index(slots.startIndex, offsetBy: position)] = .ready(bytes)
            queuedBytes += bytes.count + Self.slotOverhead
        case .failure(let error):
            // No ACK for this batch; the ERROR takes its place and ends the connection.
            slots[slots.index(slots.startIndex, offsetBy: position)] = .error(error)
            startClosing()
        }
        writeReady(context: context)
    }

    // MARK: Responses

    private func enqueue(_ message: ServerMessage) {
        let bytes = WireCodec.encode(message)
        slots.append(.ready(bytes))
        queuedBytes += bytes.count + Self.slotOverhead
    }

    /// Writes the ready responses at the head of the queue in one buffer, then an ERROR (and
    /// close) if one is reached.
    private func writeReady(context: ChannelHandlerContext) {
        guard !inactive, !errorWritten else { return }
        var out: ByteBuffer?
        var fatal: TrailError?
        loop: while let first = slots.first {
            let bytes: [UInt8]
            switch first {
            case .waiting:
                break loop
            case .ready(let b):
                bytes = b
                queuedBytes -= b.count + Self.slotOverhead
            case .head(let id, let signer):
                queuedBytes -= Self.headFrameBytes + Self.slotOverhead
                do {
                    bytes = WireCodec.encode(ServerMessage.head(requestID: id, head: try store.head(of: signer)))
                } catch {
                    fatal = (error as? TrailError) ?? TrailError(.storage, "\(error)")
                    slots.removeFirst()
                    firstSlot += 1
                    break loop
                }
            case .error(let e):
                fatal = e
                slots.removeFirst()
                firstSlot += 1
                break loop
            }
            slots.removeFirst()
            firstSlot += 1
            if out == nil { out = context.channel.allocator.buffer(capacity: max(bytes.count, 256)) }
            out!.writeBytes(bytes)
        }
        if let fatal {
            startClosing()
            errorWritten = true
            metrics.errors.add(1, ordering: .relaxed)
            logger.debug("closing connection", metadata: ["error": "\(fatal)"])
            if out == nil { out = context.channel.allocator.buffer(capacity: 64) }
            out!.writeBytes(WireCodec.encode(ServerMessage.error(code: fatal.code, message: fatal.reason)))
        }
        guard let out else { return }
        let n = out.readableBytes
        unwrittenBytes += n
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let close = fatal != nil
        context.writeAndFlush(wrapOutboundOut(out)).whenComplete { result in
            let (handler, context) = bound.value
            handler.unwrittenBytes -= n
            if case .success = result { handler.lastTraffic = .now() }
            if close {
                context.close(promise: nil)
            } else {
                handler.resumeIfUnderBudget(context: context)
            }
        }
        resumeIfUnderBudget(context: context)
    }

    private func resumeIfUnderBudget(context: ChannelHandlerContext) {
        if readHeld && !closing && !inactive && load < Int(limits.maxInFlightBytes) {
            readHeld = false
            resumedAt = .now()
            context.read()
        }
    }

    // Backpressure: a read is only passed on while the connection is under its budget.
    func read(context: ChannelHandlerContext) {
        if closing || load >= Int(limits.maxInFlightBytes) {
            if !readHeld && !closing { metrics.heldReads.add(1, ordering: .relaxed) }
            readHeld = true
        } else {
            context.read()
        }
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

    private func startClosing() {
        guard !closing else { return }
        closing = true
        closingSince = .now()
    }

    /// Queues an ERROR frame behind the responses already owed and stops reading: for errors
    /// that leave the stream unusable. The connection closes once the ERROR is written.
    func fail(context: ChannelHandlerContext, _ error: TrailError) {
        guard !closing else { return }
        slots.append(.error(error))
        startClosing()
        writeReady(context: context)
    }
}

@available(*, unavailable)
extension ConnectionHandler: Sendable {}
