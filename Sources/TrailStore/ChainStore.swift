import Foundation
import TrailCore

/// The collector's storage in one LMDB environment: entries in log order, the head of every
/// signer's chain, a hash index, each chain's positions, and equivocation evidence.
///
/// Databases and their keys (all integers big-endian):
/// - `entries`: log index (u64) -> encoded entry, appended with `MDB_APPEND`
/// - `hashes`: entry hash (32) -> log index (u64)
/// - `chains`: signer (32) || seq (u64) -> log index (u64)
/// - `heads`: signer (32) -> next seq (u64) || head hash (32)
/// - `equivocations`: signer (32) || seq (u64) || entry hash (32) -> encoded entry
/// - `merkle`: level (u8) || index (u64) -> hash of a complete subtree of the log's RFC 9162
///   tree, for levels >= `storedMerkleLevel` (lower levels are recomputed from the entries)
/// - accountability (Accounts.swift): `agents` agent -> owner, registration, active policy;
///   `policies` agent || index -> version; `notes` signer || index -> violations || flags;
///   `counters` signer || kind || id -> count; `reports` subject || index -> reporter, category,
///   window; `times` signer || timestamp || seq -> index (actions and receipts); `runs`
///   commitment || index; `models` model id -> latency count and mean
public final class ChainStore: @unchecked Sendable {
    /// Complete subtrees of 2^4 = 16 leaves and up are stored: about 2 bytes per entry, and a
    /// proof recomputes at most 15 leaf hashes per level below.
    public static let storedMerkleLevel = 4
    public let environment: LMDBEnvironment
    let entries: LMDBDatabase
    let hashes: LMDBDatabase
    let chains: LMDBDatabase
    let heads: LMDBDatabase
    let equivocations: LMDBDatabase
    let merkle: LMDBDatabase
    // Accountability indexes (Accounts.swift).
    let agents: LMDBDatabase
    let policies: LMDBDatabase
    let notes: LMDBDatabase
    let counters: LMDBDatabase
    let reports: LMDBDatabase
    let times: LMDBDatabase
    let runs: LMDBDatabase
    let models: LMDBDatabase

    /// Opens or creates the store in `directory` (created if missing).
    public init(directory: String, options: LMDBEnvironment.Options = .init()) throws {
        // Create a missing folder; anything already at the path is LMDB's to accept or reject.
        if !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw TrailError(.io, "cannot create directory \(directory): \(error.localizedDescription)")
            }
        }
        environment = try LMDBEnvironment(path: directory, options: options)
        entries = try environment.database("entries")
        hashes = try environment.database("hashes")
        chains = try environment.database("chains")
        heads = try environment.database("heads")
        equivocations = try environment.database("equivocations")
        merkle = try environment.database("merkle")
        agents = try environment.database("agents")
        policies = try environment.database("policies")
        notes = try environment.database("notes")
        counters = try environment.database("counters")
        reports = try environment.database("reports")
        times = try environment.database("times")
        runs = try environment.database("runs")
        models = try environment.database("models")
    }

    // MARK: Reads

    /// Number of entries in the log (the next log index).
    public func logSize() throws -> UInt64 {
        try environment.read { (txn) in try logSize(txn) }
    }

    func logSize(_ txn: borrowing LMDBTransaction) throws -> UInt64 {
        try txn.last(entries) { kv in kv.map { Key.readU64($0.0) + 1 } ?? 0 }
    }

    /// Every signer's head, for the sequencer's cache at start-up.
    public func allHeads() throws -> [PublicKey: ChainHead] {
        try environment.read { (txn) in
            var out: [PublicKey: ChainHead] = [:]
            out.reserveCapacity(try txn.count(heads))
            try txn.scan(heads, from: UnsafeRawBufferPointer(start: nil, count: 0)) { k, v in
                out[Bytes32(unsafe: k)] = Self.decodeHead(v)
                return true
            }
            return out
        }
    }

    /// The head of one signer's chain (`.empty` if it has none).
    public func head(of signer: PublicKey) throws -> ChainHead {
        try environment.read { (txn) in
            try signer.withUnsafeBytes { (k) in
                try txn.withValue(heads, k) { $0.map(Self.decodeHead) ?? .empty }
            }
        }
    }

    /// The log index of an entry hash.
    public func index(ofHash hash: Bytes32) throws -> UInt64? {
        try environment.read { (txn) in try index(ofHash: hash, in: txn) }
    }

    /// The log index of an entry hash, read through `txn` (inside a write transaction it sees
    /// only what is committed or already put; callers keep their own overlay for a group).
    public func index(ofHash hash: Bytes32, in txn: borrowing LMDBTransaction) throws -> UInt64? {
        try hash.withUnsafeBytes { (k) in
            try txn.withValue(hashes, k) { $0.map { Key.readU64($0) } }
        }
    }

    /// The encoded entry at a log index.
    public func entry(at index: UInt64) throws -> [UInt8]? {
        try environment.read { (txn) in
            try Key.u64(index).withUnsafeBytes { (k) in try txn.get(entries, k) }
        }
    }

    /// Up to `limit` entries of a signer's chain from `fromSeq`, with their log indices.
    public func chain(of signer: PublicKey, fromSeq: UInt64, limit: Int) throws -> [(index: UInt64, entry: [UInt8])] {
        try environment.read { (txn) in
            var out: [(UInt64, [UInt8])] = []
            let start = Key.signerSeq(signer, fromSeq)
            var indices: [UInt64] = []
            try start.withUnsafeBytes { (s) in
                try txn.scan(chains, from: s) { k, v in
                    guard indices.count < limit, k.count == 40, Bytes32(unsafe: k) == signer else { return false }
                    indices.append(Key.readU64(v))
                    return true
                }
            }
            for i in indices {
                if let e = try Key.u64(i).withUnsafeBytes({ (k) in try txn.get(entries, k) }) {
                    out.append((i, e))
                }
            }
            return out
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

    /// The log size and one signer's head read in one transaction, so the head is the chain's
    /// last entry within that size.
    public func snapshot(of signer: PublicKey) throws -> (size: UInt64, head: ChainHead) {
        try environment.read { (txn) in
            let size = try logSize(txn)
            let head = try signer.withUnsafeBytes { (k) in try txn.withValue(heads, k) { $0.map(Self.decodeHead) ?? .empty } }
            return (size, head)
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

    static func decodeHead(_ v: UnsafeRawBufferPointer) -> ChainHead {
        ChainHead(nextSeq: Key.readU64(v), hash: Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: v[8..<40])))
    }

    // MARK: Writes

    /// Everything one group commit writes.
    public struct Group {
        public var appended: [(index: UInt64, entry: Entry, hash: Bytes32)] = []
        public var heads: [PublicKey: ChainHead] = [:]
        public var equivocations: [(entry: Entry, hash: Bytes32)] = []
        /// Newly completed Merkle subtrees at stored levels.
        public var merkleNodes: [(node: MerkleNode, hash: Bytes32)] = []
        public var accounts = AccountDelta()
        public init() {}
        public var isEmpty: Bool { appended.isEmpty && equivocations.isEmpty }
    }

    /// Writes a group in one transaction; `decide` runs inside it (and again if the map had to
    /// grow) and may read through the transaction, e.g. for duplicates.
    public func commit<R>(_ decide: (borrowing LMDBTransaction, ChainStore) throws -> (Group, R)) throws -> (Group, R) {
        try environment.write { (txn) in
            let (group, result) = try decide(txn, self)
            try write(group, txn)
            return (group, result)
        }
    }

    func write(_ group: Group, _ txn: borrowing LMDBTransaction) throws {
        var indexKey = [UInt8](repeating: 0, count: 8)
        for item in group.appended {
            indexKey.withUnsafeMutableBytes { k in
                var v = item.index.bigEndian
                Swift.withUnsafeBytes(of: &v) { k.copyMemory(from: $0) }
            }
            try indexKey.withUnsafeBytes { (k) in
                try item.entry.encoded.withUnsafeBytes { (v) in try txn.put(entries, k, v, append: true) }
                try item.hash.withUnsafeBytes { (h) in try txn.put(hashes, h, k) }
                try Key.signerSeq(item.entry.signer, item.entry.seq).withUnsafeBytes { (cs) in
                    try txn.put(chains, cs, k)
                }
            }
        }
        for (signer, head) in group.heads {
            var w = ByteWriter(capacity: 40)
            w.u64(head.nextSeq)
            w.bytes32(head.hash)
            try signer.withUnsafeBytes { (k) in
                try w.bytes.withUnsafeBytes { (v) in try txn.put(heads, k, v) }
            }
        }
        for (node, hash) in group.merkleNodes {
            try Self.merkleKey(node).withUnsafeBytes { k in
                try hash.withUnsafeBytes { v in try txn.put(merkle, k, v) }
            }
        }
        try write(group.accounts, txn)
        for ev in group.equivocations {
            var key = Key.signerSeq(ev.entry.signer, ev.entry.seq)
            key.append(contentsOf: ev.hash.bytes)
            try key.withUnsafeBytes { (k) in
                try ev.entry.encoded.withUnsafeBytes { (v) in try txn.put(equivocations, k, v) }
            }
        }
    }
}
