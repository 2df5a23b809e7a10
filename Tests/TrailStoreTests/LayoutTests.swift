import Foundation
import Testing
import TrailCore
import TrailStore

/// The store's derived indexes (chain blocks, hash runs, time buckets) against the log itself,
/// with a layout small enough that every path runs: blocks written when full and at the
/// horizon, runs sealed, ids given out of order, and the tail rebuilt on every reopen.
@Suite("Store layout and the rules engine")
struct LayoutTests {
    static var small: ChainStore.Layout {
        var l = ChainStore.Layout()
        l.hashRun = 16
        l.chainBlock = 4
        l.chainHorizon = 24
        return l
    }

    /// Chains of five signers: one busy, four sparse and bursty, in a fixed interleaving.
    static func workload() -> [[Entry]] {
        var agents = (0..<5).map { i in (key: SigningKey(seed: SHA256.hash(Array("layout-\(i)".utf8))), head: ChainHead.empty) }
        var groups: [[Entry]] = []
        var rng: UInt64 = 42
        func next() -> UInt64 {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return rng >> 33
        }
        for g in 0..<40 {
            var group: [Entry] = []
            for _ in 0..<(1 + Int(next() % 9)) {
                // Signer 0 most of the time; the others now and then (signer 4 only late).
                let r = Int(next() % 10)
                let a = r < 6 ? 0 : (g < 20 ? 1 + r % 3 : 1 + r % 4)
                let body = EntryBody.action(ActionBody(
                    actionType: "act", target: "t", contentHash: SHA256.hash(Array("\(g)-\(a)-\(agents[a].head.nextSeq)".utf8))))
                let e = try! EntryCodec.sign(
                    UnsignedEntry(
                        signer: agents[a].key.publicKey, seq: agents[a].head.nextSeq, timestampMs: 1_800_000_000_000 + UInt64(g) * 90_000,
                        prev: agents[a].head.hash, body: body), with: agents[a].key)
                agents[a].head = ChainHead(nextSeq: e.seq + 1, hash: e.hash)
                group.append(e)
            }
            groups.append(group)
        }
        return groups
    }

    /// Every index answers as the log says: hashes, chains (whole and paged), heads, times.
    static func checkAgainstLog(_ store: ChainStore, _ log: [Entry]) throws {
        #expect(try store.logSize() == UInt64(log.count))
        var chains: [PublicKey: [UInt64]] = [:]
        for (i, e) in log.enumerated() {
            #expect(try store.index(ofHash: e.hash) == UInt64(i), "hash of log entry \(i)")
            chains[e.signer, default: []].append(UInt64(i))
        }
        for (signer, indices) in chains {
            #expect(try store.chain(of: signer, fromSeq: 0, limit: .max).map(\.index) == indices)
            for from in [1, 3, 4, 5, indices.count - 1] where from < indices.count {
                #expect(try store.positions(of: signer, fromSeq: UInt64(from), limit: 3) == Array(indices[from..<min(indices.count, from + 3)]))
            }
            let last = log[Int(indices.last!)]
            #expect(try store.head(of: signer) == ChainHead(nextSeq: last.seq + 1, hash: last.hash))
            let first = log[Int(indices[0])]
            #expect(try store.hasEntry(of: signer, fromMs: first.timestampMs, toMs: first.timestampMs))
            #expect(try !store.hasEntry(of: signer, fromMs: first.timestampMs + 1, toMs: first.timestampMs + 999))
        }
        #expect(try store.index(ofHash: SHA256.hash([9])) == nil)
    }

    @Test func indexesMatchTheLogThroughEveryGroupAndReopen() throws {
        try withTemporaryDirectory { dir in
            let groups = Self.workload()
            var log: [Entry] = []
            var ledger = try Ledger(try ChainStore(directory: dir, layout: Self.small))
            for (g, group) in groups.enumerated() {
                let statuses = try ledger.append(group, nowMs: 1_800_000_000_000 + UInt64(g) * 90_000)
                #expect(statuses.allSatisfy { if case .accepted = $0 { true } else { false } }, "group \(g): \(statuses)")
                log += group
                try Self.checkAgainstLog(ledger.store, log)
                if g % 7 == 6 {
                    // Reopen: the tail is rebuilt from the log.
                    ledger = try Ledger(try ChainStore(directory: dir, layout: Self.small))
                    try Self.checkAgainstLog(ledger.store, log)
                }
            }
            // Old positions, long since written as blocks: the same entry is a duplicate at its
            // index, a different one at that position is evidence.
            let old = log[2]
            let key = SigningKey(seed: SHA256.hash(Array("layout-0".utf8)))
            #expect(old.signer == key.publicKey)
            let rival = try EntryCodec.sign(
                UnsignedEntry(signer: key.publicKey, seq: old.seq, timestampMs: 7, prev: old.prev, body: old.body), with: key)
            let head = try ledger.store.head(of: key.publicKey)
            #expect(try ledger.append([old, rival]) == [.duplicate(index: 2), .equivocation(head: head)])
            #expect(try ledger.store.equivocations(of: key.publicKey) == [rival.encoded])
            // The Merkle tree matches one computed from the log alone.
            var frontier = MerkleFrontier()
            for e in log { frontier.append(e.hash) }
            #expect(try ledger.store.merkleRoot(size: UInt64(log.count)) == frontier.root)
            #expect(ledger.engine.tree == TreeHead(size: UInt64(log.count), root: frontier.root))
        }
    }

    /// Positions taken earlier in the same group: the same entry again is a duplicate at its new
    /// index, another one evidence; the next seq after them chains on.
    @Test func positionsTakenWithinTheGroup() throws {
        try withTemporaryDirectory { dir in
            var ledger = try Ledger(try ChainStore(directory: dir, layout: Self.small))
            let chain = signedChain("in-group", count: 3)
            let key = SigningKey(seed: SHA256.hash(Array("in-group".utf8)))
            let rival = try EntryCodec.sign(
                UnsignedEntry(signer: key.publicKey, seq: 1, timestampMs: 9, prev: chain[0].hash, body: chain[0].body), with: key)
            let statuses = try ledger.append([chain[0], chain[1], chain[0], rival, chain[2]])
            #expect(statuses == [
                .accepted(index: 0), .accepted(index: 1), .duplicate(index: 0),
                .equivocation(head: ChainHead(nextSeq: 2, hash: chain[1].hash)), .accepted(index: 2),
            ])
            #expect(try ledger.store.equivocations(of: key.publicKey) == [rival.encoded])
        }
    }

    @Test func aLogInTheOldFormatIsRefusedWithAClearError() throws {
        try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            do {
                let env = try LMDBEnvironment(path: dir)
                let entries = try env.database("entries")
                try env.write { txn in
                    try Key.u64(0).withUnsafeBytes { k in try [UInt8](repeating: 1, count: 8).withUnsafeBytes { v in try txn.put(entries, k, v) } }
                }
            }
            #expect(throws: TrailError(.storage, "")) { try ChainStore(directory: dir) }
        }
    }

    static func governed() throws -> (owner: SigningKey, agent: SigningKey, setup: [Entry]) {
        let owner = SigningKey(seed: SHA256.hash(Array("engine-owner".utf8)))
        let agent = SigningKey(seed: SHA256.hash(Array("engine-agent".utf8)))
        let proof = agent.sign(RegistrationBody.possessionMessage(owner: owner.publicKey, agent: agent.publicKey))
        let reg = try EntryCodec.sign(
            UnsignedEntry(
                signer: owner.publicKey, seq: 0, timestampMs: 1, prev: .zero,
                body: .registration(RegistrationBody(agent: agent.publicKey, label: "a", evidenceHash: nil, agentSignature: proof))),
            with: owner)
        let policy = try EntryCodec.sign(
            UnsignedEntry(
                signer: owner.publicKey, seq: 1, timestampMs: 2, prev: reg.hash,
                body: .policy(PolicyBody(
                    agent: agent.publicKey, version: 1, documentHash: SHA256.hash([1]), allowActions: [], denyActions: [], allowTargets: [],
                    maxPerMinute: 3))),
            with: owner)
        return (owner, agent, [reg, policy])
    }

    static func actions(_ agent: SigningKey, count: Int, input: (Int) -> String?) -> [Entry] {
        var head = ChainHead.empty
        return (0..<count).map { i in
            let e = try! EntryCodec.sign(
                UnsignedEntry(
                    signer: agent.publicKey, seq: UInt64(i), timestampMs: 1_800_000_000_000 - UInt64(i) * 1000, prev: head.hash,
                    body: .action(ActionBody(
                        actionType: "a", target: "t", contentHash: SHA256.hash([UInt8(i)]), inputHash: input(i).map { SHA256.hash(Array($0.utf8)) },
                        modelID: i % 5 == 4 ? "m2" : "m1"))),
                with: agent)
            head = ChainHead(nextSeq: e.seq + 1, hash: e.hash)
            return e
        }
    }

    /// `decide` is pure, and an engine rebuilt from the store after a restart decides exactly as
    /// one that ran throughout: rate and retry windows on collector time included.
    @Test func decisionsArePureAndSurviveARestart() throws {
        let (_, agent, setup) = try Self.governed()
        let acts = Self.actions(agent, count: 40, input: { $0 % 3 == 0 ? "q\($0 % 6)" : nil })
        // Collector times: bursts, with gaps longer than a minute and than the retry window.
        let times: [UInt64] = (0..<40).map { i in 1_800_000_000_000 + UInt64(i / 8) * 70_000 + UInt64(i % 8) * 10 + (i >= 32 ? 700_000 : 0) }
        func run(restartAt: Int?) throws -> [AppendStatus] {
            try withTemporaryDirectory { dir in
                var ledger = try Ledger(try ChainStore(directory: dir, layout: Self.small))
                try ledger.append(setup, nowMs: times[0])
                var out: [AppendStatus] = []
                for i in 0..<40 {
                    if i == restartAt { ledger = try Ledger(try ChainStore(directory: dir, layout: Self.small)) }
                    let d1 = try ledger.engine.decide([[.entry(acts[i], hash: acts[i].hash)]], nowMs: times[i], view: ledger.store)
                    let d2 = try ledger.engine.decide([[.entry(acts[i], hash: acts[i].hash)]], nowMs: times[i], view: ledger.store)
                    #expect(d1.statuses == d2.statuses)
                    out += try ledger.append([acts[i]], nowMs: times[i])
                }
                return out
            }
        }
        let straight = try run(restartAt: nil)
        for r in [5, 17, 33] { #expect(try run(restartAt: r) == straight, "restart at \(r)") }
        // What the rules said: the 4th..8th action of each burst broke max_per_minute 3, inputs
        // repeated within the window were flagged, and the clock going back 1 s each time too.
        func has(_ s: AppendStatus, _ v: PolicyViolations, _ f: TrustFlags) -> Bool {
            if case .noted(_, let sv, let sf) = s { return sv.isSuperset(of: v) && sf.isSuperset(of: f) }
            return false
        }
        #expect(!has(straight[2], .rateExceeded, []) && has(straight[3], .rateExceeded, []) && has(straight[7], .rateExceeded, []))
        #expect(!has(straight[8], .rateExceeded, []) && has(straight[11], .rateExceeded, []))
        #expect(has(straight[6], [], .retried))  // q0 at 0 and 6 (same model)
        #expect(has(straight[9], [], .hedged))  // q3 at 3 (m1) and 9 (m2)
        #expect(!has(straight[36], [], .retried) && !has(straight[36], [], .hedged))  // q0 again, 700 s later
        #expect(straight[2...].allSatisfy { has($0, [], .clockRegressed) })  // 2 s back and more
    }
}
