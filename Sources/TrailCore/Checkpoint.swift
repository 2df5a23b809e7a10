/// A C2SP signed-note Ed25519 verifier key: `name+hex(keyID)+base64(0x01 || public key)`.
public struct NoteVerifierKey: Hashable, Sendable, CustomStringConvertible {
    /// The signed-note signature type byte for Ed25519.
    public static let ed25519: UInt8 = 0x01

    public let name: String
    public let publicKey: PublicKey
    public let keyID: UInt32

    public init(name: String, publicKey: PublicKey) throws(TrailError) {
        guard Self.isValidName(name) else {
            throw TrailError(.invalidVerifierKey, "note key name \(String(reflecting: String(name.prefix(80)))) is empty or has a space, '+' or control character")
        }
        self.name = name
        self.publicKey = publicKey
        self.keyID = Self.keyID(name: name, publicKey: publicKey)
    }

    /// Parses the text form and checks that the key ID matches the name and key.
    public init(_ text: String) throws(TrailError) {
        // The name has no '+' and the ID is hex, but the base64 key may contain '+'.
        let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw TrailError(.invalidVerifierKey, "verifier key must be name+hex(id)+base64(key)")
        }
        let idText = parts[1]
        guard idText.utf8.count == 8, let idBytes = Hex.decode(String(idText)) else {
            throw TrailError(.invalidVerifierKey, "verifier key ID must be 8 hex digits")
        }
        guard let raw = Base64.decode(parts[2]), raw.count == 33 else {
            throw TrailError(.invalidVerifierKey, "verifier key must be base64 of 33 bytes (type byte and Ed25519 key)")
        }
        guard raw[0] == Self.ed25519 else {
            throw TrailError(.invalidVerifierKey, "verifier key type \(raw[0]) is not Ed25519 (1)")
        }
        try self.init(name: String(parts[0]), publicKey: PublicKey(raw[1...])!)
        let id = idBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard id == keyID else {
            throw TrailError(.invalidVerifierKey, "verifier key ID \(idText) does not match its name and key")
        }
    }

    /// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`, big-endian.
    public static func keyID(name: String, publicKey: PublicKey) -> UInt32 {
        let h = SHA256.hash(Array(name.utf8) + [0x0a, ed25519] + publicKey.bytes).bytes
        return UInt32(h[0]) << 24 | UInt32(h[1]) << 16 | UInt32(h[2]) << 8 | UInt32(h[3])
    }

    /// Non-empty, with no Unicode space, `+`, or control character.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy { s in
                s != "+" && !s.properties.isWhitespace && s.value >= 0x20 && !(0x7f...0x9f).contains(s.value)
            }
    }

    public var keyIDBytes: [UInt8] { [UInt8(keyID >> 24), UInt8((keyID >> 16) & 0xff), UInt8((keyID >> 8) & 0xff), UInt8(keyID & 0xff)] }

    public var description: String {
        let id = Hex.encode(keyIDBytes)
        return "\(name)+\(id)+\(Base64.encode([Self.ed25519] + publicKey.bytes))"
    }
}

/// A C2SP signed note: text ending in a newline, a blank line, then signature lines
/// `— <name> base64(keyID || signature)`.
public struct SignedNote: Hashable, Sendable {
    public struct Signature: Hashable, Sendable {
        public let name: String
        public let keyID: UInt32
        /// The signature bytes after the key ID.
        public let signature: [UInt8]
    }

    /// Largest note accepted, in bytes.
    public static let maxSize = 65536
    /// Most signature lines accepted (the spec requires at least 16).
    public static let maxSignatures = 64
    /// U+2014 EM DASH then a space, in UTF-8.
    static let signaturePrefix: [UInt8] = [0xe2, 0x80, 0x94, 0x20]

    /// The signed text, final newline included.
    public let text: String
    public let signatures: [Signature]

    /// The signature line for `text` by `key` under `name`, newline included.
    public static func signatureLine(text: String, key: SigningKey, verifier: NoteVerifierKey) -> String {
        let sig = key.sign(Array(text.utf8))
        return "\u{2014} \(verifier.name) \(Base64.encode(verifier.keyIDBytes + sig.bytes))\n"
    }

    /// A note with one Ed25519 signature. `text` must end in a newline.
    public static func sign(text: String, key: SigningKey, keyName: String) throws(TrailError) -> String {
        guard text.hasSuffix("\n") else { throw TrailError(.malformedNote, "note text must end with a newline") }
        let verifier = try NoteVerifierKey(name: keyName, publicKey: key.publicKey)
        return text + "\n" + signatureLine(text: text, key: key, verifier: verifier)
    }

    /// Parses the envelope strictly. Signatures are not checked here; see `verify`.
    public static func parse(_ note: [UInt8]) throws(TrailError) -> SignedNote {
        guard note.count <= maxSize else { throw TrailError(.malformedNote, "note is \(note.count) bytes, limit \(maxSize)") }
        guard String(validating: note, as: UTF8.self) != nil else { throw TrailError(.malformedNote, "note is not valid UTF-8") }
        if let bad = note.first(where: { $0 < 0x20 && $0 != 0x0a }) {
            throw TrailError(.malformedNote, "note contains control character 0x\(Hex.encode([bad]))")
        }
        guard note.last == 0x0a else { throw TrailError(.malformedNote, "note does not end with a newline") }
        // The text ends at the last blank line; signature lines are never empty.
        var split = -1
        var i = note.count - 2
        while i >= 0 {
            if note[i] == 0x0a && note[i + 1] == 0x0a {
                split = i
                break
            }
            i -= 1
        }
        guard split >= 0 else { throw TrailError(.malformedNote, "note has no blank line before its signatures") }
        let text = String(decoding: note[0...split], as: UTF8.self)
        let block = note[(split + 2)...]
        var signatures: [Signature] = []
        for line in block.split(separator: 0x0a, omittingEmptySubsequences: false).dropLast() {
            guard signatures.count < maxSignatures else {
                throw TrailError(.malformedNote, "note has more than \(maxSignatures) signatures")
            }
            signatures.append(try parseSignatureLine(Array(line)))
        }
        guard !signatures.isEmpty else { throw TrailError(.malformedNote, "note has no signature lines") }
        return SignedNote(text: text, signatures: signatures)
    }

    public static func parse(_ note: String) throws(TrailError) -> SignedNote {
        try parse(Array(note.utf8))
    }

    private static func parseSignatureLine(_ line: [UInt8]) throws(TrailError) -> Signature {
        guard line.starts(with: signaturePrefix) else {
            throw TrailError(.malformedNote, "signature line does not start with an em dash and a space")
        }
        let fields = line[signaturePrefix.count...].split(separator: 0x20, omittingEmptySubsequences: false)
        guard fields.count == 2 else {
            throw TrailError(.malformedNote, "signature line must be '\u{2014} <name> <base64>'")
        }
        let name = String(decoding: fields[0], as: UTF8.self)
        guard NoteVerifierKey.isValidName(name) else {
            throw TrailError(.malformedNote, "signature key name is empty or has a space, '+' or control character")
        }
        guard let raw = Base64.decode(String(decoding: fields[1], as: UTF8.self)), raw.count >= 5 else {
            throw TrailError(.malformedNote, "signature of \(name) is not base64 of a key ID and a signature")
        }
        let id = raw[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Signature(name: name, keyID: id, signature: Array(raw[4...]))
    }

    /// Checks the signature by `key`. Signatures by other keys (witnesses, rotated keys) are
    /// ignored, as the signed-note spec requires.
    public func verify(_ key: NoteVerifierKey) throws(TrailError) {
        let mine = signatures.filter { $0.name == key.name && $0.keyID == key.keyID }
        guard let sig = mine.first else {
            throw TrailError(.unknownKey, "note has no signature by \(key.name)+\(Hex.encode(key.keyIDBytes))")
        }
        guard mine.count == 1 else { throw TrailError(.malformedNote, "note is signed more than once by \(key.name)") }
        guard let s = Signature64(sig.signature),
            Array(text.utf8).withUnsafeBytes({ Ed25519.verify(signature: s, message: $0, publicKey: key.publicKey) })
        else {
            throw TrailError(.badNoteSignature, "signature by \(key.name) does not verify")
        }
    }
}

/// A C2SP tlog-checkpoint: `origin`, tree `size` and `root`, with no extension lines. The log's
/// note key name is its origin.
public struct Checkpoint: Hashable, Sendable, CustomStringConvertible {
    public let origin: String
    public let size: UInt64
    public let root: Bytes32

    /// `origin` must be a valid note key name (non-empty; no space, `+` or control character).
    public init(origin: String, size: UInt64, root: Bytes32) throws(TrailError) {
        guard NoteVerifierKey.isValidName(origin) else {
            throw TrailError(.malformedCheckpoint, "origin \(String(reflecting: String(origin.prefix(80)))) is not a valid note key name")
        }
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// The note text: `origin\nsize\nbase64(root)\n`.
    public var body: String { "\(origin)\n\(size)\n\(Base64.encode(root.bytes))\n" }

    public var description: String { "\(origin) @ \(size): \(root.hex)" }

    /// The verifier key for this log's checkpoints signed by `key`.
    public func verifierKey(_ key: PublicKey) -> NoteVerifierKey {
        try! NoteVerifierKey(name: origin, publicKey: key)  // origin was validated by init
    }

    /// The signed note, signed by `signer` under the key name `origin`.
    public func signedNote(signer: SigningKey) -> String {
        body + "\n" + SignedNote.signatureLine(text: body, key: signer, verifier: verifierKey(signer.publicKey))
    }

    /// As `signedNote(signer:)`; `keyName` must equal `origin`.
    public func signedNote(signer: SigningKey, keyName: String) throws(TrailError) -> String {
        guard keyName == origin else {
            throw TrailError(.originMismatch, "key name \(keyName) differs from checkpoint origin \(origin)")
        }
        return signedNote(signer: signer)
    }

    /// Parses a note text strictly: exactly three lines, a canonical decimal size and a base64 root
    /// of 32 bytes.
    public static func parse(body: String) throws(TrailError) -> Checkpoint {
        guard body.hasSuffix("\n") else { throw TrailError(.malformedCheckpoint, "checkpoint text does not end with a newline") }
        let lines = Array(body.utf8).dropLast().split(separator: 0x0a, omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 3 else { throw TrailError(.malformedCheckpoint, "checkpoint has \(lines.count) lines, expected 3") }
        guard lines.count == 3 else { throw TrailError(.malformedCheckpoint, "checkpoint extension lines are not accepted") }
        let origin = lines[0]
        guard !origin.isEmpty else { throw TrailError(.malformedCheckpoint, "checkpoint origin is empty") }
        let size = try parseDecimal(lines[1], code: .invalidTreeSize, what: "tree size")
        guard let raw = Base64.decode(lines[2]), let root = Bytes32(raw) else {
            throw TrailError(.invalidHash, "checkpoint root hash is not base64 of 32 bytes")
        }
        return try Checkpoint(origin: origin, size: size, root: root)
    }

    /// Parses `note`, verifies its signature by `verifierKey`, then its body; the origin must be
    /// the key's name.
    public static func open(note: [UInt8], verifierKey: NoteVerifierKey) throws(TrailError) -> Checkpoint {
        let parsed = try SignedNote.parse(note)
        try parsed.verify(verifierKey)
        let checkpoint = try parse(body: parsed.text)
        guard checkpoint.origin == verifierKey.name else {
            throw TrailError(.originMismatch, "checkpoint origin \(checkpoint.origin) differs from key name \(verifierKey.name)")
        }
        return checkpoint
    }

    public static func open(note: String, verifierKey: NoteVerifierKey) throws(TrailError) -> Checkpoint {
        try open(note: Array(note.utf8), verifierKey: verifierKey)
    }

    public static func open(note: String, verifierKey: String) throws(TrailError) -> Checkpoint {
        try open(note: Array(note.utf8), verifierKey: NoteVerifierKey(verifierKey))
    }

    /// ASCII decimal with no leading zeros (except `0` itself) that fits in 64 bits.
    static func parseDecimal(_ text: String, code: TrailError.Code, what: String) throws(TrailError) -> UInt64 {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw TrailError(code, "\(what) is not a decimal number")
        }
        guard digits.count == 1 || digits[0] != UInt8(ascii: "0") else { throw TrailError(code, "\(what) has a leading zero") }
        var v: UInt64 = 0
        for d in digits {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d - UInt8(ascii: "0")))
            guard !o1 && !o2 else { throw TrailError(code, "\(what) does not fit in 64 bits") }
            v = a
        }
        return v
    }
}
