import Foundation
import Testing
import TrailCore

/// `trail bench gen` and `trail bench replay` end to end against a real `trail serve` on
/// 127.0.0.1: every ack must be what the corpus expects, entry by entry, and the counts of each
/// status must equal the corpus's.
@Suite("Benchmark corpora and replay", .serialized)
struct BenchTests {
    /// A `trail serve` process with its data in `dir`, stopped (SIGTERM, by pid) after `body`.
    func withServer<R>(_ dir: String, _ body: (_ port: Int, _ httpPort: Int, _ pid: Int32) async throws -> R) async throws -> R {
        let port = freePort()
        let httpPort = freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: trailExecutable())
        p.arguments = ["serve", "--data", dir + "/data", "--listen", "127.0.0.1:\(port)", "--http", "127.0.0.1:\(httpPort)", "--log-level", "error"]
        try p.run()
        defer {
            kill(p.processIdentifier, SIGTERM)
            p.waitUntilExit()
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? RawSocket(port: port)) == nil {
            try #require(ContinuousClock.now < deadline && p.isRunning, "trail serve did not start")
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await body(port, httpPort, p.processIdentifier)
    }

    func gen(_ args: [String], in dir: String) throws {
        let r = try trail(["bench", "gen"] + args, in: dir)
        try #require(r.status == 0, "\(r.stdout) \(r.stderr)")
    }

    func replay(_ corpus: String, port: Int, in dir: String, _ extra: [String] = []) throws -> (TrailRun, [String: Any]) {
        let r = try trail(["bench", "replay", corpus, "--server", "127.0.0.1:\(port)", "--connections", "8", "--limit-seconds", "0.2", "--json"] + extra, in: dir)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout) \(r.stderr)")
        return (r, o)
    }

    func counts(_ o: [String: Any], _ key: String) throws -> [String: Int] {
        try #require(o[key] as? [String: Int], "\(key) in \(o)")
    }

    func did(_ index: Int, seed: String, in dir: String) throws -> String {
        try trail(["bench", "agent", "--seed", seed, "--index", "\(index)"], in: dir).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The JSON fields every replay prints, checked against each other.
    func checkConsistent(_ o: [String: Any]) throws {
        let s = try counts(o, "statuses")
        #expect(Set(s.keys) == ["accepted", "noted", "duplicate", "conflict", "gap", "equivocation", "bad_signature", "malformed", "rejected", "overloaded"])
        #expect(o["accepted"] as? Int == s["accepted"])
        #expect(o["noted"] as? Int == s["noted"])
        #expect(o["stored"] as? Int == s["accepted"]! + s["noted"]!)
        #expect(o["duplicates"] as? Int == s["duplicate"])
        // `rejected` counts what was neither stored nor a duplicate: never a noted entry.
        #expect(o["rejected"] as? Int == s.values.reduce(0, +) - s["accepted"]! - s["noted"]! - s["duplicate"]!)
        let before = try #require(o["limit_before_per_sec"] as? Double)
        let after = try #require(o["limit_after_per_sec"] as? Double)
        #expect(o["limit_per_sec"] as? Double == max(before, after))
        let eps = try #require(o["entries_per_sec"] as? Double)
        let ratio = try #require(o["ratio"] as? Double)
        #expect(abs(ratio - eps / max(before, after)) < 0.002)
        #expect((o["p50_ms"] as? Double ?? -1) > 0 && (o["p999_ms"] as? Double ?? -1) >= (o["p50_ms"] as? Double ?? 0))
    }

    @Test(.timeLimit(.minutes(5)))
    func governedCorpusRunsEveryRule() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            try gen(["--agents", "20", "--entries", "40000", "--governed", "--seed", "gov", "--out", "g.bin"], in: dir)
            try await withServer(dir) { port, httpPort, pid in
                let (run, o) = try replay("g.bin", port: port, in: dir, ["--server-pid", "\(pid)", "--strict"])
                #expect(run.status == 0, "\(run.stderr)")
                try checkConsistent(o)
                #expect(o["mismatches"] as? Int == 0, "\(o["mismatch_examples"] ?? "")")
                let got = try counts(o, "statuses")
                #expect(got == (try counts(o, "expected")))
                // The setup phases (owners' registrations and policies, then the refused ones) came first.
                let setup = try #require(o["setup_entries"] as? Int)
                #expect(setup > 7 * 2)
                #expect(o["entries"] as? Int == 40_000 + 6)  // the agents' entries and six reports
                // Violations show up as noted, never as rejected; every rule and flag ran.
                #expect(got["noted"]! > 1000)
                #expect(got["rejected"] == 3 + 2)  // 70, 71, 72 from the rogue key; 73 twice (agents 0 and 12)
                #expect(got["bad_signature"] == 1)  // agent 15's registration with a wrong proof of possession
                let violations = try counts(o, "noted_violations")
                let flags = try counts(o, "noted_flags")
                #expect(violations == (try counts(o, "expected_noted_violations")))
                #expect(flags == (try counts(o, "expected_noted_flags")))
                for (name, n) in violations { #expect(n > 0, "no \(name)") }
                for (name, n) in flags { #expect(n > 0, "no \(name)") }
                #expect((o["server_peak_rss_anon_mb"] as? Int ?? 0) > 0)
                #expect((o["server_peak_rss_mb"] as? Int ?? 0) >= (o["server_peak_rss_anon_mb"] as? Int ?? 0))

                // The collector's view agrees: agent 0 is registered, under policy version 2, with
                // violations, and the unlogged_action report about it is a gap signal.
                let r = try httpGet(port: httpPort, "/v1/agents/\(try did(0, seed: "gov", in: dir))")
                #expect(r.status == 200)
                let profile = try jsonObject(r.body)
                #expect(profile["entries"] as? Int == 2000)
                #expect((profile["owner"] as? [String: Any])?["did"] != nil)
                #expect(((profile["policy"] as? [String: Any])?["active"] as? [String: Any])?["version"] as? Int == 2)
                #expect(((profile["violations"] as? [String: Int]) ?? [:]).values.reduce(0, +) > 0)
                #expect(((profile["gap_signal"] as? [String: Any])?["count"] as? Int ?? 0) >= 1)
                // An ungoverned agent: flagged, but no owner and no violations.
                let u = try jsonObject(try httpGet(port: httpPort, "/v1/agents/\(try did(1, seed: "gov", in: dir))").body)
                #expect(u["owner"] is NSNull)
                #expect(((u["violations"] as? [String: Int]) ?? [:]).values.reduce(0, +) == 0)
                #expect(((u["flags"] as? [String: Int]) ?? [:]).values.reduce(0, +) > 0)
            }
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func hostileCorpusEveryBadEntryIsCaught() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            try gen([
                "--agents", "20", "--entries", "20000", "--seed", "hostile", "--out", "h.bin", "--bad-signatures", "0.01", "--malformed", "0.002",
                "--duplicates", "0.005", "--conflicts", "0.002", "--gaps", "0.001", "--equivocations", "0.001",
            ], in: dir)
            try await withServer(dir) { port, httpPort, _ in
                let (run, o) = try replay("h.bin", port: port, in: dir, ["--batch", "64", "--window", "2"])
                #expect(run.status == 0, "\(run.stderr)")
                try checkConsistent(o)
                #expect(o["mismatches"] as? Int == 0, "\(o["mismatch_examples"] ?? "")")
                let got = try counts(o, "statuses")
                #expect(got == (try counts(o, "expected")))
                // Exactly the fractions asked for, each answered with its own status.
                #expect(got == [
                    "accepted": 20_000, "bad_signature": 200, "malformed": 40, "duplicate": 100, "conflict": 40, "gap": 20,
                    "equivocation": 20, "noted": 0, "rejected": 0, "overloaded": 0,
                ])
                #expect(o["entries"] as? Int == 20_420)
                #expect(o["stored_bytes"] as? Int ?? 0 > 20_000 * 200)
                // No bad entry took a seq: every chain is whole.
                for i in [0, 7, 19] {
                    let p = try jsonObject(try httpGet(port: httpPort, "/v1/agents/\(try did(i, seed: "hostile", in: dir))").body)
                    #expect(p["entries"] as? Int == 1000)
                }
                let v = try jsonObject(try httpGet(port: httpPort, "/v1/verify/chain/\(try did(3, seed: "hostile", in: dir))").body)
                #expect(v["valid"] as? Bool == true && v["entries_checked"] as? Int == 1000)

                // The same corpus again: everything stored is now a duplicate (and most conflicts and
                // gaps fall on taken seqs), which the replay reports as mismatches; --strict exits 1.
                let (again, a) = try replay("h.bin", port: port, in: dir, ["--strict"])
                #expect(again.status == 1)
                #expect(again.stderr.contains("entries got another status than the corpus expects"))
                let s2 = try counts(a, "statuses")
                #expect(s2["duplicate"] == 20_000 + 100 && s2["accepted"] == 0)
                #expect((a["mismatches"] as? Int ?? 0) >= 20_000)
                #expect((a["mismatch_examples"] as? [String] ?? []).contains { $0.contains("expected accepted, got duplicate") })
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func formatOneCorporaStillReplayAndUnknownFormatsAreRefused() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            // A format-1 corpus, written by hand: magic, u32 agents, u64 entries, u32-length-prefixed entries.
            var agents = [TestAgent("bench-v1-a"), TestAgent("bench-v1-b")]
            var w = ByteWriter()
            w.raw(Array("ATCORP01".utf8))
            w.u32(2)
            w.u64(100)
            for _ in 0..<50 {
                for k in agents.indices {
                    let e = agents[k].next()
                    w.u32(UInt32(e.encoded.count))
                    w.raw(e.encoded)
                }
            }
            try Data(w.bytes).write(to: URL(fileURLWithPath: dir + "/v1.bin"))
            try await withServer(dir) { port, _, _ in
                let (run, o) = try replay("v1.bin", port: port, in: dir, ["--strict"])
                #expect(run.status == 0, "\(run.stderr)")
                #expect(try counts(o, "statuses")["accepted"] == 100)
                #expect(o["mismatches"] as? Int == 0)
                #expect((o["corpus"] as? [String: Any])?["format"] as? Int == 1)
            }
            var future = Array("ATCORP03".utf8)
            future += [UInt8](repeating: 0, count: 16)
            try Data(future).write(to: URL(fileURLWithPath: dir + "/v3.bin"))
            let r = try trail(["bench", "replay", "v3.bin", "--server", "127.0.0.1:1"], in: dir)
            #expect(r.status == 1)
            #expect(r.stderr.contains("invalid_argument") && r.stderr.contains("corpus format 03"), "\(r.stderr)")
            // A truncated format-2 corpus is refused with its reason, before anything is sent.
            try gen(["--agents", "2", "--entries", "10", "--out", "t.bin"], in: dir)
            let whole = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/t.bin")))
            try Data(whole.dropLast(3)).write(to: URL(fileURLWithPath: dir + "/t.bin"))
            let t = try trail(["bench", "replay", "t.bin", "--server", "127.0.0.1:1"], in: dir)
            #expect(t.status == 1 && t.stderr.contains("error: truncated (1)"), "\(t.stderr)")
            // Fractions outside 0...1 are refused.
            let bad = try trail(["bench", "gen", "--agents", "2", "--entries", "10", "--out", "x.bin", "--bad-signatures", "1.5"], in: dir)
            #expect(bad.status == 1 && bad.stderr.contains("--bad-signatures must be a fraction"), "\(bad.stderr)")
        }
    }
}
