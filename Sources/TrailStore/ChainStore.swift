import Foundation
import Synchronization
import TrailCore

/// The collector's storage in one LMDB environment, laid out so that a group commit writes
/// sequentially: the log itself (`entries`, `MDB_APPEND`) is the only thing written per entry.
/// Everything derived per signer (chain positions, the hash index, time buckets) is kept in
/// memory for the recent *tail* of the log and written in blocks (one put per signer per 64
/// entries, one put per 65536 entries for the hash index), so a commit touches few pages at any
/// store size. On open, the tail is rebuilt by replaying the log from the replay point.
///
/// Databases and their keys (all integers big-endian):
/// - `entries`: log index (u64) -> encoded entry, appended
/// - `groups`: first log index of a group commit (u64) -> collector time ms (u64), appended
/// - `signers`: signer id (u32, given in order of first sight) -> public key (32), written with
///   the signer's first chain block
/// - `chains`: signer id (u32) || first seq (u64) -> max timestamp ms (u64) || log index (u64)
///   per seq from first seq on (a chain block)
/// - `hashruns`: first log index (u64) -> sorted (entry hash prefix u64 || offset u32) for the
///   next `count` entries of the log (a hash run)
/// - `times`: signer id (u32) || minute (u64) -> sorted distinct ms offsets (u16) of the
///   signer's actions and receipts in that minute of their own timestamps
/// - `merkle`: level (u8) || index (u64) -> hash of a complete subtree of the log's RFC 9162
///   tree, for levels >= `storedMerkleLevel`
/// - `equivocations`: signer (32) || seq (u64) || entry hash (32) -> encoded entry
/// - `meta`: `format` -> u32, `replay_from` -> u64 (every chain position below it is in `chains`)
/// - accountability (Accounts.swift): `agents`, `policies`, `notes`, `counters`, `reports`,
///   `runs`, `models`
public final class ChainStore: @unchecked Sendable {
    /// Complete subtrees of 2^4 = 16 leaves and up are stored: about 2 bytes per entry, and a
    /// proof recomputes at most 15 leaf hashes per level below.
    public static let storedMerkleLevel = 4
    static let format: UInt32 = 2

    /// How the derived indexes are cut; any values are correct, these trade memory for pages.
    public struct Layout: Sendable {
        /// Entries per hash run.
        public var hashRun = 65_536
        /// Chain positions per block: a signer's positions are written once it has this many new.
        public var chainBlock = 64
        /// A signer's unwritten positions are written once the oldest is this many entries old.
        public var chainHorizon = 262_144
        public init() {}
    }

    public let environment: LMDBEnvironment
    public let layout: Layout
    let entries: LMDBDatabase
    let groups: LMDBDatabase
    let signers: LMDBDatabase
    let chains: LMDBDatabase
    let hashruns: LMDBDatabase
    let times: LMDBDatabase
    let merkle: LMDBDatabase
    let equivocations: LMDBDatabase
    let meta: LMDBDatabase
    // Accountability indexes (Accounts.swift).
    let agents: LMDBDatabase
    let policies: LMDBDatabase
    let notes: LMDBDatabase
    let counters: LMDBDatabase
    let reports: LMDBDatabase
    let runs: LMDBDatabase
    let models: LMDBDatabase

    /// The in-memory tail, shared by the one writer and every reader. Readers copy what they need
    /// from it *before* opening their read transaction, so an index moving from the tail into
    /// LMDB is never missed (it is in LMDB once it has left the tail).
    let tail: Mutex<Tail>

    /// Opens or creates the store in `directory` (created if missing), replaying the tail.
    public init(directory: String, options: LMDBEnvironment.Options = .init(), layout: Layout = .init()) throws {
        // Create a missing folder; anything already at the path is LMDB's to accept or reject.
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw TrailError(.io, "cannot create directory \(directory): \(error.localizedDescription)")
            }
        }
        precondition(layout.hashRun > 0 && layout.chainBlock > 0 && layout.chainHorizon > 0)
        self.layout = layout
        environment = try LMDBEnvironment(path: directory, options: options)
        entries = try environment.database("entries")
        groups = try environment.database("groups")
        signers = try environment.database("signers")
        chains = try environment.database("chains")
        hashruns = try environment.database("hashruns")
        times = try environment.database("times")
        merkle = try environment.database("merkle")
        equivocations = try environment.database("equivocations")
        meta = try environment.database("meta")
        agents = try environment.database("agents")
        policies = try environment.database("policies")
        notes = try environment.database("notes")
        counters = try environment.database("counters")
        reports = try environment.database("reports")
        runs = try environment.database("runs")
        models = try environment.database("models")
        tail = Mutex(Tail())
        let recovered = try Self.recover(self)
        tail.withLock { $0 = recovered }
    }

    // MARK: Reads

    /// Number of entries in the log (the next log index).
    public func logSize() throws -> UInt64 { tail.withLock { $0.size } }

    /// Every signer's state (head and highest timestamp), for the rules engine at start-up.
    public func signerStates() -> [PublicKey: SignerState] {
        tail.withLock { t in t.signers.mapValues { $0.state } }
    }

    /// The collector time of the last group commit (0 for an empty log).
    public func lastGroupTime() throws -> UInt64 {
        try environment.read { txn in try txn.last(groups) { kv in kv.map { Key.readU64($0.1) } ?? 0 } }
    }

    /// The head of one signer's chain (`.empty` if it has none).
    public func head(of signer: PublicKey) throws -> ChainHead {
        tail.withLock { $0.signers[signer]?.state.head ?? .empty }
    }

    /// The log size and one signer's head, consistent with each other.
    public func snapshot(of signer: PublicKey) throws -> (size: UInt64, head: ChainHead) {
        tail.withLock { ($0.size, $0.signers[signer]?.state.head ?? .empty) }
    }

    /// The log index of an entry hash: from the tail, or from the hash runs (each candidate with
    /// the same 8-byte prefix is checked against the entry's full hash).
    public func index(ofHash hash: Bytes32) throws -> UInt64? {
        if let i = tail.withLock({ $0.hashes[hash] }) { return i }
        let prefix = hash.withUnsafeBytes { Key.readU64($0) }
        return try environment.read { txn in
            var found: UInt64?
            try txn.scan(hashruns, from: UnsafeRawBufferPointer(start: nil, count: 0)) { k, v in
                let first = Key.readU64(k)
                let n = v.count / 12
                var lo = 0
                var hi = n
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if Key.readU64(v, at: mid * 12) < prefix { lo = mid + 1 } else { hi = mid }
                }
                while lo < n && Key.readU64(v, at: lo * 12) == prefix {
                    let index = first + UInt64(Key.readU32(v, at: lo * 12 + 8))
                    let bytes = try Key.u64(index).withUnsafeBytes { key in try txn.get(entries, key) }
                    if let bytes, SHA256.leafHash(bytes) == hash {
                        found = index
                        return false
                    }
                    lo += 1
                }
                return true
            }
            return found
        }
    }

    /// The encoded entry at a log index.
    public func entry(at index: UInt64) throws -> [UInt8]? {
        try environment.read { (txn) in try entry(at: index, in: txn) }
    }

    /// The encoded entry at a log index, read through `txn`.
    public func entry(at index: UInt64, in txn: borrowing LMDBTransaction) throws -> [UInt8]? {
        try Key.u64(index).withUnsafeBytes { (k) in try txn.get(entries, k) }
    }

    /// Log indices of `signer`'s chain positions `fromSeq ..< fromSeq + limit` (as far as they
    /// exist), in seq order.
    public func positions(of signer: PublicKey, fromSeq: UInt64, limit: Int) throws -> [UInt64] {
        guard limit > 0 else { return [] }
        guard let t = tail.withLock({ $0.signers[signer] }) else { return [] }
        var out: [UInt64] = []
        if fromSeq < t.flushedNextSeq {
            try environment.read { txn in
                try Key.block(t.id, fromSeq).withUnsafeBytes { start in
                    // The block holding `fromSeq` starts at or before it.
                    var firstKey: [UInt8]?
                    try txn.scanBackward(chains, from: start) { k, _ in
                        if k.count == 12 && Key.readU32(k) == t.id { firstKey = Array(k) }
                        return false
                    }
                    try (firstKey ?? Array(start)).withUnsafeBytes { from in
                        try txn.scan(chains, from: from) { k, v in
                            guard k.count == 12, Key.readU32(k) == t.id else { return false }
                            let blockSeq = Key.readU64(k, at: 4)
                            let n = (v.count - 8) / 8
                            for i in 0..<n where blockSeq + UInt64(i) >= fromSeq && blockSeq + UInt64(i) < t.flushedNextSeq {
                                out.append(Key.readU64(v, at: 8 + i * 8))
                                if out.count == limit { return false }
                            }
                            return blockSeq + UInt64(n) < t.flushedNextSeq
                        }
                    }
                }
            }
        }
        // Then the tail (its first record is at seq `flushedNextSeq`).
        let tailFrom = max(fromSeq, t.flushedNextSeq)
        if out.count < limit, tailFrom - t.flushedNextSeq < UInt64(t.records.count) {
            for r in t.records[Int(tailFrom - t.flushedNextSeq)...] {
                out.append(r.index)
                if out.count == limit { break }
            }
        }
        return out
    }

    /// Up to `limit` entries of a signer's chain from `fromSeq`, with their log indices.
    public func chain(of signer: PublicKey, fromSeq: UInt64, limit: Int) throws -> [(index: UInt64, entry: [UInt8])] {
        let indices = try positions(of: signer, fromSeq: fromSeq, limit: limit)
        return try environment.read { (txn) in
            try indices.compactMap { i in try entry(at: i, in: txn).map { (i, $0) } }
        }
    }

    /// Equivocation evidence kept for a signer: every validly signed entry that competed with an
    /// accepted one at the same position.
    public func equivocations(of signer: PublicKey) throws -> [[UInt8]] {
        try environment.read { (txn) in
            var out: [[UInt8]] = []
            try signer.withUnsafeBytes { (s) in
                try txn.scan(equivocations, from: s) { k, v in
                    guard k.count >= 32, Bytes32(unsafe: k) == signer else { return false }
                    out.append(Array(v))
                    return true
                }
            }
            return out
        }
    }

    /// Up to `limit` of a signer's entries from `fromSeq`, each with its RFC 9162 inclusion proof
    /// in the tree of `size` leaves (the records of a proof bundle), in one read transaction.
    /// Entries at or beyond `size` are left out.
    public func proofRecords(of signer: PublicKey, fromSeq: UInt64, limit: Int, size: UInt64) throws -> [ProofBundle.Record] {
        let items = try chain(of: signer, fromSeq: fromSeq, limit: limit).filter { $0.index < size }
        // Neighbouring entries share most of their proofs' nodes: compute each node once. The log
        // is append-only, so a second read transaction sees the same tree of `size` leaves.
        var memo: [MerkleNode: Bytes32] = [:]
        return try withMerkleNodes { (node) in
            try items.map { item in
                let proof = try Merkle.inclusionProof(index: item.index, size: size) { (n) throws(TrailError) -> Bytes32 in
                    if let h = memo[n] { return h }
                    let h = try node(n)
                    memo[n] = h
                    return h
                }
                return ProofBundle.Record(index: item.index, entry: item.entry, proof: proof)
            }
        }
    }

    // MARK: Merkle log

    static func merkleKey(_ node: MerkleNode) -> [UInt8] {
        var w = ByteWriter(capacity: 9)
        w.u8(UInt8(node.level))
        w.u64(node.index)
        return w.bytes
    }

    /// The hash of a complete subtree of the log: stored, or recomputed from the entries below
    /// the stored levels.
    func nodeHash(_ node: MerkleNode, _ txn: borrowing LMDBTransaction) throws -> Bytes32 {
        if node.level == 0 {
            let bytes = try Key.u64(node.index).withUnsafeBytes { k in try txn.get(entries, k) }
            guard let bytes else { throw TrailError(.storage, "log entry \(node.index) is missing") }
            return SHA256.leafHash(bytes)
        }
        if node.level >= Self.storedMerkleLevel {
            let h = try Self.merkleKey(node).withUnsafeBytes { k in try txn.withValue(merkle, k) { $0.map { Bytes32(unsafe: $0) } } }
            guard let h else { throw TrailError(.storage, "Merkle \(node) is missing") }
            return h
        }
        let left = try nodeHash(MerkleNode(level: node.level - 1, index: node.index * 2), txn)
        let right = try nodeHash(MerkleNode(level: node.level - 1, index: node.index * 2 + 1), txn)
        return SHA256.nodeHash(left, right)
    }

    /// Runs `body` with a node accessor over one read transaction.
    public func withMerkleNodes<R>(_ body: (Merkle.NodeAccessor) throws -> R) throws -> R {
        try environment.read { txn in
            try body { (node) throws(TrailError) -> Bytes32 in
                do { return try self.nodeHash(node, txn) } catch let e as TrailError { throw e } catch {
                    throw TrailError(.storage, "\(error)")
                }
            }
        }
    }

    /// The log's Merkle frontier at `size` (from stored nodes), to resume appending.
    public func merkleFrontier(size: UInt64) throws -> MerkleFrontier {
        try withMerkleNodes { node in try MerkleFrontier(size: size, node: node) }
    }

    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves.
    public func inclusionProof(index: UInt64, size: UInt64) throws -> [Bytes32] {
        try withMerkleNodes { node in try Merkle.inclusionProof(index: index, size: size, node: node) }
    }

    /// RFC 9162 consistency proof between the trees of `from` and `to` leaves.
    public func consistencyProof(from: UInt64, to: UInt64) throws -> [Bytes32] {
        try withMerkleNodes { node in try Merkle.consistencyProof(from: from, to: to, node: node) }
    }

    /// The root of the tree of `size` leaves.
    public func merkleRoot(size: UInt64) throws -> Bytes32 {
        if size == 0 { return Merkle.emptyRoot }
        return try withMerkleNodes { node in try Merkle.subtreeRoot(start: 0, end: size, node: node) }
    }

    // MARK: Writes

    /// Writes one group commit decided by the rules engine: the entries, and whatever derived
    /// blocks have become due, in one transaction (fsync'd in durable mode). Nothing in memory
    /// changes unless the commit succeeds; a map that is too small grows and the same writes
    /// are retried.
    public func commit(_ w: RulesEngine.Writes) throws {
        let plan = tail.withLock { $0.plan(w, layout) }
        try environment.write { txn in try write(w, plan, txn) }
        tail.withLock { $0.apply(w, plan) }
    }

    func write(_ w: RulesEngine.Writes, _ plan: Tail.Plan, _ txn: borrowing LMDBTransaction) throws {
        var key = [UInt8](repeating: 0, count: 8)
        func setKey(_ v: UInt64) {
            key.withUnsafeMutableBytes { k in
                var be = v.bigEndian
                Swift.withUnsafeBytes(of: &be) { k.copyMemory(from: $0) }
            }
        }
        for (i, item) in w.appended.enumerated() {
            setKey(w.firstIndex + UInt64(i))
            try key.withUnsafeBytes { k in
                try item.entry.encoded.withUnsafeBytes { v in try txn.put(entries, k, v, append: true) }
            }
        }
        if !w.appended.isEmpty {
            setKey(w.firstIndex)
            try key.withUnsafeBytes { k in try Key.u64(w.timeMs).withUnsafeBytes { v in try txn.put(groups, k, v, append: true) } }
        }
        for (node, hash) in w.merkleNodes where node.level >= Self.storedMerkleLevel {
            try Self.merkleKey(node).withUnsafeBytes { k in
                try hash.withUnsafeBytes { v in try txn.put(merkle, k, v) }
            }
        }
        try write(w.accounts, txn)
        for ev in w.equivocations {
            var k = Key.signerSeq(ev.entry.signer, ev.entry.seq)
            k.append(contentsOf: ev.hash.bytes)
            try k.withUnsafeBytes { (k) in
                try ev.entry.encoded.withUnsafeBytes { (v) in try txn.put(equivocations, k, v) }
            }
        }
        // Ids are given in order of first sight but written at a signer's first block, so they
        // arrive nearly, not exactly, in order.
        for (id, signer) in plan.newSigners {
            try Key.u32(id).withUnsafeBytes { k in try signer.withUnsafeBytes { v in try txn.put(signers, k, v) } }
        }
        for block in plan.blocks {
            var v = ByteWriter(capacity: 8 + block.indices.count * 8)
            v.u64(block.maxTimestampMs)
            for i in block.indices { v.u64(i) }
            try Key.block(block.id, block.firstSeq).withUnsafeBytes { k in try v.bytes.withUnsafeBytes { try txn.put(chains, k, $0) } }
            try writeTimes(block, txn)
        }
        for run in plan.runs {
            try Key.u64(run.first).withUnsafeBytes { k in try run.table.withUnsafeBytes { v in try txn.put(hashruns, k, v, append: true) } }
        }
        if plan.replayFrom != plan.previousReplayFrom {
            try Array("replay_from".utf8).withUnsafeBytes { k in try Key.u64(plan.replayFrom).withUnsafeBytes { v in try txn.put(meta, k, v) } }
        }
    }

    /// Adds a block's action and receipt timestamps to the signer's minute buckets.
    private func writeTimes(_ block: Tail.Block, _ txn: borrowing LMDBTransaction) throws {
        var byMinute: [UInt64: [UInt16]] = [:]
        for ts in block.timed { byMinute[ts / 60_000, default: []].append(UInt16(ts % 60_000)) }
        for (minute, offsets) in byMinute {
            let k = Key.block(block.id, minute)
            var merged = Set(offsets)
            try k.withUnsafeBytes { k in
                try txn.withValue(times, k) { v in
                    guard let v else { return }
                    for i in 0..<(v.count / 2) { merged.insert(UInt16(v[2 * i]) << 8 | UInt16(v[2 * i + 1])) }
                }
                var out = ByteWriter(capacity: merged.count * 2)
                for o in merged.sorted() { out.u16(o) }
                try out.bytes.withUnsafeBytes { try txn.put(times, k, $0) }
            }
        }
    }

    /// True if `signer` has an action or receipt with a timestamp (its own) in `fromMs...toMs`.
    public func hasEntry(of signer: PublicKey, fromMs: UInt64, toMs: UInt64) throws -> Bool {
        guard fromMs <= toMs, let t = tail.withLock({ $0.signers[signer] }) else { return false }
        if t.records.contains(where: { $0.timed && (fromMs...toMs).contains($0.timestampMs) }) { return true }
        guard t.flushedNextSeq > 0 else { return false }
        return try environment.read { txn in
            var found = false
            try Key.block(t.id, fromMs / 60_000).withUnsafeBytes { start in
                try txn.scan(times, from: start) { k, v in
                    guard k.count == 12, Key.readU32(k) == t.id else { return false }
                    let minute = Key.readU64(k, at: 4)
                    guard minute <= toMs / 60_000 else { return false }
                    for i in 0..<(v.count / 2) {
                        let ts = minute * 60_000 + UInt64(UInt16(v[2 * i]) << 8 | UInt16(v[2 * i + 1]))
                        if (fromMs...toMs).contains(ts) {
                            found = true
                            return false
                        }
                    }
                    return true
                }
            }
            return found
        }
    }
}

// MARK: The rules engine's view

extension ChainStore: LedgerView {
    public func committedEntry(of signer: PublicKey, seq: UInt64) throws -> (index: UInt64, bytes: [UInt8])? {
        guard let index = try positions(of: signer, fromSeq: seq, limit: 1).first, let bytes = try entry(at: index) else { return nil }
        return (index, bytes)
    }

    /// The collector time of the group commit that stored `index` (the last group starting at or
    /// before it).
    func acceptanceTime(ofIndex index: UInt64, _ txn: borrowing LMDBTransaction) throws -> UInt64 {
        var time: UInt64 = 0
        try Key.u64(index).withUnsafeBytes { k in
            try txn.scanBackward(groups, from: k) { _, v in
                time = Key.readU64(v)
                return false
            }
        }
        return time
    }

    /// One read transaction for the whole walk: the tail's positions, then the chain blocks.
    public func visitChainBackwards(of signer: PublicKey, _ body: (UInt64, UInt64, [UInt8]) throws -> Bool) throws {
        guard let t = tail.withLock({ $0.signers[signer] }) else { return }
        try environment.read { txn in
            for r in t.records.reversed() {
                guard let bytes = try entry(at: r.index, in: txn) else { throw TrailError(.storage, "log entry \(r.index) is missing") }
                if try !body(r.index, try acceptanceTime(ofIndex: r.index, txn), bytes) { return }
            }
            guard t.flushedNextSeq > 0 else { return }
            try Key.block(t.id, t.flushedNextSeq).withUnsafeBytes { start in
                try txn.scanBackward(chains, from: start) { k, v in
                    guard k.count == 12, Key.readU32(k) == t.id else { return false }
                    let n = (v.count - 8) / 8
                    for i in stride(from: n - 1, through: 0, by: -1) {
                        let index = Key.readU64(v, at: 8 + i * 8)
                        guard let bytes = try entry(at: index, in: txn) else { throw TrailError(.storage, "log entry \(index) is missing") }
                        if try !body(index, try acceptanceTime(ofIndex: index, txn), bytes) { return false }
                    }
                    return true
                }
            }
        }
    }

    public func agentRecord(_ agent: PublicKey) throws -> AgentRecord? {
        try environment.read { txn in try agentRecord(agent, in: txn) }
    }

    public func modelStats(_ model: String) throws -> ModelStats {
        try environment.read { txn in try modelStats(model, in: txn) }
    }
}
