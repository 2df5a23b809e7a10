internal import CLMDB
import TrailCore

/// One LMDB environment. Thread-safe: read transactions may run on any thread (`MDB_NOTLS`),
/// and there is one writer at a time (LMDB serialises them).
public final class LMDBEnvironment: @unchecked Sendable {
    let env: OpaquePointer
    public let path: String
    private(set) var mapSize: Int

    /// Options for opening an environment.
    public struct Options: Sendable {
        /// Initial map size; it grows (doubling) when a write transaction hits `MDB_MAP_FULL`.
        public var mapSize: Int = 1 << 30
        /// `false` trades durability for speed (`MDB_NOSYNC`): only when an operator asks for it.
        public var durable: Bool = true
        public var maxDatabases: UInt32 = 32
        public init() {}
    }

    /// Opens (creating if needed) the environment in directory `path`.
    public init(path: String, options: Options = Options()) throws {
        var e: OpaquePointer?
        try check(mdb_env_create(&e), "mdb_env_create")
        env = e!
        self.path = path
        mapSize = options.mapSize
        var flags = UInt32(MDB_NOTLS)
        if !options.durable { flags |= UInt32(MDB_NOSYNC) }
        // Every stored property is set, so on a throw below `deinit` closes the environment.
        try check(mdb_env_set_maxdbs(env, options.maxDatabases), "mdb_env_set_maxdbs")
        try check(mdb_env_set_maxreaders(env, 512), "mdb_env_set_maxreaders")
        try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
        try check(mdb_env_open(env, path, flags, 0o600), "mdb_env_open \(path)")
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        mapSize = max(mapSize, info.me_mapsize)
    }

    deinit { mdb_env_close(env) }

    /// Opens or creates a named database.
    public func database(_ name: String) throws -> LMDBDatabase {
        var dbi: MDB_dbi = 0
        try write { (txn) in
            try check(mdb_dbi_open(txn.txn, name, UInt32(MDB_CREATE), &dbi), "mdb_dbi_open \(name)")
        }
        return LMDBDatabase(dbi: dbi, name: name)
    }

    /// Runs `body` in a read-only transaction that ends when `body` returns.
    public func read<R>(_ body: (borrowing LMDBTransaction) throws -> R) throws -> R {
        var t: OpaquePointer?
        try check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &t), "mdb_txn_begin(read)")
        let txn = LMDBTransaction(txn: t!)
        defer { mdb_txn_abort(t) }
        return try body(txn)
    }

    /// Runs `body` in a write transaction and commits it (fsync in durable mode). If the map is
    /// full, the transaction is aborted, the map doubled and `body` run again, so `body` must
    /// only depend on its inputs and what it reads through `txn`.
    public func write<R>(_ body: (borrowing LMDBTransaction) throws -> R) throws -> R {
        while true {
            var t: OpaquePointer?
            try check(mdb_txn_begin(env, nil, 0, &t), "mdb_txn_begin(write)")
            let txn = LMDBTransaction(txn: t!)
            let result: R
            do {
                result = try body(txn)
            } catch {
                mdb_txn_abort(t)
                if let e = error as? TrailError, e.code == .storage, e.reason.hasSuffix(mapFullMarker) {
                    try grow()
                    continue
                }
                throw error
            }
            let rc = mdb_txn_commit(t)
            if rc == MDB_MAP_FULL {
                try grow()
                continue
            }
            try check(rc, "mdb_txn_commit")
            return result
        }
    }

    private func grow() throws {
        let newSize = mapSize * 2
        try check(mdb_env_set_mapsize(env, newSize), "mdb_env_set_mapsize \(newSize)")
        mapSize = newSize
    }

    /// The current map size in bytes.
    public var currentMapSize: Int { mapSize }

    /// Forces an fsync: how relaxed mode (`MDB_NOSYNC`) makes its writes durable at a clean stop.
    public func sync() throws { try check(mdb_env_sync(env, 1), "mdb_env_sync") }
}

/// A named database handle.
public struct LMDBDatabase: Sendable {
    let dbi: MDB_dbi
    public let name: String
}

let mapFullMarker = "[map full]"

@inline(__always)
func check(_ rc: Int32, _ what: @autoclosure () -> String) throws {
    guard rc != 0 else { return }
    let message = String(cString: mdb_strerror(rc))
    throw TrailError(.storage, "\(what()): \(message)\(rc == MDB_MAP_FULL ? " " + mapFullMarker : "")")
}

/// A transaction, valid only inside the closure that received it.
public struct LMDBTransaction: ~Copyable {
    let txn: OpaquePointer

    /// The value for `key`, copied out, or nil.
    public func get(_ db: LMDBDatabase, _ key: UnsafeRawBufferPointer) throws -> [UInt8]? {
        try withValue(db, key) { $0.map { Array($0) } }
    }

    /// Calls `body` with the value for `key` (valid only during the call), or nil.
    public func withValue<R>(
        _ db: LMDBDatabase, _ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer?) throws -> R
    ) throws -> R {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(txn, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return try body(nil) }
        try check(rc, "mdb_get \(db.name)")
        return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Stores `value` under `key`. `append` uses `MDB_APPEND` (keys must arrive in order).
    public func put(
        _ db: LMDBDatabase, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, append: Bool = false
    ) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(txn, db.dbi, &k, &v, append ? UInt32(MDB_APPEND) : 0), "mdb_put \(db.name)")
    }

    /// Visits entries with keys >= `from` in order until `body` returns false.
    public func scan(
        _ db: LMDBDatabase, from: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try walk(db, from: from, step: MDB_NEXT, body) { c, k, v in
            mdb_cursor_get(c, &k, &v, from.count == 0 ? MDB_FIRST : MDB_SET_RANGE)
        }
    }

    /// Visits entries with keys <= `from` in descending order until `body` returns false (an empty
    /// `from` starts at the last key).
    public func scanBackward(
        _ db: LMDBDatabase, from: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        try walk(db, from: from, step: MDB_PREV, body) { c, k, v in
            if from.count == 0 { return mdb_cursor_get(c, &k, &v, MDB_LAST) }
            let rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)
            if rc == MDB_NOTFOUND { return mdb_cursor_get(c, &k, &v, MDB_LAST) }
            // SET_RANGE lands on the first key >= `from`: step back unless it is `from` itself.
            if rc == 0 && !UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size).elementsEqual(from) {
                return mdb_cursor_get(c, &k, &v, MDB_PREV)
            }
            return rc
        }
    }

    /// One cursor walk: `position` puts the cursor on the first entry, `step` moves it on.
    private func walk(
        _ db: LMDBDatabase, from: UnsafeRawBufferPointer, step: MDB_cursor_op,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool,
        position: (OpaquePointer?, inout MDB_val, inout MDB_val) -> Int32
    ) throws {
        var c: OpaquePointer?
        try check(mdb_cursor_open(txn, db.dbi, &c), "mdb_cursor_open \(db.name)")
        defer { mdb_cursor_close(c) }
        var k = MDB_val(mv_size: from.count, mv_data: UnsafeMutableRawPointer(mutating: from.baseAddress))
        var v = MDB_val()
        var rc = position(c, &k, &v)
        while rc == 0 {
            let more = try body(
                UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
            if !more { return }
            rc = mdb_cursor_get(c, &k, &v, step)
        }
        if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get \(db.name)") }
    }

    /// The last key/value of a database, passed to `body`, or nil if it is empty.
    public func last<R>(_ db: LMDBDatabase, _ body: ((UnsafeRawBufferPointer, UnsafeRawBufferPointer)?) -> R) throws -> R {
        var c: OpaquePointer?
        try check(mdb_cursor_open(txn, db.dbi, &c), "mdb_cursor_open \(db.name)")
        defer { mdb_cursor_close(c) }
        var k = MDB_val()
        var v = MDB_val()
        let rc = mdb_cursor_get(c, &k, &v, MDB_LAST)
        if rc == MDB_NOTFOUND { return body(nil) }
        try check(rc, "mdb_cursor_get \(db.name)")
        return body((UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)))
    }

    /// Number of entries in a database.
    public func count(_ db: LMDBDatabase) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(txn, db.dbi, &stat), "mdb_stat \(db.name)")
        return stat.ms_entries
    }
}

/// Big-endian key helpers.
public enum Key {
    public static func u64(_ v: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 8)
        w.u64(v)
        return w.bytes
    }

    public static func readU64(_ p: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(p[offset + i]) }
        return v
    }

    public static func u32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    public static func readU32(_ p: UnsafeRawBufferPointer, at offset: Int = 0) -> UInt32 {
        UInt32(p[offset]) << 24 | UInt32(p[offset + 1]) << 16 | UInt32(p[offset + 2]) << 8 | UInt32(p[offset + 3])
    }

    /// A chain-block key: signer id || first seq.
    static func block(_ id: UInt32, _ seq: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 12)
        w.u32(id)
        w.u64(seq)
        return w.bytes
    }

    public static func signerSeq(_ signer: PublicKey, _ seq: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 40)
        w.bytes32(signer)
        w.u64(seq)
        return w.bytes
    }
}
