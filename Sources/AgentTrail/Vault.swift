import Foundation

/// A local folder that keeps what an agent committed to, so that it can disclose it later
/// (protocol/SPEC.md section 1.11): the contents behind its content hashes, the salts and values
/// behind its commitments, and its entries.
///
/// ```
/// DIR/objects/<SHA-256 hex>                raw content, named by its hash
/// DIR/commitments/<commitment hex>.json    {"field": name, "salt": hex, "value": base64}
/// DIR/requests/<SHA-256(request id) hex>   the commitment hex used for that request id
/// DIR/entries/<entry hash hex>             encoded entries
/// ```
///
/// Salts are secrets until disclosed and contents are private, so folders are created with mode
/// 0700 and every file with mode 0600. Every file is written atomically (a temporary file, fsync,
/// rename, fsync of the folder), and a commitment is on disk before it is returned, so an entry
/// never carries a commitment its vault cannot open. Safe to share between processes.
public struct Vault: Sendable {
    public let directory: String

    /// Largest commitment file read back (a trace of up to `Disclosure.maxContentSize`, in base64).
    static let maxCommitmentFile = Disclosure.maxDocumentSize + 4096

    /// Opens the vault in `directory`, creating it and its folders (mode 0700) as needed.
    public init(directory: String) throws {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        try Self.makeDirectory(self.directory)
        for sub in ["objects", "commitments", "requests", "entries"] { try Self.makeDirectory(self.directory + "/" + sub) }
    }

    // MARK: Contents

    /// Keeps `bytes` and returns their SHA-256, the value of a `content_hash`, `input_hash` or
    /// `output_hash`.
    @discardableResult
    public func storeContent(_ bytes: [UInt8]) throws -> Bytes32 {
        let hash = SHA256.hash(bytes)
        let path = objectPath(hash)
        if !FileManager.default.fileExists(atPath: path) { try Files.writeAtomically(path, bytes, mode: 0o600) }
        return hash
    }

    /// The content whose SHA-256 is `hash`, or nil if the vault does not hold it (or holds
    /// something else under that name).
    public func content(_ hash: Bytes32) throws -> [UInt8]? {
        try content(hash, max: Int.max)
    }

    func content(_ hash: Bytes32, max: Int) throws -> [UInt8]? {
        guard let bytes = try Files.read(objectPath(hash), max: max), SHA256.hash(bytes) == hash else { return nil }
        return bytes
    }

    // MARK: Commitments

    /// Commits to `value` with a fresh random salt, keeps the salt and value, and returns the
    /// commitment. `field` must be a commitment field (`request_commitment`, `trace_commitment`).
    public func commit(_ value: [UInt8], field: Disclosure.Field) throws -> Bytes32 {
        let c = try make(value, field: field)
        return c.hash
    }

    /// The commitment to `requestID` for this vault: the one made the first time the id was used,
    /// or a new one (fresh salt) if it never was. Every action and the receipt of one run thus
    /// carry the same `request_commitment` and join on it.
    public func requestCommitment(_ requestID: String) throws -> Bytes32 {
        if let existing = try existingRequestCommitment(requestID) { return existing }
        let c = try make(Array(requestID.utf8), field: .requestCommitment)
        // Publish it under the request id; if another process won the race, use theirs.
        let index = requestPath(requestID)
        let tmp = try Files.writeTemporary(in: directory + "/requests", Array(c.hash.hex.utf8))
        let linked = link(tmp, index) == 0
        let linkErrno = errno
        unlink(tmp)
        if linked {
            try Files.syncDirectory(directory + "/requests")
            return c.hash
        }
        guard linkErrno == EEXIST else { throw TrailError(.io, "cannot write \(index): \(String(cString: strerror(linkErrno)))") }
        unlink(commitmentPath(c.hash))
        guard let theirs = try existingRequestCommitment(requestID) else {
            throw TrailError(.io, "\(index) exists but does not name a commitment this vault can open")
        }
        return theirs
    }

    /// The commitment this vault made for `requestID`, if it made one.
    public func existingRequestCommitment(_ requestID: String) throws -> Bytes32? {
        guard let text = try Files.read(requestPath(requestID), max: 64) else { return nil }
        guard let hash = Bytes32(hex: String(decoding: text, as: UTF8.self)),
            let (_, c) = try opening(hash), c.value == Array(requestID.utf8)
        else {
            throw TrailError(.io, "\(requestPath(requestID)) does not name a commitment to this request id")
        }
        return hash
    }

    /// The salt and value behind `commitment`, with the field they were made for, or nil if the
    /// vault has none (or what it has does not open the commitment).
    public func opening(_ commitment: Bytes32) throws -> (field: Disclosure.Field, commitment: Commitment)? {
        let path = commitmentPath(commitment)
        guard let bytes = try Files.read(path, max: Self.maxCommitmentFile) else { return nil }
        guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
            let name = o["field"] as? String, let field = Disclosure.Field(name: name), field.isCommitment,
            let saltText = o["salt"] as? String, let salt = Bytes32(hex: saltText),
            let valueText = o["value"] as? String, let value = Base64.decode(valueText)
        else { throw TrailError(.invalidJSON, "\(path) is not a commitment record") }
        let c = Commitment(salt: salt, value: value)
        return c.hash == commitment ? (field, c) : nil
    }

    private func make(_ value: [UInt8], field: Disclosure.Field) throws -> Commitment {
        guard field.isCommitment else { throw TrailError(.invalidArgument, "\(field) is a content hash, not a commitment") }
        guard value.count <= Disclosure.maxContentSize else {
            throw TrailError(.invalidArgument, "a committed value is at most \(Disclosure.maxContentSize) bytes, this one is \(value.count)")
        }
        let c = Commitment.make(value)
        let record = "{\"field\": \"\(field.name)\", \"salt\": \"\(c.salt.hex)\", \"value\": \"\(Base64.encode(value))\"}\n"
        try Files.writeAtomically(commitmentPath(c.hash), Array(record.utf8), mode: 0o600)
        return c
    }

    // MARK: Entries

    /// Keeps an entry (named by its hash) so that it can be disclosed later.
    public func storeEntry(_ entry: Entry) throws {
        let path = entryPath(entry.hash)
        if !FileManager.default.fileExists(atPath: path) { try Files.writeAtomically(path, entry.encoded, mode: 0o600) }
    }

    /// The entry with hash `hash`, decoded and verified, or nil if the vault does not hold it.
    public func entry(_ hash: Bytes32) throws -> Entry? {
        guard let bytes = try Files.read(entryPath(hash), max: EntryLimits.maxEntrySize) else { return nil }
        let entry = try EntryCodec.decodeVerified(bytes)
        guard entry.hash == hash else { throw TrailError(.io, "\(entryPath(hash)) holds another entry") }
        return entry
    }

    // MARK: Disclosure

    /// A disclosure document (SPEC 1.11) for the entry with hash `entryHash`, from what the vault
    /// holds.
    ///
    /// - Parameters:
    ///   - fields: the fields to open; each must exist in the entry (else `field_not_in_entry`) and
    ///     the vault must hold its content or opening (else `not_found`). `nil` opens every field
    ///     the vault can, and fails with `not_found` if that is none.
    ///   - proof: the entry's tlog-proof@v1 text, included as it is (it must parse).
    public func disclosure(entryHash: Bytes32, fields: [Disclosure.Field]? = nil, proof: String? = nil) throws -> [UInt8] {
        guard let entry = try entry(entryHash) else {
            throw TrailError(.notFound, "the vault has no entry \(entryHash.hex)")
        }
        let all = fields == nil
        var wanted: [Disclosure.Field] = []
        for f in fields ?? Disclosure.Field.allCases.filter({ $0.value(in: entry.body) != nil }) where !wanted.contains(f) {
            wanted.append(f)
        }
        var items: [Disclosure.Item] = []
        var total = 0
        for field in wanted {
            guard let value = field.value(in: entry.body) else {
                throw TrailError(.fieldNotInEntry, "this \(entry.kind.name) entry has no \(field)")
            }
            let opening: Disclosure.Opening?
            if field.isCommitment {
                opening = try self.opening(value).map { .commitment(salt: $0.commitment.salt, value: $0.commitment.value) }
            } else {
                opening = try content(value, max: Disclosure.maxContentSize).map { .content($0) }
            }
            guard let opening else {
                if all { continue }
                throw TrailError(.notFound, "the vault cannot open \(field) \(value.hex)")
            }
            switch opening {
            case .content(let b), .commitment(_, let b): total += b.count
            }
            items.append(Disclosure.Item(field: field, opening: opening))
        }
        if all && items.isEmpty {
            throw TrailError(.notFound, "the vault holds no content or commitment of entry \(entryHash.hex)")
        }
        guard total <= Disclosure.maxContentSize else {
            throw TrailError(.invalidArgument, "the disclosed contents total \(total) bytes, limit \(Disclosure.maxContentSize)")
        }
        if let proof { _ = try TlogProof.parse(proof) }
        return Disclosure(entry: entry, items: items, proof: proof).encode()
    }

    // MARK: Files

    func objectPath(_ hash: Bytes32) -> String { "\(directory)/objects/\(hash.hex)" }
    func commitmentPath(_ hash: Bytes32) -> String { "\(directory)/commitments/\(hash.hex).json" }
    func requestPath(_ id: String) -> String { "\(directory)/requests/\(SHA256.hash(Array(id.utf8)).hex)" }
    func entryPath(_ hash: Bytes32) -> String { "\(directory)/entries/\(hash.hex)" }

    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o700) == 0 || errno == EEXIST {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw TrailError(.io, "\(path) exists and is not a folder")
            }
            return
        }
        throw TrailError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
    }

}
