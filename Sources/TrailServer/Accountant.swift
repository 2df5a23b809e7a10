import TrailCore
import TrailStore

/// The accountability rules, applied by the sequencer to every entry that passed the chain rules,
/// in log order: registrations bind an agent to one owner, policies come only from that owner in
/// increasing versions, actions are checked against the active policy and get trust flags,
/// reports and runs are indexed. Runs on the sequencer thread only.
///
/// Committed state lives here (a cache of what LMDB holds, loaded per agent on first use); a
/// group works on copies in a `Scratch`, which become the committed state only after the group
/// is durable, because a group's decision may run twice (map growth).
final class Accountant {
    let store: ChainStore
    let rules: TrustRules
    /// Recent actions kept per agent for the rate and retry rules (between this and twice this).
    static let recentLimit = 1024
    var keepWindowMs: UInt64 { max(rules.retryWindowMs, 60_000) }

    struct Recent {
        let timestampMs: UInt64
        let input: Bytes32?
        let model: String?
    }

    struct AgentState {
        var record: AgentRecord?
        var policy: PolicyBody?
    }

    /// A group's changes. Recent actions are kept as additions (never as modified copies of the
    /// committed lists), so that a group copies nothing per action.
    struct Scratch {
        var agents: [PublicKey: AgentState] = [:]
        var models: [String: ModelStats] = [:]
        /// Recent actions loaded from LMDB for agents not yet in the cache.
        var loaded: [PublicKey: [Recent]] = [:]
        /// This group's actions, per agent.
        var added: [PublicKey: [Recent]] = [:]
    }

    enum Verdict {
        case reject(TrailError)
        case accept(PolicyViolations, TrustFlags)
    }

    private var agents: [PublicKey: AgentState] = [:]
    private var models: [String: ModelStats] = [:]
    /// Committed recent actions per agent; present once loaded.
    private var recent: [PublicKey: [Recent]] = [:]

    init(store: ChainStore, rules: TrustRules) {
        self.store = store
        self.rules = rules
    }

    /// Makes a durable group's scratch the committed state.
    func commit(_ scratch: Scratch) {
        for (k, v) in scratch.agents { agents[k] = v }
        for (k, v) in scratch.models { models[k] = v }
        for (k, v) in scratch.loaded where recent[k] == nil { recent[k] = v }
        for (k, v) in scratch.added {
            recent[k, default: []].append(contentsOf: v)
            // Trim in steps (amortized O(1) per action): past twice the limit, or once 64 or more
            // of the oldest are outside every window.
            let newest = v.map(\.timestampMs).max() ?? 0
            let r = recent[k]!
            if r.count > 2 * Self.recentLimit {
                recent[k]!.removeFirst(r.count - Self.recentLimit)
            } else if r.count >= 64 && r[63].timestampMs + keepWindowMs < newest {
                recent[k]!.removeFirst(r.prefix { $0.timestampMs + keepWindowMs < newest }.count)
            }
        }
    }

    private func state(_ key: PublicKey, _ scratch: inout Scratch, _ txn: borrowing LMDBTransaction) throws -> AgentState {
        if let s = scratch.agents[key] ?? agents[key] { return s }
        var s = AgentState(record: try store.agentRecord(key, in: txn))
        if let p = s.record?.policy, let bytes = try store.entry(at: p, in: txn), case .policy(let body) = try EntryCodec.decode(bytes).body {
            s.policy = body
        }
        return s
    }

    /// The agent's committed recent actions, loaded from LMDB (into the scratch) on first use.
    private func committedRecent(_ key: PublicKey, nowMs: UInt64, _ scratch: inout Scratch, _ txn: borrowing LMDBTransaction) throws -> [Recent] {
        if let r = recent[key] ?? scratch.loaded[key] { return r }
        let since = nowMs > keepWindowMs ? nowMs - keepWindowMs : 0
        var out: [Recent] = []
        for t in try store.timedEntries(of: key, sinceMs: since, limit: Self.recentLimit, in: txn) {
            guard let bytes = try store.entry(at: t.index, in: txn), case .action(let a) = try EntryCodec.decode(bytes).body else { continue }
            out.append(Recent(timestampMs: t.timestampMs, input: a.inputHash, model: a.modelID))
        }
        scratch.loaded[key] = out
        return out
    }

    /// The verdict on `entry`, accepted at `index` if the verdict is `accept`; records what the
    /// group must write in `delta` and the new state in `scratch`.
    func check(
        _ entry: Entry, index: UInt64, _ scratch: inout Scratch, _ delta: inout AccountDelta, _ txn: borrowing LMDBTransaction
    ) throws -> Verdict {
        let signer = entry.signer
        switch entry.body {
        case .registration(let r):
            var s = try state(r.agent, &scratch, txn)
            if let existing = s.record, existing.owner != signer {
                return .reject(TrailError(.alreadyRegistered, "agent \(DIDKey.encode(r.agent)) is registered to \(DIDKey.encode(existing.owner))"))
            }
            // A first registration, or the same owner registering again (a new label).
            var record = s.record ?? AgentRecord(owner: signer, registration: index)
            record.registration = index
            s.record = record
            scratch.agents[r.agent] = s
            delta.agents[r.agent] = record
            return .accept([], [])

        case .policy(let p):
            var s = try state(p.agent, &scratch, txn)
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
            return .accept([], [])

        case .action(let a):
            let s = try state(signer, &scratch, txn)
            let ts = entry.timestampMs
            let needRate = (s.policy?.maxPerMinute ?? 0) > 0
            let needRetry = a.inputHash != nil
            var inMinute = 1
            var flags: TrustFlags = []
            if needRate || needRetry {
                let minuteStart = ts >= 60_000 ? ts - 59_999 : 0
                let windowStart = ts >= rules.retryWindowMs ? ts - rules.retryWindowMs : 0
                func visit(_ r: Recent) {
                    if needRate && (minuteStart...ts).contains(r.timestampMs) { inMinute += 1 }
                    if needRetry, r.input == a.inputHash, (windowStart...ts).contains(r.timestampMs) {
                        if let m1 = r.model, let m2 = a.modelID, m1 != m2 { flags.insert(.hedged) } else { flags.insert(.retried) }
                    }
                }
                for r in try committedRecent(signer, nowMs: ts, &scratch, txn) { visit(r) }
                for r in scratch.added[signer] ?? [] { visit(r) }
            }
            let violations = s.policy?.violations(by: a, actionsInLastMinute: inMinute) ?? []
            if a.flags.contains(.incomplete) { flags.insert(.incomplete) }
            if a.flags.contains(.error) { flags.insert(.error) }
            if a.flags.contains(.humanReview) { flags.insert(.humanReview) }
            if a.flags.contains(.a2aDelegated) { flags.insert(.a2aDelegated) }
            if let latency = a.latencyMs {
                if latency > rules.highLatencyMs { flags.insert(.highLatency) }
                if let model = a.modelID {
                    var stats = try scratch.models[model] ?? models[model] ?? store.modelStats(model, in: txn)
                    if stats.count >= rules.speedMinSamples && Double(latency) < rules.speedFraction * stats.meanLatencyMs {
                        flags.insert(.speedAnomaly)
                    }
                    stats.add(latency)
                    scratch.models[model] = stats
                    delta.models[model] = stats
                }
            }
            // The committed list must be known before this group's additions count.
            if recent[signer] == nil && scratch.loaded[signer] == nil { _ = try committedRecent(signer, nowMs: ts, &scratch, txn) }
            scratch.added[signer, default: []].append(Recent(timestampMs: ts, input: a.inputHash, model: a.modelID))
            delta.times.append((signer, ts, entry.seq, index))
            if let c = a.requestCommitment { delta.runs.append((c, index)) }
            note(signer, index, violations, flags, &delta)
            return .accept(violations, flags)

        case .receipt(let r):
            var flags: TrustFlags = []
            if r.outcome == .error { flags.insert(.error) }
            if r.totalMs > rules.highLatencyMs { flags.insert(.highLatency) }
            delta.times.append((signer, entry.timestampMs, entry.seq, index))
            delta.runs.append((r.requestCommitment, index))
            note(signer, index, [], flags, &delta)
            return .accept([], flags)

        case .report(let r):
            delta.reports.append((r.subject, index, signer, r.category, r.observedFromMs, r.observedToMs))
            delta.count(r.subject, .reportCategory, r.category.rawValue)
            return .accept([], [])
        }
    }

    private func note(_ signer: PublicKey, _ index: UInt64, _ v: PolicyViolations, _ f: TrustFlags, _ delta: inout AccountDelta) {
        guard !(v.isEmpty && f.isEmpty) else { return }
        delta.notes.append((signer, index, v, f))
        for bit in 0..<8 where v.rawValue & (1 << bit) != 0 { delta.count(signer, .violation, UInt8(bit)) }
        for bit in 0..<16 where f.rawValue & (1 << bit) != 0 { delta.count(signer, .flag, UInt8(bit)) }
    }
}
