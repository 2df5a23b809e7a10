/// Thirty-two bytes held inline (keys, hashes): hashable and allocation-free.
public struct Bytes32: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var storage: (UInt64, UInt64, UInt64, UInt64)

    public static let zero = Bytes32(storage: (0, 0, 0, 0))

    public init(storage: (UInt64, UInt64, UInt64, UInt64)) { self.storage = storage }

    /// Copies exactly 32 bytes; returns nil for any other count.
    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard bytes.count == 32 else { return nil }
        var value = Bytes32.zero
        withUnsafeMutableBytes(of: &value.storage) { dst in
            var i = 0
            for b in bytes {
                dst[i] = b
                i += 1
            }
        }
        self = value
    }

    public init(unsafe pointer: UnsafeRawBufferPointer) {
        precondition(pointer.count >= 32)
        var value = Bytes32.zero
        withUnsafeMutableBytes(of: &value.storage) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: pointer[0..<32])) }
        self = value
    }

    public var isZero: Bool { storage == (0, 0, 0, 0) }

    public var bytes: [UInt8] { Swift.withUnsafeBytes(of: storage) { Array($0) } }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public static func == (a: Bytes32, b: Bytes32) -> Bool { a.storage == b.storage }
    /// Keys are hashes and public keys, uniform already: half the words feed the (seeded) hasher,
    /// which halves its cost on the sequencer's hot path and keeps collisions out of reach.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
    }
    public static func < (a: Bytes32, b: Bytes32) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public init?(hex: String) {
        guard let b = Hex.decode(hex), let v = Bytes32(b) else { return nil }
        self = v
    }
}

extension Bytes32: Codable {
    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let v = Bytes32(hex: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected 64 hex digits"))
        }
        self = v
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// A 64-byte Ed25519 signature held inline.
public struct Signature64: Hashable, Sendable, CustomStringConvertible {
    public var low: Bytes32
    public var high: Bytes32

    public static let zero = Signature64(low: .zero, high: .zero)

    public init(low: Bytes32, high: Bytes32) {
        self.low = low
        self.high = high
    }

    public init?<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard bytes.count == 64 else { return nil }
        let a = Array(bytes)
        self.low = Bytes32(a[0..<32])!
        self.high = Bytes32(a[32..<64])!
    }

    public var bytes: [UInt8] { low.bytes + high.bytes }
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var copy = self
        return try Swift.withUnsafeBytes(of: &copy) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<64])) }
    }
}

extension Signature64: Codable {
    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let b = Hex.decode(s), let v = Signature64(b) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected 128 hex digits"))
        }
        self = v
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil on odd length or a non-hex digit.
    public static func decode(_ string: String) -> [UInt8]? {
        let utf8 = Array(string.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Strict, bounds-checked reader over a byte buffer. Every read checks the remaining length first.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    @inline(__always)
    mutating func need(_ n: Int, _ what: StaticString) throws(TrailError) {
        guard n <= remaining else { throw TrailError(.truncated, "input ends inside \(what)") }
    }

    public mutating func u8(_ what: StaticString) throws(TrailError) -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func u16(_ what: StaticString) throws(TrailError) -> UInt16 {
        try need(2, what)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func u32(_ what: StaticString) throws(TrailError) -> UInt32 {
        try need(4, what)
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return v
    }

    public mutating func u64(_ what: StaticString) throws(TrailError) -> UInt64 {
        try need(8, what)
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    public mutating func bytes32(_ what: StaticString) throws(TrailError) -> Bytes32 {
        try need(32, what)
        defer { offset += 32 }
        return Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 32]))
    }

    public mutating func skip(_ n: Int, _ what: StaticString) throws(TrailError) -> UnsafeRawBufferPointer {
        try need(n, what)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
    }

    /// A `u16`-length-prefixed UTF-8 string of `min...max` bytes. The length is checked against
    /// `max` before any byte is read.
    public mutating func string(_ what: StaticString, min: Int, max: Int) throws(TrailError) -> String {
        let n = Int(try u16(what))
        guard n <= max else { throw TrailError(.lengthExceedsLimit, "\(what) is \(n) bytes, limit \(max)") }
        guard n >= min else { throw TrailError(.emptyField, "\(what) must not be empty") }
        let raw = try skip(n, what)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw TrailError(.invalidUTF8, "\(what) is not valid UTF-8")
        }
        return s
    }

    /// A `u8` count with its limit checked.
    public mutating func count(_ what: StaticString, min: Int, max: Int) throws(TrailError) -> Int {
        let n = Int(try u8(what))
        guard n <= max else { throw TrailError(.lengthExceedsLimit, "\(what) has \(n) items, limit \(max)") }
        guard n >= min else { throw TrailError(.emptyField, "\(what) must not be empty") }
        return n
    }
}

/// Appends big-endian fields to a byte array.
public struct ByteWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xff))
    }
    public mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(s)) & 0xff)) } }
    public mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xff)) } }
    public mutating func raw<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }
    public mutating func bytes32(_ b: Bytes32) { b.withUnsafeBytes { bytes.append(contentsOf: $0) } }
    public mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u16(UInt16(truncatingIfNeeded: utf8.count))
        bytes.append(contentsOf: utf8)
    }
}
