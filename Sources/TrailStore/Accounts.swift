import Foundation
import TrailCore

extension AgentRecord {
    static let size = 32 + 8 + 8 + 4

    func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.bytes32(owner)
        w.u64(registration)
        w.u64(policy ?? .max)
        w.u32(policyVersion)
        return w.bytes
    }

    init(_ v: UnsafeRawBufferPointer) {
        let p = Key.readU64(v, at: 40)
        self.init(
            owner: Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: v[0..<32])), registration: Key.readU64(v, at: 32),
            policy: p == .max ? nil : p, policyVersion: Key.readU32(v, at: 48))
    }
}

extension AccountDelta.CounterID {
    var key: [UInt8] { signer.bytes + [kind.rawValue, id] }
}

extension ChainStore {
    // MARK: Accountability reads

    /// An agent's record (owner, active policy), read through `txn`.
    public func agentRecord(_ agent: PublicKey, in txn: borrowing LMDBTransaction) throws -> AgentRecord? {
        try agent.withUnsafeBytes { k in try txn.withValue(agents, k) { $0.map(AgentRecord.init) } }
    }

    /// Every policy declared for `agent` by its owner, oldest first: log index and version.
    public func policyHistory(_ agent: PublicKey) throws -> [(index: UInt64, version: UInt32)] {
        try environment.read { txn in
            var out: [(UInt64, UInt32)] = []
            try agent.withUnsafeBytes { s in
                try txn.scan(policies, from: s) { k, v in
                    guard k.count == 40, Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: k[0..<32])) == agent else { return false }
                    out.append((Key.readU64(k, at: 32), UInt32(v[0]) << 24 | UInt32(v[1]) << 16 | UInt32(v[2]) << 8 | UInt32(v[3])))
                    return true
                }
            }
            return out
        }
    }

    /// A signer's counters of one kind: id -> count.
    public func counters(_ signer: PublicKey, _ kind: CounterKind) throws -> [UInt8: UInt64] {
        try environment.read { txn in
            var out: [UInt8: UInt64] = [:]
            try (signer.bytes + [kind.rawValue]).withUnsafeBytes { s in
                try txn.scan(counters, from: s) { k, v in
                    guard k.count == 34, Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: k[0..<32])) == signer, k[32] == kind.rawValue else {
                        return false
                    }
                    out[k[33]] = Key.readU64(v)
                    return true
                }
            }
            return out
        }
    }

    public struct ReportRecord: Sendable {
        public let index: UInt64
        public let reporter: PublicKey
        public let category: ReportCategory
        public let fromMs: UInt64
        public let toMs: UInt64
    }

    /// Reports about `subject`, in log order.
    public func reports(about subject: PublicKey) throws -> [ReportRecord] {
        try environment.read { txn in
            var out: [ReportRecord] = []
            try subject.withUnsafeBytes { s in
                try txn.scan(reports, from: s) { k, v in
                    guard k.count == 40, Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: k[0..<32])) == subject else { return false }
                    out.append(ReportRecord(
                        index: Key.readU64(k, at: 32), reporter: Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: v[0..<32])),
                        category: ReportCategory(rawValue: v[32]) ?? .other, fromMs: Key.readU64(v, at: 33), toMs: Key.readU64(v, at: 41)))
                    return true
                }
            }
            return out
        }
    }

    /// Log indices of the entries (actions and receipts) carrying `commitment`.
    public func run(_ commitment: Bytes32) throws -> [UInt64] {
        try environment.read { txn in
            var out: [UInt64] = []
            try commitment.withUnsafeBytes { s in
                try txn.scan(runs, from: s) { k, _ in
                    guard k.count == 40, Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: k[0..<32])) == commitment else { return false }
                    out.append(Key.readU64(k, at: 32))
                    return true
                }
            }
            return out
        }
    }

    /// A signer's noted entries (violations or flags) from log index `from`.
    public func notes(of signer: PublicKey, fromIndex: UInt64, limit: Int) throws -> [(index: UInt64, violations: PolicyViolations, flags: TrustFlags)] {
        try environment.read { txn in
            var out: [(UInt64, PolicyViolations, TrustFlags)] = []
            try (signer.bytes + Key.u64(fromIndex)).withUnsafeBytes { s in
                try txn.scan(notes, from: s) { k, v in
                    guard out.count < limit, k.count == 40, Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: k[0..<32])) == signer else { return false }
                    out.append((Key.readU64(k, at: 32), PolicyViolations(rawValue: v[0]), TrustFlags(rawValue: UInt16(v[1]) << 8 | UInt16(v[2]))))
                    return true
                }
            }
            return out
        }
    }

    public func modelStats(_ model: String, in txn: borrowing LMDBTransaction) throws -> ModelStats {
        try Array(model.utf8).withUnsafeBytes { k in
            try txn.withValue(models, k) { v in
                guard let v, v.count == 16 else { return ModelStats() }
                return ModelStats(count: Key.readU64(v), meanLatencyMs: Double(bitPattern: Key.readU64(v, at: 8)))
            }
        }
    }

    // MARK: Accountability writes

    func write(_ d: AccountDelta, _ txn: borrowing LMDBTransaction) throws {
        for (agent, record) in d.agents {
            try agent.withUnsafeBytes { k in try record.encode().withUnsafeBytes { v in try txn.put(agents, k, v) } }
        }
        for p in d.policies {
            var w = ByteWriter(capacity: 4)
            w.u32(p.version)
            try (p.agent.bytes + Key.u64(p.index)).withUnsafeBytes { k in try w.bytes.withUnsafeBytes { v in try txn.put(policies, k, v) } }
        }
        for n in d.notes {
            var w = ByteWriter(capacity: 3)
            w.u8(n.violations.rawValue)
            w.u16(n.flags.rawValue)
            try (n.signer.bytes + Key.u64(n.index)).withUnsafeBytes { k in try w.bytes.withUnsafeBytes { v in try txn.put(notes, k, v) } }
        }
        for (id, increment) in d.counters {
            try id.key.withUnsafeBytes { k in
                let current = try txn.withValue(counters, k) { $0.map { Key.readU64($0) } } ?? 0
                try Key.u64(current + increment).withUnsafeBytes { v in try txn.put(counters, k, v) }
            }
        }
        for r in d.reports {
            var w = ByteWriter(capacity: 49)
            w.bytes32(r.reporter)
            w.u8(r.category.rawValue)
            w.u64(r.fromMs)
            w.u64(r.toMs)
            try (r.subject.bytes + Key.u64(r.index)).withUnsafeBytes { k in try w.bytes.withUnsafeBytes { v in try txn.put(reports, k, v) } }
        }
        var key = ByteWriter(capacity: 40)
        for r in d.runs {
            key.bytes.removeAll(keepingCapacity: true)
            key.bytes32(r.commitment)
            key.u64(r.index)
            try key.bytes.withUnsafeBytes { k in try txn.put(runs, k, UnsafeRawBufferPointer(start: nil, count: 0)) }
        }
        for (model, stats) in d.models {
            try Array(model.utf8).withUnsafeBytes { k in
                try (Key.u64(stats.count) + Key.u64(stats.meanLatencyMs.bitPattern)).withUnsafeBytes { v in try txn.put(models, k, v) }
            }
        }
    }
}

