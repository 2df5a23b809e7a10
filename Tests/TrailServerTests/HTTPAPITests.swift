import AgentTrail
import Foundation
import Testing
import TrailServer
import TrailStore

@Suite("HTTP read API, Merkle log and checkpoints")
struct HTTPAPITests {
    func b64(_ s: Any?) throws -> Bytes32 {
        let text = try #require(s as? String)
        return try #require(Bytes32(Base64.decode(text) ?? []))
    }

    @Test func checkpointAndProofsVerifyWithTheNodeKey() async throws {
        try await withCollector { collector, port in
            let http = collector.httpAddress!.port!
            let s = try RawSocket(port: port)
            try s.hello()
            var agents = (0..<3).map { TestAgent("http-\($0)") }
            var hashes: [Bytes32] = []
            for round in 0..<15 {
                let batch = agents.indices.map { agents[$0].next() }
                _ = try s.append(batch, id: UInt64(round))
                hashes += batch.map(\.hash)
            }
            let n = UInt64(hashes.count)
            let (status, body) = try httpGet(port: http, "/v1/checkpoint")
            #expect(status == 200)
            let checkpoint = try Checkpoint.open(note: String(decoding: body, as: UTF8.self), verifierKey: collector.checkpointer.verifierKey)
            #expect(checkpoint.size == n)
            #expect(checkpoint.root == Merkle.root(leaves: hashes))
            for i in [0, 1, 17, 31, Int(n) - 1] {
                let (st, pb) = try httpGet(port: http, "/v1/proof/inclusion?index=\(i)&size=\(n)")
                #expect(st == 200)
                let o = try jsonObject(pb)
                let proof = try (o["proof"] as? [String] ?? []).map { try b64($0) }
                try Merkle.verifyInclusion(index: UInt64(i), size: n, leafHash: hashes[i], proof: proof, root: checkpoint.root)
            }
            let (cs, cb) = try httpGet(port: http, "/v1/proof/consistency?from=7&to=\(n)")
            #expect(cs == 200)
            let c = try jsonObject(cb)
            try Merkle.verifyConsistency(
                from: 7, to: n, proof: try (c["proof"] as? [String] ?? []).map { try b64($0) },
                oldRoot: Merkle.root(leaves: Array(hashes[0..<7])), newRoot: checkpoint.root)
        }
    }

    /// The hash index lives partly in memory (the tail) and partly in sealed runs: an entry is
    /// found by hash, over HTTP, as soon as its ack has arrived, also while runs and chain
    /// blocks are being written behind it, and after a restart.
    @Test func aLookupRightAfterTheAckFindsTheEntry() async throws {
        try await withTemporaryDirectory { dir in
            let small: (inout Collector.Configuration) -> Void = {
                $0.layout.hashRun = 8
                $0.layout.chainBlock = 3
                $0.layout.chainHorizon = 20
            }
            var collector = try await startCollector(directory: dir, small)
            var agents = (0..<4).map { TestAgent("lookup-\($0)") }
            var all: [Entry] = []
            var s: RawSocket? = try RawSocket(port: collector.localAddress!.port!)
            try s!.hello()
            for round in 0..<30 {
                let batch = (0..<(1 + round % 3)).map { i in agents[(round + i) % 4].next() }
                let statuses = try s!.append(batch, id: UInt64(round))
                #expect(statuses.allSatisfy { $0.isAccepted })
                for e in batch {
                    let (st, body) = try httpGet(port: collector.httpAddress!.port!, "/v1/entries/\(e.hash.hex)")
                    #expect(st == 200, "entry \(all.count) not found right after its ack")
                    #expect(try jsonObject(body)["index"] as? Int == all.count)
                    all.append(e)
                }
            }
            s = nil
            try await collector.shutdown()
            collector = try await startCollector(directory: dir, small)
            for (i, e) in all.enumerated() {
                let (st, body) = try httpGet(port: collector.httpAddress!.port!, "/v1/entries/\(e.hash.hex)")
                #expect(st == 200)
                #expect(try jsonObject(body)["index"] as? Int == i)
            }
            try await collector.shutdown()
        }
    }

    @Test func entriesAgentsAndChainVerification() async throws {
        try await withCollector { collector, port in
            let http = collector.httpAddress!.port!
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("http-agent")
            let entries = (0..<6).map { _ in a.next() }
            _ = try s.append(entries)
            let did = DIDKey.encode(a.key.publicKey)

            let (st, body) = try httpGet(port: http, "/v1/entries/\(entries[2].hash.hex)")
            #expect(st == 200)
            let e = try jsonObject(body)
            #expect(e["index"] as? Int == 2)
            #expect(e["seq"] as? Int == 2)
            #expect(e["entry_hash"] as? String == entries[2].hash.hex)

            let agent = try jsonObject(try httpGet(port: http, "/v1/agents/\(did)").body)
            #expect(agent["entries"] as? Int == 6)
            #expect(agent["head_hash"] as? String == entries[5].hash.hex)

            let page = try jsonObject(try httpGet(port: http, "/v1/agents/\(did)/entries?from=2&limit=3").body)
            #expect((page["entries"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [2, 3, 4])

            let verified = try jsonObject(try httpGet(port: http, "/v1/verify/chain/\(did)").body)
            #expect(verified["valid"] as? Bool == true)
            #expect(verified["entries_checked"] as? Int == 6)
        }
    }

    @Test func badParametersAre400AndUnknownThings404() async throws {
        try await withCollector { collector, port in
            let http = collector.httpAddress!.port!
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("http-errors")
            _ = try s.append([a.next(), a.next()])
            for path in [
                "/v1/proof/inclusion?index=2&size=2", "/v1/proof/inclusion?index=0&size=3", "/v1/proof/inclusion?size=2",
                "/v1/proof/inclusion?index=x&size=2", "/v1/proof/consistency?from=0&to=2", "/v1/proof/consistency?from=2&to=1",
                "/v1/entries/nothex", "/v1/agents/did:key:zNOPE", "/v1/agents/\(DIDKey.encode(a.key.publicKey))/entries?limit=0",
            ] {
                let (st, body) = try httpGet(port: http, path)
                #expect(st == 400, "\(path)")
                #expect(try jsonObject(body)["error"] != nil)
            }
            for path in ["/v1/entries/\(SHA256.hash([1]).hex)", "/v1/agents/\(DIDKey.encode(SHA256.hash([2])))", "/v1/nothing", "/"] {
                #expect(try httpGet(port: http, path).status == 404, "\(path)")
            }
        }
    }

    @Test func treeResumesAfterRestartAndStaysConsistent() async throws {
        try await withTemporaryDirectory { dir in
            var collector = try await startCollector(directory: dir)
            var a = TestAgent("resume")
            var hashes: [Bytes32] = []
            do {
                let s = try RawSocket(port: collector.localAddress!.port!)
                try s.hello()
                let batch = (0..<100).map { _ in a.next() }
                _ = try s.append(batch)
                hashes += batch.map(\.hash)
            }
            let oldRoot = collector.pipeline.tree.root
            #expect(oldRoot == Merkle.root(leaves: hashes))
            try await collector.shutdown()
            collector = try await startCollector(directory: dir)
            #expect(collector.pipeline.tree == TreeHead(size: 100, root: oldRoot))
            let s = try RawSocket(port: collector.localAddress!.port!)
            try s.hello()
            let more = (0..<37).map { _ in a.next() }
            _ = try s.append(more)
            hashes += more.map(\.hash)
            #expect(collector.pipeline.tree.root == Merkle.root(leaves: hashes))
            let proof = try collector.store.consistencyProof(from: 100, to: 137)
            try Merkle.verifyConsistency(from: 100, to: 137, proof: proof, oldRoot: oldRoot, newRoot: collector.pipeline.tree.root)
            try await collector.shutdown()
        }
    }
}
