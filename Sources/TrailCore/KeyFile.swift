/// The JSON key file `trail keys new` writes (protocol/SPEC.md section 1.9).
public enum KeyFile {
    public static func encode(_ key: SigningKey) -> String {
        EntryJSON.serialize(
            ["type": "ed25519", "seed": key.seed.hex, "public_key": key.publicKey.hex, "did": key.did]) + "\n"
    }

    /// Parses a key file and checks that its public key matches its seed.
    public static func decode(_ bytes: [UInt8]) throws(TrailError) -> SigningKey {
        let o: [String: Any]
        do { o = try EntryJSON.parseObject(bytes) } catch { throw TrailError(.invalidKeyFile, "key file is not a JSON object") }
        guard o["type"] as? String == "ed25519" else { throw TrailError(.invalidKeyFile, "key file type must be ed25519") }
        guard let s = o["seed"] as? String, let seed = Bytes32(hex: s) else {
            throw TrailError(.invalidKeyFile, "key file seed must be 64 hex digits")
        }
        let key = SigningKey(seed: seed)
        if let p = o["public_key"] as? String, Bytes32(hex: p) != key.publicKey {
            throw TrailError(.invalidKeyFile, "key file public_key does not match its seed")
        }
        return key
    }
}
