import AgentTrail
import Foundation
import Testing
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

    func startServer(data: String, port: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: trailExecutable())
        p.arguments = ["serve", "--data", data, "--listen", "127.0.0.1:\(port)", "--http", "off", "--log-level", "error"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return p
    }

    func kill9(_ p: Process) {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    @Test(.timeLimit(.minutes(3)))
    func acknowledgedEntriesSurviveKill9() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            let port = 20_000 + Int.random(in: 0..<20_000)
            let acked = Acked()
            let keys = (0..<4).map { SigningKey(seed: SHA256.hash(Array("durable-\($0)".utf8))) }
            let perAgent = 2_000
            var server = try startServer(data: dir, port: port)
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
                let deadline = ContinuousClock.now + .seconds(30)
                while acked.count < before + 300 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(acked.count > before, "round \(round) acknowledged nothing")
                kill9(server)
                #expect(server.terminationReason == .uncaughtSignal)
                // Every entry acknowledged so far is in the store at its acknowledged index.
                let store = try ChainStore(directory: dir)
                for a in acked.snapshot {
                    #expect(try store.index(ofHash: a.hash) == a.index)
                    let bytes = try #require(try store.entry(at: a.index))
                    #expect(SHA256.leafHash(bytes) == a.hash)
                }
                for key in keys { _ = try verifyStoredChain(store, key.publicKey) }
                server = try startServer(data: dir, port: port)
            }
            try await load.value
            kill9(server)
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
}
