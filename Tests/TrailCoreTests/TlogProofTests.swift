import Foundation
import Testing
import TrailCore

@Suite("tlog-proof")
struct TlogProofTests {
    typealias K = CheckpointKAT

    /// Leaf 5 of the RFC 6962 test tree of 8 leaves, with the proof from the rfc9162 vectors
    /// (inclusion/2/happy-path.json) and the KAT checkpoint. Assembled by the same independent
    /// Python script as the checkpoint KAT.
    static let leafHash = b32("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658")
    static let proofHashes = [
        "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
        "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
    ]
    static let text = "c2sp.org/tlog-proof@v1\nextra YWdlbnR0cmFpbA==\nindex 5\n"
        + proofHashes.map { $0 + "\n" }.joined() + "\n" + K.note

    static var proof: TlogProof {
        TlogProof(
            index: 5, proof: proofHashes.map { Bytes32(Base64.decode($0)!)! }, checkpointNote: K.note,
            extra: Array("agenttrail".utf8))
    }

    @Test func knownAnswer() throws {
        #expect(Self.proof.text == Self.text)
        #expect(try TlogProof.parse(Self.text) == Self.proof)
        let (parsed, checkpoint) = try TlogProof.open(Self.text, leafHash: Self.leafHash, verifierKey: K.verifierKey)
        #expect(parsed == Self.proof)
        #expect(checkpoint == K.checkpoint)
        // The generator produces the same proof from the test leaves.
        let leaves = RFC9162Vectors.leafData.map(SHA256.leafHash)
        #expect(leaves[5] == Self.leafHash)
        #expect(try Merkle.inclusionProof(index: 5, size: 8) { i throws(TrailError) in leaves[Int(i)] } == Self.proof.proof)
    }

    @Test func roundTripEveryLeaf() throws {
        let key = testKey("tlog")
        let leaves = (0..<13).map { SHA256.leafHash(Array("entry \($0)".utf8)) }
        let checkpoint = try Checkpoint(origin: "trail.example/log", size: 13, root: Merkle.root(leaves: leaves))
        let note = checkpoint.signedNote(signer: key)
        let vkey = checkpoint.verifierKey(key.publicKey)
        for i in 0..<13 {
            let hashes = try Merkle.inclusionProof(index: UInt64(i), size: 13) { j throws(TrailError) in leaves[Int(j)] }
            let text = TlogProof(index: UInt64(i), proof: hashes, checkpointNote: note).text
            #expect(!text.contains("extra"))
            let (p, cp) = try TlogProof.open(text, leafHash: leaves[i], verifierKey: vkey.description)
            #expect(p.index == UInt64(i) && p.extra == nil && cp == checkpoint)
            // Another leaf, index or log key does not verify.
            let other = leaves[(i + 1) % 13]
            #expect(failure { () throws(TrailError) in _ = try TlogProof.parse(text).verify(leafHash: other, verifierKey: vkey) } == .rootMismatch)
        }
        #expect(TlogProof(index: 0, proof: [], checkpointNote: note, extra: []).extra == nil, "empty extra is no extra")
    }

    @Test func rejections() throws {
        let t = Self.text
        let header = "c2sp.org/tlog-proof@v1\n"
        let rest = String(t.dropFirst(header.count + "extra YWdlbnR0cmFpbA==\n".count))  // from "index 5"
        let proofLines = Self.proofHashes.map { $0 + "\n" }.joined()
        let cases: [(String, String, TrailError.Code)] = [
            ("wrong header", "c2sp.org/tlog-proof@v2\n" + rest, .malformedTlogProof),
            ("header with trailing space", "c2sp.org/tlog-proof@v1 \n" + rest, .malformedTlogProof),
            ("no index", header + "\n" + K.note, .malformedTlogProof),
            ("extra after index", header + "index 5\nextra YQ==\n" + proofLines + "\n" + K.note, .invalidHash),
            ("extra not base64", header + "extra !!\n" + rest, .malformedTlogProof),
            ("extra empty", header + "extra \n" + rest, .malformedTlogProof),
            ("index leading zero", header + "index 05\n" + proofLines + "\n" + K.note, .malformedTlogProof),
            ("index negative", header + "index -5\n" + proofLines + "\n" + K.note, .malformedTlogProof),
            ("index two spaces", header + "index  5\n" + proofLines + "\n" + K.note, .malformedTlogProof),
            ("index too large", header + "index 18446744073709551616\n" + proofLines + "\n" + K.note, .malformedTlogProof),
            ("hash not base64", header + "index 5\n!!\n\n" + K.note, .invalidHash),
            ("hash 64 bytes", header + "index 5\n" + Base64.encode([UInt8](repeating: 0, count: 64)) + "\n\n" + K.note, .invalidHash),
            ("no blank line", header + "index 5\n" + proofLines, .malformedTlogProof),
            ("nothing after blank line", header + "index 5\n" + proofLines + "\n", .malformedTlogProof),
            ("65 hashes", header + "index 5\n" + String(repeating: Self.proofHashes[0] + "\n", count: 65) + "\n" + K.note, .wrongProofLength),
            // Well-formed, but does not verify.
            ("index out of range", header + "index 8\n" + proofLines + "\n" + K.note, .indexOutOfRange),
            ("wrong index", header + "index 4\n" + proofLines + "\n" + K.note, .rootMismatch),
            ("hash missing", header + "index 5\n" + Self.proofHashes.dropLast().map { $0 + "\n" }.joined() + "\n" + K.note, .wrongProofLength),
            ("hash extra", header + "index 5\n" + proofLines + Self.proofHashes[0] + "\n\n" + K.note, .wrongProofLength),
            ("hash altered", t.replacingOccurrences(of: "vBoGQ7Eu", with: "vBoGQ7Ev"), .rootMismatch),
            ("checkpoint altered", t.replacingOccurrences(of: "\n8\n", with: "\n9\n"), .badNoteSignature),
            ("checkpoint unsigned", header + "index 5\n" + proofLines + "\n" + K.body, .malformedNote),
            ("checkpoint by another log", header + "index 5\n" + proofLines + "\n" + K.checkpoint.signedNote(signer: testKey("x")), .unknownKey),
        ]
        for (name, text, code) in cases {
            let got = failure { () throws(TrailError) in _ = try TlogProof.open(text, leafHash: Self.leafHash, verifierKey: K.verifierKey) }
            #expect(got == code, "\(name)")
        }
        var bytes = Array(t.utf8)
        bytes[bytes.count - 10] = 0xff
        #expect(failure { () throws(TrailError) in _ = try TlogProof.parse(bytes) } == .malformedNote)
        #expect(failure { () throws(TrailError) in _ = try TlogProof.parse([UInt8](repeating: 0x41, count: TlogProof.maxSize + 1)) } == .malformedTlogProof)
    }
}
