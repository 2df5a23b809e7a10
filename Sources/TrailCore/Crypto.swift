internal import CSodium

/// libsodium must be initialised once before use; every entry point here goes through `ensure`.
enum SodiumRuntime {
    static let ready: Bool = sodium_init() >= 0

    @inline(__always)
    static func ensure() {
        precondition(ready, "libsodium failed to initialise")
    }
}

/// SHA-256 and the RFC 9162 hashes built on it.
public enum SHA256 {
    public static func hash(_ data: UnsafeRawBufferPointer) -> Bytes32 {
        SodiumRuntime.ensure()
        var out = Bytes32.zero
        withUnsafeMutableBytes(of: &out.storage) { dst in
            _ = crypto_hash_sha256(
                dst.baseAddress!.assumingMemoryBound(to: UInt8.self),
                data.baseAddress?.assumingMemoryBound(to: UInt8.self),
                UInt64(data.count))
        }
        return out
    }

    public static func hash(_ data: [UInt8]) -> Bytes32 {
        data.withUnsafeBytes { hash($0) }
    }

    /// SHA-256(prefix || data) without copying `data`.
    public static func hash(prefix: UInt8, _ data: UnsafeRawBufferPointer) -> Bytes32 {
        SodiumRuntime.ensure()
        var state = crypto_hash_sha256_state()
        crypto_hash_sha256_init(&state)
        var p = prefix
        crypto_hash_sha256_update(&state, &p, 1)
        if data.count > 0 {
            crypto_hash_sha256_update(&state, data.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(data.count))
        }
        var out = Bytes32.zero
        withUnsafeMutableBytes(of: &out.storage) { dst in
            _ = crypto_hash_sha256_final(&state, dst.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return out
    }

    /// RFC 9162 leaf hash: SHA-256(0x00 || leaf).
    public static func leafHash(_ leaf: [UInt8]) -> Bytes32 {
        leaf.withUnsafeBytes { hash(prefix: 0x00, $0) }
    }

    /// RFC 9162 interior node hash: SHA-256(0x01 || left || right).
    public static func nodeHash(_ left: Bytes32, _ right: Bytes32) -> Bytes32 {
        var pair = (left.storage, right.storage)
        return withUnsafeBytes(of: &pair) { hash(prefix: 0x01, $0) }
    }
}

/// An Ed25519 public key.
public typealias PublicKey = Bytes32

/// Ed25519 signatures (RFC 8032, pure) through libsodium.
public enum Ed25519 {
    /// Verifies `signature` over `prefix || message` without joining them on the heap.
    public static func verify(
        signature: Signature64,
        prefix: [UInt8] = [],
        message: UnsafeRawBufferPointer,
        publicKey: PublicKey
    ) -> Bool {
        SodiumRuntime.ensure()
        let total = prefix.count + message.count
        return withUnsafeTemporaryAllocation(byteCount: max(total, 1), alignment: 8) { scratch in
            if !prefix.isEmpty {
                prefix.withUnsafeBytes { scratch.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: prefix.count) }
            }
            if message.count > 0 {
                (scratch.baseAddress! + prefix.count).copyMemory(from: message.baseAddress!, byteCount: message.count)
            }
            return signature.withUnsafeBytes { sig in
                publicKey.withUnsafeBytes { pk in
                    crypto_sign_verify_detached(
                        sig.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        scratch.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        UInt64(total),
                        pk.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
                }
            }
        }
    }

    /// Verifies a signature given as raw bytes of any length (64 is required; anything else is
    /// invalid before libsodium is called).
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let sig = Signature64(signature), let pk = Bytes32(publicKey) else { return false }
        return message.withUnsafeBytes { verify(signature: sig, message: $0, publicKey: pk) }
    }
}

/// An Ed25519 key pair derived from a 32-byte seed. The seed is the whole secret.
public struct SigningKey: Sendable {
    public let seed: Bytes32
    public let publicKey: PublicKey
    private let secretKey: [UInt8]  // libsodium's 64-byte form: seed || public key

    public init(seed: Bytes32) {
        SodiumRuntime.ensure()
        var pk = [UInt8](repeating: 0, count: 32)
        var sk = [UInt8](repeating: 0, count: 64)
        let seedBytes = seed.bytes
        _ = crypto_sign_seed_keypair(&pk, &sk, seedBytes)
        self.seed = seed
        self.publicKey = Bytes32(pk)!
        self.secretKey = sk
    }

    /// A new key from libsodium's CSPRNG.
    public static func generate() -> SigningKey {
        SodiumRuntime.ensure()
        var seed = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&seed, 32)
        return SigningKey(seed: Bytes32(seed)!)
    }

    public func sign(prefix: [UInt8] = [], _ message: UnsafeRawBufferPointer) -> Signature64 {
        var joined = prefix
        joined.append(contentsOf: message)
        var sig = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&sig, nil, joined, UInt64(joined.count), secretKey)
        return Signature64(sig)!
    }

    public func sign(prefix: [UInt8] = [], _ message: [UInt8]) -> Signature64 {
        message.withUnsafeBytes { sign(prefix: prefix, $0) }
    }

    public var did: String { DIDKey.encode(publicKey) }
}

/// Cryptographically secure random bytes.
public enum SecureRandom {
    public static func bytes32() -> Bytes32 {
        SodiumRuntime.ensure()
        var b = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&b, 32)
        return Bytes32(b)!
    }
}
