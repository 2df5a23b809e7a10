import AgentTrail
import Testing
import TrailServer
import TrailStore

@Suite("Client library against a real collector")
struct ClientLibraryTests {
    @Test func pipelinedAppendsFromOneAgent() async throws {
        try await withCollector { collector, port in
            let client = TrailClient(host: "127.0.0.1", port: port)
            let key = SigningKey(seed: SHA256.hash(Array("pipelined".utf8)))
            let log = AgentLog(key: key, client: client, maxBatch: 64, window: 4)
            let results = try await log.append(contentsOf: (0..<3000).map { TestAgent.body($0) })
            #expect(results.count == 3000)
            #expect(results.allSatisfy { if case .accepted = $0.status { true } else { false } })
            #expect(results.map(\.seq) == (0..<3000).map { UInt64($0) })
            #expect(try verifyStoredChain(collector.store, key.publicKey) == 3000)
            await client.close()
        }
    }

    @Test func concurrentCallersKeepOneChain() async throws {
        try await withCollector { collector, port in
            let client = TrailClient(host: "127.0.0.1", port: port)
            let key = SigningKey(seed: SHA256.hash(Array("concurrent".utf8)))
            let log = AgentLog(key: key, client: client, maxBatch: 16, window: 8)
            try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for i in 0..<500 { group.addTask { try await log.append(TestAgent.body(i)) } }
                var seqs = Set<UInt64>()
                for try await r in group {
                    #expect(r.succeeded)
                    seqs.insert(r.seq)
                }
                #expect(seqs.count == 500)
            }
            #expect(try verifyStoredChain(collector.store, key.publicKey) == 500)
            await client.close()
        }
    }

    /// Two writers on one key: each stale write is kept as equivocation evidence, and the stale
    /// log resyncs and re-signs its content at the server's head.
    @Test func resyncsAfterAnotherWriterMovedTheHead() async throws {
        try await withCollector { collector, port in
            let client = TrailClient(host: "127.0.0.1", port: port)
            let key = SigningKey(seed: SHA256.hash(Array("two-writers".utf8)))
            let first = AgentLog(key: key, client: client)
            let second = AgentLog(key: key, client: client)
            _ = try await first.append(TestAgent.body(0))
            _ = try await second.append(TestAgent.body(1))  // learns head 1, appends seq 1
            // Stale at seq 1: equivocation, then conflict and gaps for 2...4; resync to seq 2.
            let moved = try await first.append(contentsOf: (2..<6).map { TestAgent.body($0) })
            #expect(moved.map(\.seq) == [2, 3, 4, 5])
            #expect(moved.allSatisfy { $0.succeeded })
            let r = try await second.append(TestAgent.body(6))  // stale at seq 2: resync, accepted at seq 6
            #expect(r.succeeded)
            #expect(r.seq == 6)
            #expect(try verifyStoredChain(collector.store, key.publicKey) == 7)
            #expect(try collector.store.equivocations(of: key.publicKey).count == 2)
            #expect(await first.equivocations == 1)
            #expect(await second.equivocations == 1)
            await client.close()
        }
    }

    @Test func waitsOutOverloadAndDeliversEverything() async throws {
        try await withCollector({ $0.pipeline.maxPendingEntries = 40 }) { collector, port in
            let client = TrailClient(host: "127.0.0.1", port: port)
            var logs: [AgentLog] = []
            for i in 0..<4 {
                logs.append(AgentLog(key: SigningKey(seed: SHA256.hash(Array("overload-\(i)".utf8))), client: client, maxBatch: 32, window: 4))
            }
            try await withThrowingTaskGroup(of: [AppendResult].self) { group in
                for log in logs {
                    group.addTask { try await log.append(contentsOf: (0..<300).map { TestAgent.body($0) }) }
                }
                for try await results in group {
                    #expect(results.count == 300)
                    #expect(results.allSatisfy { $0.succeeded })
                }
            }
            #expect(try collector.store.logSize() == 1200)
            #expect(collector.pipeline.stats.overloaded > 0)
            for log in logs { #expect(try verifyStoredChain(collector.store, log.key.publicKey) == 300) }
            await client.close()
        }
    }

    @Test func reconnectsAfterServerRestartWithoutCreatingAnythingTwice() async throws {
        try await withTemporaryDirectory { dir in
            var collector = try await startCollector(directory: dir)
            let port = collector.localAddress!.port!
            let client = TrailClient(host: "127.0.0.1", port: port, reconnectTimeout: .seconds(20))
            let key = SigningKey(seed: SHA256.hash(Array("reconnect".utf8)))
            let log = AgentLog(key: key, client: client, maxBatch: 8, window: 4)
            let appending = Task { try await log.append(contentsOf: (0..<2000).map { TestAgent.body($0) }) }
            try await Task.sleep(for: .milliseconds(150))
            try await collector.shutdown()
            collector = try await startCollector(directory: dir, port: port)
            let results = try await appending.value
            #expect(results.count == 2000)
            #expect(results.allSatisfy { $0.succeeded })
            #expect(Set(results.compactMap(\.index)).count == 2000)
            #expect(try verifyStoredChain(collector.store, key.publicKey) == 2000)
            #expect(try collector.store.logSize() == 2000)
            #expect(try collector.store.equivocations(of: key.publicKey).isEmpty)
            await client.close()
            try await collector.shutdown()
        }
    }
}
