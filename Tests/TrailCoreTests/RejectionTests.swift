import Testing
import TrailCore

/// One test per entry error code, with inputs built here rather than taken from the vectors.
@Suite("Entry rejection codes")
struct RejectionTests {
    static func action(_ body: [UInt8] = RawBody.action()) -> RawEntry { RawEntry(kind: 1, body) }

    /// The unmodified raw builders decode, so every rejection below comes from its one change.
    @Test func baselinesDecode() throws {
        let bodies: [(UInt8, [UInt8])] = [
            (1, RawBody.action()), (2, RawBody.receipt()), (3, RawBody.registration()), (4, RawBody.policy()),
            (5, RawBody.report()),
        ]
        for (kind, body) in bodies {
            let raw = RawEntry(kind: kind, body)
            #expect(decodeFailure(raw.bytes) == nil, "kind \(kind)")
            #expect(raw.bytes.count == 86 + body.count + 66)
        }
        let key = testKey("baseline")
        #expect(verifyFailure(Self.action().signed(with: key)) == nil)
        // A signed registration whose proof is real verifies.
        let agent = testKey("baseline-agent")
        let proof = agent.sign(RegistrationBody.possessionMessage(owner: key.publicKey, agent: agent.publicKey))
        let reg = RawEntry(kind: 3, RawBody.registration(agent: agent.publicKey, agentSignature: proof.bytes))
        #expect(verifyFailure(reg.signed(with: key)) == nil)
    }

    @Test func code1Truncated() throws {
        let signed = try sign(testKey("t"), simpleAction())
        for n in 0..<signed.encoded.count {
            #expect(decodeFailure(Array(signed.encoded[0..<n])) == .truncated, "prefix \(n)")
        }
        // body_len larger than what remains.
        var raw = Self.action()
        raw.bodyLen = UInt32(raw.body.count + 67)
        #expect(decodeFailure(raw.bytes) == .truncated)
        raw.bodyLen = UInt32.max
        #expect(decodeFailure(raw.bytes) == .truncated)
        // A field ending inside body_len: the body reader runs out although the entry goes on.
        raw = Self.action(RawBody.action(present: 0b1000))  // latency_ms announced, missing
        #expect(decodeFailure(raw.bytes) == .truncated)
        raw = RawEntry(kind: 3, Array(RawBody.registration().dropLast(10)))
        #expect(decodeFailure(raw.bytes) == .truncated)
        raw = RawEntry(kind: 2, RawBody.receipt(stageCount: 2))  // two stages announced, one present
        #expect(decodeFailure(raw.bytes) == .truncated)
        // A string whose length runs past the body.
        raw = Self.action(Array(RawBody.action(actionType: utf8("abc")).prefix(4)))
        #expect(decodeFailure(raw.bytes) == .truncated)
        // The signature cut short.
        raw = Self.action()
        raw.signature = Array(raw.signature.prefix(63))
        #expect(decodeFailure(raw.bytes) == .truncated)
    }

    @Test func code2TrailingBytes() throws {
        let signed = try sign(testKey("t"), simpleAction())
        #expect(decodeFailure(signed.encoded + [0]) == .trailingBytes)
        #expect(decodeFailure(signed.encoded + [UInt8](repeating: 0xff, count: 64)) == .trailingBytes)
        // Inside body_len, after the last field of each kind.
        let bodies: [(UInt8, [UInt8])] = [
            (1, RawBody.action()), (2, RawBody.receipt()), (3, RawBody.registration()), (4, RawBody.policy()),
            (5, RawBody.report()),
        ]
        for (kind, body) in bodies {
            #expect(decodeFailure(RawEntry(kind: kind, body + [0]).bytes) == .trailingBytes, "kind \(kind)")
        }
        // An optional field left over because its present bit is clear.
        let extra = RawBody.action(present: 0) { $0.bytes32(h("input")) }
        #expect(decodeFailure(Self.action(extra).bytes) == .trailingBytes)
    }

    @Test func code3UnsupportedVersion() {
        for version: UInt8 in [0, 2, 255] {
            var raw = Self.action()
            raw.version = version
            #expect(decodeFailure(raw.bytes) == .unsupportedVersion)
            #expect(decodeFailure([version]) == .unsupportedVersion, "checked before anything else is read")
        }
        // Version is checked before kind.
        var raw = Self.action()
        raw.version = 2
        raw.kind = 9
        #expect(decodeFailure(raw.bytes) == .unsupportedVersion)
    }

    @Test func code4UnknownKind() {
        for kind: UInt8 in [0, 6, 7, 255] {
            var raw = Self.action()
            raw.kind = kind
            #expect(decodeFailure(raw.bytes) == .unknownKind)
            #expect(decodeFailure([1, kind]) == .unknownKind, "checked before the header is complete")
        }
    }

    @Test func code5EntryTooLarge() throws {
        #expect(decodeFailure([UInt8](repeating: 0, count: EntryLimits.maxEntrySize + 1)) == .entryTooLarge)
        // Size is checked first: a bad version does not change the answer.
        var big = [UInt8](repeating: 0xff, count: 100_000)
        big[0] = 2
        #expect(decodeFailure(big) == .entryTooLarge)
        // An entry of exactly the limit decodes; one byte more is too large, not trailing bytes.
        let full = try sign(testKey("big"), .policy(EncoderRejectionTests.policyOfSize(EntryLimits.maxEntrySize)))
        #expect(full.encoded.count == EntryLimits.maxEntrySize)
        #expect(verifyFailure(full.encoded) == nil)
        #expect(decodeFailure(full.encoded + [0]) == .entryTooLarge)
        // A body_len pointing past the limit.
        var raw = Self.action()
        raw.body += [UInt8](repeating: 0, count: EntryLimits.maxEntrySize)
        #expect(decodeFailure(raw.bytes) == .entryTooLarge)
    }

    @Test func code6LengthExceedsLimit() {
        let a = { (n: Int) in [UInt8](repeating: UInt8(ascii: "a"), count: n) }
        let cases: [(String, RawEntry)] = [
            ("action_type 65", Self.action(RawBody.action(actionType: a(65)))),
            ("target 513", Self.action(RawBody.action(target: a(513)))),
            ("model_id 129", Self.action(RawBody.action(present: 1 << 2) { $0.rawString(a(129)) })),
            ("tools 33", Self.action(RawBody.action(present: 1 << 4) { w in
                w.u8(33)
                for _ in 0..<33 { w.rawString(a(1)) }
            })),
            ("tool name 65", Self.action(RawBody.action(present: 1 << 4) { w in
                w.u8(1)
                w.rawString(a(65))
            })),
            ("data_class 33", Self.action(RawBody.action(present: 1 << 5) { $0.rawString(a(33)) })),
            ("stages 65", RawEntry(kind: 2, RawBody.receipt(stages: Array(repeating: RawBody.RawStage(), count: 65)))),
            ("stage label 65", RawEntry(kind: 2, RawBody.receipt(stages: [RawBody.RawStage(label: a(65))]))),
            ("registration label 129", RawEntry(kind: 3, RawBody.registration(label: a(129)))),
            ("allow_actions 65", RawEntry(kind: 4, RawBody.policy(allowActions: Array(repeating: a(1), count: 65)))),
            ("allow action 65", RawEntry(kind: 4, RawBody.policy(allowActions: [a(65)]))),
            ("deny action 65", RawEntry(kind: 4, RawBody.policy(denyActions: [a(65)]))),
            ("allow_targets 65", RawEntry(kind: 4, RawBody.policy(allowTargets: Array(repeating: a(1), count: 65)))),
            ("allow target 257", RawEntry(kind: 4, RawBody.policy(allowTargets: [a(257)]))),
            ("description 1025", RawEntry(kind: 5, RawBody.report(description: a(1025)))),
        ]
        for (name, raw) in cases {
            #expect(decodeFailure(raw.bytes) == .lengthExceedsLimit, "\(name)")
        }
        // Lengths are checked against the limit before the bytes are read: a huge length in a short
        // body is over the limit, not truncated.
        var w = ByteWriter()
        w.u16(0xffff)
        w.raw(utf8("abc"))
        #expect(decodeFailure(Self.action(w.bytes).bytes) == .lengthExceedsLimit)
        let manyTools = RawBody.action(present: 1 << 4) { $0.u8(255) }
        #expect(decodeFailure(Self.action(manyTools).bytes) == .lengthExceedsLimit)
        #expect(decodeFailure(RawEntry(kind: 4, RawBody.policy(allowActions: [], allowCount: 200)).bytes) == .lengthExceedsLimit)
        // Exactly at each limit is fine.
        #expect(decodeFailure(Self.action(RawBody.action(actionType: a(64), target: a(512))).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(description: a(1024))).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 4, RawBody.policy(allowTargets: [a(256)])).bytes) == nil)
    }

    static let badUTF8: [(String, [UInt8])] = [
        ("overlong slash c0 af", [0x61, 0xc0, 0xaf]),
        ("overlong NUL c0 80", [0xc0, 0x80]),
        ("overlong 3-byte e0 80 af", [0xe0, 0x80, 0xaf]),
        ("overlong 4-byte f0 80 80 af", [0xf0, 0x80, 0x80, 0xaf]),
        ("surrogate ed a0 80", [0xed, 0xa0, 0x80]),
        ("low surrogate ed bf bf", [0xed, 0xbf, 0xbf]),
        ("ff", [0x61, 0xff]),
        ("lone continuation", [0x80]),
        ("truncated sequence", [0x61, 0xe2, 0x82]),
        ("above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]),
        ("c3 28", [0xc3, 0x28]),
    ]

    @Test func code7InvalidUTF8() {
        for (name, bad) in Self.badUTF8 {
            let cases: [(String, RawEntry)] = [
                ("action_type", Self.action(RawBody.action(actionType: bad))),
                ("target", Self.action(RawBody.action(target: bad))),
                ("model_id", Self.action(RawBody.action(present: 1 << 2) { $0.rawString(bad) })),
                ("tool", Self.action(RawBody.action(present: 1 << 4) { w in
                    w.u8(1)
                    w.rawString(bad)
                })),
                ("data_class", Self.action(RawBody.action(present: 1 << 5) { $0.rawString(bad) })),
                ("stage label", RawEntry(kind: 2, RawBody.receipt(stages: [RawBody.RawStage(label: bad)]))),
                ("registration label", RawEntry(kind: 3, RawBody.registration(label: bad))),
                ("policy action", RawEntry(kind: 4, RawBody.policy(denyActions: [bad]))),
                ("policy target", RawEntry(kind: 4, RawBody.policy(allowTargets: [bad]))),
                ("description", RawEntry(kind: 5, RawBody.report(description: bad))),
            ]
            for (field, raw) in cases {
                #expect(decodeFailure(raw.bytes) == .invalidUTF8, "\(field): \(name)")
            }
        }
        // Well-formed multi-byte text (2, 3 and 4 bytes, U+10FFFF, U+FFFD) is accepted as is.
        for good in ["ü", "→ 東京", "🦀", "\u{10FFFF}", "\u{FFFD}", "a\u{0}b"] {
            let raw = Self.action(RawBody.action(target: utf8(good)))
            let entry = try? EntryCodec.decode(raw.bytes)
            guard case .action(let a) = entry?.body else {
                Issue.record("\(good) rejected")
                continue
            }
            #expect(a.target == good)
        }
    }

    @Test func code8BadSignatureLength() {
        for sigLen: UInt16 in [0, 1, 63, 65, 128, 0xffff] {
            var raw = Self.action()
            raw.sigLen = sigLen
            #expect(decodeFailure(raw.bytes) == .badSignatureLength, "sig_len \(sigLen) with 64 bytes")
            raw.signature = [UInt8](repeating: 0, count: Int(min(sigLen, 200)))
            #expect(decodeFailure(raw.bytes) == .badSignatureLength, "sig_len \(sigLen) with as many bytes")
            raw.signature = []
            #expect(decodeFailure(raw.bytes) == .badSignatureLength, "sig_len \(sigLen) and nothing after")
        }
    }

    @Test func code9InvalidEnum() {
        for outcome: UInt8 in [4, 5, 255] {
            #expect(decodeFailure(RawEntry(kind: 2, RawBody.receipt(outcome: outcome)).bytes) == .invalidEnum, "outcome \(outcome)")
        }
        for status: UInt8 in [3, 255] {
            let stages = [RawBody.RawStage(), RawBody.RawStage(status: status)]
            #expect(decodeFailure(RawEntry(kind: 2, RawBody.receipt(stages: stages)).bytes) == .invalidEnum, "status \(status)")
        }
        for category: UInt8 in [5, 255] {
            #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(category: category)).bytes) == .invalidEnum, "category \(category)")
        }
        for severity: UInt8 in [4, 255] {
            #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(severity: severity)).bytes) == .invalidEnum, "severity \(severity)")
        }
        // Every defined value decodes.
        for o in RunOutcome.allCases {
            #expect(decodeFailure(RawEntry(kind: 2, RawBody.receipt(outcome: o.rawValue)).bytes) == nil)
        }
        for s in StageStatus.allCases {
            #expect(decodeFailure(RawEntry(kind: 2, RawBody.receipt(stages: [RawBody.RawStage(status: s.rawValue)])).bytes) == nil)
        }
        for c in ReportCategory.allCases {
            for s in Severity.allCases {
                #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(category: c.rawValue, severity: s.rawValue)).bytes) == nil)
            }
        }
    }

    @Test func code10ReservedBitsSet() {
        #expect(decodeFailure(Self.action(RawBody.action(present: 0x80)).bytes) == .reservedBitsSet)
        for bit in 4..<8 {
            #expect(decodeFailure(Self.action(RawBody.action(flags: 1 << bit)).bytes) == .reservedBitsSet, "flags bit \(bit)")
        }
        // All defined flags are fine.
        #expect(decodeFailure(Self.action(RawBody.action(flags: 0x0f)).bytes) == nil)
    }

    @Test func code11EmptyField() {
        let cases: [(String, RawEntry)] = [
            ("action_type", Self.action(RawBody.action(actionType: []))),
            ("model_id", Self.action(RawBody.action(present: 1 << 2) { $0.rawString([]) })),
            ("tools count 0", Self.action(RawBody.action(present: 1 << 4) { $0.u8(0) })),
            ("tool name", Self.action(RawBody.action(present: 1 << 4) { w in
                w.u8(2)
                w.rawString(utf8("ok"))
                w.rawString([])
            })),
            ("data_class", Self.action(RawBody.action(present: 1 << 5) { $0.rawString([]) })),
            ("stage label", RawEntry(kind: 2, RawBody.receipt(stages: [RawBody.RawStage(label: [])]))),
            ("allow action", RawEntry(kind: 4, RawBody.policy(allowActions: [[]]))),
            ("deny action", RawEntry(kind: 4, RawBody.policy(denyActions: [[]]))),
            ("allow target", RawEntry(kind: 4, RawBody.policy(allowTargets: [[]]))),
        ]
        for (name, raw) in cases {
            #expect(decodeFailure(raw.bytes) == .emptyField, "\(name)")
        }
        // Fields allowed to be empty.
        #expect(decodeFailure(Self.action(RawBody.action(target: [])).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 3, RawBody.registration(label: [])).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(description: [])).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 2, RawBody.receipt(stages: [])).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 4, RawBody.policy(allowActions: [], denyActions: [], allowTargets: [])).bytes) == nil)
    }

    @Test func code12InvalidPrev() {
        var raw = Self.action()
        raw.seq = 0
        raw.prev = h("not zero")
        #expect(decodeFailure(raw.bytes) == .invalidPrev, "seq 0 with a non-zero prev")
        var one = [UInt8](repeating: 0, count: 32)
        one[31] = 1
        raw.prev = Bytes32(one)!
        #expect(decodeFailure(raw.bytes) == .invalidPrev, "seq 0 with one bit of prev set")
        for seq: UInt64 in [1, 2, UInt64.max] {
            raw.seq = seq
            raw.prev = .zero
            #expect(decodeFailure(raw.bytes) == .invalidPrev, "seq \(seq) with a zero prev")
            raw.prev = h("prev")
            #expect(decodeFailure(raw.bytes) == nil, "seq \(seq) with a real prev")
        }
        // prev is checked right after the header, before body_len and the body.
        raw = Self.action()
        raw.prev = h("not zero")
        let headerOnly = Array(raw.bytes[0..<82])
        #expect(decodeFailure(headerOnly) == .invalidPrev)
        raw.body = [0xff, 0xff]
        raw.bodyLen = 0xffff_ffff
        #expect(decodeFailure(raw.bytes) == .invalidPrev)
    }

    @Test func code13InvalidValue() {
        for tag: UInt8 in [2, 255] {
            #expect(decodeFailure(RawEntry(kind: 3, RawBody.registration(evidenceTag: tag, evidence: h("e"))).bytes) == .invalidValue)
            #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(refTag: tag, ref: h("r"))).bytes) == .invalidValue)
        }
        #expect(decodeFailure(RawEntry(kind: 4, RawBody.policy(version: 0)).bytes) == .invalidValue)
        #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(from: 200, to: 199)).bytes) == .invalidValue)
        #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(from: UInt64.max, to: 0)).bytes) == .invalidValue)
        // The valid counterparts.
        #expect(decodeFailure(RawEntry(kind: 3, RawBody.registration(evidenceTag: 1, evidence: h("e"))).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(refTag: 1, ref: h("r"))).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 5, RawBody.report(from: 200, to: 200)).bytes) == nil)
        #expect(decodeFailure(RawEntry(kind: 4, RawBody.policy(version: UInt32.max)).bytes) == nil)
    }

    @Test func code20BadSignature() throws {
        let key = testKey("signer")
        let other = testKey("other")
        let good = try sign(key, simpleAction())
        #expect(verifyFailure(good.encoded) == nil)

        // Layout: version 0, kind 1, signer 2..<34, seq 34..<42, timestamp 42..<50, prev 50..<82,
        // body_len 82..<86, body, sig_len, signature. Flips in version, kind, seq and prev fail decoding;
        // flips in the signer, timestamp, body and signature fail verification.
        let n = good.encoded.count
        for i in [0, 1, 41, 60] {
            var m = good.encoded
            m[i] ^= 0x01
            let code = decodeFailure(m)
            #expect(code != nil && code != .badSignature, "flip at \(i)")
        }
        for i in [2, 33, 45, 90, n - 67, n - 64, n - 33, n - 1] {
            var m = good.encoded
            m[i] ^= 0x01
            #expect(decodeFailure(m) == nil, "flip at \(i) decodes")
            #expect(verifyFailure(m) == .badSignature, "flip at \(i)")
        }
        // Signed by another key.
        var raw = Self.action()
        var forged = raw.signed(with: other)
        forged.replaceSubrange(2..<34, with: key.publicKey.bytes)
        #expect(verifyFailure(forged) == .badSignature)
        // Without the domain, or with the domain but not its zero byte.
        raw.signer = key.publicKey
        raw.signature = key.sign(raw.unsignedBytes).bytes
        #expect(verifyFailure(raw.bytes) == .badSignature)
        raw.signature = key.sign(prefix: utf8("AgentTrail/entry/v1"), raw.unsignedBytes).bytes
        #expect(verifyFailure(raw.bytes) == .badSignature)
        raw.signature = [UInt8](repeating: 0, count: 64)
        #expect(verifyFailure(raw.bytes) == .badSignature)
        // Through assemble with a signature made elsewhere.
        let assembled = try EntryCodec.assemble(good.unsigned, signature: other.sign(prefix: EntryCodec.signingDomain, try EntryCodec.encodeUnsigned(good.unsigned)))
        expectTrailError(.badSignature) { try EntryCodec.verify(assembled) }
        // A registration with a bad entry signature and a bad proof fails on the entry signature.
        let agent = testKey("agent")
        var reg = RawEntry(kind: 3, RawBody.registration(agent: agent.publicKey, agentSignature: other.sign([1]).bytes))
        reg.signer = key.publicKey
        #expect(verifyFailure(reg.bytes) == .badSignature)
    }

    @Test func code21BadProofOfPossession() throws {
        let owner = testKey("owner")
        let agent = testKey("agent")
        let stranger = testKey("stranger")
        let message = RegistrationBody.possessionMessage(owner: owner.publicKey, agent: agent.publicKey)
        let proofs: [(String, Signature64)] = [
            ("by a stranger", stranger.sign(message)),
            ("by the owner", owner.sign(message)),
            ("keys swapped", agent.sign(RegistrationBody.possessionMessage(owner: agent.publicKey, agent: owner.publicKey))),
            ("for another owner", agent.sign(RegistrationBody.possessionMessage(owner: stranger.publicKey, agent: agent.publicKey))),
            ("entry domain", agent.sign(prefix: EntryCodec.signingDomain, owner.publicKey.bytes + agent.publicKey.bytes)),
            ("no domain", agent.sign(owner.publicKey.bytes + agent.publicKey.bytes)),
            ("zero", .zero),
        ]
        for (name, proof) in proofs {
            for evidence in [nil, h("evidence")] {
                let body = RegistrationBody(agent: agent.publicKey, label: "bot", evidenceHash: evidence, agentSignature: proof)
                let e = try sign(owner, .registration(body))
                #expect(decodeFailure(e.encoded) == nil)
                #expect(verifyFailure(e.encoded) == .badProofOfPossession, "\(name)")
            }
        }
        let good = try sign(owner, registration(owner: owner, agent: agent))
        #expect(verifyFailure(good.encoded) == nil)
    }
}
