import Testing
import TrailCore

@Suite("Sign, decode, verify round trips")
struct RoundTripTests {
    static let owner = testKey("round-trip-owner")
    static let agent = testKey("round-trip-agent")

    static let fullAction = ActionBody(
        actionType: "tool.call", target: "https://api.example.com/v1/orders?id=42", contentHash: h("content"),
        inputHash: h("input"), outputHash: h("output"), modelID: "claude-sonnet-4-5", latencyMs: UInt32.max,
        tools: ["search", "fetch_url", "python"], dataClass: "pii", requestCommitment: h("request"), flags: .all)

    /// Every kind, with its optional fields all present and all absent, and its enums at each value.
    static var bodies: [(String, EntryBody)] {
        var out: [(String, EntryBody)] = [
            ("action all fields", .action(fullAction)),
            ("action minimal", .action(ActionBody(actionType: "a", target: "", contentHash: .zero))),
            ("action utf8", .action(ActionBody(actionType: "写入", target: "→ 東京 🦀", contentHash: h("u"), modelID: "ü", tools: ["🔧"], dataClass: "é"))),
            ("receipt no stages", .receipt(ReceiptBody(requestCommitment: h("r"), outcome: .ok, startedMs: 0, totalMs: 0, traceCommitment: h("t"), stages: []))),
            ("registration no evidence", registration(owner: owner, agent: agent, label: "")),
            ("registration evidence", registration(owner: owner, agent: agent, label: String(repeating: "l", count: 128), evidence: h("evidence"))),
            ("policy empty lists", .policy(PolicyBody(agent: agent.publicKey, version: 1, documentHash: h("d"), allowActions: [], denyActions: [], allowTargets: [], maxPerMinute: 0))),
            ("policy lists", .policy(PolicyBody(agent: agent.publicKey, version: UInt32.max, documentHash: h("d"), allowActions: ["read", "write"], denyActions: ["delete"], allowTargets: ["db.*", "https://*.example.com/*"], maxPerMinute: 600))),
            ("report no ref", .report(ReportBody(subject: agent.publicKey, category: .other, severity: .low, observedFromMs: 5, observedToMs: 5, refEntry: nil, evidenceHash: h("e"), description: ""))),
            ("report ref", .report(ReportBody(subject: agent.publicKey, category: .policyViolation, severity: .critical, observedFromMs: 0, observedToMs: UInt64.max, refEntry: h("ref"), evidenceHash: h("e"), description: String(repeating: "d", count: 1024)))),
        ]
        for o in RunOutcome.allCases {
            let stages = StageStatus.allCases.map { Stage(label: "stage-\($0.name)", durationMs: UInt32($0.rawValue) * 1000, status: $0) }
            out.append(("receipt \(o.name)", .receipt(ReceiptBody(requestCommitment: h("r"), outcome: o, startedMs: UInt64.max, totalMs: UInt32.max, traceCommitment: h("t"), stages: stages))))
        }
        for c in ReportCategory.allCases {
            for s in Severity.allCases {
                out.append(("report \(c.name) \(s.name)", .report(ReportBody(subject: h("s"), category: c, severity: s, observedFromMs: 1, observedToMs: 2, refEntry: nil, evidenceHash: h("e"), description: "x"))))
            }
        }
        return out
    }

    /// Signs, decodes and verifies, checking every field and the hash; returns the decoded entry.
    @discardableResult
    static func roundTrip(_ u: UnsignedEntry, key: SigningKey, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Entry {
        let signed = try EntryCodec.sign(u, with: key)
        let decoded = try EntryCodec.decode(signed.encoded)
        #expect(decoded.unsigned == u, "\(name)", sourceLocation: sourceLocation)
        #expect(decoded.body == u.body, "\(name)", sourceLocation: sourceLocation)
        #expect(decoded.kind == u.body.kind, sourceLocation: sourceLocation)
        #expect(decoded.signature == signed.signature, sourceLocation: sourceLocation)
        #expect(decoded == signed, sourceLocation: sourceLocation)
        #expect(throws: Never.self, sourceLocation: sourceLocation) { try EntryCodec.verify(decoded) }
        #expect(decoded.hash == independentLeafHash(signed.encoded), sourceLocation: sourceLocation)
        #expect(decoded.hash == SHA256.hash([0] + decoded.encoded), sourceLocation: sourceLocation)
        // Layout: header, body_len, body, sig_len 64, signature.
        let e = signed.encoded
        let bodyLen = Int(e[82]) << 24 | Int(e[83]) << 16 | Int(e[84]) << 8 | Int(e[85])
        #expect(e.count == EntryLimits.headerSize + bodyLen + EntryLimits.signatureTrailer, sourceLocation: sourceLocation)
        #expect(e[0] == 1 && e[1] == u.body.kind.rawValue, sourceLocation: sourceLocation)
        #expect(Array(e[2..<34]) == key.publicKey.bytes, sourceLocation: sourceLocation)
        #expect(Array(e[e.count - 66..<e.count - 64]) == [0, 64], sourceLocation: sourceLocation)
        #expect(Array(e.suffix(64)) == signed.signature.bytes, sourceLocation: sourceLocation)
        #expect(decoded.signedCount == e.count - 66, sourceLocation: sourceLocation)
        // The signature is over the domain and everything before sig_len.
        #expect(key.sign(prefix: Array("AgentTrail/entry/v1".utf8) + [0], Array(e[0..<e.count - 66])) == signed.signature, sourceLocation: sourceLocation)
        // Deterministic: signing again gives the same bytes.
        #expect(try EntryCodec.sign(u, with: key).encoded == e, sourceLocation: sourceLocation)
        return decoded
    }

    @Test func everyKind() throws {
        for (name, body) in Self.bodies {
            let key = body.kind == .registration ? Self.owner : Self.agent
            try Self.roundTrip(UnsignedEntry(signer: key.publicKey, seq: 0, timestampMs: 1_763_900_000_000, prev: .zero, body: body), key: key, name)
            try Self.roundTrip(UnsignedEntry(signer: key.publicKey, seq: UInt64.max, timestampMs: UInt64.max, prev: h("p"), body: body), key: key, name + " at seq max")
        }
    }

    /// Each optional field of an action absent while the others are present, and each alone.
    @Test func actionOptionalsOneByOne() throws {
        let drops: [(String, (inout ActionBody) -> Void)] = [
            ("input_hash", { $0.inputHash = nil }), ("output_hash", { $0.outputHash = nil }), ("model_id", { $0.modelID = nil }),
            ("latency_ms", { $0.latencyMs = nil }), ("tools", { $0.tools = nil }), ("data_class", { $0.dataClass = nil }),
            ("request_commitment", { $0.requestCommitment = nil }),
        ]
        let key = Self.agent
        let fullSize = try sign(key, .action(Self.fullAction)).encoded.count
        for (name, drop) in drops {
            var a = Self.fullAction
            drop(&a)
            let e = try Self.roundTrip(UnsignedEntry(signer: key.publicKey, seq: 0, timestampMs: 1, prev: .zero, body: .action(a)), key: key, "without \(name)")
            #expect(e.encoded.count < fullSize)
        }
        for (keep, _) in drops {
            var a = ActionBody(actionType: "t", target: "", contentHash: h("c"))
            let full = Self.fullAction
            switch keep {
            case "input_hash": a.inputHash = full.inputHash
            case "output_hash": a.outputHash = full.outputHash
            case "model_id": a.modelID = full.modelID
            case "latency_ms": a.latencyMs = 0
            case "tools": a.tools = ["only"]
            case "data_class": a.dataClass = full.dataClass
            default: a.requestCommitment = full.requestCommitment
            }
            try Self.roundTrip(UnsignedEntry(signer: key.publicKey, seq: 0, timestampMs: 1, prev: .zero, body: .action(a)), key: key, "only \(keep)")
        }
    }

    @Test func everyFlagSubset() throws {
        for mask in UInt8(0)..<16 {
            var a = Self.fullAction
            a.flags = ActionFlags(rawValue: mask)
            let e = try Self.roundTrip(UnsignedEntry(signer: Self.agent.publicKey, seq: 0, timestampMs: 1, prev: .zero, body: .action(a)), key: Self.agent, "flags \(mask)")
            guard case .action(let decoded) = e.body else { throw TrailError(.unknownKind, "not an action") }
            #expect(decoded.flags.rawValue == mask)
            #expect(decoded.flags.names == ActionFlags.named.filter { mask & $0.1.rawValue != 0 }.map(\.0))
        }
    }

    /// Chained entries: each `prev` is the previous entry's hash, and each decodes and verifies.
    @Test func chains() throws {
        let key = testKey("chain")
        var prev = Bytes32.zero
        var encoded: [[UInt8]] = []
        let bodies = Self.bodies.filter { $0.1.kind != .registration }
        for seq in 0..<UInt64(20) {
            let body = bodies[Int(seq) % bodies.count].1
            let e = try Self.roundTrip(UnsignedEntry(signer: key.publicKey, seq: seq, timestampMs: 1_763_900_000_000 + seq, prev: prev, body: body), key: key, "chain \(seq)")
            prev = e.hash
            encoded.append(e.encoded)
        }
        // Re-read the chain from bytes alone.
        var expected = Bytes32.zero
        for (i, bytes) in encoded.enumerated() {
            let e = try EntryCodec.decodeVerified(bytes)
            #expect(e.seq == UInt64(i))
            #expect(e.prev == expected)
            #expect(e.signer == key.publicKey)
            expected = SHA256.hash([0] + bytes)
        }
        #expect(Set(encoded.map(independentLeafHash)).count == encoded.count)
    }

    /// JSON form: object -> serialise -> parse -> unsignedEntry gives the same entry and signature.
    @Test func jsonForm() throws {
        for (name, body) in Self.bodies {
            let key = body.kind == .registration ? Self.owner : Self.agent
            for (seq, prev) in [(UInt64(0), Bytes32.zero), (UInt64.max, h("p"))] {
                let e = try sign(key, seq: seq, prev: prev, timestamp: UInt64.max, body)
                let parsed = try jsonRoundTrip(EntryJSON.object(e))
                let (u, sig) = try EntryJSON.unsignedEntry(parsed)
                #expect(u == e.unsigned, "\(name)")
                #expect(sig == e.signature, "\(name)")
                #expect(try EntryCodec.assemble(u, signature: sig!).encoded == e.encoded, "\(name)")
                // Without a signature it parses as unsigned.
                let unsignedOnly = try jsonRoundTrip(EntryJSON.object(e.unsigned))
                #expect(try EntryJSON.unsignedEntry(unsignedOnly).1 == nil)
                #expect(try EntryJSON.unsignedEntry(unsignedOnly).0 == e.unsigned)
                // The body alone.
                let bodyOnly = try jsonRoundTrip(EntryJSON.bodyObject(body))
                #expect(try EntryJSON.body(body.kind, bodyOnly) == body, "\(name)")
            }
        }
    }
}
