import Foundation
import Testing

@testable import TrailCore

/// An in-memory log: signers appending in an irregular interleaving, the RFC 9162 tree over all
/// of it, and a log key that signs checkpoints and chain statements. Deterministic, so the
/// bundles it makes are also the SPEC 4.4 vectors.
struct TestLog {
    static let origin = "agenttrail.local/0123456789abcdef"
    let logKey = testKey("bundle-log")
    let signers: [SigningKey]
    private(set) var log: [[UInt8]] = []
    private(set) var chains: [PublicKey: [(index: UInt64, entry: Entry)]] = [:]

    var verifier: NoteVerifierKey { try! NoteVerifierKey(name: Self.origin, publicKey: logKey.publicKey) }
    var size: UInt64 { UInt64(log.count) }

    /// `signers[k]` appends `counts[k]` entries; at each step a signer appends once when its
    /// turn comes up (every `k + 1`-th step), so chains interleave unevenly.
    init(counts: [Int]) throws {
        signers = counts.indices.map { testKey("bundle-signer-\($0)") }
        var step = 0
        while zip(signers, counts).contains(where: { (chains[$0.publicKey]?.count ?? 0) < $1 }) {
            for (k, key) in signers.enumerated() where step % (k + 1) == 0 && (chains[key.publicKey]?.count ?? 0) < counts[k] {
                try append(key, simpleAction("s\(k)-\(step)"))
            }
            step += 1
        }
    }

    mutating func append(_ key: SigningKey, _ body: EntryBody) throws {
        let chain = chains[key.publicKey] ?? []
        let e = try sign(
            key, seq: UInt64(chain.count), prev: chain.last?.entry.hash ?? .zero,
            timestamp: 1_763_900_000_000 + UInt64(log.count), body)
        chains[key.publicKey, default: []].append((UInt64(log.count), e))
        log.append(e.encoded)
    }

    func leaf(_ i: UInt64) -> Bytes32 { SHA256.leafHash(log[Int(i)]) }

    func checkpoint(size: UInt64? = nil, key: SigningKey? = nil) -> String {
        let n = size ?? self.size
        let root = Merkle.root(leaves: (0..<n).map(leaf))
        return try! Checkpoint(origin: Self.origin, size: n, root: root).signedNote(signer: key ?? logKey)
    }

    func proof(_ index: UInt64, size: UInt64) -> [Bytes32] {
        try! Merkle.inclusionProof(index: index, size: size, leaf: { self.leaf($0) })
    }

    /// A bundle of `key`'s seqs `from...through` at the current size, signed by `signingKey`.
    func bundle(of key: SigningKey, from: UInt64 = 0, through: UInt64? = nil, signingKey: SigningKey? = nil) -> ProofBundle {
        let chain = chains[key.publicKey]!
        let through = through ?? UInt64(chain.count - 1)
        let signing = signingKey ?? logKey
        let statement = try! ChainStatement(
            signer: key.publicKey, treeSize: size, from: from, through: through, headSeq: UInt64(chain.count - 1),
            headHash: chain.last!.entry.hash)
        let verifier = try! NoteVerifierKey(name: Self.origin, publicKey: signing.publicKey)
        return ProofBundle(
            logKey: verifier.description, checkpoint: checkpoint(key: signing),
            statement: try! statement.signedNote(signer: signing, keyName: Self.origin),
            records: chain[Int(from)...Int(through)].map { ProofBundle.Record(index: $0.index, entry: $0.entry.encoded, proof: proof($0.index, size: size)) })
    }
}

/// One way to tamper with a valid bundle, and the code it must be rejected with.
struct Tampering: CustomStringConvertible, Sendable {
    let name: String
    let code: TrailError.Code
    let apply: @Sendable (TestLog, inout ProofBundle) throws -> Void
    var description: String { name }

    /// The tamperings of issue 4, plus the layout and statement ones. They act on the bundle of
    /// signer 0 of `BundleTests.makeLog()`.
    static let all: [Tampering] = [
        Tampering(name: "modified_body", code: .badSignature) { _, b in
            b.records[3].entry[EntryLimits.headerSize + 6] ^= 0x01  // a letter of the action type
        },
        Tampering(name: "deleted_entry", code: .missingEntry) { _, b in b.records.remove(at: 3) },
        Tampering(name: "reordered_entries", code: .entriesOutOfOrder) { _, b in b.records.swapAt(3, 4) },
        Tampering(name: "duplicated_entry", code: .duplicateEntry) { _, b in b.records.insert(b.records[3], at: 4) },
        Tampering(name: "truncated_end", code: .chainTruncated) { _, b in b.records.removeLast(2) },
        Tampering(name: "resigned_entry", code: .brokenLink) { log, b in
            let old = try EntryCodec.decode(b.records[3].entry)
            let key = log.signers[0]
            b.records[3].entry = try sign(key, seq: old.seq, prev: old.prev, timestamp: old.timestampMs, simpleAction("rewritten")).encoded
        },
        Tampering(name: "resigned_head", code: .headMismatch) { log, b in
            let last = b.records.count - 1
            let old = try EntryCodec.decode(b.records[last].entry)
            b.records[last].entry = try sign(log.signers[0], seq: old.seq, prev: old.prev, timestamp: old.timestampMs, simpleAction("rewritten")).encoded
        },
        Tampering(name: "forged_checkpoint", code: .badNoteSignature) { log, b in
            // Another tree size and root under the genuine signature line.
            let genuine = try SignedNote.parse(b.checkpoint)
            let forged = try Checkpoint(origin: TestLog.origin, size: log.size + 1, root: SHA256.hash([1]))
            b.checkpoint = forged.body + String(b.checkpoint.dropFirst(genuine.text.count))
        },
        Tampering(name: "forged_statement", code: .badNoteSignature) { _, b in
            b.statement = b.statement.replacingOccurrences(of: "\n0 ", with: "\n1 ")
        },
        Tampering(name: "replaced_log_key", code: .logKeyMismatch) { log, b in
            b = log.bundle(of: log.signers[0], signingKey: testKey("impostor-log"))
        },
        Tampering(name: "statement_for_other_size", code: .statementMismatch) { log, b in
            let s = try ChainStatement.parse(body: try SignedNote.parse(b.statement).text)
            let other = try ChainStatement(
                signer: s.signer, treeSize: s.treeSize - 1, from: s.from, through: s.through, headSeq: s.headSeq, headHash: s.headHash)
            b.statement = try other.signedNote(signer: log.logKey, keyName: TestLog.origin)
        },
        Tampering(name: "other_signer", code: .wrongSigner) { log, b in
            let other = log.chains[log.signers[1].publicKey]![3]
            b.records[3] = ProofBundle.Record(index: other.index, entry: other.entry.encoded, proof: log.proof(other.index, size: log.size))
        },
        Tampering(name: "dropped_proof_hash", code: .wrongProofLength) { _, b in b.records[2].proof.removeLast() },
        Tampering(name: "altered_proof_hash", code: .rootMismatch) { _, b in
            var bytes = b.records[2].proof[1].bytes
            bytes[0] ^= 0x80
            b.records[2].proof[1] = Bytes32(bytes)!
        },
        Tampering(name: "inner_node_as_leaf", code: .malformedBundle) { log, b in
            // The parent of record 2's leaf, presented as a leaf one level up.
            let r = b.records[2]
            let sibling = r.proof[0]
            let leaf = SHA256.leafHash(r.entry)
            let (left, right) = r.index % 2 == 0 ? (leaf, sibling) : (sibling, leaf)
            b.records[2] = ProofBundle.Record(index: r.index / 2, entry: left.bytes + right.bytes, proof: Array(r.proof.dropFirst()))
        },
        Tampering(name: "out_of_range_index", code: .indexOutOfRange) { log, b in b.records[1].index = log.size },
        Tampering(name: "malformed_entry", code: .unsupportedVersion) { _, b in b.records[1].entry[0] = 2 },
    ]
}

@Suite struct BundleTests {
    /// Signer 0 has 8 entries among 20 in the log.
    static func makeLog() throws -> TestLog { try TestLog(counts: [8, 7, 5]) }

    func verify(_ b: ProofBundle, _ log: TestLog) throws(BundleFailure) -> BundleSummary {
        try BundleVerifier.verify(b.encode(), trustedKey: log.verifier)
    }

    @Test func validBundleVerifies() throws {
        let log = try Self.makeLog()
        #expect(log.size == 20)
        let b = log.bundle(of: log.signers[0])
        let s = try verify(b, log)
        #expect(s.entries == 8)
        #expect(s.statement.signer == log.signers[0].publicKey)
        #expect((s.statement.from, s.statement.through, s.statement.headSeq) == (0, 7, 7))
        #expect(s.checkpoint.size == 20)
        // Every record with the checkpoint is a standalone tlog-proof.
        for (i, r) in b.records.enumerated() {
            let text = b.tlogProof(record: i).text
            #expect(try TlogProof.open(text, leafHash: SHA256.leafHash(r.entry), verifierKey: log.verifier.description).checkpoint.size == 20)
        }
        #expect(try ProofBundle.decode(b.encode()) == b)
    }

    @Test func rangeBundleVerifies() throws {
        let log = try Self.makeLog()
        let s = try verify(log.bundle(of: log.signers[1], from: 2, through: 4), log)
        #expect((s.entries, s.statement.from, s.statement.through, s.statement.headSeq) == (3, 2, 4, 6))
    }

    @Test func singleThreadAgrees() throws {
        let log = try Self.makeLog()
        let b = log.bundle(of: log.signers[0])
        #expect(try BundleVerifier.verify(b.encode(), trustedKey: log.verifier, threads: 1).entries == 8)
        var t = b
        t.records[5].proof[0] = .zero
        #expect(throws: BundleFailure.self) { try BundleVerifier.verify(t.encode(), trustedKey: log.verifier, threads: 1) }
    }

    @Test(arguments: Tampering.all)
    func tamperingIsRejected(_ t: Tampering) throws {
        let log = try Self.makeLog()
        var b = log.bundle(of: log.signers[0])
        try t.apply(log, &b)
        do {
            _ = try verify(b, log)
            Issue.record("\(t.name) was accepted")
        } catch {
            #expect(error.error.code == t.code, "\(t.name): \(error)")
        }
    }

    /// Each tampering is told apart by its message, not only by its code.
    @Test func everyTamperingHasItsOwnMessage() throws {
        let log = try Self.makeLog()
        var messages: [String: String] = [:]
        for t in Tampering.all {
            var b = log.bundle(of: log.signers[0])
            try t.apply(log, &b)
            do { _ = try verify(b, log) } catch { messages[t.name] = error.error.reason }
        }
        #expect(messages.count == Tampering.all.count)
        #expect(Set(messages.values).count == messages.count, "\(messages)")
        #expect(messages["resigned_entry"]!.contains("seq 4 (record 4)"))
        #expect(messages["modified_body"]!.contains("seq 3 (record 3)"))
        #expect(messages["deleted_entry"]!.contains("seq 3 is missing"))
    }

    @Test func firstFailureWins() throws {
        // Two bad signatures: the earlier record is named, whatever the thread order.
        let log = try Self.makeLog()
        var b = log.bundle(of: log.signers[0])
        b.records[6].entry[EntryLimits.headerSize + 6] ^= 1
        b.records[2].entry[EntryLimits.headerSize + 6] ^= 1
        #expect(throws: BundleFailure.self) { try verify(b, log) }
        do { _ = try verify(b, log) } catch { #expect(error.record == 2 && error.seq == 2) }
        // A signature failure comes before a proof failure at an earlier record (SPEC 4.3 order).
        var c = log.bundle(of: log.signers[0])
        c.records[1].proof[0] = .zero
        c.records[5].entry[EntryLimits.headerSize + 6] ^= 1
        do { _ = try verify(c, log) } catch { #expect(error.error.code == .badSignature && error.record == 5) }
    }

    @Test func wrongTrustedKey() throws {
        let log = try Self.makeLog()
        let b = log.bundle(of: log.signers[0]).encode()
        let other = try NoteVerifierKey(name: TestLog.origin, publicKey: testKey("other").publicKey)
        #expect(throws: BundleFailure.self) { try BundleVerifier.verify(b, trustedKey: other) }
        do { _ = try BundleVerifier.verify(b, trustedKey: other) } catch { #expect(error.error.code == .logKeyMismatch) }
    }

    @Test func everyTruncationIsMalformed() throws {
        let log = try Self.makeLog()
        let bytes = log.bundle(of: log.signers[2]).encode()
        for n in 0..<bytes.count {
            #expect(failure { () throws(TrailError) in _ = try BundleLayout.parse(bytes: Array(bytes[..<n])) } == .malformedBundle, "prefix \(n)")
        }
        #expect(failure { () throws(TrailError) in _ = try BundleLayout.parse(bytes: bytes + [0]) } == .malformedBundle)
    }

    @Test func layoutRejections() throws {
        let log = try Self.makeLog()
        let b = log.bundle(of: log.signers[2])
        let good = b.encode()
        func code(_ bytes: [UInt8]) -> TrailError.Code? { failure { () throws(TrailError) in _ = try BundleLayout.parse(bytes: bytes) } }
        #expect(code(good) == nil)
        var magic = good
        magic[7] = UInt8(ascii: "2")
        #expect(code(magic) == .malformedBundle)
        // The record count is bounded by the bytes that remain before anything is reserved.
        let header = ProofBundle.encodeHeader(logKey: b.logKey, checkpoint: b.checkpoint, statement: b.statement, count: .max)
        #expect(code(header) == .malformedBundle)
        #expect(code(ProofBundle.encodeHeader(logKey: "", checkpoint: b.checkpoint, statement: b.statement, count: 0)) == .malformedBundle)
        #expect(code(ProofBundle.encodeHeader(logKey: b.logKey, checkpoint: "", statement: b.statement, count: 0)) == .malformedBundle)
        var bigProof = b
        bigProof.records[0].proof = Array(repeating: .zero, count: 65)
        #expect(code(bigProof.encode()) == .malformedBundle)
        var bigEntry = b
        bigEntry.records[0].entry = Array(repeating: 1, count: EntryLimits.maxEntrySize + 1)
        #expect(code(bigEntry.encode()) == .malformedBundle)
        var badUTF8 = ProofBundle.magic
        badUTF8 += [0, 2, 0xc3, 0x28]
        #expect(code(badUTF8) == .malformedBundle)
    }

    @Test func statementParsing() throws {
        let key = testKey("statement")
        let s = try ChainStatement(signer: key.publicKey, treeSize: 10, from: 1, through: 2, headSeq: 3, headHash: h("head"))
        #expect(try ChainStatement.parse(body: s.body) == s)
        let did = DIDKey.encode(key.publicKey)
        let head = Base64.encode(h("head").bytes)
        for bad in [
            "agenttrail/chain/v2\n\(did)\n10\n1 2\n3 \(head)\n",  // header
            "agenttrail/chain/v1\n\(did)\n10\n1 2\n3 \(head)",  // no final newline
            "agenttrail/chain/v1\n\(did)\n10\n1 2\n3 \(head)\nextra\n",  // extension line
            "agenttrail/chain/v1\nnot-a-did\n10\n1 2\n3 \(head)\n",
            "agenttrail/chain/v1\n\(did)\n010\n1 2\n3 \(head)\n",  // leading zero
            "agenttrail/chain/v1\n\(did)\n10\n1  2\n3 \(head)\n",
            "agenttrail/chain/v1\n\(did)\n10\n2 1\n3 \(head)\n",  // from > through
            "agenttrail/chain/v1\n\(did)\n10\n1 4\n3 \(head)\n",  // through > head
            "agenttrail/chain/v1\n\(did)\n10\n1 2\n3 AAAA\n",  // short hash
            "agenttrail/chain/v1\n\(did)\n18446744073709551616\n1 2\n3 \(head)\n",  // 2^64
        ] {
            #expect(failure { () throws(TrailError) in _ = try ChainStatement.parse(body: bad) } == .malformedStatement, "\(bad)")
        }
        // A statement never parses as a checkpoint, and the reverse.
        #expect(failure { () throws(TrailError) in _ = try Checkpoint.parse(body: s.body) } != nil)
        let cp = try Checkpoint(origin: "agenttrail/chain/v1", size: 10, root: h("r"))
        #expect(failure { () throws(TrailError) in _ = try ChainStatement.parse(body: cp.body) } == .malformedStatement)
    }
}

extension BundleLayout {
    static func parse(bytes: [UInt8]) throws(TrailError) -> BundleLayout {
        try bytes.withUnsafeBytes { raw in Result { () throws(TrailError) in try parse(raw) } }.get()
    }
}

/// protocol/vectors/bundles.json (SPEC 4.4): made from `TestLog` and `Tampering.all`, so the file
/// must equal what this code generates; set AGENTTRAIL_WRITE_VECTORS=1 to rewrite it. The Python
/// reference checks the same file.
@Suite("Bundle vectors")
struct BundleVectorTests {
    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../protocol/vectors/bundles.json").standardized

    static func generate() throws -> [String: Any] {
        let log = try BundleTests.makeLog()
        func valid(_ name: String, _ k: Int, _ from: UInt64, _ through: UInt64?) -> [String: Any] {
            let b = log.bundle(of: log.signers[k], from: from, through: through)
            return [
                "name": name, "hex": Hex.encode(b.encode()), "signer": DIDKey.encode(log.signers[k].publicKey),
                "from": Int(from), "through": Int(through ?? UInt64(b.records.count - 1)), "entries": b.records.count,
            ]
        }
        var invalid: [[String: Any]] = []
        for t in Tampering.all {
            var b = log.bundle(of: log.signers[0])
            try t.apply(log, &b)
            invalid.append(["name": t.name, "hex": Hex.encode(b.encode()), "code": Int(t.code.rawValue)])
        }
        return [
            "log_key": log.verifier.description,
            "valid": [valid("whole_chain", 0, 0, nil), valid("range", 1, 2, 4), valid("single_entry_chain_start", 2, 0, 0)],
            "invalid": invalid,
        ]
    }

    @Test func fileMatchesGenerator() throws {
        let generated = try Self.generate()
        if ProcessInfo.processInfo.environment["AGENTTRAIL_WRITE_VECTORS"] == "1" {
            let data = try JSONSerialization.data(withJSONObject: generated, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (data + Data("\n".utf8)).write(to: Self.url)
        }
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.url)) as? NSDictionary)
        #expect(file == generated as NSDictionary, "protocol/vectors/bundles.json is stale: rerun with AGENTTRAIL_WRITE_VECTORS=1")
    }

    @Test func vectorsVerify() throws {
        let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.url)) as? [String: Any])
        let key = try NoteVerifierKey(file["log_key"] as! String)
        for v in file["valid"] as! [[String: Any]] {
            let s = try BundleVerifier.verify(Hex.decode(v["hex"] as! String)!, trustedKey: key)
            #expect(s.entries == v["entries"] as! Int)
            #expect(DIDKey.encode(s.statement.signer) == v["signer"] as! String)
        }
        for v in file["invalid"] as! [[String: Any]] {
            do {
                _ = try BundleVerifier.verify(Hex.decode(v["hex"] as! String)!, trustedKey: key)
                Issue.record("\(v["name"]!) verified")
            } catch {
                #expect(Int(error.error.code.rawValue) == v["code"] as! Int, "\(v["name"]!)")
            }
        }
    }
}

@Suite struct InclusionVerifierTests {
    /// The path-sharing verifier accepts exactly what `verifyInclusion` accepts, also after its
    /// memory of the last path is warm: every altered, dropped or extra hash is still caught.
    @Test(arguments: [1, 2, 3, 7, 16, 17, 100, 257])
    func agreesWithVerifyInclusion(size: Int) throws {
        let leaves = (0..<size).map { h("iv-leaf-\($0)") }
        let root = Merkle.root(leaves: leaves)
        let n = UInt64(size)
        func proof(_ i: Int) throws -> [Bytes32] { try Merkle.inclusionProof(index: UInt64(i), size: n, leaf: { leaves[Int($0)] }) }
        var v = Merkle.InclusionVerifier(size: n, root: root)
        for i in stride(from: 0, to: size, by: max(1, size / 40)) {
            let p = try proof(i)
            try v.verify(index: UInt64(i), leafHash: leaves[i], proof: p)
            // The next leaf's proof, tampered at each position, right after a warm path.
            let j = min(i + 1, size - 1)
            let q = try proof(j)
            for k in q.indices {
                var bad = q
                var b = bad[k].bytes
                b[31] ^= 1
                bad[k] = Bytes32(b)!
                #expect(failure { () throws(TrailError) in try v.verify(index: UInt64(j), leafHash: leaves[j], proof: bad) } == .rootMismatch)
            }
            if !q.isEmpty {
                #expect(failure { () throws(TrailError) in try v.verify(index: UInt64(j), leafHash: leaves[j], proof: Array(q.dropLast())) } == .wrongProofLength)
            }
            #expect(failure { () throws(TrailError) in try v.verify(index: UInt64(j), leafHash: leaves[j], proof: q + [root]) } == .wrongProofLength)
            #expect(failure { () throws(TrailError) in try v.verify(index: UInt64(j), leafHash: h("other"), proof: q) } == .rootMismatch)
            #expect(failure { () throws(TrailError) in try v.verify(index: n, leafHash: leaves[j], proof: q) } == .indexOutOfRange)
            try v.verify(index: UInt64(j), leafHash: leaves[j], proof: q)
        }
    }
}
