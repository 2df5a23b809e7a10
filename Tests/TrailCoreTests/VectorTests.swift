import Foundation
import Testing
import TrailCore

/// protocol/vectors/entries.json, read in place (one copy, shared with the Python reference).
enum Vectors {
    static let url = packageRoot.appendingPathComponent("protocol/vectors/entries.json")

    /// Parsed once and never mutated.
    nonisolated(unsafe) static let document: [String: Any] = {
        let data = try! Data(contentsOf: url)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var valid: [[String: Any]] { document["valid"] as! [[String: Any]] }
    static var invalid: [[String: Any]] { document["invalid"] as! [[String: Any]] }
    static var validNames: [String] { valid.map { $0["name"] as! String } }
    static var invalidNames: [String] { invalid.map { $0["name"] as! String } }

    static func valid(_ name: String) -> [String: Any] { valid.first { $0["name"] as? String == name }! }
    static func invalid(_ name: String) -> [String: Any] { invalid.first { $0["name"] as? String == name }! }
}

@Suite("Protocol vectors")
struct VectorTests {
    @Test func fileShape() {
        #expect(Vectors.valid.count == 24)
        #expect(Vectors.invalid.count == 99)
        let names = Vectors.validNames + Vectors.invalidNames
        #expect(Set(names).count == names.count, "vector names are unique")
        // Every kind is covered by a valid vector, every entry error code by an invalid one.
        let kinds = Set(Vectors.valid.map { ($0["entry"] as! [String: Any])["kind"] as! String })
        #expect(kinds == Set(EntryKind.allCases.map(\.name)))
        let codes = Set(Vectors.invalid.map { ($0["code"] as! NSNumber).uint16Value })
        #expect(codes == Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 21]))
    }

    @Test(arguments: Vectors.validNames)
    func valid(_ name: String) throws {
        let v = Vectors.valid(name)
        let encoded = unhex(v["encoded"] as! String)
        let json = v["entry"] as! [String: Any]
        let seed = b32(v["seed"] as! String)

        // Decode to exactly `entry`.
        let entry = try EntryCodec.decode(encoded)
        #expect(entry.encoded == encoded)
        #expect(canonicalJSON(try jsonRoundTrip(EntryJSON.object(entry))) == canonicalJSON(json))

        // Encode `entry` to exactly `encoded`, by re-signing and by assembling with its signature.
        let (unsigned, signature) = try EntryJSON.unsignedEntry(json)
        #expect(unsigned == entry.unsigned)
        #expect(signature == entry.signature)
        let key = SigningKey(seed: seed)
        #expect(key.publicKey == entry.signer, "seed is the signer's")
        let resigned = try EntryCodec.sign(unsigned, with: key)
        #expect(resigned.encoded == encoded)
        #expect(try EntryCodec.assemble(unsigned, signature: signature!).encoded == encoded)
        #expect(try EntryCodec.encodeUnsigned(unsigned) == Array(encoded[0..<entry.signedCount]))

        // Verify, hash.
        try EntryCodec.verify(entry)
        #expect(entry.hash.hex == v["entry_hash"] as! String)
        #expect(independentLeafHash(encoded) == entry.hash)
        #expect(encoded.count <= EntryLimits.maxEntrySize)

        // Registrations: the agent seed reproduces the proof of possession.
        if let agentSeed = v["agent_seed"] as? String {
            guard case .registration(let r) = entry.body else {
                Issue.record("agent_seed on a \(entry.kind.name) vector")
                return
            }
            let agent = SigningKey(seed: b32(agentSeed))
            #expect(agent.publicKey == r.agent)
            #expect(agent.sign(RegistrationBody.possessionMessage(owner: entry.signer, agent: r.agent)) == r.agentSignature)
        } else {
            #expect(entry.kind != .registration)
        }
    }

    @Test(arguments: Vectors.invalidNames)
    func invalid(_ name: String) {
        let v = Vectors.invalid(name)
        let encoded = unhex(v["encoded"] as! String)
        let code = TrailError.Code(rawValue: (v["code"] as! NSNumber).uint16Value)
        #expect(code.name == v["error"] as! String)
        if code.rawValue < 20 {
            #expect(decodeFailure(encoded) == code)
        } else {
            #expect(decodeFailure(encoded) == nil, "authentication failures decode")
            #expect(verifyFailure(encoded) == code)
        }
    }

    /// Vectors of one signer at consecutive positions link by `prev`.
    @Test func chainsLink() throws {
        var byPosition: [String: String] = [:]
        for v in Vectors.valid {
            let e = v["entry"] as! [String: Any]
            byPosition["\(e["signer"]!)/\(e["seq"]!)"] = v["entry_hash"] as? String
        }
        var links = 0
        for v in Vectors.valid {
            let e = try EntryCodec.decode(unhex(v["encoded"] as! String))
            guard e.seq > 0, let prevHash = byPosition["\(e.signer.hex)/\(e.seq - 1)"] else { continue }
            #expect(e.prev.hex == prevHash)
            links += 1
        }
        #expect(links >= 2)
    }

    /// Every strict prefix of every valid vector is truncated; one extra byte is trailing bytes,
    /// or too large at the size limit.
    @Test func prefixesAndExtraByte() {
        for v in Vectors.valid {
            let encoded = unhex(v["encoded"] as! String)
            let cuts = encoded.count <= 4096 ? Array(0..<encoded.count) : Array(stride(from: 0, to: encoded.count, by: 61)) + [encoded.count - 1]
            let bad = cuts.filter { decodeFailure(Array(encoded[0..<$0])) != .truncated }
            #expect(bad.isEmpty, "\(v["name"]!): prefixes not truncated: \(bad.prefix(5))")
            let want: TrailError.Code = encoded.count < EntryLimits.maxEntrySize ? .trailingBytes : .entryTooLarge
            #expect(decodeFailure(encoded + [0]) == want, "\(v["name"]!)")
        }
    }

    /// Every single-bit flip of a small vector is rejected by decoding or verification.
    @Test(arguments: ["action_all_fields", "receipt_three_stages", "registration_with_evidence", "policy_lists", "report_policy_violation_medium_ref"])
    func bitFlipsRejected(_ name: String) {
        let encoded = unhex(Vectors.valid(name)["encoded"] as! String)
        var accepted: [(Int, Int)] = []
        for i in 0..<encoded.count {
            for bit in 0..<8 {
                var m = encoded
                m[i] ^= 1 << bit
                if verifyFailure(m) == nil { accepted.append((i, bit)) }
            }
        }
        #expect(accepted.isEmpty, "accepted flips: \(accepted.prefix(5))")
    }
}
