/// A signer's state as the rules engine keeps it.
public struct SignerState: Sendable, Hashable {
    public var head: ChainHead
    /// The highest timestamp among the signer's entries (`clock_regressed` compares with it).
    public var maxTimestampMs: UInt64

    public init(head: ChainHead, maxTimestampMs: UInt64) {
        self.head = head
        self.maxTimestampMs = maxTimestampMs
    }

    public static let empty = SignerState(head: .empty, maxTimestampMs: 0)
}

/// What the engine reads from committed storage, for the state it does not keep in memory.
/// Implementations answer from durable state only (never from a group being decided).
public protocol LedgerView {
    /// The log index and encoding of the entry at position `seq` of `signer`'s chain, if committed.
    func committedEntry(of signer: PublicKey, seq: UInt64) throws -> (index: UInt64, bytes: [UInt8])?
    /// The encoded entry at a log index.
    func entry(at index: UInt64) throws -> [UInt8]?
    /// An agent's record (owner, active policy).
    func agentRecord(_ agent: PublicKey) throws -> AgentRecord?
    /// A model id's latency statistics.
    func modelStats(_ model: String) throws -> ModelStats
    /// Visits `signer`'s committed entries newest first until `body` returns false: each one's
    /// log index, the collector time (ms) of the group commit that stored it, and its encoding.
    func visitChainBackwards(of signer: PublicKey, _ body: (UInt64, UInt64, [UInt8]) throws -> Bool) throws
}

/// The decisions of a collector, as a value: the chain rules (SPEC 2.1) and the accountability
/// rules (SPEC 2.4) applied to entries in log order, over the engine's own state and a read-only
/// view of committed storage. `decide` changes nothing: it returns the statuses and everything a
/// group commit must write; `apply` makes a decision the engine's state once it is durable. The
/// leader's sequencer and a verifying replica run the same code on the same log, so they reach the
/// same statuses, indexes, notes and tree.
public struct RulesEngine: Sendable {
    /// One input position of a group: a verified entry, or a verdict reached before sequencing
    /// (malformed, bad signature).
    public enum Candidate: Sendable {
        case entry(Entry, hash: Bytes32)
        case refused(AppendStatus)
    }

    /// An accepted entry with what the store keeps beside it.
    public struct Appended: Sendable {
        public let entry: Entry
        public let hash: Bytes32
    }

    /// Everything one group commit writes, in log order.
    public struct Writes: Sendable {
        /// Log index of `appended[0]`.
        public var firstIndex: UInt64
        /// The collector's time of this group (ms since the epoch), non-decreasing across groups.
        public var timeMs: UInt64
        public var appended: [Appended] = []
        /// Validly signed entries that compete with an accepted one at the same position: evidence.
        public var equivocations: [(entry: Entry, hash: Bytes32)] = []
        /// Newly completed Merkle subtrees (every level; the store keeps the ones it wants).
        public var merkleNodes: [(node: MerkleNode, hash: Bytes32)] = []
        public var accounts = AccountDelta()
        /// The tree after the group.
        public var tree: TreeHead
        /// New states of the signers this group appended to.
        public var signers: [PublicKey: SignerState] = [:]

        public var isEmpty: Bool { appended.isEmpty && equivocations.isEmpty }
    }

    /// The outcome of `decide`: one status per candidate, and what to write.
    public struct Decision: Sendable {
        public var statuses: [[AppendStatus]]
        public var writes: Writes
        fileprivate var scratch: Scratch
        fileprivate var frontier: MerkleFrontier
    }

    struct AgentState: Sendable {
        var record: AgentRecord?
        var policy: PolicyBody?
    }

    /// One of a signer's recent actions, for the rate and retry rules.
    struct Recent: Sendable {
        let timeMs: UInt64
        let input: Bytes32?
        let model: String?
    }

    /// A signer's recent actions (oldest first) and, per input hash, the newest one carrying it.
    struct Window: Sendable {
        /// Number of actions before `ring[0]` in the signer's history as far as it is loaded.
        var base = 0
        var ring: [Recent] = []
        var lastByInput: [Bytes32: Int] = [:]

        var end: Int { base + ring.count }

        mutating func append(_ r: Recent, keep: Int) {
            if let input = r.input { lastByInput[input] = end }
            ring.append(r)
            // Trim in steps of 64 so that each action costs O(1) amortised.
            if ring.count >= keep + 64 { dropFirst(ring.count - keep) }
        }

        /// Forgets the `n` oldest actions.
        mutating func dropFirst(_ n: Int) {
            for old in ring[0..<n] {
                if let input = old.input, let at = lastByInput[input], at < base + n { lastByInput[input] = nil }
            }
            ring.removeFirst(n)
            base += n
        }

        func recent(at absolute: Int) -> Recent { ring[absolute - base] }
    }

    /// A group's changes to the engine's state; committed state is never touched by `decide`.
    fileprivate struct Scratch: Sendable {
        var signers: [PublicKey: SignerState] = [:]
        var agents: [PublicKey: AgentState] = [:]
        var models: [String: ModelStats] = [:]
        /// Windows loaded from storage for signers not yet in memory.
        var loaded: [PublicKey: Window] = [:]
        /// This group's actions, per signer.
        var added: [PublicKey: [Recent]] = [:]
    }

    enum Verdict {
        case reject(TrailError)
        case accept(PolicyViolations, TrustFlags)
    }

    public let rules: TrustRules
    public private(set) var signers: [PublicKey: SignerState]
    public private(set) var frontier: MerkleFrontier
    /// The collector time of the last group (group times never go backwards).
    public private(set) var lastTimeMs: UInt64
    private var agents: [PublicKey: AgentState] = [:]
    private var models: [String: ModelStats] = [:]
    private var windows: [PublicKey: Window] = [:]

    /// An engine over a log of `frontier.size` entries whose signers are in `signers`.
    public init(rules: TrustRules, signers: [PublicKey: SignerState], frontier: MerkleFrontier, lastTimeMs: UInt64) {
        self.rules = rules
        self.signers = signers
        self.frontier = frontier
        self.lastTimeMs = lastTimeMs
    }

    /// The next log index.
    public var nextIndex: UInt64 { frontier.size }
    public var tree: TreeHead { TreeHead(size: frontier.size, root: frontier.root) }

    /// The head of a signer's chain as the engine knows it (committed).
    public func head(of signer: PublicKey) -> ChainHead { signers[signer]?.head ?? .empty }

    /// How far back the rate and retry rules look, in collector time.
    var keepWindowMs: UInt64 { max(rules.retryWindowMs, 60_000) }

    // MARK: Deciding

    /// Applies the rules to `batches` in order, as one group commit at collector time `nowMs`
    /// (raised to the last group's time if the clock went back). Pure: `self` is not changed.
    public func decide(_ batches: [[Candidate]], nowMs: UInt64, view: some LedgerView) throws -> Decision {
        let time = max(nowMs, lastTimeMs)
        var scratch = Scratch()
        var tree = frontier
        var writes = Writes(firstIndex: tree.size, timeMs: time, tree: TreeHead(size: 0, root: .zero))
        var all: [[AppendStatus]] = []
        all.reserveCapacity(batches.count)
        for batch in batches {
            var statuses: [AppendStatus] = []
            statuses.reserveCapacity(batch.count)
            for candidate in batch {
                switch candidate {
                case .refused(let s):
                    statuses.append(s)
                case .entry(let entry, let hash):
                    statuses.append(try sequence(entry, hash, time, &tree, &scratch, &writes, view))
                }
            }
            all.append(statuses)
        }
        writes.tree = TreeHead(size: tree.size, root: tree.root)
        writes.signers = scratch.signers
        return Decision(statuses: all, writes: writes, scratch: scratch, frontier: tree)
    }

    private func state(of signer: PublicKey, _ scratch: Scratch) -> SignerState {
        scratch.signers[signer] ?? signers[signer] ?? .empty
    }

    private func sequence(
        _ entry: Entry, _ hash: Bytes32, _ time: UInt64, _ tree: inout MerkleFrontier, _ scratch: inout Scratch,
        _ writes: inout Writes, _ view: some LedgerView
    ) throws -> AppendStatus {
        var signer = state(of: entry.signer, scratch)
        let head = signer.head
        if entry.seq > head.nextSeq { return .gap(head: head) }
        if entry.seq < head.nextSeq {
            // A position already taken: the very same entry again, or a competing one (evidence).
            if entry.seq >= (signers[entry.signer]?.head.nextSeq ?? 0) {
                // Taken within this group (rare: a batch resent while the first is in flight).
                if let i = writes.appended.lastIndex(where: { $0.entry.signer == entry.signer && $0.entry.seq == entry.seq }),
                    writes.appended[i].hash == hash
                {
                    return .duplicate(index: writes.firstIndex + UInt64(i))
                }
            } else if let stored = try view.committedEntry(of: entry.signer, seq: entry.seq), stored.bytes == entry.encoded {
                return .duplicate(index: stored.index)
            }
            writes.equivocations.append((entry, hash))
            return .equivocation(head: head)
        }
        guard entry.prev == head.hash else { return .conflict(head: head) }
        let index = tree.size
        let verdict = try check(entry, index: index, time: time, signer, &scratch, &writes.accounts, view)
        guard case .accept(let violations, let flags) = verdict else {
            if case .reject(let e) = verdict { return .rejected(e.code) }
            return .rejected(.invalidValue)
        }
        writes.appended.append(Appended(entry: entry, hash: hash))
        tree.append(hash) { node, nodeHash in
            if node.level > 0 { writes.merkleNodes.append((node, nodeHash)) }
        }
        signer.head = ChainHead(nextSeq: entry.seq + 1, hash: hash)
        signer.maxTimestampMs = max(signer.maxTimestampMs, entry.timestampMs)
        scratch.signers[entry.signer] = signer
        return .accepted(index: index, violations: violations, flags: flags)
    }

    private func agentState(_ key: PublicKey, _ scratch: inout Scratch, _ view: some LedgerView) throws -> AgentState {
        if let s = scratch.agents[key] ?? agents[key] { return s }
        var s = AgentState(record: try view.agentRecord(key))
        if let p = s.record?.policy, let bytes = try view.entry(at: p), case .policy(let body) = try EntryCodec.decode(bytes).body {
            s.policy = body
        }
        scratch.agents[key] = s
        return s
    }

    /// The signer's committed window, loaded from storage (into the scratch) the first time.
    private func window(_ signer: PublicKey, _ scratch: inout Scratch, _ view: some LedgerView) throws -> Window {
        if let w = windows[signer] ?? scratch.loaded[signer] { return w }
        var newestFirst: [Recent] = []
        var horizon: UInt64?
        try view.visitChainBackwards(of: signer) { index, time, bytes in
            guard newestFirst.count < rules.recentActions else { return false }
            if horizon == nil { horizon = time > keepWindowMs ? time - keepWindowMs : 0 }
            guard time >= horizon! else { return false }
            if case .action(let a) = try EntryCodec.decode(bytes).body {
                newestFirst.append(Recent(timeMs: time, input: a.inputHash, model: a.modelID))
            }
            return true
        }
        var w = Window()
        for r in newestFirst.reversed() { w.append(r, keep: rules.recentActions) }
        scratch.loaded[signer] = w
        return w
    }

    /// The accountability verdict on an entry that passed the chain rules, accepted at `index`.
    private func check(
        _ entry: Entry, index: UInt64, time: UInt64, _ signerState: SignerState, _ scratch: inout Scratch,
        _ delta: inout AccountDelta, _ view: some LedgerView
    ) throws -> Verdict {
        let signer = entry.signer
        var clockFlags: TrustFlags = []
        if entry.seq > 0 && entry.timestampMs + rules.clockToleranceMs < signerState.maxTimestampMs { clockFlags.insert(.clockRegressed) }
        if entry.timestampMs > time + rules.maxSkewMs { clockFlags.insert(.clockSkew) }
        switch entry.body {
        case .registration(let r):
            var s = try agentState(r.agent, &scratch, view)
            if let existing = s.record, existing.owner != signer {
                return .reject(TrailError(.alreadyRegistered, "agent \(DIDKey.encode(r.agent)) is registered to \(DIDKey.encode(existing.owner))"))
            }
            // A first registration, or the same owner registering again (a new label).
            var record = s.record ?? AgentRecord(owner: signer, registration: index)
            record.registration = index
            s.record = record
            scratch.agents[r.agent] = s
            delta.agents[r.agent] = record
            note(signer, index, [], clockFlags, &delta)
            return .accept([], clockFlags)

        case .policy(let p):
            var s = try agentState(p.agent, &scratch, view)
            guard var record = s.record else {
                return .reject(TrailError(.agentNotRegistered, "agent \(DIDKey.encode(p.agent)) has no registration"))
            }
            guard record.owner == signer else {
                return .reject(TrailError(.notOwner, "only the agent's owner \(DIDKey.encode(record.owner)) declares its policies"))
            }
            guard p.version > record.policyVersion else {
                return .reject(TrailError(.stalePolicyVersion, "policy version \(p.version) is not above the active \(record.policyVersion)"))
            }
            record.policy = index
            record.policyVersion = p.version
            s.record = record
            s.policy = p
            scratch.agents[p.agent] = s
            delta.agents[p.agent] = record
            delta.policies.append((p.agent, index, p.version))
            note(signer, index, [], clockFlags, &delta)
            return .accept([], clockFlags)

        case .action(let a):
            let s = try agentState(signer, &scratch, view)
            var flags = clockFlags
            var inMinute = 1
            let needRate = (s.policy?.maxPerMinute ?? 0) > 0
            let committed = try window(signer, &scratch, view)
            let added = scratch.added[signer] ?? []
            // The rules see the signer's most recent `recentActions` actions before this one.
            let visibleFrom = committed.end + added.count - rules.recentActions
            if needRate {
                let minuteStart = time >= 60_000 ? time - 59_999 : 0
                inMinute += added.suffix(rules.recentActions).reduce(0) { $0 + ($1.timeMs >= minuteStart ? 1 : 0) }
                // Times in the window never decrease: the in-minute actions are a suffix.
                let first = max(visibleFrom, committed.base)
                if first < committed.end {
                    var lo = first - committed.base
                    var hi = committed.ring.count
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if committed.ring[mid].timeMs >= minuteStart { hi = mid } else { lo = mid + 1 }
                    }
                    inMinute += committed.ring.count - lo
                }
            }
            if let input = a.inputHash {
                // The newest earlier action with the same input hash, if it is recent enough.
                var match: Recent?
                if let j = added.lastIndex(where: { $0.input == input }) {
                    if committed.end + j >= visibleFrom { match = added[j] }
                } else if let at = committed.lastByInput[input], at >= visibleFrom {
                    match = committed.recent(at: at)
                }
                let windowStart = time >= rules.retryWindowMs ? time - rules.retryWindowMs : 0
                if let r = match, r.timeMs >= windowStart {
                    if let m1 = r.model, let m2 = a.modelID, m1 != m2 { flags.insert(.hedged) } else { flags.insert(.retried) }
                }
            }
            let violations = s.policy?.violations(by: a, actionsInLastMinute: inMinute) ?? []
            if a.flags.contains(.incomplete) { flags.insert(.incomplete) }
            if a.flags.contains(.error) { flags.insert(.error) }
            if a.flags.contains(.humanReview) { flags.insert(.humanReview) }
            if a.flags.contains(.a2aDelegated) { flags.insert(.a2aDelegated) }
            if let latency = a.latencyMs {
                if latency > rules.highLatencyMs { flags.insert(.highLatency) }
                if let model = a.modelID {
                    var stats = try scratch.models[model] ?? models[model] ?? view.modelStats(model)
                    if stats.count >= rules.speedMinSamples && Double(latency) < rules.speedFraction * stats.meanLatencyMs {
                        flags.insert(.speedAnomaly)
                    }
                    stats.add(latency)
                    scratch.models[model] = stats
                    delta.models[model] = stats
                }
            }
            scratch.added[signer, default: []].append(Recent(timeMs: time, input: a.inputHash, model: a.modelID))
            if let c = a.requestCommitment { delta.runs.append((c, index)) }
            note(signer, index, violations, flags, &delta)
            return .accept(violations, flags)

        case .receipt(let r):
            var flags = clockFlags
            if r.outcome == .error { flags.insert(.error) }
            if r.totalMs > rules.highLatencyMs { flags.insert(.highLatency) }
            delta.runs.append((r.requestCommitment, index))
            note(signer, index, [], flags, &delta)
            return .accept([], flags)

        case .report(let r):
            delta.reports.append((r.subject, index, signer, r.category, r.observedFromMs, r.observedToMs))
            delta.count(r.subject, .reportCategory, r.category.rawValue)
            note(signer, index, [], clockFlags, &delta)
            return .accept([], clockFlags)
        }
    }

    private func note(_ signer: PublicKey, _ index: UInt64, _ v: PolicyViolations, _ f: TrustFlags, _ delta: inout AccountDelta) {
        guard !(v.isEmpty && f.isEmpty) else { return }
        delta.notes.append((signer, index, v, f))
        for bit in 0..<8 where v.rawValue & (1 << bit) != 0 { delta.count(signer, .violation, UInt8(bit)) }
        for bit in 0..<16 where f.rawValue & (1 << bit) != 0 { delta.count(signer, .flag, UInt8(bit)) }
    }

    // MARK: Applying

    /// Makes a durable decision the engine's state.
    public mutating func apply(_ decision: Decision) {
        let s = decision.scratch
        for (k, v) in s.signers { signers[k] = v }
        for (k, v) in s.agents { agents[k] = v }
        for (k, v) in s.models { models[k] = v }
        for (k, v) in s.loaded where windows[k] == nil { windows[k] = v }
        for (k, added) in s.added {
            var w = windows[k] ?? Window()
            for r in added { w.append(r, keep: rules.recentActions) }
            // Actions older than every window are no use: drop them in steps of 64 or more.
            if let newest = w.ring.last?.timeMs, w.ring.count >= 64, w.ring[63].timeMs + keepWindowMs < newest {
                w.dropFirst(w.ring.prefix { $0.timeMs + keepWindowMs < newest }.count)
            }
            windows[k] = w
        }
        frontier = decision.frontier
        lastTimeMs = decision.writes.timeMs
    }
}
