import AgentTrail
import NIOCore
import Testing
import TrailServer

@Suite("Server limits")
struct LimitTests {
    @Test func maxFrame() async throws {
        try await withCollector({ $0.limits.maxFrame = ServerLimits.minimumFrame }) { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("frame")
            // 100 entries of ~240 bytes: over the 16 KiB + 64 frame limit.
            let entries = (0..<100).map { _ in a.next().encoded }
            s.send(.append(requestID: 1, entries: entries))
            guard case .error(let code, _) = try s.read() else {
                Issue.record("expected ERROR")
                return
            }
            #expect(code == .frameTooLarge)
            #expect(s.isClosedByPeer())
        }
    }

    @Test func maxEntriesPerBatch() async throws {
        try await withCollector({ $0.limits.maxBatch = 10 }) { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("batch")
            #expect(try s.append((0..<10).map { _ in a.next() }).count == 10)
            s.send(.append(requestID: 2, entries: (0..<11).map { _ in a.next().encoded }))
            guard case .error(let code, _) = try s.read() else {
                Issue.record("expected ERROR")
                return
            }
            #expect(code == .batchTooLarge)
        }
    }

    @Test func maxConnections() async throws {
        try await withCollector({ $0.maxConnections = 2 }) { collector, port in
            let a = try RawSocket(port: port)
            try a.hello()
            let b = try RawSocket(port: port)
            try b.hello()
            let c = try RawSocket(port: port)
            guard case .error(let code, _) = try c.read() else {
                Issue.record("expected ERROR")
                return
            }
            #expect(code == .tooManyConnections)
            #expect(c.isClosedByPeer())
            #expect(collector.metrics.refused.load(ordering: .relaxed) == 1)
            // The two admitted connections still work.
            a.send(.ping(nonce: 5))
            #expect(try a.read() == .pong(nonce: 5))
        }
    }

    @Test func idleTimeoutClosesQuietConnections() async throws {
        try await withCollector({ $0.idleTimeout = .milliseconds(300) }) { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            let start = ContinuousClock.now
            guard case .error(let code, _) = try s.read() else {
                Issue.record("expected ERROR")
                return
            }
            #expect(code == .idleTimeout)
            #expect(ContinuousClock.now - start >= .milliseconds(250))
            #expect(s.isClosedByPeer())
        }
    }

    @Test func inFlightBytesStopReadingButLoseNothing() async throws {
        try await withCollector({ $0.limits.maxInFlightBytes = 16 * 1024 }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("inflight")
            // 40 batches of 50 entries (~12 KB each) written in one burst without reading acks.
            var all: [UInt8] = []
            var expected = 0
            for id in 1...40 {
                all += WireCodec.encode(ClientMessage.append(requestID: UInt64(id), entries: (0..<50).map { _ in a.next().encoded }))
                expected += 50
            }
            s.send(all)
            var accepted = 0
            for id in 1...40 {
                guard case .ack(let rid, let statuses) = try s.read() else {
                    Issue.record("expected ACK")
                    return
                }
                #expect(rid == UInt64(id))
                accepted += statuses.filter { if case .accepted = $0 { true } else { false } }.count
            }
            #expect(accepted == expected)
            #expect(collector.metrics.heldReads.load(ordering: .relaxed) > 0)
            #expect(try verifyStoredChain(collector.store, a.key.publicKey) == expected)
        }
    }

    @Test func fullPipelineAnswersOverloadedWithARetryHint() async throws {
        try await withCollector({ $0.pipeline.maxPendingEntries = 64 }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var agents = (0..<8).map { TestAgent("overload-\($0)") }
            var all: [UInt8] = []
            for id in 0..<8 {
                all += WireCodec.encode(ClientMessage.append(requestID: UInt64(id), entries: (0..<60).map { _ in agents[id].next().encoded }))
            }
            s.send(all)
            var overloaded = 0
            var accepted = 0
            for _ in 0..<8 {
                guard case .ack(_, let statuses) = try s.read() else {
                    Issue.record("expected ACK")
                    return
                }
                for st in statuses {
                    switch st {
                    case .overloaded(let ms):
                        #expect(ms >= 10)
                        overloaded += 1
                    case .accepted: accepted += 1
                    default: Issue.record("unexpected \(st)")
                    }
                }
            }
            #expect(overloaded > 0)
            #expect(accepted > 0)
            #expect(accepted + overloaded == 480)
            #expect(try collector.store.logSize() == UInt64(accepted))
        }
    }
}
