import AgentTrail
import Testing
import TrailServer
import TrailStore

@Suite("Chain rules over TCP")
struct ChainRuleTests {
    @Test func acceptedThenDuplicateReturnsTheSameIndex() async throws {
        try await withCollector { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("dup")
            let e0 = a.next()
            let e1 = a.next()
            #expect(try s.append([e0, e1]) == [.accepted(index: 0), .accepted(index: 1)])
            // A retry after a lost ack: same bytes, same answer index.
            #expect(try s.append([e1, e0], id: 2) == [.duplicate(index: 1), .duplicate(index: 0)])
            #expect(try collector.store.logSize() == 2)
        }
    }

    @Test func wrongPrevIsAConflictWithTheHead() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("conflict")
            let e0 = a.next()
            #expect(try s.append([e0]) == [.accepted(index: 0)])
            let bad = a.at(seq: 1, prev: SHA256.hash([1, 2, 3]))
            #expect(try s.append([bad], id: 2) == [.conflict(head: ChainHead(nextSeq: 1, hash: e0.hash))])
            // seq 0 on an existing chain is not a conflict but a duplicate or equivocation (below).
        }
    }

    @Test func sequenceGapReturnsTheHead() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("gap")
            let e0 = a.next()
            _ = a.next()
            let e2 = a.next()
            #expect(try s.append([e0, e2]) == [.accepted(index: 0), .gap(head: ChainHead(nextSeq: 1, hash: e0.hash))])
            let fresh = TestAgent("gap-fresh")
            let first = fresh.at(seq: 5, prev: SHA256.hash([9]))
            #expect(try s.append([first], id: 2) == [.gap(head: .empty)])
        }
    }

    @Test func forgedSignatureIsRejectedAndNothingIsStored() async throws {
        try await withCollector { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("forged")
            var bytes = a.next().encoded
            bytes[bytes.count - 1] ^= 0x01
            let status = try s.append([try EntryCodec.decode(bytes)])
            #expect(status == [.badSignature(.badSignature)])
            // An entry signed by another key but claiming this signer.
            let mallory = SigningKey(seed: SHA256.hash([7]))
            let unsigned = UnsignedEntry(signer: a.key.publicKey, seq: 0, timestampMs: 1, prev: .zero, body: TestAgent.body(0))
            var forged = try EntryCodec.encodeUnsigned(unsigned)
            forged += [0, 64] + mallory.sign(prefix: EntryCodec.signingDomain, forged).bytes
            #expect(try s.append([try EntryCodec.decode(forged)], id: 2) == [.badSignature(.badSignature)])
            #expect(try collector.store.logSize() == 0)
        }
    }

    @Test func malformedEntriesGetTheirReasonCodeAndTheRestOfTheBatchProceeds() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("malformed")
            let good = a.next()
            var truncated = good.encoded
            truncated.removeLast(3)
            var trailing = good.encoded
            trailing.append(0)
            var version = good.encoded
            version[0] = 9
            s.send(.append(requestID: 7, entries: [truncated, trailing, version, good.encoded, [UInt8](repeating: 1, count: 16385)]))
            guard case .ack(7, let statuses) = try s.read() else {
                Issue.record("no ack")
                return
            }
            #expect(statuses == [.malformed(.truncated), .malformed(.trailingBytes), .malformed(.unsupportedVersion), .accepted(index: 0), .malformed(.entryTooLarge)])
        }
    }

    @Test func equivocationIsKeptAsEvidence() async throws {
        try await withCollector { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("equivocator")
            let e0 = a.next()
            let e1 = a.next()
            #expect(try s.append([e0, e1]) == [.accepted(index: 0), .accepted(index: 1)])
            // A different, validly signed entry at seq 1.
            let rival = a.at(seq: 1, prev: e0.hash)
            #expect(rival.hash != e1.hash)
            let head = ChainHead(nextSeq: 2, hash: e1.hash)
            #expect(try s.append([rival], id: 2) == [.equivocation(head: head)])
            let evidence = try collector.store.equivocations(of: a.key.publicKey)
            #expect(evidence == [rival.encoded])
            // The accepted chain is untouched.
            #expect(try verifyStoredChain(collector.store, a.key.publicKey) == 2)
        }
    }

    @Test func headQueryAndPing() async throws {
        try await withCollector { _, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("head")
            s.send(.headQuery(requestID: 3, signer: a.key.publicKey))
            #expect(try s.read() == .head(requestID: 3, head: .empty))
            let e0 = a.next()
            _ = try s.append([e0])
            s.send(.headQuery(requestID: 4, signer: a.key.publicKey))
            #expect(try s.read() == .head(requestID: 4, head: ChainHead(nextSeq: 1, hash: e0.hash)))
            s.send(.ping(nonce: 99))
            #expect(try s.read() == .pong(nonce: 99))
        }
    }

    @Test func manyAgentsInterleavedInOneBatch() async throws {
        try await withCollector { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var agents = (0..<10).map { TestAgent("many-\($0)") }
            var batch: [Entry] = []
            for _ in 0..<20 { for i in agents.indices { batch.append(agents[i].next()) } }
            let statuses = try s.append(batch)
            #expect(statuses == (0..<200).map { .accepted(index: UInt64($0)) })
            for a in agents { #expect(try verifyStoredChain(collector.store, a.key.publicKey) == 20) }
        }
    }
}

@Suite("Pipeline lifecycle and relaxed mode")
struct LifecycleTests {
    @Test func batchesAfterStopAreAnsweredShuttingDown() async throws {
        try await withTemporaryDirectory { dir in
            let store = try ChainStore(directory: dir)
            let pipeline = try IngestPipeline(store: store, logger: quietLogger)
            pipeline.start()
            pipeline.stop()
            var a = TestAgent("late")
            let result = await withCheckedContinuation { c in
                pipeline.submit([.success(a.next())]) { c.resume(returning: $0) }
            }
            guard case .failure(let e) = result else {
                Issue.record("expected shutting_down, got \(result)")
                return
            }
            #expect(e.code == .shuttingDown)
            #expect(try store.logSize() == 0)
        }
    }

    @Test func relaxedModeAcknowledgesAndKeepsEntriesAcrossACleanStop() async throws {
        try await withTemporaryDirectory { dir in
            var collector = try await startCollector(directory: dir) { $0.durable = false }
            var a = TestAgent("relaxed")
            let entries = (0..<50).map { _ in a.next() }
            do {
                let s = try RawSocket(port: collector.localAddress!.port!)
                try s.hello()
                #expect(try s.append(entries) == (0..<50).map { .accepted(index: UInt64($0)) })
            }
            try await collector.shutdown()
            collector = try await startCollector(directory: dir)
            #expect(try verifyStoredChain(collector.store, a.key.publicKey) == 50)
            try await collector.shutdown()
        }
    }
}
