import Foundation
import Testing
import TrailCore

@Suite("Ed25519 and SHA-256")
struct CryptoTests {
    struct WycheproofCase {
        let id: Int
        let comment: String
        let publicKey: [UInt8]
        let message: [UInt8]
        let signature: [UInt8]
        let valid: Bool
    }

    /// Tests/TrailCoreTests/Fixtures/wycheproof, from the test bundle's resources.
    static func wycheproofCases() throws -> (declared: Int, cases: [WycheproofCase]) {
        let url = try #require(Bundle.module.resourceURL?.appendingPathComponent("Fixtures/wycheproof/wycheproof_ed25519_test.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        var cases: [WycheproofCase] = []
        for group in doc["testGroups"] as! [[String: Any]] {
            let pk = unhex((group["publicKey"] as! [String: Any])["pk"] as! String)
            for t in group["tests"] as! [[String: Any]] {
                let result = t["result"] as! String
                #expect(result == "valid" || result == "invalid", "unexpected result \(result)")
                cases.append(
                    WycheproofCase(
                        id: (t["tcId"] as! NSNumber).intValue, comment: t["comment"] as! String, publicKey: pk,
                        message: unhex(t["msg"] as! String), signature: unhex(t["sig"] as! String), valid: result == "valid"))
            }
        }
        return ((doc["numberOfTests"] as! NSNumber).intValue, cases)
    }

    @Test func wycheproofEd25519() throws {
        let (declared, cases) = try Self.wycheproofCases()
        #expect(declared == 151)
        #expect(cases.count == 151)
        #expect(Set(cases.map(\.id)).count == 151)
        var wrong: [Int] = []
        for c in cases where Ed25519.verify(signature: c.signature, message: c.message, publicKey: c.publicKey) != c.valid {
            wrong.append(c.id)
            Issue.record("tcId \(c.id) (\(c.comment)): expected \(c.valid ? "valid" : "invalid")")
        }
        #expect(wrong.isEmpty)
        // Both outcomes are exercised.
        #expect(cases.contains { $0.valid } && cases.contains { !$0.valid })
    }

    /// RFC 8032 section 7.1, tests 1 and 2: key derivation from the seed and deterministic signing.
    @Test func rfc8032() {
        let k1 = SigningKey(seed: b32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(k1.publicKey.hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let s1 = k1.sign([])
        #expect(s1.hex == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(Ed25519.verify(signature: s1.bytes, message: [], publicKey: k1.publicKey.bytes))

        let k2 = SigningKey(seed: b32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
        #expect(k2.publicKey.hex == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        let s2 = k2.sign([0x72])
        #expect(s2.hex == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        #expect(!Ed25519.verify(signature: s2.bytes, message: [0x73], publicKey: k2.publicKey.bytes))
        #expect(!Ed25519.verify(signature: s2.bytes, message: [0x72], publicKey: k1.publicKey.bytes))
    }

    @Test func signWithPrefixEqualsSigningTheJoinedMessage() {
        let k = testKey("prefix")
        let joined = k.sign(utf8("domain") + [0] + utf8("message"))
        #expect(k.sign(prefix: utf8("domain") + [0], utf8("message")) == joined)
        utf8("message").withUnsafeBytes { m in
            #expect(Ed25519.verify(signature: joined, prefix: utf8("domain") + [0], message: m, publicKey: k.publicKey))
            #expect(!Ed25519.verify(signature: joined, prefix: utf8("domain"), message: m, publicKey: k.publicKey))
        }
    }

    @Test func rawVerifyRejectsWrongLengths() {
        let k = testKey("lengths")
        let sig = k.sign(utf8("m")).bytes
        #expect(Ed25519.verify(signature: sig, message: utf8("m"), publicKey: k.publicKey.bytes))
        #expect(!Ed25519.verify(signature: Array(sig.dropLast()), message: utf8("m"), publicKey: k.publicKey.bytes))
        #expect(!Ed25519.verify(signature: sig + [0], message: utf8("m"), publicKey: k.publicKey.bytes))
        #expect(!Ed25519.verify(signature: sig, message: utf8("m"), publicKey: Array(k.publicKey.bytes.dropLast())))
        #expect(!Ed25519.verify(signature: [], message: utf8("m"), publicKey: []))
    }

    /// FIPS 180-2 examples and the RFC 9162 hashes built on SHA-256.
    @Test func sha256() {
        #expect(SHA256.hash([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(utf8("abc")).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hash(utf8("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // RFC 9162: the empty-leaf hash and node hashes.
        #expect(SHA256.leafHash([]).hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        let a = h("a"), b = h("b")
        #expect(SHA256.leafHash(utf8("abc")) == SHA256.hash([0] + utf8("abc")))
        #expect(SHA256.nodeHash(a, b) == SHA256.hash([1] + a.bytes + b.bytes))
        #expect(SHA256.nodeHash(a, b) != SHA256.nodeHash(b, a))
    }

    @Test func bytes32() {
        let bytes = (0..<32).map { UInt8($0) }
        let v = Bytes32(bytes)!
        #expect(v.bytes == bytes)
        #expect(v.hex == "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        #expect(Bytes32(hex: v.hex.uppercased()) == v)
        #expect(Bytes32(Array(bytes.dropLast())) == nil)
        #expect(Bytes32(hex: String(v.hex.dropLast())) == nil)
        #expect(Bytes32(hex: "zz" + String(v.hex.dropFirst(2))) == nil)
        #expect(Bytes32.zero.isZero && !v.isZero)
        #expect(Bytes32.zero < v)
        let sig = Signature64(bytes + bytes.reversed())!
        #expect(sig.bytes == bytes + bytes.reversed())
        #expect(Signature64(bytes) == nil)
    }
}
