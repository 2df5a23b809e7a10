import Foundation
import Testing
import TrailCore
import TrailServer

/// Proof bundles and tlog-proofs end to end: a real collector, its HTTP API, and the `trail`
/// commands `export`, `verify bundle`, `proof` and `verify proof`.
@Suite("Bundles and proofs over HTTP")
struct BundleExportTests {
    static let counts = [40, 25, 10]

    /// Three agents appending interleaved batches: 40, 25 and 10 entries, 75 in the log.
    func fill(_ port: Int) throws -> [TestAgent] {
        var agents = [TestAgent("bx-a"), TestAgent("bx-b"), TestAgent("bx-c")]
        let s = try RawSocket(port: port)
        try s.hello()
        for round in 0..<Self.counts[0] {
            var batch: [Entry] = []
            for k in agents.indices where round < Self.counts[k] { batch.append(agents[k].next()) }
            #expect(try s.append(batch, id: UInt64(round)).allSatisfy {
                if case .accepted = $0 { return true }
                return false
            })
        }
        return agents
    }

    func json(_ run: TrailRun) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout) \(run.stderr)")
    }

    @Test func exportThenVerifyOffline() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            let agents = try fill(port)
            let http = "http://127.0.0.1:\(collector.httpAddress!.port!)"
            let key = collector.checkpointer.verifierKey
            try await withTemporaryDirectory { dir in
                let did = DIDKey.encode(agents[0].key.publicKey)
                let ex = try trail(["export", did, "--http", http, "--out", "a.bundle"], in: dir)
                #expect(ex.status == 0, "\(ex.stderr)")
                #expect(ex.stdout.contains("40 entries"))

                let v = try json(try trail(["verify", "bundle", "a.bundle", "--log-key", key, "--json"], in: dir))
                #expect(v["valid"] as? Bool == true)
                #expect(v["entries"] as? Int == 40)
                #expect(v["through"] as? Int == 39 && v["head_seq"] as? Int == 39)
                #expect(v["tree_size"] as? Int == 75)

                // The key may also come from a file, as `trail node key` prints it.
                try Data((key + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/log.pub"))
                let human = try trail(["verify", "bundle", "a.bundle", "--log-key", "log.pub"], in: dir)
                #expect(human.status == 0, "\(human.stdout) \(human.stderr)")
                #expect(human.stdout.hasPrefix("valid: 40 entries of \(did)"))

                // A range of another chain.
                let didB = DIDKey.encode(agents[1].key.publicKey)
                #expect(try trail(["export", didB, "--http", http, "--from", "5", "--through", "9", "--out", "b.bundle"], in: dir).status == 0)
                let vb = try json(try trail(["verify", "bundle", "b.bundle", "--log-key", key, "--json"], in: dir))
                #expect(vb["entries"] as? Int == 5 && vb["from"] as? Int == 5 && vb["head_seq"] as? Int == 24)

                // Tampered: one byte of seq 10's body. Exit 1, naming the entry and the reason.
                var bundle = try ProofBundle.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/a.bundle"))))
                bundle.records[10].entry[EntryLimits.headerSize + 5] ^= 0x01
                try Data(bundle.encode()).write(to: URL(fileURLWithPath: dir + "/bad.bundle"))
                let bad = try trail(["verify", "bundle", "bad.bundle", "--log-key", key], in: dir)
                #expect(bad.status == 1)
                #expect(bad.stdout.hasPrefix("invalid: bad_signature (20): seq 10 (record 10)"), "\(bad.stdout)")
                let badJSON = try json(try trail(["verify", "bundle", "bad.bundle", "--log-key", key, "--json"], in: dir))
                #expect(badJSON["valid"] as? Bool == false && badJSON["seq"] as? Int == 10 && badJSON["code"] as? Int == 20)

                // The independent Python reference agrees on both.
                if let py = pythonBundleVerifier() {
                    let ok = try run(py.python, [py.script, "verify", "a.bundle", "--log-key", key], in: dir)
                    #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
                    let no = try run(py.python, [py.script, "verify", "bad.bundle", "--log-key", key], in: dir)
                    #expect(no.status == 1 && no.stdout.contains("bad_signature (20)"), "\(no.stdout) \(no.stderr)")
                }

                // Cut short: the layout no longer holds.
                let whole = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.bundle"))
                try whole.prefix(whole.count - 100).write(to: URL(fileURLWithPath: dir + "/short.bundle"))
                let short = try trail(["verify", "bundle", "short.bundle", "--log-key", key], in: dir)
                #expect(short.status == 1 && short.stdout.contains("malformed_bundle"))

                // Another log's key: rejected before any entry is looked at.
                let other = try NoteVerifierKey(name: collector.checkpointer.origin, publicKey: SigningKey.generate().publicKey)
                let wrong = try trail(["verify", "bundle", "a.bundle", "--log-key", other.description], in: dir)
                #expect(wrong.status == 1 && wrong.stdout.contains("log_key_mismatch"))

                // Unusable input: exit 2.
                #expect(try trail(["verify", "bundle", "missing.bundle", "--log-key", key], in: dir).status == 2)
                #expect(try trail(["verify", "bundle", "a.bundle", "--log-key", "not a key"], in: dir).status == 2)
            }
        }
    }

    @Test func exportErrors() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            let agents = try fill(port)
            let httpPort = collector.httpAddress!.port!
            let http = "http://127.0.0.1:\(httpPort)"
            let did = DIDKey.encode(agents[2].key.publicKey)
            try await withTemporaryDirectory { dir in
                let unknown = try trail(["export", DIDKey.encode(TestAgent("nobody").key.publicKey), "--http", http, "--out", "x.bundle"], in: dir)
                #expect(unknown.status == 2 && unknown.stderr.contains("not_found"), "\(unknown.stderr)")
                let range = try trail(["export", did, "--http", http, "--from", "3", "--through", "10", "--out", "x.bundle"], in: dir)
                #expect(range.status == 2 && range.stderr.contains("bad_request"), "\(range.stderr)")
                #expect(try trail(["export", "did:key:nope", "--http", http, "--out", "x.bundle"], in: dir).status == 2)
                #expect(!FileManager.default.fileExists(atPath: dir + "/x.bundle"))
                // Nothing listening: a connection error, no file.
                let closed = try trail(["export", did, "--http", "http://127.0.0.1:1", "--out", "x.bundle"], in: dir)
                #expect(closed.status == 2 && closed.stderr.contains("cannot connect"))
                #expect(!FileManager.default.fileExists(atPath: dir + "/x.bundle"))
            }
            // The API's own answers.
            #expect(try httpGet(port: httpPort, "/v1/agents/\(did)/bundle?from=x").status == 400)
            #expect(try httpGet(port: httpPort, "/v1/agents/\(did)/bundle?from=5&through=4").status == 400)
            #expect(try httpGet(port: httpPort, "/v1/agents/did:key:zzz/bundle").status == 400)
            #expect(try httpGet(port: httpPort, "/v1/agents/\(DIDKey.encode(TestAgent("nobody").key.publicKey))/bundle").status == 404)
        }
    }

    /// Bundles exported while entries keep arriving still verify: the statement and checkpoint are
    /// taken at one tree size.
    @Test func exportDuringIngest() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            let agents = try fill(port)
            let http = "http://127.0.0.1:\(collector.httpAddress!.port!)"
            let key = collector.checkpointer.verifierKey
            let writer = Thread {
                var a = agents[0]
                guard let s = try? RawSocket(port: port), (try? s.hello()) != nil else { return }
                for round in 0..<150 { _ = try? s.append((0..<8).map { _ in a.next() }, id: UInt64(round)) }
            }
            writer.start()
            try await withTemporaryDirectory { dir in
                let did = DIDKey.encode(agents[0].key.publicKey)
                for i in 0..<3 {
                    #expect(try trail(["export", did, "--http", http, "--out", "\(i).bundle"], in: dir).status == 0)
                    let v = try json(try trail(["verify", "bundle", "\(i).bundle", "--log-key", key, "--json"], in: dir))
                    #expect(v["valid"] as? Bool == true, "\(v)")
                }
            }
            while !writer.isFinished { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    @Test func tlogProofs() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            var agents = try fill(port)
            let httpPort = collector.httpAddress!.port!
            let http = "http://127.0.0.1:\(httpPort)"
            let key = collector.checkpointer.verifierKey
            let entry = agents[1].next()
            let s = try RawSocket(port: port)
            try s.hello()
            #expect(try s.append([entry]) == [.accepted(index: 75)])
            let hash = entry.hash.hex
            try await withTemporaryDirectory { dir in
                let p = try trail(["proof", hash, "--http", http], in: dir)
                #expect(p.status == 0, "\(p.stderr)")
                let opened = try TlogProof.open(p.stdout, leafHash: entry.hash, verifierKey: key)
                #expect(opened.proof.index == 75 && opened.checkpoint.size == 76)

                try Data(p.stdout.utf8).write(to: URL(fileURLWithPath: dir + "/p.txt"))
                try Data(entry.encoded).write(to: URL(fileURLWithPath: dir + "/e.bin"))
                #expect(try trail(["verify", "proof", "p.txt", "--log-key", key, "--hash", hash], in: dir).status == 0)
                #expect(try trail(["verify", "proof", "p.txt", "--log-key", key, "--entry", "e.bin"], in: dir).status == 0)
                let wrongLeaf = try trail(["verify", "proof", "p.txt", "--log-key", key, "--hash", agents[0].head.hash.hex], in: dir)
                #expect(wrongLeaf.status == 1 && wrongLeaf.stdout.contains("root_mismatch"))
                #expect(try trail(["verify", "proof", "p.txt", "--log-key", key], in: dir).status == 2)

                // The same proof, offline, from a bundle.
                #expect(try trail(["export", DIDKey.encode(agents[1].key.publicKey), "--http", http, "--out", "b.bundle"], in: dir).status == 0)
                let fromBundle = try trail(["proof", hash, "--bundle", "b.bundle"], in: dir)
                #expect(fromBundle.status == 0)
                #expect(try TlogProof.open(fromBundle.stdout, leafHash: entry.hash, verifierKey: key).proof.index == 75)
                #expect(try trail(["proof", String(repeating: "0", count: 64), "--http", http], in: dir).status != 0)
            }
            #expect(try httpGet(port: httpPort, "/v1/entries/\(String(repeating: "ab", count: 32))/proof").status == 404)
            #expect(try httpGet(port: httpPort, "/v1/entries/xyz/proof").status == 400)
        }
    }
}
