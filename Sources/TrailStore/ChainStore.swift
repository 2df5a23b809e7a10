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
public final class ChainStore: @unchecked Sendable {
    public let environment: LMDBEnvironment
    let entries: LMDBDatabase
    let hashes: LMDBDatabase
    let chains: LMDBDatabase
    let heads: LMDBDatabase
    let equivocations: LMDBDatabase

    /// Opens or creates the store in `directory` (created if missing).
    public init(directory: String, options: LMDBEnvironment.Options = .init()) throws {
        try FileSystem.makeDirectory(directory)
        environment = try LMDBEnvironment(path: directory, options: options)
        entries = try environment.database("entries")
        hashes = try environment.database("hashes")
        chains = try environment.database("chains")
        heads = try environment.database("heads")
        equivocations = try environment.database("equivocations")
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
        try environment.read { (txn) in try index(ofHash: hash, txn) }
    }

    func index(ofHash hash: Bytes32, _ txn: borrowing LMDBTransaction) throws -> UInt64? {
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

    static func decodeHead(_ v: UnsafeRawBufferPointer) -> ChainHead {
        ChainHead(nextSeq: Key.readU64(v), hash: Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: v[8..<40])))
    }

    // MARK: Writes

    /// Everything one group commit writes.
    public struct Group {
        public var appended: [(index: UInt64, entry: Entry, hash: Bytes32)] = []
        public var heads: [PublicKey: ChainHead] = [:]
        public var equivocations: [(entry: Entry, hash: Bytes32)] = []
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

    /// Looks up an entry hash inside a write transaction (sees the group's own writes only
    /// after `write`; callers keep their own overlay for the group).
    public func index(ofHash hash: Bytes32, in txn: borrowing LMDBTransaction) throws -> UInt64? {
        try index(ofHash: hash, txn)
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
        for ev in group.equivocations {
            var key = Key.signerSeq(ev.entry.signer, ev.entry.seq)
            key.append(contentsOf: ev.hash.bytes)
            try key.withUnsafeBytes { (k) in
                try ev.entry.encoded.withUnsafeBytes { (v) in try txn.put(equivocations, k, v) }
            }
        }
    }
}

/// Small file-system helpers without Foundation's overhead in the store.
public enum FileSystem {
    public static func makeDirectory(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManagerShim.exists(path, &isDir) { return }
        guard FileManagerShim.create(path) else { throw TrailError(.io, "cannot create directory \(path)") }
    }
}
