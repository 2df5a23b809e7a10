import Testing
import TrailCore

@Suite("did:key")
struct DIDKeyTests {
    /// base58btc with the Bitcoin alphabet, written here independently of DIDKey.
    static func base58(_ bytes: [UInt8]) -> String {
        let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
        var digits: [Int] = []  // most significant first
        var number = bytes.drop { $0 == 0 }.map(Int.init)
        while !number.isEmpty {
            var quotient: [Int] = []
            var rem = 0
            for d in number {
                let acc = rem * 256 + d
                if !quotient.isEmpty || acc / 58 > 0 { quotient.append(acc / 58) }
                rem = acc % 58
            }
            digits.insert(rem, at: 0)
            number = quotient
        }
        return String(repeating: "1", count: bytes.prefix { $0 == 0 }.count) + String(digits.map { alphabet[$0] })
    }

    /// The published example the Python reference checks: publicKeyBase58
    /// HrBXe7XnjMbscM1roSDTSMCcLNraetDQM9wSVjnzDxn3 and its did:key.
    @Test func knownVector() throws {
        let key = b32("fa545ad5b31815046c3e3a7311d66c55f9d4acf555c49810403ac3eace4e5e00")
        #expect(Self.base58(key.bytes) == "HrBXe7XnjMbscM1roSDTSMCcLNraetDQM9wSVjnzDxn3")
        let did = "did:key:z6MkwJSaEMnE4u6LiqrZV1BJHSkc9x8S4mTm3ArNL1m19BZR"
        #expect(DIDKey.encode(key) == did)
        #expect(try DIDKey.decode(did) == key)
        #expect(SigningKey(seed: h("any")).did == DIDKey.encode(SigningKey(seed: h("any")).publicKey))
    }

    @Test func zeroKeyAndLeadingZeros() throws {
        #expect(DIDKey.encode(.zero) == "did:key:z6MkeTG3bFFSLYVU7VqhgZxqr6YzpaGrQtFMh1uvqGy1vDnP")
        #expect(try DIDKey.decode(DIDKey.encode(.zero)) == .zero)
        #expect(Self.base58([0, 0, 1]) == "112")
    }

    @Test func roundTrip() throws {
        var keys: [Bytes32] = [.zero, Bytes32([UInt8](repeating: 0xff, count: 32))!, Bytes32([0] + [UInt8](repeating: 1, count: 31))!]
        keys += (0..<200).map { h("did-\($0)") }
        keys += (0..<20).map { testKey("did-\($0)").publicKey }
        for k in keys {
            let did = DIDKey.encode(k)
            #expect(did.hasPrefix("did:key:z6Mk"))
            #expect(did == "did:key:z" + Self.base58([0xed, 0x01] + k.bytes))
            #expect(try DIDKey.decode(did) == k)
            // A bare hex key, either case, is accepted too.
            #expect(try DIDKey.decode(k.hex) == k)
            #expect(try DIDKey.decode(k.hex.uppercased()) == k)
        }
    }

    @Test func badInputs() {
        let key = h("bad-inputs")
        let good = DIDKey.encode(key)
        let bad: [(String, String)] = [
            ("empty", ""),
            ("prefix only", "did:key:"),
            ("z only", "did:key:z"),
            ("other method", "did:web:example.com"),
            ("base58 not multibase z", "did:key:" + Self.base58([0xed, 0x01] + key.bytes)),
            ("0 is not base58", String(good.dropLast()) + "0"),
            ("O is not base58", String(good.dropLast()) + "O"),
            ("I is not base58", String(good.dropLast()) + "I"),
            ("l is not base58", String(good.dropLast()) + "l"),
            ("a character short", String(good.dropLast())),
            ("a character long", good + "1"),
            ("leading zero byte", "did:key:z1" + good.dropFirst("did:key:z".count)),
            ("secp256k1 multicodec", "did:key:z" + Self.base58([0xe7, 0x01] + key.bytes + [2])),
            ("x25519 multicodec", "did:key:z" + Self.base58([0xec, 0x01] + key.bytes)),
            ("no multicodec", "did:key:z" + Self.base58(key.bytes)),
            ("33-byte key", "did:key:z" + Self.base58([0xed, 0x01] + key.bytes + [0])),
            ("31-byte key", "did:key:z" + Self.base58([0xed, 0x01] + key.bytes.dropLast())),
            ("63 hex digits", String(key.hex.dropLast())),
            ("65 hex digits", key.hex + "0"),
            ("non-hex digit", "g" + key.hex.dropFirst()),
            ("very long", "did:key:z" + String(repeating: "2", count: 10_000)),
            ("whitespace", " " + good),
        ]
        for (name, text) in bad {
            expectTrailError(.invalidArgument, "\(name)") { _ = try DIDKey.decode(text) }
        }
    }
}
