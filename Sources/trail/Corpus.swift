import AgentTrail
import Dispatch
import Foundation
import Synchronization

/// What a corpus says the collector must answer to one of its entries: the status code
/// (`AppendStatus.code`), the policy violations of a `noted` entry, and `detail`: the trust
/// flags of a `noted` entry, the reason code of `bad_signature`, `malformed` and `rejected`,
/// 0 otherwise. Log indexes and heads are not part of it.
struct Expectation: Hashable, Sendable {
    var status: UInt8
    var violations: UInt8 = 0
    var detail: UInt16 = 0

    static let accepted = Expectation(status: 0)
    static let duplicate = Expectation(status: 1)
    static let conflict = Expectation(status: 2)
    static let gap = Expectation(status: 3)
    static let equivocation = Expectation(status: 7)
    static func badSignature(_ c: TrailError.Code) -> Expectation { Expectation(status: 4, detail: c.rawValue) }
    static func malformed(_ c: TrailError.Code) -> Expectation { Expectation(status: 5, detail: c.rawValue) }
    static func rejected(_ c: TrailError.Code) -> Expectation { Expectation(status: 9, detail: c.rawValue) }
    /// `accepted`, or `noted` when something is to be noted (as the collector answers).
    static func stored(_ v: PolicyViolations, _ f: TrustFlags) -> Expectation {
        v.isEmpty && f.isEmpty ? .accepted : Expectation(status: 8, violations: v.rawValue, detail: f.rawValue)
    }

    /// The names of the ten statuses, by code (SPEC 2.1).
    static let names = [
        "accepted", "duplicate", "conflict", "gap", "bad_signature", "malformed", "overloaded", "equivocation", "noted",
        "rejected",
    ]

    /// What an ack says, in the same terms.
    init(_ s: AppendStatus) {
        switch s {
        case .badSignature(let c), .malformed(let c), .rejected(let c): self.init(status: s.code, detail: c.rawValue)
        case .noted(_, let v, let f): self.init(status: s.code, violations: v.rawValue, detail: f.rawValue)
        default: self.init(status: s.code)
        }
    }

    init(status: UInt8, violations: UInt8 = 0, detail: UInt16 = 0) {
        self.status = status
        self.violations = violations
        self.detail = detail
    }

    var isStored: Bool { status == 0 || status == 8 }

    var description: String {
        let name = Int(status) < Self.names.count ? Self.names[Int(status)] : "status \(status)"
        switch status {
        case 4, 5, 9: return "\(name) (\(detail))"
        case 8:
            let v = PolicyViolations(rawValue: violations).names + TrustFlags(rawValue: detail).names
            return "\(name) [\(v.joined(separator: ", "))]"
        default: return name
        }
    }
}

/// Tallies of statuses, and of the violations and flags of `noted` entries, by name.
struct StatusCounts: Sendable {
    var byStatus = [Int](repeating: 0, count: Expectation.names.count)
    var violations = [Int](repeating: 0, count: 8)
    var flags = [Int](repeating: 0, count: 16)

    mutating func add(_ e: Expectation) {
        if Int(e.status) < byStatus.count { byStatus[Int(e.status)] += 1 }
        guard e.status == 8 else { return }
        for b in 0..<8 where e.violations & (1 << b) != 0 { violations[b] += 1 }
        for b in 0..<16 where e.detail & (1 << b) != 0 { flags[b] += 1 }
    }

    mutating func merge(_ o: StatusCounts) {
        for i in byStatus.indices { byStatus[i] += o.byStatus[i] }
        for i in violations.indices { violations[i] += o.violations[i] }
        for i in flags.indices { flags[i] += o.flags[i] }
    }

    func count(_ name: String) -> Int { Expectation.names.firstIndex(of: name).map { byStatus[$0] } ?? 0 }

    /// Every status name with its count (zeros included).
    var statuses: [String: Int] { Dictionary(uniqueKeysWithValues: zip(Expectation.names, byStatus)) }
    var violationNames: [String: Int] {
        Dictionary(uniqueKeysWithValues: PolicyViolations.named.enumerated().map { ($1.0, violations[$0]) })
    }
    var flagNames: [String: Int] {
        Dictionary(uniqueKeysWithValues: TrustFlags.named.map { n, f in (n, flags[f.rawValue.trailingZeroBitCount]) })
    }
}

/// A pre-signed corpus: phases of entries, each with what the collector must answer. A replay
/// sends each phase and waits for all of its acks before the next one, so that governance
/// entries (registrations, policies) are accepted before the actions they govern.
///
/// File format 2 (`"ATCORP02"`), all integers big-endian:
/// `magic(8) || u32 agents || u32 meta_len || meta (UTF-8 JSON, at most 64 KiB: how it was
/// made) || u32 phases (1-16) || per phase: u64 n || n × (u32 length || entry || u8 status ||
/// u8 violations || u16 detail)` (`Expectation`). Within a phase the entries of all signers are
/// interleaved evenly; each signer's entries are in chain order.
///
/// Format 1 (`"ATCORP01"`, written before governed and hostile corpora): `magic || u32 agents
/// || u64 n || n × (u32 length || entry)`, agents interleaved round-robin; it is read as one
/// phase whose entries are all expected `accepted` (all that format ever held).
struct Corpus: @unchecked Sendable {
    static let magicV1 = Array("ATCORP01".utf8)
    static let magicV2 = Array("ATCORP02".utf8)
    static let maxPhases = 16
    static let maxMeta = 65536

    struct Phase {
        var entries: [[UInt8]]
        var expected: [Expectation]
    }

    let agents: Int
    /// How the corpus was made (JSON object text).
    let meta: String
    let phases: [Phase]

    /// The phase a replay measures: the last.
    var main: Phase { phases[phases.count - 1] }
    var entryCount: Int { phases.reduce(0) { $0 + $1.entries.count } }
    var byteCount: Int {
        phases.reduce(20 + Array(meta.utf8).count) { acc, p in p.entries.reduce(acc + 8) { $0 + 8 + $1.count } }
    }

    /// Expected tallies over the whole corpus.
    var expectedCounts: StatusCounts {
        var c = StatusCounts()
        for p in phases { for e in p.expected { c.add(e) } }
        return c
    }

    /// The key of agent `index` in every corpus generated with `seed`.
    static func agentKey(seed: String, index: Int) -> SigningKey {
        SigningKey(seed: SHA256.hash(Array("\(seed)-agent-\(index)".utf8)))
    }

    func write(to path: String) throws {
        var w = ByteWriter(capacity: byteCount)
        w.raw(Self.magicV2)
        w.u32(UInt32(agents))
        let m = Array(meta.utf8)
        w.u32(UInt32(m.count))
        w.raw(m)
        w.u32(UInt32(phases.count))
        for p in phases {
            w.u64(UInt64(p.entries.count))
            for (e, x) in zip(p.entries, p.expected) {
                w.u32(UInt32(e.count))
                w.raw(e)
                w.u8(x.status)
                w.u8(x.violations)
                w.u16(x.detail)
            }
        }
        try writeFile(path, w.bytes)
    }

    static func read(from path: String) throws -> Corpus {
        let bytes = try readFile(path)
        return try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            guard raw.count >= 8 else { throw TrailError(.invalidArgument, "\(path) is not an AgentTrail corpus") }
            let magic = Array(try r.skip(8, "magic"))
            if magic == magicV1 { return try readV1(&r, path) }
            guard magic == magicV2 else {
                if magic.starts(with: Array("ATCORP".utf8)) {
                    throw TrailError(
                        .invalidArgument,
                        "\(path) is corpus format \(String(decoding: magic[6...], as: UTF8.self)); this trail reads formats 01 and 02: regenerate it with this trail's 'bench gen'")
                }
                throw TrailError(.invalidArgument, "\(path) is not an AgentTrail corpus")
            }
            let agents = Int(try r.u32("agents"))
            let metaLen = Int(try r.u32("meta length"))
            guard metaLen <= maxMeta else { throw TrailError(.lengthExceedsLimit, "corpus description of \(metaLen) bytes") }
            let meta = String(decoding: try r.skip(metaLen, "meta"), as: UTF8.self)
            let n = Int(try r.u32("phases"))
            guard (1...maxPhases).contains(n) else { throw TrailError(.invalidValue, "corpus claims \(n) phases (1-\(maxPhases))") }
            var phases: [Phase] = []
            for _ in 0..<n {
                let count = try r.u64("entries")
                // Every entry takes at least 8 bytes: bound the count by the file before allocating.
                guard count <= UInt64(r.remaining / 8) else { throw TrailError(.truncated, "corpus phase claims \(count) entries") }
                var p = Phase(entries: [], expected: [])
                p.entries.reserveCapacity(Int(count))
                p.expected.reserveCapacity(Int(count))
                for _ in 0..<count {
                    let len = Int(try r.u32("entry length"))
                    guard len <= EntryLimits.maxEntrySize + 1 else { throw TrailError(.entryTooLarge, "corpus entry of \(len) bytes") }
                    p.entries.append(Array(try r.skip(len, "entry")))
                    let status = try r.u8("expected status")
                    guard Int(status) < Expectation.names.count else { throw TrailError(.invalidEnum, "expected status \(status)") }
                    p.expected.append(Expectation(status: status, violations: try r.u8("expected violations"), detail: try r.u16("expected detail")))
                }
                phases.append(p)
            }
            guard r.remaining == 0 else { throw TrailError(.trailingBytes, "\(r.remaining) bytes after the corpus") }
            return Corpus(agents: agents, meta: meta, phases: phases)
        }
    }

    private static func readV1(_ r: inout ByteReader, _ path: String) throws -> Corpus {
        let agents = Int(try r.u32("agents"))
        let n = try r.u64("entries")
        guard n <= UInt64(r.remaining / 4) else { throw TrailError(.truncated, "corpus claims \(n) entries") }
        var entries: [[UInt8]] = []
        entries.reserveCapacity(Int(n))
        for _ in 0..<n {
            let len = Int(try r.u32("entry length"))
            guard len <= EntryLimits.maxEntrySize else { throw TrailError(.entryTooLarge, "corpus entry of \(len) bytes") }
            entries.append(Array(try r.skip(len, "entry")))
        }
        guard r.remaining == 0 else { throw TrailError(.trailingBytes, "\(r.remaining) bytes after the corpus") }
        let expected = [Expectation](repeating: .accepted, count: entries.count)
        return Corpus(agents: agents, meta: #"{"format":1}"#, phases: [Phase(entries: entries, expected: expected)])
    }
}

/// How `trail bench gen` makes a corpus.
struct CorpusOptions: Sendable {
    var agents = 1000
    /// The agents' own entries (their chains); hostile entries, governance and reports come on top.
    var entries = 1_000_000
    var seed = "agenttrail-bench"
    /// A third of the agents registered by owners, with policies; actions with inputs, models
    /// and latencies that raise every trust flag and break every policy rule.
    var governed = false
    /// Fractions of `entries`, mixed into the agents' streams.
    var badSignatures = 0.0
    var malformed = 0.0
    var duplicates = 0.0
    var conflicts = 0.0
    var gaps = 0.0
    var equivocations = 0.0

    var hostileFractions: [(String, Double)] {
        [("bad_signatures", badSignatures), ("malformed", malformed), ("duplicates", duplicates), ("conflicts", conflicts),
         ("gaps", gaps), ("equivocations", equivocations)]
    }
}

/// A small deterministic generator (SplitMix64), so that the same options make the same corpus.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(_ text: String) {
        state = SHA256.hash(Array(text.utf8)).bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }
}

/// `*` matches any run of bytes, everything else itself (SPEC 2.4): patterns split at `*`, the
/// first piece a prefix, the last a suffix, the ones between found in order. Written apart from
/// the collector's matcher, so that the corpus checks it.
func globMatches(_ pattern: String, _ text: String) -> Bool {
    let pieces = pattern.split(separator: "*", omittingEmptySubsequences: false).map { Array($0.utf8) }
    let t = Array(text.utf8)
    guard pieces.count > 1 else { return pieces[0] == t }
    let first = pieces[0]
    let last = pieces[pieces.count - 1]
    guard t.count >= first.count + last.count, t.starts(with: first), t.suffix(last.count).elementsEqual(last) else { return false }
    var at = first.count
    let end = t.count - last.count
    for piece in pieces[1..<(pieces.count - 1)] where !piece.isEmpty {
        var found = false
        while at + piece.count <= end {
            if t[at..<(at + piece.count)].elementsEqual(piece) {
                at += piece.count
                found = true
                break
            }
            at += 1
        }
        if !found { return false }
    }
    return true
}

enum CorpusGenerator {
    static let base: UInt64 = 1_763_900_000_000
    static let retryWindowMs: UInt64 = 10 * 60 * 1000
    static let recentActions = TrustRules().recentActions
    static let highLatencyMs: UInt32 = 30_000

    /// The governed agents: every third one, from agent 0.
    static func governedAgents(_ agents: Int) -> [Int] { stride(from: 0, to: agents, by: 3).map { $0 } }
    static func ownerKey(seed: String, index: Int) -> SigningKey { SigningKey(seed: SHA256.hash(Array("\(seed)-owner-\(index)".utf8))) }
    static func observerKey(seed: String, index: Int) -> SigningKey { SigningKey(seed: SHA256.hash(Array("\(seed)-observer-\(index)".utf8))) }
    static func rogueKey(seed: String) -> SigningKey { SigningKey(seed: SHA256.hash(Array("\(seed)-rogue-owner".utf8))) }

    /// The policies the owner of governed agent `a` declares, in order (versions 1, and 2 for
    /// every fourth). Two shapes: an allow list with a deny list, or only a deny list.
    static func policies(seed: String, agent a: Int, key: PublicKey) -> [PolicyBody] {
        let g = a / 3
        let doc = SHA256.hash(Array("\(seed)-policy-\(a)".utf8))
        var v1: PolicyBody
        if g % 2 == 0 {
            v1 = PolicyBody(
                agent: key, version: 1, documentHash: doc, allowActions: ["post_reply", "search", "summarize"],
                denyActions: ["delete_account"], allowTargets: ["forum.example.com/*", "search.example.com/*"], maxPerMinute: 90)
        } else {
            v1 = PolicyBody(
                agent: key, version: 1, documentHash: doc, allowActions: [], denyActions: ["delete_account", "send_email"],
                allowTargets: ["forum.example.com/t/*", "*.example.com/q*"], maxPerMinute: 120)
        }
        guard g % 4 == 0 else { return [v1] }
        var v2 = v1
        v2.version = 2
        v2.maxPerMinute += 10
        return [v1, v2]
    }

    /// Builds the corpus on all cores; `progress` is told how many agent entries are signed.
    static func generate(_ o: CorpusOptions, progress: @escaping @Sendable (Int) -> Void) -> Corpus {
        let perAgent = (0..<o.agents).map { a in o.entries / o.agents + (a < o.entries % o.agents ? 1 : 0) }
        let hostile = o.hostileFractions.map { Int(($0.1 * Double(o.entries)).rounded()) }
        let slots = Slots<AgentStream>(count: o.agents, empty: AgentStream())
        let workers = ProcessInfo.processInfo.activeProcessorCount
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var a = w
            while a < o.agents {
                let counts = hostile.map { $0 / o.agents + (a < $0 % o.agents ? 1 : 0) }
                slots.buffer[a] = agentStream(o, agent: a, length: perAgent[a], hostile: counts, progress: progress)
                a += workers
            }
        }
        let streams = Array(slots.buffer)
        var phases: [Corpus.Phase] = []
        var owners = 0
        var observers = 0
        var mainStreams = streams.map { ($0.entries, $0.expected) }
        if o.governed {
            let setup = governance(o)
            owners = setup.owners
            phases += setup.phases
            let reports = reportStreams(o, streams)
            observers = reports.count
            mainStreams += reports
        }
        phases.append(interleave(mainStreams))
        var meta: [String: Any] = [
            "format": 2, "seed": o.seed, "agents": o.agents, "agent_entries": o.entries, "governed": o.governed,
            "owners": owners, "observers": observers, "phases": phases.map(\.entries.count),
        ]
        for (i, (name, f)) in o.hostileFractions.enumerated() where f > 0 {
            meta[name] = f
            meta[name + "_count"] = hostile[i]
        }
        return Corpus(agents: o.agents, meta: EntryJSON.serialize(meta, pretty: false), phases: phases)
    }

    /// Interleaves streams evenly: entry j of a stream of length L goes out near j/L of the way.
    /// Equal streams come out round-robin.
    static func interleave(_ streams: [([[UInt8]], [Expectation])]) -> Corpus.Phase {
        let total = streams.reduce(0) { $0 + $1.0.count }
        let longest = streams.map(\.0.count).max() ?? 0
        var p = Corpus.Phase(entries: [], expected: [])
        p.entries.reserveCapacity(total)
        p.expected.reserveCapacity(total)
        var next = [Int](repeating: 0, count: streams.count)
        for round in 0..<longest {
            for (i, s) in streams.enumerated() {
                let n = s.0.count
                while next[i] < n && next[i] * longest <= round * n {
                    p.entries.append(s.0[next[i]])
                    p.expected.append(s.1[next[i]])
                    next[i] += 1
                }
            }
        }
        return p
    }

    struct AgentStream {
        var entries: [[UInt8]] = []
        var expected: [Expectation] = []
        /// The good chain's entry hashes and timestamps (for reports that refer to them).
        var firstTimestamp: UInt64 = 0
        var firstHash: Bytes32 = .zero
    }

    /// One agent's stream: its chain, with the hostile entries mixed in at positions that never
    /// take a seq the chain needs (nothing hostile is stored).
    static func agentStream(_ o: CorpusOptions, agent a: Int, length: Int, hostile: [Int], progress: @Sendable (Int) -> Void) -> AgentStream {
        let key = Corpus.agentKey(seed: o.seed, index: a)
        var rng = SplitMix("\(o.seed)-rng-\(a)")
        let chain = o.governed
            ? governedChain(o, agent: a, key: key, length: length, rng: &rng, progress: progress)
            : plainChain(o, agent: a, key: key, length: length, progress: progress)
        var stream = AgentStream()
        stream.firstTimestamp = chain.first?.entry.timestampMs ?? 0
        stream.firstHash = chain.first?.entry.hash ?? .zero
        // inserts[p]: hostile entries sent just before good entry p (p == length: after the last).
        var inserts = [[([UInt8], Expectation)]](repeating: [], count: length + 1)
        func fresh(_ tag: String, seq: UInt64, prev: Bytes32) -> [UInt8] {
            let body = ActionBody(
                actionType: "post_reply", target: "forum.example.com/\(tag)", contentHash: SHA256.hash(Array("\(o.seed)-\(a)-\(tag)-\(seq)-\(rng.next())".utf8)))
            return try! EntryCodec.sign(
                UnsignedEntry(signer: key.publicKey, seq: seq, timestampMs: base + seq * 1000 + 1, prev: prev, body: .action(body)), with: key
            ).encoded
        }
        func randomPrev() -> Bytes32 { SHA256.hash(Array("\(o.seed)-wrong-prev-\(a)-\(rng.next())".utf8)) }
        for (kind, count) in hostile.enumerated() {
            for i in 0..<count {
                switch kind {
                case 0:  // bad signature: a good entry with its signature or its timestamp altered
                    let p = rng.below(length)
                    var b = chain[p].entry.encoded
                    b[i % 2 == 0 ? b.count - 1 : 49] ^= 0x01
                    inserts[p].append((b, .badSignature(.badSignature)))
                case 1:  // malformed: five ways an entry fails to decode
                    let p = rng.below(length)
                    var b = chain[p].entry.encoded
                    let code: TrailError.Code
                    switch i % 5 {
                    case 0: b.removeLast(); code = .truncated
                    case 1: b.append(0); code = .trailingBytes
                    case 2: b[0] = 2; code = .unsupportedVersion
                    case 3: b[1] = 9; code = .unknownKind
                    default: b[b.count - 65] = 63; code = .badSignatureLength
                    }
                    inserts[p].append((b, .malformed(code)))
                case 2:  // duplicate: the very same entry again, a little later
                    let s = rng.below(length)
                    let after = min(length - 1, s + rng.below(4))
                    inserts[after + 1].append((chain[s].entry.encoded, .duplicate))
                case 3:  // conflict: the next seq, validly signed, with a wrong prev
                    let p = 1 + rng.below(length)
                    inserts[p].append((fresh("conflict", seq: UInt64(p), prev: randomPrev()), .conflict))
                case 4:  // gap: a seq past the next
                    let p = rng.below(length + 1)
                    inserts[p].append((fresh("gap", seq: UInt64(p + 1 + rng.below(3)), prev: randomPrev()), .gap))
                default:  // equivocation: another validly signed entry at a taken seq
                    let s = rng.below(length)
                    inserts[s + 1].append((fresh("equivocation", seq: UInt64(s), prev: chain[s].entry.prev), .equivocation))
                }
            }
        }
        let extra = inserts.reduce(0) { $0 + $1.count }
        stream.entries.reserveCapacity(length + extra)
        stream.expected.reserveCapacity(length + extra)
        for p in 0...length {
            for (b, x) in inserts[p] {
                stream.entries.append(b)
                stream.expected.append(x)
            }
            if p < length {
                stream.entries.append(chain[p].entry.encoded)
                stream.expected.append(chain[p].expected)
            }
        }
        return stream
    }

    static func plainChain(_ o: CorpusOptions, agent a: Int, key: SigningKey, length: Int, progress: @Sendable (Int) -> Void) -> [(entry: Entry, expected: Expectation)] {
        var prev = Bytes32.zero
        var chain: [(entry: Entry, expected: Expectation)] = []
        chain.reserveCapacity(length)
        for s in 0..<length {
            let body = ActionBody(
                actionType: "post_reply", target: "forum.example.com/t/\(s % 1000)", contentHash: SHA256.hash(Array("\(o.seed)-\(a)-\(s)".utf8)),
                modelID: "model-a", latencyMs: UInt32(200 + s % 300))
            let e = try! EntryCodec.sign(
                UnsignedEntry(signer: key.publicKey, seq: UInt64(s), timestampMs: base + UInt64(s) * 1000, prev: prev, body: .action(body)), with: key)
            prev = e.hash
            chain.append((e, .accepted))
            if s % 256 == 255 { progress(256) }
        }
        progress(length % 256)
        return chain
    }

    /// An agent's chain in a governed corpus, with what the collector must note about each entry
    /// (SPEC 2.4), computed here by simulating the rules over the agent's own chain. Every agent
    /// gets the same mix; a third of them (`a % 3 == 0`) have a policy, the others are only
    /// flagged. The first 30 entries are plain, so that every model has 20 latencies before a
    /// speed anomaly, and anomalies are at least 20 apart, so that no order of the agents can
    /// pull a model's mean low enough to make a plain latency (200 ms or more) an anomaly.
    static func governedChain(
        _ o: CorpusOptions, agent a: Int, key: SigningKey, length: Int, rng: inout SplitMix, progress: @Sendable (Int) -> Void
    ) -> [(entry: Entry, expected: Expectation)] {
        let policy = a % 3 == 0 ? policies(seed: o.seed, agent: a, key: key.publicKey).last : nil
        var prev = Bytes32.zero
        var chain: [(entry: Entry, expected: Expectation)] = []
        chain.reserveCapacity(length)
        var clock = base
        var actions = 0  // the agent's actions so far
        var maxTimestamp: UInt64 = 0
        var inputs: [Bytes32: (Int, String?)] = [:]  // the newest action with each input: its number and model
        var last: (input: Bytes32, model: String)?
        var burst = 0
        var lastAnomaly = -100
        let flagsCycle: [(ActionFlags, TrustFlags)] = [
            (.humanReview, .humanReview), (.a2aDelegated, .a2aDelegated), (.error, .error), (.incomplete, .incomplete),
        ]
        for s in 0..<length {
            let run = SHA256.hash(Array("\(o.seed)-run-\(a)-\(s / 50)".utf8))
            let body: EntryBody
            var expected: Expectation
            var stamp: UInt64?  // a timestamp other than the agent's clock
            var receiptFlags: TrustFlags?
            if s % 50 == 49 {
                // A run receipt for the three actions before it; some runs fail or take long.
                clock += 1000 + UInt64(rng.below(7))
                let outcome: RunOutcome = s % 200 == 49 ? .error : .ok
                let total: UInt32 = s % 300 == 149 ? 45_000 : UInt32(800 + rng.below(2000))
                body = .receipt(ReceiptBody(
                    requestCommitment: run, outcome: outcome, startedMs: clock - UInt64(min(total, 3000)), totalMs: total,
                    traceCommitment: SHA256.hash(Array("\(o.seed)-trace-\(a)-\(s)".utf8)),
                    stages: [Stage(label: "plan", durationMs: total / 4, status: .ok), Stage(label: "act", durationMs: total - total / 4, status: outcome == .error ? .error : .ok)]))
                var f: TrustFlags = []
                if outcome == .error { f.insert(.error) }
                if total > highLatencyMs { f.insert(.highLatency) }
                expected = .stored([], f)
                receiptFlags = f
            } else {
                var actionType = s % 3 == 0 ? "search" : "post_reply"
                var target = actionType == "search" ? "search.example.com/q\(s % 997)" : "forum.example.com/t/\(s % 1000)"
                var input = SHA256.hash(Array("\(o.seed)-input-\(a)-\(s)".utf8))
                var model = "model-a"
                var latency = UInt32(200 + rng.below(300))
                var aflags: ActionFlags = []
                var spacing = UInt64(1000 + rng.below(7))
                if burst > 0 {
                    burst -= 1
                    spacing = 20
                } else if s >= 30 {
                    let r = rng.below(1000)
                    switch r {
                    case 0..<20 where last != nil:  // a retry: the same input and model (and, for the slow model, a slow latency)
                        (input, model) = (last!.input, last!.model)
                        if model == "model-slow" { latency = UInt32(31_000 + rng.below(28_000)) }
                    case 20..<30 where last != nil: (input, model) = (last!.input, last!.model == "model-b" ? "model-a" : "model-b")  // a hedge
                    case 30..<40: actionType = "translate"
                    case 40..<45: actionType = "delete_account"
                    case 45..<50: actionType = "send_email"
                    case 50..<60: target = "evil.example.net/x\(s)"
                    case 60..<80: aflags = flagsCycle[s % 4].0
                    case 80..<85: (model, latency) = ("model-slow", UInt32(31_000 + rng.below(28_000)))
                    case 85..<90 where s - lastAnomaly >= 20:
                        latency = UInt32(1 + rng.below(9))
                        lastAnomaly = s
                    case 90..<92: burst = 60  // the next 60 actions 20 ms apart
                    case 92..<94: stamp = clock - 5_000  // a clock that went back 5 s
                    default: break
                    }
                }
                // Some agents' last action has a timestamp in the year 2100: ahead of any
                // collector's clock (the entries after it are receipts or none).
                if s == length - 1 - (length % 50 == 0 ? 1 : 0) && a % 7 == 3 { stamp = 4_102_444_800_000 }
                clock += spacing
                // The trust flags, as SPEC 2.4 defines them. The rate and retry windows run on
                // the collector's clock over the agent's last `recentActions` actions; a replay
                // delivers every agent's actions within the retry window and faster than any
                // policy's max_per_minute, so all of those actions count.
                var f: TrustFlags = []
                if let (at, m) = inputs[input], at >= actions - recentActions {
                    if let m, m != model { f.insert(.hedged) } else { f.insert(.retried) }
                }
                for (af, tf) in flagsCycle where aflags.contains(af) { f.insert(tf) }
                if latency > highLatencyMs { f.insert(.highLatency) }
                if model == "model-a" && latency < 10 { f.insert(.speedAnomaly) }
                if let t = stamp, t > clock { f.insert(.clockSkew) }
                var v: PolicyViolations = []
                if let p = policy {
                    if !p.allowActions.isEmpty && !p.allowActions.contains(actionType) { v.insert(.actionNotAllowed) }
                    if p.denyActions.contains(actionType) { v.insert(.actionDenied) }
                    if !p.allowTargets.isEmpty && !p.allowTargets.contains(where: { globMatches($0, target) }) {
                        v.insert(.targetNotAllowed)
                    }
                    if p.maxPerMinute > 0 && min(actions, recentActions) + 1 > Int(p.maxPerMinute) { v.insert(.rateExceeded) }
                }
                inputs[input] = (actions, model)
                actions += 1
                last = (input, model)
                body = .action(ActionBody(
                    actionType: actionType, target: target, contentHash: SHA256.hash(Array("\(o.seed)-\(a)-\(s)".utf8)), inputHash: input,
                    modelID: model, latencyMs: latency, requestCommitment: s % 50 >= 46 ? run : nil, flags: aflags))
                expected = .stored(v, f)
            }
            let ts = stamp ?? clock
            // clock_regressed: more than a second below the highest timestamp so far.
            if s > 0 && ts + 1000 < maxTimestamp {
                if let f = receiptFlags {
                    expected = .stored([], f.union(.clockRegressed))
                } else {
                    expected = Expectation(
                        status: 8, violations: expected.violations, detail: expected.detail | TrustFlags.clockRegressed.rawValue)
                }
            }
            maxTimestamp = max(maxTimestamp, ts)
            let e = try! EntryCodec.sign(UnsignedEntry(signer: key.publicKey, seq: UInt64(s), timestampMs: ts, prev: prev, body: body), with: key)
            prev = e.hash
            chain.append((e, expected))
            if s % 256 == 255 { progress(256) }
        }
        progress(length % 256)
        return chain
    }

    /// Owners' registrations and policies (phase 1), then entries the accountability rules must
    /// refuse (phase 2, after phase 1 is stored): another owner registering a governed agent
    /// (70), declaring its policy (71), and a policy for an unregistered agent (72). Phase 1 also
    /// holds stale policy versions (73) and registrations with a wrong proof of possession
    /// (bad_signature 21). Refused entries take no seq: the next entry reuses it.
    static func governance(_ o: CorpusOptions) -> (phases: [Corpus.Phase], owners: Int) {
        let governed = governedAgents(o.agents)
        let owners = max(1, (governed.count + 9) / 10)
        let slots = Slots<([[UInt8]], [Expectation])>(count: owners, empty: ([], []))
        DispatchQueue.concurrentPerform(iterations: owners) { w in
            let owner = ownerKey(seed: o.seed, index: w)
            var seq: UInt64 = 0
            var prev = Bytes32.zero
            var out: ([[UInt8]], [Expectation]) = ([], [])
            func sign(_ body: EntryBody, _ x: Expectation, advance: Bool) {
                let e = try! EntryCodec.sign(
                    UnsignedEntry(signer: owner.publicKey, seq: seq, timestampMs: base - 3_600_000 + seq * 1000, prev: prev, body: body), with: owner)
                out.0.append(e.encoded)
                out.1.append(x)
                if advance {
                    seq += 1
                    prev = e.hash
                }
            }
            for (i, a) in governed.enumerated() where i % owners == w {
                let agent = Corpus.agentKey(seed: o.seed, index: a)
                let pop = agent.sign(RegistrationBody.possessionMessage(owner: owner.publicKey, agent: agent.publicKey))
                if i % 10 == 5 {
                    let wrong = owner.sign(RegistrationBody.possessionMessage(owner: owner.publicKey, agent: agent.publicKey))
                    sign(.registration(RegistrationBody(agent: agent.publicKey, label: "agent \(a)", evidenceHash: nil, agentSignature: wrong)),
                         .badSignature(.badProofOfPossession), advance: false)
                }
                sign(.registration(RegistrationBody(
                    agent: agent.publicKey, label: "bench agent \(a)", evidenceHash: SHA256.hash(Array("\(o.seed)-evidence-\(a)".utf8)),
                    agentSignature: pop)), .accepted, advance: true)
                let ps = policies(seed: o.seed, agent: a, key: agent.publicKey)
                for p in ps { sign(.policy(p), .accepted, advance: true) }
                if ps.count > 1 { sign(.policy(ps[0]), .rejected(.stalePolicyVersion), advance: false) }
            }
            slots.buffer[w] = out
        }
        let setup = interleave(Array(slots.buffer))
        // Phase 2: a rogue key, never stored, so every entry of it is at seq 0.
        let rogue = rogueKey(seed: o.seed)
        var refused = Corpus.Phase(entries: [], expected: [])
        func refuse(_ body: EntryBody, _ code: TrailError.Code) {
            let e = try! EntryCodec.sign(UnsignedEntry(signer: rogue.publicKey, seq: 0, timestampMs: base, prev: .zero, body: body), with: rogue)
            refused.entries.append(e.encoded)
            refused.expected.append(.rejected(code))
        }
        let a0 = Corpus.agentKey(seed: o.seed, index: 0)
        let doc = SHA256.hash(Array("\(o.seed)-rogue-policy".utf8))
        refuse(.registration(RegistrationBody(
            agent: a0.publicKey, label: "not mine", evidenceHash: nil,
            agentSignature: a0.sign(RegistrationBody.possessionMessage(owner: rogue.publicKey, agent: a0.publicKey)))), .alreadyRegistered)
        refuse(.policy(PolicyBody(agent: a0.publicKey, version: 9, documentHash: doc, allowActions: [], denyActions: [], allowTargets: [], maxPerMinute: 1)), .notOwner)
        let unregistered = o.agents > 1 ? Corpus.agentKey(seed: o.seed, index: 1).publicKey : SHA256.hash(Array("\(o.seed)-nobody".utf8))
        refuse(.policy(PolicyBody(agent: unregistered, version: 1, documentHash: doc, allowActions: [], denyActions: [], allowTargets: [], maxPerMinute: 1)), .agentNotRegistered)
        return ([setup, refused], owners)
    }

    /// Observers' reports about agents, in the main phase: one observer per 200 agents, one
    /// report per 10,000 agent entries (at least 6), every category. Every third is an
    /// `unlogged_action` for an hour before the subject's first entry (a gap signal); the
    /// others observe the subject's first ten minutes and some refer to its first entry.
    static func reportStreams(_ o: CorpusOptions, _ agents: [AgentStream]) -> [([[UInt8]], [Expectation])] {
        let observers = max(1, o.agents / 200)
        let reports = max(6, o.entries / 10_000)
        var out = [([[UInt8]], [Expectation])](repeating: ([], []), count: observers)
        var heads = [(UInt64, Bytes32)](repeating: (0, .zero), count: observers)
        for r in 0..<reports {
            let w = r % observers
            let key = observerKey(seed: o.seed, index: w)
            let subject = (r * 7919) % o.agents
            let first = agents[subject].firstTimestamp
            let gap = r % 3 == 0
            let category: ReportCategory = gap ? .unloggedAction : ReportCategory(rawValue: UInt8(r % 5))!
            let body = ReportBody(
                subject: Corpus.agentKey(seed: o.seed, index: subject).publicKey, category: category, severity: Severity(rawValue: UInt8(r % 4))!,
                observedFromMs: gap ? first - 3_600_000 : first, observedToMs: gap ? first - 60_000 : first + 600_000,
                refEntry: !gap && r % 2 == 0 ? agents[subject].firstHash : nil, evidenceHash: SHA256.hash(Array("\(o.seed)-evidence-report-\(r)".utf8)),
                description: "bench report \(r)")
            let (seq, prev) = heads[w]
            let e = try! EntryCodec.sign(UnsignedEntry(signer: key.publicKey, seq: seq, timestampMs: base + seq * 1000, prev: prev, body: .report(body)), with: key)
            heads[w] = (seq + 1, e.hash)
            out[w].0.append(e.encoded)
            out[w].1.append(.accepted)
        }
        return out
    }
}

struct ReplayResult {
    /// Entries answered in the measured (last) phase.
    var completed = 0
    /// Every answer, all phases.
    var counts = StatusCounts()
    /// What the corpus expected for the entries that were sent.
    var expected = StatusCounts()
    var mismatches = 0
    var mismatchExamples: [String] = []
    /// Encoded bytes of the entries stored (accepted or noted), all phases.
    var storedBytes = 0
    var unsent = 0
    var setupEntries = 0
    var setupSeconds = 0.0
    var seconds = 0.0
    /// (latency ms, entries) per batch of the measured phase, from the send to the ack.
    var latencies: [(Double, Int)] = []

    var accepted: Int { counts.byStatus[0] }
    var noted: Int { counts.byStatus[8] }
    var duplicates: Int { counts.byStatus[1] }
    /// Not stored and not a duplicate.
    var rejected: Int { counts.byStatus.reduce(0, +) - accepted - noted - duplicates }
    var notStoredByStatus: [String: Int] {
        var d: [String: Int] = [:]
        for (i, n) in counts.byStatus.enumerated() where n > 0 && ![0, 1, 8].contains(i) { d[Expectation.names[i]] = n }
        return d
    }

    mutating func merge(_ r: ReplayResult) {
        counts.merge(r.counts)
        expected.merge(r.expected)
        mismatches += r.mismatches
        mismatchExamples += r.mismatchExamples.prefix(max(0, 10 - mismatchExamples.count))
        storedBytes += r.storedBytes
        unsent += r.unsent
        latencies += r.latencies
        completed += r.completed
    }

    func percentile(_ p: Double) -> Double {
        let sorted = latencies.sorted { $0.0 < $1.0 }
        let total = sorted.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return 0 }
        let target = Double(total) * p
        var seen = 0
        for (ms, n) in sorted {
            seen += n
            if Double(seen) >= target { return (ms * 100).rounded() / 100 }
        }
        return sorted.last!.0
    }
}

/// Streams a corpus over many connections, each signer's entries over one connection in order,
/// one phase after the other: a phase's every ack arrives before the next phase starts.
struct Replayer {
    let corpus: Corpus
    let server: String
    let connections: Int
    let batch: Int
    let window: Int
    let rate: Double?
    let timeout: Double
    /// Entries acknowledged so far, all phases (progress, memory marks).
    let acked: Counter

    func run() async throws -> ReplayResult {
        let (host, port) = try parseAddress(server)
        // Each signer keeps one connection through all phases.
        var laneOf: [Bytes32: Int] = [:]
        let lanesByPhase: [[[Int]]] = corpus.phases.map { phase in
            var lanes = [[Int]](repeating: [], count: connections)
            for (i, e) in phase.entries.enumerated() {
                let signer = e.count >= 34 ? Bytes32(e[2..<34])! : .zero
                let lane: Int
                if let l = laneOf[signer] {
                    lane = l
                } else {
                    lane = laneOf.count % connections
                    laneOf[signer] = lane
                }
                lanes[lane].append(i)
            }
            return lanes
        }
        var conns: [TrailConnection] = []
        for _ in 0..<connections { conns.append(try await TrailConnection.connect(host: host, port: port, clientName: "trail-bench")) }
        let maxBatch = max(1, min(batch, Int(conns[0].limits.maxBatch)))
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(timeout)
        // A hard bound: if acks stop coming, closing the connections fails what is in flight.
        let all = conns
        let watchdog = Task {
            try await Task.sleep(until: deadline + .seconds(60), clock: clock)
            for c in all { await c.close() }
        }
        do {
            let r = try await replayPhases(lanesByPhase, conns, maxBatch: maxBatch, deadline: deadline, clock: clock)
            watchdog.cancel()
            for c in conns { await c.close() }
            return r
        } catch {
            watchdog.cancel()
            for c in conns { await c.close() }
            throw error
        }
    }

    private func replayPhases(
        _ lanesByPhase: [[[Int]]], _ conns: [TrailConnection], maxBatch: Int, deadline: ContinuousClock.Instant, clock: ContinuousClock
    ) async throws -> ReplayResult {
        var result = ReplayResult()
        for (p, lanes) in lanesByPhase.enumerated() {
            let measured = p == lanesByPhase.count - 1
            let phaseStart = clock.now
            let perLaneRate = measured ? rate.map { $0 / Double(max(1, lanes.filter { !$0.isEmpty }.count)) } : nil
            let phase = corpus.phases[p]
            let merged = try await withThrowingTaskGroup(of: ReplayResult.self) { group in
                let busy = max(1, lanes.filter { !$0.isEmpty }.count)
                for (i, lane) in lanes.enumerated() where !lane.isEmpty {
                    let conn = conns[i]
                    // Paced lanes start out of phase, evenly over one batch interval, so that their
                    // batches arrive spread out instead of all at once.
                    let phaseShift = perLaneRate.map { Double(maxBatch) / $0 * Double(i % busy) / Double(busy) } ?? 0
                    group.addTask {
                        try await replayLane(
                            phase, lane, conn, maxBatch: maxBatch, laneRate: perLaneRate, phaseShift: phaseShift, deadline: deadline,
                            clock: clock, phase: p)
                    }
                }
                var merged = ReplayResult()
                for try await r in group { merged.merge(r) }
                return merged
            }
            if measured {
                result.seconds = (clock.now - phaseStart).seconds
                result.completed = merged.completed
                result.latencies = merged.latencies
            } else {
                result.setupEntries += merged.completed
                result.setupSeconds += (clock.now - phaseStart).seconds
            }
            var m = merged
            m.latencies = []
            m.completed = 0
            result.merge(m)
        }
        return result
    }

    private func replayLane(
        _ phase: Corpus.Phase, _ lane: [Int], _ conn: TrailConnection, maxBatch: Int, laneRate: Double?, phaseShift: Double,
        deadline: ContinuousClock.Instant, clock: ContinuousClock, phase p: Int
    ) async throws -> ReplayResult {
        var result = ReplayResult()
        let laneStart = clock.now + .seconds(phaseShift)
        let acked = self.acked
        try await withThrowingTaskGroup(of: (Double, [AppendStatus], ArraySlice<Int>).self) { group in
            var offset = 0
            var inFlight = 0
            func absorb(_ r: (Double, [AppendStatus], ArraySlice<Int>)) {
                result.latencies.append((r.0, r.1.count))
                result.completed += r.1.count
                for (s, i) in zip(r.1, r.2) {
                    let got = Expectation(s)
                    let want = phase.expected[i]
                    result.counts.add(got)
                    result.expected.add(want)
                    if got.isStored { result.storedBytes += phase.entries[i].count }
                    if got != want {
                        result.mismatches += 1
                        if result.mismatchExamples.count < 10 {
                            result.mismatchExamples.append("phase \(p + 1) entry \(i): expected \(want.description), got \(got.description)")
                        }
                    }
                }
                acked.add(r.1.count)
            }
            while offset < lane.count && clock.now < deadline {
                if inFlight >= window, let r = try await group.next() {
                    inFlight -= 1
                    absorb(r)
                }
                if let laneRate {
                    // Pace: the batch starting at entry k may leave at k/rate seconds.
                    let due = laneStart + .seconds(Double(offset) / laneRate)
                    if due > clock.now { try await Task.sleep(until: due, clock: clock) }
                }
                let indices = lane[offset..<min(lane.count, offset + maxBatch)]
                offset += indices.count
                inFlight += 1
                let slice = indices.map { phase.entries[$0] }
                let t0 = clock.now
                // Queued now (batches leave in order); the ack's time is taken on the event loop
                // when it arrives, not when this task gets to run again.
                let reply = conn.sendAppend(slice).map { statuses in ((clock.now - t0).seconds * 1000, statuses) }
                group.addTask {
                    let (ms, statuses) = try await reply.get()
                    return (ms, statuses, indices)
                }
            }
            while let r = try await group.next() { absorb(r) }
            result.unsent = lane.count - offset
        }
        return result
    }
}

/// A shared counter.
final class Counter: Sendable {
    private let v = Atomic<Int>(0)
    @discardableResult func add(_ n: Int) -> Int { v.wrappingAdd(n, ordering: .relaxed).newValue }
    var value: Int { v.load(ordering: .relaxed) }
}

/// Per-index result slots that parallel workers fill, each writing only its own indices.
final class Slots<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(count: Int, empty: T) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: empty)
    }
    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }
}
