/// Standard base64 (RFC 4648 section 4) with padding, decoded strictly: one encoding per byte string.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static let values: [UInt8] = {
        var t = [UInt8](repeating: 0xff, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let b = Array(bytes)
        var out = [UInt8]()
        out.reserveCapacity((b.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= b.count {
            let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
            for s in [18, 12, 6, 0] { out.append(alphabet[Int((v >> UInt32(s)) & 63)]) }
            i += 3
        }
        let rest = b.count - i
        if rest == 1 {
            let v = UInt32(b[i]) << 16
            out += [alphabet[Int(v >> 18)], alphabet[Int((v >> 12) & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8
            out += [alphabet[Int(v >> 18)], alphabet[Int((v >> 12) & 63)], alphabet[Int((v >> 6) & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes canonical padded base64; nil for a wrong length, a character outside the alphabet,
    /// misplaced padding or non-zero unused bits.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let c = Array(text.utf8)
        guard c.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(c.count / 4 * 3)
        var i = 0
        while i < c.count {
            let last = i + 4 == c.count
            let pad = last ? (c[i + 3] == UInt8(ascii: "=") ? (c[i + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            var v: UInt32 = 0
            for j in 0..<(4 - pad) {
                let d = values[Int(c[i + j])]
                guard d != 0xff else { return nil }
                v = v << 6 | UInt32(d)
            }
            v <<= UInt32(6 * pad)
            switch pad {
            case 0: out += [UInt8(v >> 16), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
            case 1:
                guard v & 0xff == 0 else { return nil }
                out += [UInt8(v >> 16), UInt8((v >> 8) & 0xff)]
            default:
                guard v & 0xffff == 0 else { return nil }
                out.append(UInt8(v >> 16))
            }
            i += 4
        }
        return out
    }
}
