import Foundation
import Testing
import TrailCore

@Suite("Key files")
struct KeyFileTests {
    static let key = SigningKey(seed: b32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))

    static func text(_ fields: [String: Any]) -> [UInt8] { utf8(EntryJSON.serialize(fields)) }

    @Test func roundTrip() throws {
        for key in [Self.key, SigningKey.generate(), testKey("key-file")] {
            let text = KeyFile.encode(key)
            #expect(text.hasSuffix("\n"))
            let decoded = try KeyFile.decode(utf8(text))
            #expect(decoded.seed == key.seed)
            #expect(decoded.publicKey == key.publicKey)
            // The spec's fields.
            let o = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
            #expect(Set(o.keys) == ["type", "seed", "public_key", "did"])
            #expect(o["type"] == "ed25519")
            #expect(o["seed"] == key.seed.hex)
            #expect(o["public_key"] == key.publicKey.hex)
            #expect(o["did"] == key.did)
            #expect(try DIDKey.decode(o["did"]!) == key.publicKey)
        }
        let text = KeyFile.encode(Self.key)
        #expect(text.contains("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
    }

    @Test func publicKeyIsOptional() throws {
        let decoded = try KeyFile.decode(Self.text(["type": "ed25519", "seed": Self.key.seed.hex]))
        #expect(decoded.publicKey == Self.key.publicKey)
        // Upper-case hex is read.
        let upper = try KeyFile.decode(Self.text(["type": "ed25519", "seed": Self.key.seed.hex.uppercased(), "public_key": Self.key.publicKey.hex.uppercased()]))
        #expect(upper.publicKey == Self.key.publicKey)
    }

    @Test func rejected() {
        let seed = Self.key.seed.hex
        let pk = Self.key.publicKey.hex
        let cases: [(String, [UInt8])] = [
            ("wrong public key", Self.text(["type": "ed25519", "seed": seed, "public_key": testKey("other").publicKey.hex])),
            ("public key of zeros", Self.text(["type": "ed25519", "seed": seed, "public_key": Bytes32.zero.hex])),
            ("bad public key hex", Self.text(["type": "ed25519", "seed": seed, "public_key": "zz" + pk.dropFirst(2)])),
            ("short public key", Self.text(["type": "ed25519", "seed": seed, "public_key": String(pk.dropLast(2))])),
            ("bad seed hex", Self.text(["type": "ed25519", "seed": "xy" + seed.dropFirst(2), "public_key": pk])),
            ("odd seed hex", Self.text(["type": "ed25519", "seed": String(seed.dropLast()), "public_key": pk])),
            ("long seed", Self.text(["type": "ed25519", "seed": seed + "00", "public_key": pk])),
            ("seed not a string", Self.text(["type": "ed25519", "seed": 5, "public_key": pk])),
            ("missing seed", Self.text(["type": "ed25519", "public_key": pk])),
            ("wrong type", Self.text(["type": "rsa", "seed": seed, "public_key": pk])),
            ("type case", Self.text(["type": "Ed25519", "seed": seed, "public_key": pk])),
            ("missing type", Self.text(["seed": seed, "public_key": pk])),
            ("array", utf8("[]")),
            ("not JSON", utf8("seed=\(seed)")),
            ("empty", []),
        ]
        for (name, bytes) in cases {
            expectTrailError(.invalidKeyFile, "\(name)") { _ = try KeyFile.decode(bytes) }
        }
    }
}
