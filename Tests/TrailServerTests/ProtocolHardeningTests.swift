import AgentTrail
import Foundation
import NIOCore
import Testing
import TrailServer

/// The promises of SPEC section 2 under pressure: responses in request order, a budget that
/// counts unread responses, and deadlines that free the slots of silent or slow connections.
@Suite("Protocol hardening")
struct ProtocolHardeningTests {
    /// Pipelined APPENDs against a small pipeline: the first batch enters it, the rest are
    /// answered `overloaded` at once, and still every ACK comes back in request order.
    @Test func acksKeepRequestOrderUnderOverload() async throws {
        try await withCollector({ $0.pipeline.maxPendingEntries = 300 }) { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var agents = (0..<8).map { TestAgent("order-\($0)") }
            var all: [UInt8] = []
            // The first batch fills the pipeline (300 signatures to verify), the next ones overflow it.
            for id in 1...8 {
                let n = id == 1 ? 300 : 40
                all += WireCodec.encode(ClientMessage.append(requestID: UInt64(id), entries: (0..<n).map { _ in agents[id - 1].next().encoded }))
            }
            all += WireCodec.encode(ClientMessage.ping(nonce: 99))
            s.send(all)
            var ids: [UInt64] = []
            var overloaded = 0
            for _ in 1...8 {
                guard case .ack(let id, let statuses) = try s.read() else {
                    Issue.record("expected ACK")
                    return
                }
                ids.append(id)
                overloaded += statuses.filter { if case .overloaded = $0 { true } else { false } }.count
                if id == 1 {
                    let stored = statuses.filter { $0.index != nil }.count
                    #expect(stored == 300, "\(statuses.filter { $0.index == nil }.prefix(3))")
                }
            }
            #expect(ids == Array(1...8))
            #expect(overloaded > 0)
            #expect(try s.read() == .pong(nonce: 99))
        }
    }

    /// A HEAD_QUERY behind 8 pipelined APPENDs is answered after their ACKs and counts them;
    /// a PING behind them is answered in its place too.
    @Test func headAndPongComeInRequestOrder() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("head-order")
            var all: [UInt8] = []
            for id in 1...8 {
                all += WireCodec.encode(ClientMessage.append(requestID: UInt64(id), entries: (0..<25).map { _ in a.next().encoded }))
            }
            all += WireCodec.encode(ClientMessage.ping(nonce: 7))
            all += WireCodec.encode(ClientMessage.headQuery(requestID: 9, signer: a.key.publicKey))
            s.send(all)
            for id in 1...8 {
                guard case .ack(let rid, let statuses) = try s.read() else {
                    Issue.record("expected ACK \(id)")
                    return
                }
                #expect(rid == UInt64(id))
                #expect(statuses.allSatisfy { $0.index != nil })
            }
            #expect(try s.read() == .pong(nonce: 7))
            #expect(try s.read() == .head(requestID: 9, head: a.head))
            #expect(a.head.nextSeq == 200)
        }
    }

    @Test func helloMustArriveInTime() async throws {
        try await withCollector({ $0.timeouts.hello = .milliseconds(400) }) { _, port in
            let s = try RawSocket(port: port)
            let start = ContinuousClock.now
            #expect(try s.readError() == .helloTimeout)
            #expect(ContinuousClock.now - start >= .milliseconds(350))
            #expect(s.isClosedByPeer())
            // A client that greets in time is not affected later.
            let t = try RawSocket(port: port)
            try t.hello()
            try await Task.sleep(for: .milliseconds(600))
            t.send(.ping(nonce: 1))
            #expect(try t.read() == .pong(nonce: 1))
        }
    }

    /// Silent sockets no longer hold the connection slots: after the handshake deadline they
    /// are closed and an agent gets in.
    @Test func silentConnectionsReleaseTheirSlots() async throws {
        try await withCollector({
            $0.maxConnections = 2
            $0.timeouts.hello = .seconds(2)
        }) { _, port in
            // Three silent sockets on two slots: one is refused at once, two time out.
            let sockets = try (0..<3).map { _ in try RawSocket(port: port) }
            let codes = try sockets.map { try $0.readError().rawValue }.sorted()
            #expect(codes == [106, 109, 109])
            try await Task.sleep(for: .milliseconds(100))
            let agent = try RawSocket(port: port)
            try agent.hello()
            var a = TestAgent("slot")
            #expect(try agent.append([a.next()]).first?.index == 0)
        }
    }

    @Test func aStartedFrameMustCompleteInTime() async throws {
        try await withCollector({ $0.timeouts.frame = .milliseconds(400) }) { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("frame-deadline")
            let frame = WireCodec.encode(ClientMessage.append(requestID: 1, entries: [a.next().encoded]))
            let start = ContinuousClock.now
            s.send(Array(frame[0..<20]))
            #expect(try s.readError() == .frameTimeout)
            #expect(ContinuousClock.now - start >= .milliseconds(350))
            #expect(s.isClosedByPeer())
        }
    }

    /// Trickling a frame one byte at a time is not traffic: the idle timeout still closes the
    /// connection, long before the frame deadline.
    @Test func tricklingAPartialFrameDoesNotKeepTheConnection() async throws {
        try await withCollector({
            $0.timeouts.idle = .milliseconds(800)
            $0.timeouts.frame = .seconds(60)
        }) { _, port in
            let s = try RawSocket(port: port, timeoutSeconds: 1)
            try s.hello()
            var a = TestAgent("trickle")
            let frame = WireCodec.encode(ClientMessage.append(requestID: 1, entries: [a.next().encoded]))
            let start = ContinuousClock.now
            var code: TrailError.Code?
            // One byte every 100 ms, for at most 4 s (the frame is ~250 bytes: it never completes).
            for byte in frame.prefix(40) {
                s.send([byte])
                var pfd = pollfd(fd: s.fd, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 100) > 0 {
                    code = try s.readError()
                    break
                }
            }
            #expect(code == .idleTimeout)
            #expect(ContinuousClock.now - start < .seconds(3))
        }
    }

    /// Unread PONGs count against the budget: the server holds reads on a connection that
    /// floods PINGs without reading (in process, to see the counter), and still serves others.
    @Test func unreadPongsHoldReads() async throws {
        try await withCollector({
            $0.limits.maxInFlightBytes = 64 * 1024
            $0.socketSendBuffer = 16 * 1024
        }) { collector, port in
            let flooder = try RawSocket(port: port, receiveBuffer: 4096)
            try flooder.hello()
            var chunk: [UInt8] = []
            for i in 0..<20_000 { chunk += WireCodec.encode(ClientMessage.ping(nonce: UInt64(i))) }
            var sent = 0
            let deadline = ContinuousClock.now + .seconds(4)
            while collector.metrics.heldReads.load(ordering: .relaxed) == 0 && ContinuousClock.now < deadline {
                sent += flooder.sendUntilBlocked(chunk, timeoutSeconds: 1)
            }
            #expect(collector.metrics.heldReads.load(ordering: .relaxed) > 0, "reads never held after \(sent) bytes of PINGs")
            let other = try RawSocket(port: port, timeoutSeconds: 30)
            try other.hello()
            other.send(.ping(nonce: 3))
            #expect(try other.read() == .pong(nonce: 3))
        }
    }

    /// A client that sends PINGs and never reads the PONGs: the server stops reading it once
    /// the unwritten PONGs fill the connection's budget, so its memory stays bounded (a real
    /// `trail serve` process, measured in /proc), and other clients are still served.
    @Test(.timeLimit(.minutes(2)))
    func unreadPongsDoNotGrowServerMemory() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            let server = try ServeProcess(data: dir, ["--max-inflight", "1048576"])
            defer { server.stop() }
            let before = try server.residentBytes()
            // A small receive buffer, so the kernel holds few of the unread PONGs.
            // Generous read timeouts: a debug build on a loaded machine can spend seconds on one
            // read cycle (up to 16 reads) of the flooder's PINGs before it turns to others.
            let flooder = try RawSocket(port: server.port, timeoutSeconds: 30, receiveBuffer: 4096)
            try flooder.hello()
            var chunk: [UInt8] = []
            chunk.reserveCapacity(13 * 80_000)
            for i in 0..<80_000 { chunk += WireCodec.encode(ClientMessage.ping(nonce: UInt64(i))) }
            // Up to 70 MiB of PINGs for 12 s, whether or not the server takes them.
            var sent = 0
            let deadline = ContinuousClock.now + .seconds(12)
            while sent < 70 << 20 && ContinuousClock.now < deadline {
                sent += flooder.sendUntilBlocked(chunk, timeoutSeconds: 1)
            }
            let after = try server.residentBytes()
            #expect(sent < 40 << 20, "the server kept reading: \(sent) bytes of PINGs taken")
            #expect(after - before < 64 << 20, "RSS grew from \(before >> 20) MiB to \(after >> 20) MiB")
            // Another client is served while the flooder is still connected and unread.
            let other = try RawSocket(port: server.port, timeoutSeconds: 30)
            try other.hello()
            other.send(.ping(nonce: 42))
            #expect(try other.read() == .pong(nonce: 42))
            var a = TestAgent("beside-flood")
            #expect(try other.append([a.next()]).first?.index == 0)
            // The flooder's PONGs are all there, in order, once it reads.
            for i in 0..<1000 { #expect(try flooder.read() == .pong(nonce: UInt64(i))) }
        }
    }

    /// End of stream inside a frame: the server closes without an ERROR (SPEC 2), and a
    /// client name over 64 bytes is 102.
    @Test func endOfStreamInsideAFrameClosesWithoutError() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            s.send(Array(WireCodec.encode(ClientMessage.ping(nonce: 1)).prefix(6)))
            shutdown(s.fd, Int32(SHUT_WR))
            var b: UInt8 = 0
            #expect(recv(s.fd, &b, 1, 0) == 0, "expected EOF without any frame")

            let t = try RawSocket(port: port)
            var hello: [UInt8] = [0, 1, 0, 65] + Array(repeating: UInt8(ascii: "a"), count: 65)
            hello = [0, 0, 0, UInt8(hello.count + 1), 0x01] + hello
            t.send(hello)
            #expect(try t.readError() == .malformedFrame)
            #expect(t.isClosedByPeer())
        }
    }
}
