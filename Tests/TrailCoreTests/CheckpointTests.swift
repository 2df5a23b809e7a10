import Foundation
import Testing
import TrailCore

/// A fixed checkpoint signed with the RFC 8032 section 7.1 TEST 1 key. The expected note and key
/// strings were produced by an independent implementation (Python `hashlib`, `base64` and
/// `cryptography`'s Ed25519), not by this code.
enum CheckpointKAT {
    static let seed = b32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    /// The public key RFC 8032 publishes for that seed.
    static let publicKey = b32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    static let origin = "example.com/agenttrail"
    static let keyID: UInt32 = 0x1e62_0d7b
    static let verifierKey = "example.com/agenttrail+1e620d7b+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    /// The RFC 6962 test tree of 8 leaves.
    static let root = b32("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    static let body = "example.com/agenttrail\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    static let note = body + "\n\u{2014} example.com/agenttrail HmINex30RYiM6DW6Xnix4WRKluUjeOdHDzBekNSnUgpiH6zI7u0FmEZ5GblgFzTS29ZEF2yb/3M9vDCi6cszBu4Fvg8=\n"

    static var key: SigningKey { SigningKey(seed: seed) }
    static var checkpoint: Checkpoint { try! Checkpoint(origin: origin, size: 8, root: root) }
}

@Suite("Checkpoints and signed notes")
struct CheckpointTests {
    typealias K = CheckpointKAT

    @Test func knownAnswer() throws {
        #expect(K.key.publicKey == K.publicKey)
        #expect(K.checkpoint.body == K.body)
        #expect(K.checkpoint.signedNote(signer: K.key) == K.note)
        #expect(try K.checkpoint.signedNote(signer: K.key, keyName: K.origin) == K.note)
        let vk = K.checkpoint.verifierKey(K.key.publicKey)
        #expect(vk.description == K.verifierKey)
        #expect(vk.keyID == K.keyID)
        #expect(try Checkpoint.open(note: K.note, verifierKey: K.verifierKey) == K.checkpoint)
    }

    /// The key ID, computed here from its definition with the bytes laid out by hand.
    @Test func keyIDIndependently() throws {
        var preimage = [UInt8]()
        for c in K.origin.unicodeScalars { preimage.append(UInt8(c.value)) }  // ASCII name
        preimage.append(0x0a)
        preimage.append(0x01)
        preimage.append(contentsOf: unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let digest = SHA256.hash(preimage).hex
        #expect(String(digest.prefix(8)) == "1e620d7b")
        #expect(NoteVerifierKey.keyID(name: K.origin, publicKey: K.publicKey) == UInt32(digest.prefix(8), radix: 16))
    }

    /// golang.org/x/mod/sumdb/note's documented example: its verifier key parses, its note
    /// verifies, and signing its text with its key reproduces it byte for byte.
    @Test func goSumdbNoteExample() throws {
        let vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        let skeyData = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  // from PRIVATE+KEY+PeterNeumann+c74f20a3+…
        let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
        let note = text + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

        let key = try NoteVerifierKey(vkey)
        #expect(key.name == "PeterNeumann" && key.keyID == 0xc74f_20a3)
        #expect(key.description == vkey)
        let parsed = try SignedNote.parse(note)
        #expect(parsed.text == text)
        try parsed.verify(key)

        let raw = Base64.decode(skeyData)!
        #expect(raw.count == 33 && raw[0] == 1)
        let signer = SigningKey(seed: Bytes32(raw[1...])!)
        #expect(signer.publicKey == key.publicKey)
        #expect(try SignedNote.sign(text: text, key: signer, keyName: "PeterNeumann") == note)

        let altered = note.replacingOccurrences(of: "cryptography", with: "cryptographY")
        #expect(failure { () throws(TrailError) in try SignedNote.parse(altered).verify(key) } == .badNoteSignature)
    }

    @Test func roundTrip() throws {
        let key = testKey("log")
        for (size, root) in [(UInt64(0), Merkle.emptyRoot), (1, h("a")), (UInt64.max, h("b"))] {
            let cp = try Checkpoint(origin: "trail.example/node-1", size: size, root: root)
            let note = cp.signedNote(signer: key)
            #expect(try Checkpoint.open(note: note, verifierKey: cp.verifierKey(key.publicKey).description) == cp)
            #expect(try Checkpoint.open(note: Array(note.utf8), verifierKey: cp.verifierKey(key.publicKey)) == cp)
        }
    }

    @Test func witnessCosignaturesAreIgnored() throws {
        // Other keys' signature lines (cosignatures, rotated keys) are skipped, in any position.
        let cosig = "\u{2014} witness.example/w1 " + Base64.encode([UInt8](repeating: 7, count: 72)) + "\n"
        let sameNameOtherKey = "\u{2014} example.com/agenttrail " + Base64.encode([0, 0, 0, 1] + [UInt8](repeating: 9, count: 64)) + "\n"
        for note in [K.note + cosig, K.body + "\n" + cosig + String(K.note.dropFirst(K.body.count + 1)), K.note + sameNameOtherKey] {
            #expect(try Checkpoint.open(note: note, verifierKey: K.verifierKey) == K.checkpoint)
        }
    }

    // MARK: Rejections

    /// Signs `text` as a note with the KAT key, so body errors surface after the signature check.
    private func signed(_ text: String) -> String {
        try! SignedNote.sign(text: text, key: K.key, keyName: K.origin)
    }

    private func openCode(_ note: String, _ key: String = K.verifierKey) -> TrailError.Code? {
        failure { () throws(TrailError) in _ = try Checkpoint.open(note: note, verifierKey: key) }
    }

    @Test func rejections() throws {
        let rootB64 = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="
        let sigLine = String(K.note.dropFirst(K.body.count + 1))
        let cases: [(String, String, TrailError.Code)] = [
            // Envelope (signed-note).
            ("no blank line", K.body + sigLine, .malformedNote),
            ("no signature lines", K.body + "\n", .malformedNote),
            ("no final newline", String(K.note.dropLast()), .malformedNote),
            ("hyphen instead of em dash", K.body + "\n- " + sigLine.dropFirst(2), .malformedNote),
            ("no space after em dash", K.body + "\n\u{2014}" + sigLine.dropFirst(2), .malformedNote),
            ("signature not base64", K.body + "\n\u{2014} example.com/agenttrail !!!!\n", .malformedNote),
            ("signature too short", K.body + "\n\u{2014} example.com/agenttrail AAAA\n", .malformedNote),
            ("extra field on signature line", String(K.note.dropLast()) + " x\n", .malformedNote),
            ("carriage return", K.note.replacingOccurrences(of: "\n8\n", with: "\n8\r\n"), .malformedNote),
            ("tab", K.note.replacingOccurrences(of: "\n8\n", with: "\n8\t\n"), .malformedNote),
            ("empty signature line", K.note + "\n", .malformedNote),
            ("signed twice by the key", K.note + sigLine, .malformedNote),
            // Key and signature.
            ("unknown key", K.body + "\n\u{2014} witness.example/w1 " + Base64.encode([UInt8](repeating: 7, count: 68)) + "\n", .unknownKey),
            ("same name, another key", testCheckpoint(key: testKey("other")), .unknownKey),
            ("another key's signature under our key ID", K.body + "\n\u{2014} example.com/agenttrail " + Base64.encode([0x1e, 0x62, 0x0d, 0x7b] + testKey("other").sign(Array(K.body.utf8)).bytes) + "\n", .badNoteSignature),
            ("body altered", K.note.replacingOccurrences(of: "\n8\n", with: "\n9\n"), .badNoteSignature),
            ("signature altered", K.note.replacingOccurrences(of: "HmINex30", with: "HmINex31"), .badNoteSignature),
            ("signature 63 bytes", K.body + "\n\u{2014} example.com/agenttrail " + Base64.encode([0x1e, 0x62, 0x0d, 0x7b] + [UInt8](repeating: 1, count: 63)) + "\n", .badNoteSignature),
            // Checkpoint body, behind a valid signature.
            ("extension line", signed(K.body + "ext\n"), .malformedCheckpoint),
            ("two lines", signed("example.com/agenttrail\n8\n"), .malformedCheckpoint),
            ("empty line in body", signed("example.com/agenttrail\n\n8\n" + rootB64 + "\n"), .malformedCheckpoint),
            ("origin differs", signed("example.com/other\n8\n\(rootB64)\n"), .originMismatch),
            ("size leading zero", signed("example.com/agenttrail\n08\n\(rootB64)\n"), .invalidTreeSize),
            ("size signed", signed("example.com/agenttrail\n+8\n\(rootB64)\n"), .invalidTreeSize),
            ("size negative", signed("example.com/agenttrail\n-8\n\(rootB64)\n"), .invalidTreeSize),
            ("size hex", signed("example.com/agenttrail\n0x8\n\(rootB64)\n"), .invalidTreeSize),
            ("size space", signed("example.com/agenttrail\n 8\n\(rootB64)\n"), .invalidTreeSize),
            ("size overflows", signed("example.com/agenttrail\n18446744073709551616\n\(rootB64)\n"), .invalidTreeSize),
            ("root 31 bytes", signed("example.com/agenttrail\n8\n\(Base64.encode([UInt8](repeating: 1, count: 31)))\n"), .invalidHash),
            ("root 33 bytes", signed("example.com/agenttrail\n8\n\(Base64.encode([UInt8](repeating: 1, count: 33)))\n"), .invalidHash),
            ("root unpadded", signed("example.com/agenttrail\n8\n\(rootB64.dropLast())\n"), .invalidHash),
            ("root non-canonical", signed("example.com/agenttrail\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n"), .invalidHash),
            ("root url-safe", signed("example.com/agenttrail\n8\n\(rootB64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))\n"), .invalidHash),
        ]
        for (name, note, code) in cases {
            #expect(openCode(note) == code, "\(name)")
        }
        #expect(openCode(K.note, "example.com/agenttrail+1e620d7c+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea") == .invalidVerifierKey)
        // A correct key for another log: its name matches no signature line.
        let other = try NoteVerifierKey(name: "example.com/other", publicKey: K.publicKey).description
        #expect(openCode(K.note, other) == .unknownKey)
        // Our name with another public key: a different key ID, so our signature is not its.
        #expect(openCode(K.note, try NoteVerifierKey(name: K.origin, publicKey: testKey("x").publicKey).description) == .unknownKey)
        // Oversized notes are refused before parsing.
        #expect(openCode(K.note + String(repeating: "\u{2014} a AAAAAAAA\n", count: 6000)) == .malformedNote)
        #expect(openCode(K.note + String(repeating: "\u{2014} a AAAAAAAA\n", count: 70)) == .malformedNote)
        #expect(openCode(K.note + String(repeating: "\u{2014} a AAAAAAAA\n", count: 10)) == nil)
    }

    @Test func invalidUTF8() {
        var bytes = Array(K.note.utf8)
        bytes[3] = 0xff
        #expect(failure { () throws(TrailError) in
            _ = try Checkpoint.open(note: bytes, verifierKey: NoteVerifierKey(K.verifierKey))
        } == .malformedNote)
    }

    @Test func originMustBeAKeyName() {
        for origin in ["", "a b", "a+b", "a\nb", "a\u{00a0}b", "a\u{2003}b", "a\u{1}b"] {
            #expect(failure { () throws(TrailError) in _ = try Checkpoint(origin: origin, size: 1, root: .zero) } == .malformedCheckpoint, "\(origin.debugDescription)")
            #expect(failure { () throws(TrailError) in _ = try NoteVerifierKey(name: origin, publicKey: K.publicKey) } == .invalidVerifierKey)
        }
        #expect(failure { () throws(TrailError) in _ = try K.checkpoint.signedNote(signer: K.key, keyName: "example.com/other") } == .originMismatch)
    }

    @Test func verifierKeyRejections() {
        let good = K.verifierKey
        let keyB64 = "AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
        let bad = [
            "", "example.com/agenttrail", "example.com/agenttrail+1e620d7b",
            good + "+x",
            "example.com/agenttrail+1e620d7+" + keyB64,  // 7 hex digits
            "example.com/agenttrail+1e620d7bb+" + keyB64,
            "example.com/agenttrail+1e620d7g+" + keyB64,
            "example.com/agenttrail+1e620d7b+" + Base64.encode([0x04] + K.publicKey.bytes),  // not Ed25519
            "example.com/agenttrail+1e620d7b+" + Base64.encode(K.publicKey.bytes),  // no type byte
            "example.com/agenttrail+1e620d7b+" + keyB64.dropLast(),
            "other.example+1e620d7b+" + keyB64,  // ID belongs to another name
            "exa mple+1e620d7b+" + keyB64,
        ]
        for text in bad {
            #expect(failure { () throws(TrailError) in _ = try NoteVerifierKey(text) } == .invalidVerifierKey, "\(text)")
        }
        #expect(try! NoteVerifierKey("example.com/agenttrail+1E620D7B+" + keyB64).description == good)
    }

    @Test func base64IsStrict() {
        for n in 0...70 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64.encode(bytes)
            #expect(text == Data(bytes).base64EncodedString())
            #expect(Base64.decode(text) == bytes)
        }
        for bad in ["A", "AA", "AAA", "A===", "AA=A", "=AAA", "AAAA=", "AB==", "AAB=", "AA==AA==", "AA\nA", "AA A", "-_AA"] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64.decode("") == [])
    }

    /// A KAT-shaped checkpoint note signed by `key` under the KAT origin.
    private func testCheckpoint(key: SigningKey) -> String {
        K.checkpoint.signedNote(signer: key)
    }
}
