import Foundation
import Testing
import TrailCore
import TrailServer

/// The accountability layer over TCP and HTTP: registrations, policies, violations, trust
/// flags, reports and the gap signal, runs, and all of it across a restart.
@Suite("Accountability")
struct AccountabilityTests {
    static let t0: UInt64 = 1_763_900_000_000
    /// The collector's clock in these tests: each append sets it to the entry's timestamp, so the
    /// agents here keep honest time (the rate and retry windows run on the collector's clock).
    let clock = TestClock(Self.t0)

    static func registration(owner: TestAgent, agent: TestAgent, label: String = "bot") -> EntryBody {
        let proof = agent.key.sign(RegistrationBody.possessionMessage(owner: owner.key.publicKey, agent: agent.key.publicKey))
        return .registration(RegistrationBody(agent: agent.key.publicKey, label: label, evidenceHash: nil, agentSignature: proof))
    }

    static func policy(_ agent: TestAgent, version: UInt32, allow: [String] = [], deny: [String] = [], targets: [String] = [], max: UInt32 = 0) -> EntryBody {
        .policy(PolicyBody(
            agent: agent.key.publicKey, version: version, documentHash: SHA256.hash(Array("policy v\(version)".utf8)), allowActions: allow,
            denyActions: deny, allowTargets: targets, maxPerMinute: max))
    }

    static func action(
        _ type: String = "search", target: String = "www.example.com", input: String? = nil, model: String? = nil, latency: UInt32? = nil,
        flags: ActionFlags = [], commitment: Bytes32? = nil
    ) -> EntryBody {
        .action(ActionBody(
            actionType: type, target: target, contentHash: SHA256.hash(Array("c".utf8)), inputHash: input.map { SHA256.hash(Array($0.utf8)) },
            modelID: model, latencyMs: latency, requestCommitment: commitment, flags: flags))
    }

    /// Appends one entry at collector time `ts` (its own timestamp too) and returns its status.
    func send(_ s: RawSocket, _ a: inout TestAgent, _ body: EntryBody, at ts: UInt64? = nil) throws -> AppendStatus {
        let before = a.head
        let time = (ts ?? Self.t0 + 1000 * before.nextSeq) - before.nextSeq
        clock.set(time)
        let e = a.next(body, timestamp: time)
        let status = try s.append([e])[0]
        if !status.isAccepted { a.head = before }  // not stored: the chain's head did not move
        return status
    }

    static func profile(_ collector: Collector, _ a: TestAgent) throws -> [String: Any] {
        let r = try httpGet(port: collector.httpAddress!.port!, "/v1/agents/\(DIDKey.encode(a.key.publicKey))")
        #expect(r.status == 200)
        return try jsonObject(r.body)
    }

    /// Stored with nothing to note: `accepted`, not `noted`.
    static func accepted(_ s: AppendStatus) -> Bool {
        if case .accepted = s { return true }
        return false
    }

    static func noted(_ v: PolicyViolations, _ f: TrustFlags = []) -> (AppendStatus) -> Bool {
        { s in
            if case .noted(_, let sv, let sf) = s { return sv == v && sf == f }
            return false
        }
    }

    @Test func registrations() async throws {
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var owner = TestAgent("acc-owner")
            var other = TestAgent("acc-other-owner")
            let agent = TestAgent("acc-agent")
            #expect(Self.accepted(try send(s, &owner, Self.registration(owner: owner, agent: agent))))
            let size = collector.pipeline.stats.logSize
            // Another owner cannot take the agent: rejected, not stored, its chain does not move.
            #expect(try send(s, &other, Self.registration(owner: other, agent: agent)) == .rejected(.alreadyRegistered))
            #expect(collector.pipeline.stats.logSize == size)
            #expect(try collector.store.head(of: other.key.publicKey).nextSeq == 0)
            // The same owner may register again (a new label).
            #expect(Self.accepted(try send(s, &owner, Self.registration(owner: owner, agent: agent, label: "renamed"))))
            // Without a valid proof of possession: rejected by signature checking (21).
            let forged = RegistrationBody(
                agent: TestAgent("acc-agent-2").key.publicKey, label: "x", evidenceHash: nil, agentSignature: Signature64.zero)
            #expect(try send(s, &other, .registration(forged)) == .badSignature(.badProofOfPossession))
            let p = try Self.profile(collector, agent)
            let o = try #require(p["owner"] as? [String: Any])
            #expect(o["did"] as? String == DIDKey.encode(owner.key.publicKey))
            #expect((o["registration"] as? [String: Any])?["label"] as? String == "renamed")
        }
    }

    @Test func policies() async throws {
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var owner = TestAgent("pol-owner")
            var stranger = TestAgent("pol-stranger")
            let agent = TestAgent("pol-agent")
            #expect(try send(s, &owner, Self.policy(agent, version: 1)) == .rejected(.agentNotRegistered))
            #expect(Self.accepted(try send(s, &owner, Self.registration(owner: owner, agent: agent))))
            #expect(try send(s, &stranger, Self.policy(agent, version: 1)) == .rejected(.notOwner))
            #expect(Self.accepted(try send(s, &owner, Self.policy(agent, version: 1, deny: ["delete"]))))
            #expect(try send(s, &owner, Self.policy(agent, version: 1, deny: ["post"])) == .rejected(.stalePolicyVersion))
            #expect(Self.accepted(try send(s, &owner, Self.policy(agent, version: 2, deny: ["post"]))))
            let p = try #require(try Self.profile(collector, agent)["policy"] as? [String: Any])
            #expect((p["active"] as? [String: Any])?["version"] as? Int == 2)
            #expect((p["active"] as? [String: Any])?["deny_actions"] as? [String] == ["post"])
            #expect((p["history"] as? [[String: Any]])?.map { $0["version"] as? Int } == [1, 2])
        }
    }

    @Test func violationsByRule() async throws {
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var owner = TestAgent("vio-owner")
            var agent = TestAgent("vio-agent")
            // No policy yet: nothing to violate.
            #expect(try send(s, &agent, Self.action("delete", target: "evil.org")) == .accepted(index: 0))
            #expect(Self.accepted(try send(s, &owner, Self.registration(owner: owner, agent: agent))))
            #expect(Self.accepted(try send(s, &owner, Self.policy(agent, version: 1, allow: ["search", "delete"], deny: ["delete"], targets: ["*.example.com"], max: 3))))
            let t = Self.t0 + 10_000_000
            #expect(Self.noted([.actionNotAllowed])(try send(s, &agent, Self.action("post"), at: t)))
            #expect(Self.noted([.actionDenied])(try send(s, &agent, Self.action("delete"), at: t + 100)))
            #expect(Self.noted([.targetNotAllowed])(try send(s, &agent, Self.action(target: "example.org"), at: t + 200)))
            // The fourth action within a minute breaks max_per_minute 3; a minute later it is fine.
            #expect(Self.noted([.rateExceeded])(try send(s, &agent, Self.action(), at: t + 300)))
            #expect(Self.accepted(try send(s, &agent, Self.action(), at: t + 60_400)))
            if case .noted = try send(s, &agent, Self.action(), at: t + 120_000) { Issue.record("no rule broken") }
            let p = try Self.profile(collector, agent)
            #expect(p["violations"] as? [String: Int] == ["action_not_allowed": 1, "action_denied": 1, "target_not_allowed": 1, "rate_exceeded": 1])
            let notes = try jsonObject(try httpGet(port: collector.httpAddress!.port!, "/v1/agents/\(DIDKey.encode(agent.key.publicKey))/notes").body)
            #expect((notes["notes"] as? [[String: Any]])?.count == 4)
        }
    }

    @Test func trustFlags() async throws {
        try await withCollector({
            $0.pipeline.trust.highLatencyMs = 5000
            $0.pipeline.clock = clock.reading
        }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("flags-agent")
            let t = Self.t0
            #expect(try send(s, &a, Self.action(input: "q1", model: "m-a"), at: t) == .accepted(index: 0))
            #expect(Self.noted([], .retried)(try send(s, &a, Self.action(input: "q1", model: "m-a"), at: t + 1000)))
            #expect(Self.noted([], .hedged)(try send(s, &a, Self.action(input: "q1", model: "m-b"), at: t + 2000)))
            // Outside the 10-minute retry window: not a retry.
            #expect(Self.accepted(try send(s, &a, Self.action(input: "q1", model: "m-a"), at: t + 700_000)))
            #expect(Self.noted([], .incomplete)(try send(s, &a, Self.action(flags: .incomplete), at: t + 700_100)))
            #expect(Self.noted([], .error)(try send(s, &a, Self.action(flags: .error), at: t + 700_200)))
            #expect(Self.noted([], .humanReview)(try send(s, &a, Self.action(flags: .humanReview), at: t + 700_300)))
            #expect(Self.noted([], .a2aDelegated)(try send(s, &a, Self.action(flags: .a2aDelegated), at: t + 700_400)))
            #expect(Self.noted([], .highLatency)(try send(s, &a, Self.action(model: "m-slow", latency: 6000), at: t + 700_500)))
            // speed_anomaly: after 20 latencies around 1 s for a model, 50 ms is implausible.
            var b = TestAgent("flags-other")
            for i in 0..<20 { #expect(Self.accepted(try send(s, &b, Self.action(model: "m-speed", latency: 1000), at: t + UInt64(i)))) }
            #expect(Self.noted([], .speedAnomaly)(try send(s, &a, Self.action(model: "m-speed", latency: 50), at: t + 700_600)))
            let flags = try #require(try Self.profile(collector, a)["flags"] as? [String: Int])
            #expect(flags == [
                "retried": 1, "hedged": 1, "incomplete": 1, "error": 1, "human_review": 1, "a2a_delegated": 1, "high_latency": 1,
                "speed_anomaly": 1, "clock_regressed": 0, "clock_skew": 0,
            ])
        }
    }

    /// The rate window runs on the collector's clock: an agent whose timestamps count down
    /// cannot escape `max_per_minute`, and its clock going back is itself flagged.
    @Test func rateLimitsIgnoreAnAgentsClock() async throws {
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var owner = TestAgent("clock-owner")
            var agent = TestAgent("clock-agent")
            let now = Self.t0 + 90_000_000
            clock.set(now)
            #expect(Self.accepted(try send(s, &owner, Self.registration(owner: owner, agent: agent), at: now)))
            #expect(Self.accepted(try send(s, &owner, Self.policy(agent, version: 1, max: 5), at: now)))
            var statuses: [AppendStatus] = []
            for i in 0..<30 {
                // Timestamps one minute apart, counting down; the collector's clock stands still.
                let e = agent.next(Self.action(), timestamp: now - UInt64(i) * 60_000)
                statuses.append(try s.append([e])[0])
            }
            #expect(Self.accepted(statuses[0]))
            let rate = statuses.filter { if case .noted(_, let v, _) = $0 { return v.contains(.rateExceeded) } else { return false } }
            #expect(rate.count == 25)
            let regressed = statuses.filter { if case .noted(_, _, let f) = $0 { return f.contains(.clockRegressed) } else { return false } }
            #expect(regressed.count == 29)
            // A timestamp far ahead of the collector's clock is flagged too.
            let future = agent.next(Self.action(), timestamp: now + 3_600_000)
            clock.set(now + 120_000)
            #expect(Self.noted([], .clockSkew)(try s.append([future])[0]))
            let flags = try #require(try Self.profile(collector, agent)["flags"] as? [String: Int])
            #expect(flags["clock_regressed"] == 29)
            #expect(flags["clock_skew"] == 1)
        }
    }

    @Test func reportsAndTheGapSignal() async throws {
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var agent = TestAgent("gap-agent")
            var r1 = TestAgent("gap-reporter-1")
            var r2 = TestAgent("gap-reporter-2")
            let t = Self.t0 + 50_000_000
            #expect(Self.accepted(try send(s, &agent, Self.action(), at: t)))
            #expect(Self.accepted(try send(s, &agent, Self.action(), at: t + 10_000)))
            func report(_ category: ReportCategory, _ from: UInt64, _ to: UInt64) -> EntryBody {
                .report(ReportBody(
                    subject: agent.key.publicKey, category: category, severity: .high, observedFromMs: from, observedToMs: to, refEntry: nil,
                    evidenceHash: SHA256.hash(Array("shot.png".utf8)), description: "seen"))
            }
            #expect(Self.accepted(try send(s, &r1, report(.unloggedAction, t - 500, t + 500))))  // holds an entry
            #expect(Self.accepted(try send(s, &r1, report(.unloggedAction, t + 1000, t + 9000))))  // between two entries: gap
            #expect(Self.accepted(try send(s, &r2, report(.unloggedAction, t + 20_000, t + 20_000))))  // after the last: gap
            #expect(Self.accepted(try send(s, &r2, report(.harmfulOutput, t + 1000, t + 9000))))  // not an unlogged_action
            let p = try Self.profile(collector, agent)
            let reports = try #require(p["reports"] as? [String: Any])
            #expect(reports["total"] as? Int == 4)
            #expect((reports["by_category"] as? [String: Int])?["unlogged_action"] == 3)
            #expect((reports["by_category"] as? [String: Int])?["harmful_output"] == 1)
            #expect(reports["by_reporter"] as? [String: Int] == [DIDKey.encode(r1.key.publicKey): 2, DIDKey.encode(r2.key.publicKey): 2])
            let gaps = try #require(p["gap_signal"] as? [String: Any])
            #expect(gaps["count"] as? Int == 2)
            #expect((gaps["reports"] as? [[String: Any]])?.map { $0["observed_from_ms"] as? UInt64 } == [t + 1000, t + 20_000])
            // A replayed report is a duplicate, not a second fact.
            let e = try #require(try collector.store.chain(of: r1.key.publicKey, fromSeq: 0, limit: 1).first)
            #expect(try s.append([try EntryCodec.decode(e.entry)]) == [.duplicate(index: e.index)])
            #expect((try Self.profile(collector, agent)["reports"] as? [String: Any])?["total"] as? Int == 4)
        }
    }

    @Test func runsJoinActionsAndReceipts() async throws {
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("run-agent")
            let c = SHA256.hash(Array("commitment of request 42".utf8))
            #expect(Self.accepted(try send(s, &a, Self.action(commitment: c))))
            #expect(Self.accepted(try send(s, &a, Self.action())))
            #expect(Self.accepted(try send(s, &a, Self.action("post", commitment: c))))
            let receipt = EntryBody.receipt(ReceiptBody(
                requestCommitment: c, outcome: .ok, startedMs: Self.t0, totalMs: 1200, traceCommitment: SHA256.hash([1]),
                stages: [Stage(label: "plan", durationMs: 200, status: .ok)]))
            #expect(Self.accepted(try send(s, &a, receipt)))
            let http = collector.httpAddress!.port!
            let run = try jsonObject(try httpGet(port: http, "/v1/runs/\(c.hex)").body)
            #expect(run["actions"] as? Int == 2 && run["receipts"] as? Int == 1)
            #expect((run["entries"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [0, 2, 3])
            #expect(try httpGet(port: http, "/v1/runs/\(SHA256.hash([9]).hex)").status == 404)
            #expect(try httpGet(port: http, "/v1/runs/xyz").status == 400)
        }
    }

    /// Owners, policies, counters and the rate and retry windows come back after a restart.
    @Test func stateSurvivesRestart() async throws {
        try await withTemporaryDirectory { dir in
            var owner = TestAgent("rs-owner")
            var other = TestAgent("rs-other")
            var agent = TestAgent("rs-agent")
            let t = Self.t0 + 90_000_000
            var collector = try await startCollector(directory: dir)
            do {
                let s = try RawSocket(port: collector.localAddress!.port!)
                try s.hello()
                #expect(Self.accepted(try send(s, &owner, Self.registration(owner: owner, agent: agent))))
                #expect(Self.accepted(try send(s, &owner, Self.policy(agent, version: 3, deny: ["delete"], max: 2))))
                #expect(Self.accepted(try send(s, &agent, Self.action(input: "q"), at: t)))
                #expect(Self.accepted(try send(s, &agent, Self.action(), at: t + 100)))
            }
            try await collector.shutdown()
            collector = try await startCollector(directory: dir)
            do {
                let s = try RawSocket(port: collector.localAddress!.port!)
                try s.hello()
                #expect(try send(s, &other, Self.registration(owner: other, agent: agent)) == .rejected(.alreadyRegistered))
                #expect(try send(s, &owner, Self.policy(agent, version: 3)) == .rejected(.stalePolicyVersion))
                // The third action in the minute, after the restart: rate_exceeded and retried.
                #expect(Self.noted([.rateExceeded, .actionDenied], .retried)(try send(s, &agent, Self.action("delete", input: "q"), at: t + 200)))
                let p = try Self.profile(collector, agent)
                #expect((p["violations"] as? [String: Int])?["rate_exceeded"] == 1)
                #expect(((p["policy"] as? [String: Any])?["active"] as? [String: Any])?["version"] as? Int == 3)
            }
            try await collector.shutdown()
        }
    }

    @Test func commandLine() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector({ $0.pipeline.clock = clock.reading }) { collector, port in
            let server = "127.0.0.1:\(port)"
            let http = "http://127.0.0.1:\(collector.httpAddress!.port!)"
            try await withTemporaryDirectory { dir in
                func ok(_ args: [String]) throws -> TrailRun {
                    let r = try trail(args, in: dir)
                    #expect(r.status == 0, "\(args): \(r.stdout) \(r.stderr)")
                    return r
                }
                _ = try ok(["keys", "new", "--out", "owner.key"])
                _ = try ok(["keys", "new", "--out", "other.key"])
                _ = try ok(["keys", "new", "--out", "r.key"])
                let did = try ok(["keys", "new", "--out", "agent.key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                try Data("# rules\n".utf8).write(to: URL(fileURLWithPath: dir + "/policy.md"))
                try Data("png".utf8).write(to: URL(fileURLWithPath: dir + "/shot.png"))
                try Data("reply".utf8).write(to: URL(fileURLWithPath: dir + "/reply.txt"))

                _ = try ok(["agent", "register", "--owner", "owner.key", "--agent", "agent.key", "--label", "support bot", "--server", server])
                let taken = try trail(["agent", "register", "--owner", "other.key", "--agent", "agent.key", "--server", server, "--json"], in: dir)
                #expect(taken.status == 1 && taken.stdout.contains("already_registered"), "\(taken.stdout)")
                _ = try ok([
                    "policy", "declare", "--owner", "owner.key", "--agent", did, "--allow-actions", "post_reply,search", "--deny-actions", "delete",
                    "--allow-targets", "*.example.com", "--max-per-minute", "60", "--document", "policy.md", "--server", server, "--http", http,
                ])
                let notOwner = try trail(["policy", "declare", "--owner", "other.key", "--agent", did, "--document", "policy.md", "--server", server, "--http", http], in: dir)
                #expect(notOwner.status == 1 && notOwner.stdout.contains("not_owner"))
                _ = try ok(["log", "--key", "agent.key", "--action", "delete", "--target", "evil.org", "--content", "reply.txt", "--server", server])
                _ = try ok([
                    "report", "file", "--reporter", "r.key", "--subject", did, "--category", "unlogged_action", "--observed-at",
                    "2026-11-22T10:00:00Z", "--evidence", "shot.png", "--server", server,
                ])
                let shown = try JSONSerialization.jsonObject(with: Data(try ok(["agent", "show", did, "--http", http, "--json"]).stdout.utf8)) as? [String: Any]
                let p = try #require(shown)
                #expect(((p["policy"] as? [String: Any])?["active"] as? [String: Any])?["version"] as? Int == 1)
                #expect((p["violations"] as? [String: Int])?["action_denied"] == 1)
                #expect((p["violations"] as? [String: Int])?["target_not_allowed"] == 1)
                #expect((p["gap_signal"] as? [String: Any])?["count"] as? Int == 1)
                let text = try ok(["agent", "show", did, "--http", http]).stdout
                #expect(text.contains("registration:") && text.contains("\"support bot\"") && text.contains("gap signal:    1"))
                // A second declaration takes the next version by itself.
                _ = try ok(["policy", "declare", "--owner", "owner.key", "--agent", did, "--document", "policy.md", "--server", server, "--http", http])
                let p2 = try #require(try JSONSerialization.jsonObject(with: Data(try ok(["agent", "show", did, "--http", http, "--json"]).stdout.utf8)) as? [String: Any])
                #expect(((p2["policy"] as? [String: Any])?["history"] as? [[String: Any]])?.count == 2)
            }
        }
    }
}
