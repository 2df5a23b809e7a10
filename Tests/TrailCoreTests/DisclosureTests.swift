import Foundation
import Testing
import TrailCore

/// Salted commitments and disclosure documents (SPEC section 1.11).
@Suite("Commitments and disclosures")
struct DisclosureTests {
    // MARK: Fixture: an action and a receipt of one run, both in a small signed log.

    static let key = testKey("disclosure")
    static let logKey = testKey("disclosure-log")
    static let content = utf8("the reply\n")
    static let input = utf8("the question\n")
    static let requestID = utf8("req-42")
    static let requestSalt = h("request salt")
    static let trace = utf8("{\"stages\": [\"plan\", \"act\"]}")
    static let traceSalt = h("trace salt")

    static var requestCommitment: Bytes32 { Commitment.hash(salt: requestSalt, value: requestID) }

    static var action: Entry {
        try! sign(key, .action(ActionBody(
            actionType: "post_reply", target: "forum.example.com", contentHash: SHA256.hash(content),
            inputHash: SHA256.hash(input), requestCommitment: requestCommitment)))
    }

    static var receipt: Entry {
        let a = action
        return try! sign(key, seq: 1, prev: a.hash, .receipt(ReceiptBody(
            requestCommitment: requestCommitment, outcome: .ok, startedMs: 1_763_900_000_000, totalMs: 1200,
            traceCommitment: Commitment.hash(salt: traceSalt, value: trace),
            stages: [Stage(label: "plan", durationMs: 200, status: .ok)])))
    }

    /// A plain action without input, output or request commitment.
    static var bareAction: Entry { try! sign(key, simpleAction("bare")) }

    /// Five leaves: two others, the action (index 2), the receipt (3), one more.
    static var leaves: [Bytes32] { [h("leaf 0"), h("leaf 1"), action.hash, receipt.hash, h("leaf 4")] }
    static var checkpoint: Checkpoint { try! Checkpoint(origin: "trail.example/log", size: 5, root: Merkle.root(leaves: leaves)) }
    static var verifierKey: NoteVerifierKey { checkpoint.verifierKey(logKey.publicKey) }

    static func proof(index: UInt64) -> String {
        let l = leaves
        let hashes = try! Merkle.inclusionProof(index: index, size: 5) { i throws(TrailError) in l[Int(i)] }
        return TlogProof(index: index, proof: hashes, checkpointNote: checkpoint.signedNote(signer: logKey)).text
    }

    static var actionItems: [Disclosure.Item] {
        [
            .init(field: .contentHash, opening: .content(content)),
            .init(field: .inputHash, opening: .content(input)),
            .init(field: .requestCommitment, opening: .commitment(salt: requestSalt, value: requestID)),
        ]
    }

    /// The action with every field it has disclosed, and its proof.
    static var actionDocument: [UInt8] { Disclosure(entry: action, items: actionItems, proof: proof(index: 2)).encode() }

    // MARK: Helpers

    func code(_ document: [UInt8], key: NoteVerifierKey? = Self.verifierKey) -> TrailError.Code? {
        failure { () throws(TrailError) in _ = try Disclosure.verify(document, logKey: key) }
    }

    /// The document as a JSON object, changed by `change`, serialised again.
    func edit(_ document: [UInt8], _ change: (inout [String: Any]) -> Void) -> [UInt8] {
        var o = try! JSONSerialization.jsonObject(with: Data(document)) as! [String: Any]
        change(&o)
        return Array(try! JSONSerialization.data(withJSONObject: o))
    }

    /// As `edit`, on disclosed item `i`.
    func editItem(_ document: [UInt8], _ i: Int, _ change: @escaping (inout [String: Any]) -> Void) -> [UInt8] {
        edit(document) { o in
            var items = o["disclosed"] as! [[String: Any]]
            change(&items[i])
            o["disclosed"] = items
        }
    }

    func replacing(_ document: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        let text = String(decoding: document, as: UTF8.self)
        precondition(text.contains(old), "test edit \(old) does not apply")
        return utf8(text.replacingOccurrences(of: old, with: new))
    }

    // MARK: Commitments

    @Test func commitmentKnownAnswer() {
        let saltBytes: [UInt8] = (0..<32).map { UInt8($0) }
        let salt = Bytes32(saltBytes)!
        // Computed with Python's hashlib: sha256(b"AgentTrail/commitment/v1\x00" + bytes(range(32)) + b"req-42").
        #expect(Commitment.hash(salt: salt, value: utf8("req-42")).hex == "8a71e25bd51b2647eb2da091179b1cedfb0a7dfedf349bdb5bcba880a5914bb7")
        #expect(Commitment.hash(salt: salt, value: []).hex == "d9a95336730a4119243bdf8b00839ec678dc30c3a5626cf5101830f695e2051a")
        // The same, as SHA-256 of the spelled-out concatenation.
        let prefix: [UInt8] = [0x41, 0x67, 0x65, 0x6e, 0x74, 0x54, 0x72, 0x61, 0x69, 0x6c, 0x2f, 0x63, 0x6f, 0x6d, 0x6d, 0x69, 0x74,
                               0x6d, 0x65, 0x6e, 0x74, 0x2f, 0x76, 0x31, 0x00]
        for value in [utf8("req-42"), [], Self.trace] {
            #expect(Commitment.hash(salt: salt, value: value) == SHA256.hash(prefix + saltBytes + value))
            #expect(Commitment(salt: salt, value: value).hash == SHA256.hash(prefix + saltBytes + value))
        }
        #expect(Commitment.opens(Commitment.hash(salt: salt, value: utf8("a")), salt: salt, value: utf8("a")))
        #expect(!Commitment.opens(Commitment.hash(salt: salt, value: utf8("a")), salt: Self.requestSalt, value: utf8("a")))
        // Salted: a commitment is not the plain hash, and fresh salts differ.
        #expect(Commitment.hash(salt: salt, value: utf8("req-42")) != SHA256.hash(utf8("req-42")))
        let a = Commitment.make(utf8("req-42")), b = Commitment.make(utf8("req-42"))
        #expect(a.salt != b.salt && a.hash != b.hash && a.value == b.value)
    }

    // MARK: Valid documents

    @Test func actionWithProof() throws {
        let doc = Self.actionDocument
        let s = try Disclosure.verify(doc, logKey: Self.verifierKey)
        #expect(s.entryHash == Self.action.hash && s.signer == Self.key.publicKey && s.kind == .action)
        #expect(s.fields == [.contentHash, .inputHash, .requestCommitment])
        #expect(s.proof == .verified(index: 2, checkpoint: Self.checkpoint))
        // Without a key the proof is reported, not checked; without a proof, absent.
        #expect(try Disclosure.verify(doc, logKey: nil).proof == .unchecked)
        let noProof = Disclosure(entry: Self.action, items: Self.actionItems).encode()
        #expect(try Disclosure.verify(noProof, logKey: Self.verifierKey).proof == .absent)

        // The layout of SPEC 1.11, readable by any JSON parser.
        let o = try #require(try JSONSerialization.jsonObject(with: Data(doc)) as? [String: Any])
        #expect(Set(o.keys) == ["version", "entry", "entry_hash", "disclosed", "proof"])
        #expect(o["version"] as? Int == 1)
        #expect(o["entry"] as? String == Base64.encode(Self.action.encoded))
        #expect(o["entry_hash"] as? String == Self.action.hash.hex)
        #expect(o["proof"] as? String == Self.proof(index: 2))
        let items = try #require(o["disclosed"] as? [[String: String]])
        #expect(items[0] == ["field": "content_hash", "content": Base64.encode(Self.content)])
        #expect(items[2] == ["field": "request_commitment", "salt": Self.requestSalt.hex, "value": Base64.encode(Self.requestID)])
        // Re-serialised by Foundation (other key order, escaped slashes) it still verifies.
        #expect(code(edit(doc) { _ in }) == nil)
    }

    @Test func receiptAndPartialDisclosure() throws {
        let items: [Disclosure.Item] = [
            .init(field: .traceCommitment, opening: .commitment(salt: Self.traceSalt, value: Self.trace)),
            .init(field: .requestCommitment, opening: .commitment(salt: Self.requestSalt, value: Self.requestID)),
        ]
        let s = try Disclosure.verify(Disclosure(entry: Self.receipt, items: items, proof: Self.proof(index: 3)).encode(), logKey: Self.verifierKey)
        #expect(s.kind == .receipt && s.fields == [.traceCommitment, .requestCommitment])
        #expect(s.proof == .verified(index: 3, checkpoint: Self.checkpoint))
        // One field only, or none at all (the entry and its proof alone).
        let one = try Disclosure.verify(Disclosure(entry: Self.action, items: [Self.actionItems[1]]).encode(), logKey: nil)
        #expect(one.fields == [.inputHash])
        #expect(try Disclosure.verify(Disclosure(entry: Self.receipt, items: []).encode(), logKey: nil).fields.isEmpty)
        // Escaped JSON strings mean the same text: "aGk\u004b" is "aGkK".
        let hi = try sign(Self.key, .action(ActionBody(actionType: "say", target: "", contentHash: SHA256.hash(utf8("hi\n")))))
        let doc = Disclosure(entry: hi, items: [.init(field: .contentHash, opening: .content(utf8("hi\n")))]).encode()
        #expect(code(replacing(doc, "\"aGkK\"", "\"aGk\\u004b\""), key: nil) == nil)
    }

    // MARK: Rejections

    @Test func tamperedOpeningsAreMismatches() {
        let doc = Self.actionDocument
        #expect(code(doc) == nil)
        #expect(code(editItem(doc, 0) { $0["content"] = Base64.encode(utf8("the reply!\n")) }) == .disclosureMismatch, "tampered content")
        #expect(code(editItem(doc, 1) { $0["content"] = Base64.encode(Self.content) }) == .disclosureMismatch, "another field's content")
        #expect(code(editItem(doc, 2) { $0["salt"] = h("wrong salt").hex }) == .disclosureMismatch, "wrong salt")
        #expect(code(editItem(doc, 2) { $0["value"] = Base64.encode(utf8("req-43")) }) == .disclosureMismatch, "wrong value")
        // A commitment opened as if it were a plain hash of its value.
        let plain = Disclosure(entry: Self.action, items: [.init(field: .requestCommitment, opening: .commitment(salt: .zero, value: Self.requestID))])
        #expect(code(plain.encode()) == .disclosureMismatch)
        #expect(code(edit(doc) { $0["entry_hash"] = Self.receipt.hash.hex }) == .disclosureMismatch, "entry_hash of another entry")
    }

    @Test func fieldsMustExistInTheEntry() {
        func doc(_ entry: Entry, _ field: Disclosure.Field, _ opening: Disclosure.Opening) -> [UInt8] {
            Disclosure(entry: entry, items: [.init(field: field, opening: opening)]).encode()
        }
        let bare = Self.bareAction
        #expect(code(doc(bare, .inputHash, .content(Self.input))) == .fieldNotInEntry, "action without input_hash")
        #expect(code(doc(bare, .outputHash, .content([]))) == .fieldNotInEntry, "action without output_hash")
        #expect(code(doc(bare, .requestCommitment, .commitment(salt: Self.requestSalt, value: Self.requestID))) == .fieldNotInEntry)
        #expect(code(doc(Self.action, .traceCommitment, .commitment(salt: Self.traceSalt, value: Self.trace))) == .fieldNotInEntry)
        #expect(code(doc(Self.receipt, .contentHash, .content(Self.content))) == .fieldNotInEntry, "receipts have no content_hash")
        let owner = testKey("owner"), agent = testKey("agent")
        let reg = try! sign(owner, registration(owner: owner, agent: agent))
        #expect(code(doc(reg, .contentHash, .content([]))) == .fieldNotInEntry, "registrations have none")
        // The same fields exist where they should.
        #expect(code(doc(bare, .contentHash, .content(utf8("x")))) == .disclosureMismatch)
    }

    @Test func duplicateFields() {
        let item = Disclosure.Item(field: .contentHash, opening: .content(Self.content))
        #expect(code(Disclosure(entry: Self.action, items: [item]).encode()) == nil)
        #expect(code(Disclosure(entry: Self.action, items: [item, item]).encode()) == .duplicateField)
        let other = Disclosure.Item(field: .contentHash, opening: .content(utf8("something else")))
        #expect(code(Disclosure(entry: Self.action, items: [item, Self.actionItems[1], other]).encode()) == .duplicateField)
    }

    @Test func malformedDocuments() {
        let doc = Self.actionDocument
        func malformed(_ d: [UInt8], _ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(code(d) == .malformedDisclosure, comment, sourceLocation: sourceLocation)
        }
        malformed(edit(doc) { $0["note"] = "hello" }, "unknown key")
        malformed(editItem(doc, 0) { $0["salt"] = h("x").hex }, "unknown key in an item")
        malformed(editItem(doc, 2) { $0["content"] = $0["value"] }, "content key on a commitment")
        malformed(editItem(doc, 2) { $0["salt"] = nil }, "commitment without salt")
        malformed(editItem(doc, 0) { $0["field"] = "document_hash" }, "not a disclosable field")
        malformed(edit(doc) { $0["entry_hash"] = nil }, "missing entry_hash")
        malformed(edit(doc) { $0["disclosed"] = nil }, "missing disclosed")
        malformed(edit(doc) { $0["version"] = 2 }, "version 2")
        malformed(edit(doc) { $0["version"] = "1" }, "version as a string")
        malformed(replacing(doc, "\"version\": 1,", "\"version\": 1.0,"), "version 1.0")
        malformed(edit(doc) { $0["proof"] = NSNull() }, "null proof")
        malformed(edit(doc) { $0["disclosed"] = [:] as [String: Any] }, "disclosed is not an array")
        malformed(edit(doc) { $0["entry_hash"] = Self.action.hash.hex.uppercased() }, "uppercase entry_hash")
        malformed(editItem(doc, 2) { $0["salt"] = Self.requestSalt.hex.uppercased() }, "uppercase salt")
        malformed(editItem(doc, 2) { $0["salt"] = String(Self.requestSalt.hex.dropLast(2)) }, "31-byte salt")
        // Base64 must be canonical and padded.
        malformed(editItem(doc, 0) { $0["content"] = "dGhlIHJlcGx5Cg" }, "unpadded base64")
        malformed(editItem(doc, 0) { $0["content"] = "dGhlIHJlcGx5Cg*=" }, "not base64")
        malformed(editItem(doc, 1) { $0["content"] = "aGl=" }, "non-zero unused bits")
        malformed(editItem(doc, 2) { $0["value"] = "cmVxLTQy\n" }, "newline in base64")
        malformed(edit(doc) { $0["entry"] = "!" + ($0["entry"] as! String).dropFirst() }, "entry is not base64")
        // Strict JSON.
        malformed(replacing(doc, "\"version\": 1,", "\"version\": 1, \"version\": 1,"), "duplicate key")
        malformed(doc + utf8("{}"), "trailing data")
        malformed(utf8("[") + doc + utf8("]"), "not an object")
        // A lone surrogate in the proof: were it read as U+FFFD, the proof would fail to parse (42) instead.
        malformed(replacing(doc, "\"proof\": \"c2sp", "\"proof\": \"\\ud800c2sp"), "lone surrogate")
        #expect(code(replacing(doc, "\"proof\": \"c2sp", "\"proof\": \"\\u00e9c2sp")) == .malformedTlogProof, "an escape that is fine")
        malformed([0xef, 0xbb, 0xbf] + doc, "byte order mark")
        // Bounded before parsing.
        var huge = doc
        huge += [UInt8](repeating: 0x20, count: Disclosure.maxDocumentSize - doc.count + 1)
        malformed(huge, "over 64 MiB")
        var fits = doc
        fits += [UInt8](repeating: 0x20, count: 1000)
        #expect(code(fits) == nil, "whitespace is fine")
    }

    @Test func brokenEntries() {
        let doc = Self.actionDocument
        // One signature bit flipped, entry_hash updated: the signature is what fails.
        var forged = Self.action.encoded
        forged[forged.count - 1] ^= 1
        let bad = edit(doc) {
            $0["entry"] = Base64.encode(forged)
            $0["entry_hash"] = SHA256.leafHash(forged).hex
        }
        #expect(code(bad, key: nil) == .badSignature)
        // A byte of the content hash changed: the content no longer matches either, but the
        // signature is checked first.
        var body = Self.action.encoded
        body[EntryLimits.headerSize + 2 + 10 + 2 + 17] ^= 1
        #expect(code(edit(doc) {
            $0["entry"] = Base64.encode(body)
            $0["entry_hash"] = SHA256.leafHash(body).hex
        }, key: nil) == .badSignature)
        // Not an entry at all.
        let short = Array(Self.action.encoded.prefix(60))
        #expect(code(edit(doc) {
            $0["entry"] = Base64.encode(short)
            $0["entry_hash"] = SHA256.leafHash(short).hex
        }) == .truncated)
        let long = [UInt8](repeating: 1, count: EntryLimits.maxEntrySize + 100)
        #expect(code(edit(doc) { $0["entry"] = Base64.encode(long) }) == .entryTooLarge)
    }

    @Test func proofs() {
        let doc = Self.actionDocument
        #expect(code(doc) == nil)
        // The receipt's proof (index 3) for the action: another path, another root.
        #expect(code(edit(doc) { $0["proof"] = Self.proof(index: 3) }) == .rootMismatch)
        // The right proof, another log's key.
        let otherKey = Self.checkpoint.verifierKey(testKey("other log").publicKey)
        #expect(code(doc, key: otherKey) == .unknownKey)
        // A proof that does not parse fails with or without a key.
        let garbage = edit(doc) { $0["proof"] = "c2sp.org/tlog-proof@v1\nindex x\n" }
        #expect(code(garbage) == .malformedTlogProof)
        #expect(code(garbage, key: nil) == .malformedTlogProof)
        // A wrong proof is only caught with a key: without one it is reported unchecked.
        #expect(code(edit(doc) { $0["proof"] = Self.proof(index: 3) }, key: nil) == nil)
    }
}
