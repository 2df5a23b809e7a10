import AgentTrail
import Foundation
import Testing
import TrailServer
import TrailStore

/// kill -9 in the middle of a load, three times: every acknowledged entry must be there, at its
/// acknowledged index, and the clients' resends must not have created anything twice.
@Suite("Durability under SIGKILL")
struct DurabilityTests {
    final class Acked: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [(hash: Bytes32, index: UInt64)] = []
        func add(_ r: AppendResult) { lock.withLock { entries.append((r.hash, r.index!)) } }
        var snapshot: [(hash: Bytes32, index: UInt64)] { lock.withLock { entries } }
        var count: Int { lock.withLock { entries.count } }
    }

    @Test(.timeLimit(.minutes(3)))
    func acknowledgedEntriesSurviveKill9() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            let port = freePort()
            let acked = Acked()
            let keys = (0..<4).map { SigningKey(seed: SHA256.hash(Array("durable-\($0)".utf8))) }
            let perAgent = 2_000
            // Started and listening before the load begins (so the clients' first connect does not
            // back off while the process starts).
            var server = try ServeProcess(data: dir, port: port)
            let client = TrailClient(host: "127.0.0.1", port: port, reconnectTimeout: .seconds(20))
            // Bounded load: 4 agents x 100 batches of 20, riding over the restarts.
            let load = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for key in keys {
                        group.addTask {
                            let log = AgentLog(key: key, client: client, maxBatch: 16, window: 4, maxAttempts: 50)
                            for b in 0..<(perAgent / 20) {
                                let results = try await log.append(contentsOf: (0..<20).map { TestAgent.body(b * 20 + $0) })
                                for r in results {
                                    #expect(r.succeeded, "\(r.status)")
                                    if r.succeeded { acked.add(r) }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            for round in 0..<3 {
                let before = acked.count
                let deadline = ContinuousClock.now + .seconds(60)
                while acked.count < before + 300 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(acked.count > before, "round \(round) acknowledged nothing")
                server.kill9()
                #expect(server.process.terminationReason == .uncaughtSignal)
                // Every entry acknowledged so far is in the store at its acknowledged index.
                let store = try ChainStore(directory: dir)
                for a in acked.snapshot {
                    #expect(try store.index(ofHash: a.hash) == a.index)
                    let bytes = try #require(try store.entry(at: a.index))
                    #expect(SHA256.leafHash(bytes) == a.hash)
                }
                for key in keys { _ = try verifyStoredChain(store, key.publicKey) }
                server = try ServeProcess(data: dir, port: port)
            }
            try await load.value
            server.kill9()
            await client.close()
            // All of it arrived exactly once: each chain holds exactly its agent's entries.
            let store = try ChainStore(directory: dir)
            #expect(acked.count == keys.count * perAgent)
            for key in keys {
                #expect(try verifyStoredChain(store, key.publicKey) == perAgent)
                #expect(try store.equivocations(of: key.publicKey).isEmpty)
            }
            #expect(try store.logSize() == UInt64(keys.count * perAgent))
        }
    }

    /// A flag the load tasks poll.
    final class Stop: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.withLock { value } }
        func set() { lock.withLock { value = true } }
    }

    /// 50 kill -9 / restart cycles of a real `trail serve` under pipelined load from 4 agents
    /// (bounded: 4 min). Afterwards every acknowledged entry is at its acknowledged index, no
    /// seq is stored twice, every chain verifies, and every checkpoint fetched before a kill is
    /// consistent with the final one (RFC 9162 consistency proof from the API).
    @Test(.timeLimit(.minutes(4)))
    func fiftyKillRestartCycles() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            let port = freePort()
            let acked = Acked()
            let stop = Stop()
            let keys = (0..<4).map { SigningKey(seed: SHA256.hash(Array("kill-loop-\($0)".utf8))) }
            // A small storage layout, so that chain blocks, hash runs and the horizon are written
            // all the time and every restart rebuilds the tail from the log.
            let layout = ["--hash-run", "64", "--chain-block", "8", "--chain-horizon", "200"]
            var server = try ServeProcess(data: dir, port: port, http: true, layout)
            let verifierKey = Checkpointer(key: try NodeKey.loadOrCreate(directory: dir)).verifierKey
            let client = TrailClient(host: "127.0.0.1", port: port, reconnectTimeout: .seconds(30))
            // Each agent appends batches of 20 until told to stop (at most 2000 batches).
            let load = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for key in keys {
                        group.addTask {
                            let log = AgentLog(key: key, client: client, maxBatch: 8, window: 4, maxAttempts: 10_000)
                            for b in 0..<2000 where !stop.isSet {
                                let results = try await log.append(contentsOf: (0..<20).map { TestAgent.body(b * 20 + $0) })
                                for r in results {
                                    #expect(r.succeeded, "\(r.status)")
                                    if r.succeeded { acked.add(r) }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var checkpoints: [Checkpoint] = []
            var stalled = 0
            for _ in 0..<50 {
                let before = acked.count
                let deadline = ContinuousClock.now + .seconds(3)
                while acked.count < before + 40 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(5))
                }
                if acked.count == before { stalled += 1 }
                // Then a random moment of full pipelined load.
                try await Task.sleep(for: .milliseconds(Int.random(in: 0..<200)))
                let (status, body) = try httpGet(port: server.httpPort!, "/v1/checkpoint")
                #expect(status == 200)
                checkpoints.append(try Checkpoint.open(note: String(decoding: body, as: UTF8.self), verifierKey: verifierKey))
                server.kill9()
                #expect(server.process.terminationReason == .uncaughtSignal)
                server = try ServeProcess(data: dir, port: port, http: true, layout)
            }
            stop.set()
            try await load.value
            await client.close()
            #expect(stalled <= 5, "\(stalled) of 50 cycles acknowledged nothing")

            // Every checkpoint seen before a kill is a prefix of the final log.
            let (fs, fb) = try httpGet(port: server.httpPort!, "/v1/checkpoint")
            #expect(fs == 200)
            let final = try Checkpoint.open(note: String(decoding: fb, as: UTF8.self), verifierKey: verifierKey)
            for cp in checkpoints where cp.size > 0 {
                #expect(cp.size <= final.size)
                let (cs, cb) = try httpGet(port: server.httpPort!, "/v1/proof/consistency?from=\(cp.size)&to=\(final.size)")
                #expect(cs == 200)
                let proof = try (try jsonObject(cb)["proof"] as? [String] ?? []).map { try #require(Bytes32(Base64.decode($0) ?? [])) }
                try Merkle.verifyConsistency(from: cp.size, to: final.size, proof: proof, oldRoot: cp.root, newRoot: final.root)
            }
            server.stop()

            let store = try ChainStore(directory: dir)
            for a in acked.snapshot {
                #expect(try store.index(ofHash: a.hash) == a.index)
                let bytes = try #require(try store.entry(at: a.index))
                #expect(SHA256.leafHash(bytes) == a.hash)
            }
            // Each chain is contiguous from seq 0 and verifies, and the chains make up the whole
            // log: no seq is stored twice and nothing is stored outside a chain.
            var total = 0
            for key in keys {
                total += try verifyStoredChain(store, key.publicKey)
                #expect(try store.equivocations(of: key.publicKey).isEmpty)
            }
            #expect(try store.logSize() == UInt64(total))
            #expect(acked.count == total)
            #expect(try store.merkleRoot(size: final.size) == final.root)
        }
    }
}
