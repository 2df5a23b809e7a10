import Dispatch
import Foundation
import Synchronization

/// The log's signed statement of where one signer's chain ends at a tree size, and which seqs a
/// bundle holds (protocol/SPEC.md 4.2). Signed as a C2SP note with the log key.
public struct ChainStatement: Hashable, Sendable {
    public static let header = "agenttrail/chain/v1"

    public let signer: PublicKey
    public let treeSize: UInt64
    public let from: UInt64
    public let through: UInt64
    public let headSeq: UInt64
    public let headHash: Bytes32

    public init(
        signer: PublicKey, treeSize: UInt64, from: UInt64, through: UInt64, headSeq: UInt64, headHash: Bytes32
    ) throws(TrailError) {
        guard from <= through, through <= headSeq else {
            throw TrailError(.malformedStatement, "statement range \(from)-\(through) with head seq \(headSeq) needs from <= through <= head")
        }
        self.signer = signer
        self.treeSize = treeSize
        self.from = from
        self.through = through
        self.headSeq = headSeq
        self.headHash = headHash
    }

    public var body: String {
        "\(Self.header)\n\(DIDKey.encode(signer))\n\(treeSize)\n\(from) \(through)\n\(headSeq) \(Base64.encode(headHash.bytes))\n"
    }

    /// The signed note, with the log key named `keyName` (the log's origin).
    public func signedNote(signer key: SigningKey, keyName: String) throws(TrailError) -> String {
        try SignedNote.sign(text: body, key: key, keyName: keyName)
    }

    /// Parses the note text strictly (exactly five lines, canonical numbers and base64).
    public static func parse(body: String) throws(TrailError) -> ChainStatement {
        func bad(_ why: String) -> TrailError { TrailError(.malformedStatement, why) }
        guard body.hasSuffix("\n") else { throw bad("statement does not end with a newline") }
        let lines = Array(body.utf8).dropLast().split(separator: 0x0a, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.count == 5 else { throw bad("statement has \(lines.count) lines, expected 5") }
        guard lines[0] == header else { throw bad("statement's first line is not \(header)") }
        let signer: PublicKey
        do { signer = try DIDKey.decode(lines[1]) } catch { throw bad("statement's signer is not a did:key: \(error.reason)") }
        func number(_ s: Substring, _ what: String) throws(TrailError) -> UInt64 {
            do { return try Checkpoint.parseDecimal(String(s), code: .malformedStatement, what: what) } catch {
                throw bad("statement's \(what) is not canonical decimal")
            }
        }
        let size = try number(lines[2][...], "tree size")
        let range = lines[3].split(separator: " ", omittingEmptySubsequences: false)
        guard range.count == 2 else { throw bad("statement's range line is not '<from> <through>'") }
        let head = lines[4].split(separator: " ", omittingEmptySubsequences: false)
        guard head.count == 2 else { throw bad("statement's head line is not '<seq> <base64 hash>'") }
        guard let raw = Base64.decode(String(head[1])), let hash = Bytes32(raw) else {
            throw bad("statement's head hash is not base64 of 32 bytes")
        }
        return try ChainStatement(
            signer: signer, treeSize: size, from: try number(range[0], "from"), through: try number(range[1], "through"),
            headSeq: try number(head[0], "head seq"), headHash: hash)
    }

    /// Parses `note`, checks its signature by `verifierKey`, then its text.
    public static func open(note: String, verifierKey: NoteVerifierKey) throws(TrailError) -> ChainStatement {
        let parsed = try SignedNote.parse(note)
        try parsed.verify(verifierKey)
        return try parse(body: parsed.text)
    }
}

/// A proof bundle (protocol/SPEC.md 4.1): one signer's chain or a range of it, every entry's
/// inclusion proof, the checkpoint they lead to, and the log's chain statement.
public struct ProofBundle: Hashable, Sendable {
    public static let magic: [UInt8] = Array("ATBUNDL1".utf8)
    /// An entry with an empty body: header, body length, signature trailer.
    public static let minEntrySize = EntryLimits.headerSize + EntryLimits.signatureTrailer
    public static let minRecordSize = 8 + 4 + minEntrySize + 1
    public static let maxLogKey = 1024
    public static let maxProof = 64

    public struct Record: Hashable, Sendable {
        public var index: UInt64
        public var entry: [UInt8]
        public var proof: [Bytes32]

        public init(index: UInt64, entry: [UInt8], proof: [Bytes32]) {
            self.index = index
            self.entry = entry
            self.proof = proof
        }
    }

    public var logKey: String
    public var checkpoint: String
    public var statement: String
    public var records: [Record]

    public init(logKey: String, checkpoint: String, statement: String, records: [Record]) {
        self.logKey = logKey
        self.checkpoint = checkpoint
        self.statement = statement
        self.records = records
    }

    /// Everything before the records; `count` is the number of records that will follow.
    public static func encodeHeader(logKey: String, checkpoint: String, statement: String, count: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + logKey.utf8.count + checkpoint.utf8.count + statement.utf8.count)
        w.raw(magic)
        w.string(logKey)
        w.u32(UInt32(checkpoint.utf8.count))
        w.raw(checkpoint.utf8)
        w.u32(UInt32(statement.utf8.count))
        w.raw(statement.utf8)
        w.u64(count)
        return w.bytes
    }

    public static func encode(record r: Record, into w: inout ByteWriter) {
        w.u64(r.index)
        w.u32(UInt32(r.entry.count))
        w.raw(r.entry)
        w.u8(UInt8(r.proof.count))
        for h in r.proof { w.bytes32(h) }
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: records.count * 1024)
        w.raw(Self.encodeHeader(logKey: logKey, checkpoint: checkpoint, statement: statement, count: UInt64(records.count)))
        for r in records { Self.encode(record: r, into: &w) }
        return w.bytes
    }

    /// Decodes a bundle strictly (the layout only; see `BundleVerifier` for what it proves).
    public static func decode(_ bytes: [UInt8]) throws(TrailError) -> ProofBundle {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(TrailError) -> ProofBundle in
                let layout = try BundleLayout.parse(raw)
                return ProofBundle(
                    logKey: layout.logKey, checkpoint: layout.checkpoint, statement: layout.statement,
                    records: layout.records.map { r in
                        Record(index: r.index, entry: Array(raw[r.entry]), proof: layout.proof(of: r, in: raw))
                    })
            }
        }
        return try result.get()
    }

    /// Record `i` with the checkpoint as a C2SP `tlog-proof@v1` text.
    public func tlogProof(record i: Int) -> TlogProof {
        TlogProof(index: records[i].index, proof: records[i].proof, checkpointNote: checkpoint)
    }
}

/// A bundle's layout parsed over its bytes without copying the records.
public struct BundleLayout: Sendable {
    public struct RecordRef: Sendable {
        public let index: UInt64
        public let entry: Range<Int>
        /// Offset of the first proof hash; `proofCount` hashes of 32 bytes follow.
        public let proofOffset: Int
        public let proofCount: Int
    }

    public let logKey: String
    public let checkpoint: String
    public let statement: String
    public let records: [RecordRef]

    public func proof(of r: RecordRef, in raw: UnsafeRawBufferPointer) -> [Bytes32] {
        (0..<r.proofCount).map { k in
            Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: raw[(r.proofOffset + 32 * k)..<(r.proofOffset + 32 * k + 32)]))
        }
    }

    /// Parses the layout of SPEC 4.1: every length is bounded before it is used.
    public static func parse(_ raw: UnsafeRawBufferPointer) throws(TrailError) -> BundleLayout {
        var r = ByteReader(raw)
        func bad(_ why: String) -> TrailError { TrailError(.malformedBundle, why) }
        /// Reads with the layout's own error code: a short read is a malformed bundle.
        func read<T>(_ what: String, _ body: (inout ByteReader) throws(TrailError) -> T) throws(TrailError) -> T {
            do { return try body(&r) } catch { throw bad("bundle ends inside \(what)") }
        }
        func text(_ len: Int, _ what: String) throws(TrailError) -> String {
            let bytes = try read(what) { (r) throws(TrailError) in try r.skip(len, "text") }
            guard let s = String(validating: bytes, as: UTF8.self) else { throw bad("\(what) is not valid UTF-8") }
            return s
        }

        let magic = try read("the magic") { (r) throws(TrailError) in try r.skip(8, "magic") }
        guard magic.elementsEqual(ProofBundle.magic) else { throw bad("not a proof bundle (magic is not ATBUNDL1)") }
        let keyLen = Int(try read("the log key length") { (r) throws(TrailError) in try r.u16("len") })
        guard (1...ProofBundle.maxLogKey).contains(keyLen) else { throw bad("log key is \(keyLen) bytes, must be 1...\(ProofBundle.maxLogKey)") }
        let logKey = try text(keyLen, "the log key")
        let cpLen = Int(try read("the checkpoint length") { (r) throws(TrailError) in try r.u32("len") })
        guard (1...SignedNote.maxSize).contains(cpLen) else { throw bad("checkpoint is \(cpLen) bytes, must be 1...\(SignedNote.maxSize)") }
        let checkpoint = try text(cpLen, "the checkpoint")
        let stLen = Int(try read("the statement length") { (r) throws(TrailError) in try r.u32("len") })
        guard (1...SignedNote.maxSize).contains(stLen) else { throw bad("statement is \(stLen) bytes, must be 1...\(SignedNote.maxSize)") }
        let statement = try text(stLen, "the statement")
        let count = try read("the record count") { (r) throws(TrailError) in try r.u64("count") }
        guard count <= UInt64(r.remaining / ProofBundle.minRecordSize) else {
            throw bad("bundle declares \(count) records but \(r.remaining) bytes cannot hold that many")
        }
        var records: [RecordRef] = []
        records.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            let index = try read("record \(i)") { (r) throws(TrailError) in try r.u64("index") }
            let len = Int(try read("record \(i)") { (r) throws(TrailError) in try r.u32("entry_len") })
            guard len >= ProofBundle.minEntrySize else {
                throw bad("record \(i) holds \(len) bytes, fewer than any entry (\(ProofBundle.minEntrySize)): not an entry (an inner Merkle node is 64 bytes)")
            }
            guard len <= EntryLimits.maxEntrySize else { throw bad("record \(i) holds \(len) bytes, above the entry limit \(EntryLimits.maxEntrySize)") }
            guard len <= r.remaining else { throw bad("bundle ends inside record \(i)'s entry") }
            let start = r.offset
            _ = try read("record \(i)") { (r) throws(TrailError) in try r.skip(len, "entry") }
            let proofCount = Int(try read("record \(i)'s proof") { (r) throws(TrailError) in try r.u8("proof_count") })
            guard proofCount <= ProofBundle.maxProof else { throw bad("record \(i) has \(proofCount) proof hashes, limit \(ProofBundle.maxProof)") }
            guard proofCount * 32 <= r.remaining else { throw bad("bundle ends inside record \(i)'s proof") }
            let proofOffset = r.offset
            _ = try read("record \(i)'s proof") { (r) throws(TrailError) in try r.skip(proofCount * 32, "proof") }
            records.append(RecordRef(index: index, entry: start..<(start + len), proofOffset: proofOffset, proofCount: proofCount))
        }
        guard r.remaining == 0 else { throw bad("\(r.remaining) bytes after the last record") }
        return BundleLayout(logKey: logKey, checkpoint: checkpoint, statement: statement, records: records)
    }
}

/// What a valid bundle proves.
public struct BundleSummary: Sendable {
    public let statement: ChainStatement
    public let checkpoint: Checkpoint
    public let entries: Int
}

/// The first thing wrong with a bundle: the error, and the record (position in the bundle) and
/// seq it concerns when it concerns one.
public struct BundleFailure: Error, Sendable, CustomStringConvertible {
    public let error: TrailError
    public let record: Int?
    public let seq: UInt64?

    public init(_ error: TrailError, record: Int? = nil, seq: UInt64? = nil) {
        self.error = error
        self.record = record
        self.seq = seq
    }

    public var description: String { error.description }
}

/// Verifies proof bundles offline (protocol/SPEC.md 4.3), spreading signatures and proofs over
/// all cores.
public enum BundleVerifier {
    public struct Progress: Sendable {
        public let stage: String
        public let done: Int
        public let total: Int
    }

    /// Records per unit of parallel work.
    static let chunk = 2048

    public static func verify(
        _ bytes: [UInt8], trustedKey: NoteVerifierKey, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (@Sendable (Progress) -> Void)? = nil
    ) throws(BundleFailure) -> BundleSummary {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(BundleFailure) in try verify(raw, trustedKey: trustedKey, threads: threads, progress: progress) }
        }
        return try result.get()
    }

    /// Runs SPEC 4.3 steps 1-9 in order and throws the first failure.
    public static func verify(
        _ raw: UnsafeRawBufferPointer, trustedKey: NoteVerifierKey, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: (@Sendable (Progress) -> Void)? = nil
    ) throws(BundleFailure) -> BundleSummary {
        func fail(_ e: TrailError, _ what: String) -> BundleFailure { BundleFailure(TrailError(e.code, "\(what): \(e.reason)")) }

        // 1-4: layout, key, checkpoint, statement.
        let layout: BundleLayout
        do { layout = try BundleLayout.parse(raw) } catch { throw BundleFailure(error) }
        let bundleKey: NoteVerifierKey
        do { bundleKey = try NoteVerifierKey(layout.logKey) } catch { throw fail(error, "bundle's log key") }
        guard bundleKey == trustedKey else {
            throw BundleFailure(TrailError(.logKeyMismatch, "bundle is for log key \(bundleKey), not the trusted \(trustedKey)"))
        }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint.open(note: layout.checkpoint, verifierKey: trustedKey) } catch { throw fail(error, "checkpoint") }
        let statement: ChainStatement
        do { statement = try ChainStatement.open(note: layout.statement, verifierKey: trustedKey) } catch { throw fail(error, "chain statement") }
        guard statement.treeSize == checkpoint.size else {
            throw BundleFailure(TrailError(.statementMismatch, "chain statement is for tree size \(statement.treeSize), checkpoint for \(checkpoint.size)"))
        }

        let count = layout.records.count
        let seqs = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: count)
        let prevs = UnsafeMutableBufferPointer<Bytes32>.allocate(capacity: count)
        let hashes = UnsafeMutableBufferPointer<Bytes32>.allocate(capacity: count)
        defer {
            seqs.deallocate()
            prevs.deallocate()
            hashes.deallocate()
        }
        func name(_ i: Int) -> String { "seq \(seqs[i]) (record \(i))" }

        // 5: every entry decodes, has the statement's signer and verifies.
        let records = layout.records
        if let (i, e) = parallel(count: count, threads: threads, stage: "signatures", progress: progress, { i throws(TrailError) in
            // Decoded and verified in place: no copy of the entry.
            let bytes = UnsafeRawBufferPointer(rebasing: raw[records[i].entry])
            let (signer, seq, _, prev, body, signature) = try EntryCodec.decodeFields(bytes)
            seqs[i] = seq
            guard signer == statement.signer else {
                throw TrailError(.wrongSigner, "signed by \(DIDKey.encode(signer)), not the chain's \(DIDKey.encode(statement.signer))")
            }
            try EntryCodec.verify(encoded: bytes, signer: signer, signature: signature, body: body)
            prevs[i] = prev
            hashes[i] = SHA256.hash(prefix: 0x00, bytes)
        }) {
            let what = e.code.rawValue < 20 ? "record \(i) (log index \(records[i].index)) is not a valid entry" : name(i)
            throw BundleFailure(TrailError(e.code, "\(what): \(e.reason)"), record: i, seq: e.code.rawValue < 20 ? nil : seqs[i])
        }

        // 6: seqs from...through, in order, each once.
        var expected = statement.from
        for i in 0..<count {
            let s = seqs[i]
            func failure(_ code: TrailError.Code, _ why: String) -> BundleFailure {
                BundleFailure(TrailError(code, "\(name(i)): \(why)"), record: i, seq: s)
            }
            if s == expected, expected <= statement.through {
                expected += 1
                continue
            }
            if s < statement.from || s > statement.through {
                throw failure(.statementMismatch, "outside the statement's range \(statement.from)-\(statement.through)")
            }
            if s < expected { throw failure(.duplicateEntry, "seq \(s) appears twice") }
            if (i + 1..<count).contains(where: { seqs[$0] == expected }) {
                throw failure(.entriesOutOfOrder, "comes before seq \(expected): entries are out of order")
            }
            throw failure(.missingEntry, "seq \(expected) is missing")
        }
        guard count > 0, expected == statement.through + 1 else {
            let last = count > 0 ? "ends at seq \(expected - 1)" : "holds no entries"
            throw BundleFailure(TrailError(.chainTruncated, "bundle \(last), but the signed statement covers seqs through \(statement.through)"))
        }

        // 7: links.
        for i in 1..<max(count, 1) where prevs[i] != hashes[i - 1] {
            throw BundleFailure(
                TrailError(.brokenLink, "\(name(i)): its prev \(prevs[i].hex) is not the hash \(hashes[i - 1].hex) of seq \(seqs[i - 1]), which was altered or replaced"),
                record: i, seq: seqs[i])
        }

        // 8: head.
        if statement.through == statement.headSeq, hashes[count - 1] != statement.headHash {
            throw BundleFailure(
                TrailError(.headMismatch, "\(name(count - 1)): hash \(hashes[count - 1].hex) is not the chain head \(statement.headHash.hex) the log signed"),
                record: count - 1, seq: seqs[count - 1])
        }

        // 9: inclusion of every entry at the checkpoint.
        let size = checkpoint.size
        let root = checkpoint.root
        if let (i, e) = parallelChunks(count: count, threads: threads, stage: "proofs", progress: progress, { range throws(ChunkFailure) -> Void in
            // One verifier per chunk: records of a chain are in log order, so neighbours share paths.
            var verifier = Merkle.InclusionVerifier(size: size, root: root)
            for i in range {
                let r = records[i]
                do throws(TrailError) { try verifier.verify(index: r.index, leafHash: hashes[i], proof: layout.proof(of: r, in: raw)) } catch {
                    throw ChunkFailure(index: i, error: error)
                }
            }
        }) {
            throw BundleFailure(TrailError(e.code, "\(name(i)) at log index \(records[i].index) is not proven in the checkpoint: \(e.reason)"), record: i, seq: seqs[i])
        }
        return BundleSummary(statement: statement, checkpoint: checkpoint, entries: count)
    }

    /// Runs `body` for 0..<count on `threads` workers in chunks, and returns the lowest index that
    /// failed with its error. Work past a known failure is skipped.
    static func parallel(
        count: Int, threads: Int, stage: String, progress: (@Sendable (Progress) -> Void)?,
        _ body: (Int) throws(TrailError) -> Void
    ) -> (Int, TrailError)? {
        parallelChunks(count: count, threads: threads, stage: stage, progress: progress) { range throws(ChunkFailure) in
            for i in range {
                do throws(TrailError) { try body(i) } catch { throw ChunkFailure(index: i, error: error) }
            }
        }
    }

    struct ChunkFailure: Error {
        let index: Int
        let error: TrailError
    }

    /// Runs `body` over chunks of 0..<count on `threads` workers; a chunk stops at its first
    /// failure. Returns the lowest failing index with its error.
    static func parallelChunks(
        count: Int, threads: Int, stage: String, progress: (@Sendable (Progress) -> Void)?,
        _ body: (Range<Int>) throws(ChunkFailure) -> Void
    ) -> (Int, TrailError)? {
        let state = ParallelState()
        // Each index is touched by exactly one worker, and the caller waits for all of them.
        nonisolated(unsafe) let body = body
        let chunks = (count + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, chunks))) { _ in
            while true {
                let c = state.next.add(1, ordering: .relaxed).oldValue
                guard c < chunks else { return }
                let start = c * chunk
                if state.firstFailure.load(ordering: .relaxed) < start { continue }
                let range = start..<min(count, start + chunk)
                do throws(ChunkFailure) { try body(range) } catch { state.fail(error.index, error.error) }
                let done = state.done.add(range.count, ordering: .relaxed).newValue
                progress?(Progress(stage: stage, done: done, total: count))
            }
        }
        return state.failure.withLock { $0 }
    }

    final class ParallelState: Sendable {
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let firstFailure = Atomic<Int>(.max)
        let failure = Mutex<(Int, TrailError)?>(nil)

        func fail(_ i: Int, _ e: TrailError) {
            failure.withLock { f in
                if f == nil || i < f!.0 { f = (i, e) }
            }
            _ = firstFailure.min(i, ordering: .relaxed)
        }
    }
}
