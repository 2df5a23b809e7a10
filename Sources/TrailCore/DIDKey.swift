/// `did:key` identities for Ed25519 keys: `did:key:z` + base58btc(0xed 0x01 || key).
public enum DIDKey {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)
    static let multicodec: [UInt8] = [0xed, 0x01]

    public static func encode(_ key: PublicKey) -> String {
        "did:key:z" + base58(multicodec + key.bytes)
    }

    /// Parses a `did:key` for an Ed25519 key, or a bare 64-digit hex public key.
    public static func decode(_ text: String) throws(TrailError) -> PublicKey {
        if let k = PublicKey(hex: text) { return k }
        guard text.hasPrefix("did:key:z") else {
            throw TrailError(.invalidArgument, "expected did:key:z… or 64 hex digits, got \(text.prefix(80))")
        }
        guard let raw = unbase58(String(text.dropFirst("did:key:z".count))), raw.count == 34,
            Array(raw[0..<2]) == multicodec, let key = PublicKey(raw[2...])
        else {
            throw TrailError(.invalidArgument, "not an Ed25519 did:key: \(text.prefix(80))")
        }
        return key
    }

    static func base58(_ bytes: [UInt8]) -> String {
        var zeros = 0
        while zeros < bytes.count && bytes[zeros] == 0 { zeros += 1 }
        var digits: [UInt8] = []  // base-58 digits, little-endian
        for b in bytes {
            var carry = Int(b)
            for i in 0..<digits.count {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        var out = [UInt8](repeating: alphabet[0], count: zeros)
        for d in digits.reversed() { out.append(alphabet[Int(d)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func unbase58(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count <= 128 else { return nil }
        var zeros = 0
        while zeros < chars.count && chars[zeros] == alphabet[0] { zeros += 1 }
        var bytes: [UInt8] = []  // little-endian
        for c in chars {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            var carry = v
            for i in 0..<bytes.count {
                carry += Int(bytes[i]) * 58
                bytes[i] = UInt8(carry & 0xff)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xff))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }
}
