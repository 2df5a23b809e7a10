/// A salted commitment (protocol/SPEC.md section 1.11): a hash that hides a value until its owner
/// reveals the value and the salt, and binds the owner to that value.
///
/// ```
/// commitment = SHA-256("AgentTrail/commitment/v1" || 0x00 || salt || value)
/// ```
///
/// The 32-byte salt is random and secret until disclosure, so a commitment to a guessable value (a
/// request id, an empty trace) reveals nothing about it. Plain content hashes (`content_hash`,
/// `input_hash`, `output_hash`) are unsalted SHA-256 and are not commitments.
public struct Commitment: Hashable, Sendable {
    /// Domain separation prefix: the ASCII string, then one zero byte.
    public static let domain: [UInt8] = Array("AgentTrail/commitment/v1".utf8) + [0]

    public let salt: Bytes32
    public let value: [UInt8]

    public init(salt: Bytes32, value: [UInt8]) {
        self.salt = salt
        self.value = value
    }

    /// A commitment to `value` with a fresh salt from the system's CSPRNG.
    public static func make(_ value: [UInt8]) -> Commitment {
        Commitment(salt: SecureRandom.bytes32(), value: value)
    }

    /// The 32 bytes that go into an entry.
    public var hash: Bytes32 { Self.hash(salt: salt, value: value) }

    public static func hash(salt: Bytes32, value: [UInt8]) -> Bytes32 {
        var message = domain
        message.reserveCapacity(domain.count + 32 + value.count)
        salt.withUnsafeBytes { message.append(contentsOf: $0) }
        message.append(contentsOf: value)
        return SHA256.hash(message)
    }

    /// True if `salt` and `value` open `commitment`.
    public static func opens(_ commitment: Bytes32, salt: Bytes32, value: [UInt8]) -> Bool {
        hash(salt: salt, value: value) == commitment
    }
}
