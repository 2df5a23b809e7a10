/// A disclosure document (protocol/SPEC.md section 1.11): one signed entry, the contents behind some
/// of its hashes and the openings of some of its commitments, and optionally the entry's inclusion
/// proof, so that a third party can check what an agent committed to without trusting the agent.
///
/// ```json
/// {"version": 1, "entry": "<base64>", "entry_hash": "<hex>",
///  "disclosed": [{"field": "content_hash", "content": "<base64>"},
///                {"field": "request_commitment", "salt": "<hex32>", "value": "<base64>"}],
///  "proof": "<tlog-proof@v1 text, optional>"}
/// ```
public struct Disclosure: Hashable, Sendable {
    /// A field of an entry body that a disclosure can open.
    public enum Field: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
        case contentHash = "content_hash"
        case inputHash = "input_hash"
        case outputHash = "output_hash"
        case requestCommitment = "request_commitment"
        case traceCommitment = "trace_commitment"

        /// The snake_case name used in documents and on the command line.
        public var name: String { rawValue }
        public var description: String { rawValue }

        public init?(name: String) { self.init(rawValue: name) }

        /// Salted commitments (opened by salt and value) rather than plain SHA-256 content hashes.
        public var isCommitment: Bool { self == .requestCommitment || self == .traceCommitment }

        /// The field's 32 bytes in `body`, or nil if that body has no such field (another kind, or
        /// an optional field that is absent).
        public func value(in body: EntryBody) -> Bytes32? {
            switch (self, body) {
            case (.contentHash, .action(let a)): a.contentHash
            case (.inputHash, .action(let a)): a.inputHash
            case (.outputHash, .action(let a)): a.outputHash
            case (.requestCommitment, .action(let a)): a.requestCommitment
            case (.requestCommitment, .receipt(let r)): r.requestCommitment
            case (.traceCommitment, .receipt(let r)): r.traceCommitment
            default: nil
            }
        }
    }

    /// What is revealed for one field.
    public enum Opening: Hashable, Sendable {
        /// The content whose SHA-256 is the field (content, input and output hashes).
        case content([UInt8])
        /// The salt and value of a commitment (request and trace commitments).
        case commitment(salt: Bytes32, value: [UInt8])

        /// The 32 bytes this opening stands for.
        public var hash: Bytes32 {
            switch self {
            case .content(let bytes): SHA256.hash(bytes)
            case .commitment(let salt, let value): Commitment.hash(salt: salt, value: value)
            }
        }
    }

    /// One disclosed field.
    public struct Item: Hashable, Sendable {
        public let field: Field
        public let opening: Opening

        public init(field: Field, opening: Opening) {
            self.field = field
            self.opening = opening
        }
    }

    /// What a verified document showed.
    public struct Summary: Sendable {
        public let entry: Entry
        /// The fields whose contents or openings matched the entry, in document order.
        public let fields: [Field]
        public let proof: ProofStatus

        public var entryHash: Bytes32 { entry.hash }
        public var signer: PublicKey { entry.signer }
        public var kind: EntryKind { entry.kind }
    }

    /// What became of the document's inclusion proof.
    public enum ProofStatus: Hashable, Sendable {
        /// The document has no proof.
        case absent
        /// The document has a well-formed proof, but no log key was given to check it with.
        case unchecked
        /// The proof verified: the entry is leaf `index` of `checkpoint`, signed by the log key.
        case verified(index: UInt64, checkpoint: Checkpoint)
    }

    public static let version = 1
    /// Largest document accepted (64 MiB), checked before anything is parsed.
    public static let maxDocumentSize = 64 << 20
    /// Largest total of disclosed contents and values (48 MiB), checked before any is decoded.
    public static let maxContentSize = 48 << 20

    public let entry: Entry
    public let items: [Item]
    /// A C2SP tlog-proof@v1 text for the entry's hash.
    public let proof: String?

    public init(entry: Entry, items: [Item], proof: String? = nil) {
        self.entry = entry
        self.items = items
        self.proof = proof
    }

    // MARK: Encoding

    /// The JSON document, members in the order of the specification.
    public func encode() -> [UInt8] {
        var s = "{\n  \"version\": \(Self.version),\n"
        s += "  \"entry\": \"\(Base64.encode(entry.encoded))\",\n"
        s += "  \"entry_hash\": \"\(entry.hash.hex)\",\n"
        s += "  \"disclosed\": ["
        for (n, item) in items.enumerated() {
            s += n == 0 ? "\n    " : ",\n    "
            switch item.opening {
            case .content(let bytes):
                s += "{\"field\": \"\(item.field.name)\", \"content\": \"\(Base64.encode(bytes))\"}"
            case .commitment(let salt, let value):
                s += "{\"field\": \"\(item.field.name)\", \"salt\": \"\(salt.hex)\", \"value\": \"\(Base64.encode(value))\"}"
            }
        }
        s += items.isEmpty ? "]" : "\n  ]"
        if let proof { s += ",\n  \"proof\": \(Self.jsonString(proof))" }
        s += "\n}\n"
        return Array(s.utf8)
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += "\\u" + Hex.encode([0, UInt8(u.value)])
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    // MARK: Verification

    /// Checks a document strictly, in the order of SPEC section 1.11: its structure and encodings
    /// (`malformed_disclosure`), the entry's encoding and signature (codes 1-21), `entry_hash`
    /// (`disclosure_mismatch`), then each disclosed field in order (`duplicate_field`,
    /// `field_not_in_entry`, `disclosure_mismatch`), then the proof: verified when `logKey` is
    /// given (codes 30-42), otherwise only parsed and reported as unchecked.
    public static func verify(_ document: [UInt8], logKey: NoteVerifierKey?) throws(TrailError) -> Summary {
        let doc = try Parsed(document)

        let entry: Entry
        do { entry = try EntryCodec.decodeVerified(doc.entry) } catch { throw TrailError(error.code, "entry: \(error.reason)") }
        guard entry.hash == doc.entryHash else {
            throw TrailError(.disclosureMismatch, "entry_hash \(doc.entryHash.hex) is not the entry's hash \(entry.hash.hex)")
        }

        var seen: Set<Field> = []
        for item in doc.items {
            guard seen.insert(item.field).inserted else {
                throw TrailError(.duplicateField, "\(item.field) is disclosed more than once")
            }
            guard let expected = item.field.value(in: entry.body) else {
                throw TrailError(.fieldNotInEntry, "this \(entry.kind.name) entry has no \(item.field)")
            }
            guard item.opening.hash == expected else {
                let what = item.field.isCommitment ? "the salt and value do not open" : "the content's SHA-256 is not"
                throw TrailError(.disclosureMismatch, "\(item.field): \(what) \(expected.hex)")
            }
        }

        var status = ProofStatus.absent
        if let text = doc.proof {
            let proof = try TlogProof.parse(text)
            if let logKey {
                let checkpoint = try proof.verify(leafHash: entry.hash, verifierKey: logKey)
                status = .verified(index: proof.index, checkpoint: checkpoint)
            } else {
                status = .unchecked
            }
        }
        return Summary(entry: entry, fields: doc.items.map(\.field), proof: status)
    }

    /// The document's members, decoded but not yet checked against each other.
    struct Parsed {
        let entry: [UInt8]
        let entryHash: Bytes32
        let items: [Item]
        let proof: String?

        static let required: Set<String> = ["version", "entry", "entry_hash", "disclosed"]
        static let optional: Set<String> = ["proof"]

        init(_ document: [UInt8]) throws(TrailError) {
            func malformed(_ reason: String) -> TrailError { TrailError(.malformedDisclosure, reason) }
            guard document.count <= Disclosure.maxDocumentSize else {
                throw malformed("document is \(document.count) bytes, limit \(Disclosure.maxDocumentSize)")
            }
            let root: StrictJSON.Value
            do { root = try StrictJSON.parse(document, maxDepth: 4, maxValues: 64) } catch { throw malformed("not strict JSON: \(error.reason)") }
            guard case .object(let o) = root else { throw malformed("not a JSON object") }
            if let unknown = o.keys.filter({ !Self.required.contains($0) && !Self.optional.contains($0) }).sorted().first {
                throw malformed("unknown key \(String(reflecting: String(unknown.prefix(64))))")
            }
            if let missing = Self.required.subtracting(o.keys).sorted().first { throw malformed("missing key \"\(missing)\"") }

            guard o["version"] == .number("1") else { throw malformed("version must be the number 1") }

            guard case .string(let entryText) = o["entry"] else { throw malformed("entry must be a string") }
            let maxEntryText = (EntryLimits.maxEntrySize + 2) / 3 * 4
            guard entryText.utf8.count <= maxEntryText else {
                throw TrailError(.entryTooLarge, "entry is longer than \(EntryLimits.maxEntrySize) bytes")
            }
            guard let entry = Base64.decode(entryText) else { throw malformed("entry is not canonical base64") }

            guard case .string(let hashText) = o["entry_hash"], let entryHash = Self.hex32(hashText) else {
                throw malformed("entry_hash must be 64 lowercase hex digits")
            }

            guard case .array(let list) = o["disclosed"] else { throw malformed("disclosed must be an array") }
            var raw: [(field: Field, salt: Bytes32?, text: String)] = []
            for (n, v) in list.enumerated() {
                guard case .object(let m) = v else { throw malformed("disclosed[\(n)] is not an object") }
                guard case .string(let name) = m["field"] else { throw malformed("disclosed[\(n)].field must be a string") }
                guard let field = Field(name: name) else {
                    throw malformed("disclosed[\(n)].field \(String(reflecting: String(name.prefix(64)))) is not a disclosable field")
                }
                let keys: Set<String> = field.isCommitment ? ["field", "salt", "value"] : ["field", "content"]
                guard Set(m.keys) == keys else {
                    throw malformed("disclosed[\(n)] (\(field)) must have exactly the keys \(keys.sorted().joined(separator: ", "))")
                }
                if field.isCommitment {
                    guard case .string(let saltText) = m["salt"], let salt = Self.hex32(saltText) else {
                        throw malformed("disclosed[\(n)].salt must be 64 lowercase hex digits")
                    }
                    guard case .string(let value) = m["value"] else { throw malformed("disclosed[\(n)].value must be a string") }
                    raw.append((field, salt, value))
                } else {
                    guard case .string(let content) = m["content"] else { throw malformed("disclosed[\(n)].content must be a string") }
                    raw.append((field, nil, content))
                }
            }
            // Bound the decoded total before decoding anything.
            let total = raw.reduce(0) { $0 + $1.text.utf8.count / 4 * 3 }
            guard total <= Disclosure.maxContentSize else {
                throw malformed("disclosed contents total about \(total) bytes, limit \(Disclosure.maxContentSize)")
            }
            var items: [Item] = []
            for (n, r) in raw.enumerated() {
                guard let bytes = Base64.decode(r.text) else {
                    throw malformed("disclosed[\(n)].\(r.salt == nil ? "content" : "value") is not canonical base64")
                }
                items.append(Item(field: r.field, opening: r.salt.map { .commitment(salt: $0, value: bytes) } ?? .content(bytes)))
            }

            var proof: String?
            if let p = o["proof"] {
                guard case .string(let text) = p else { throw malformed("proof must be a string") }
                guard text.utf8.count <= TlogProof.maxSize else {
                    throw TrailError(.malformedTlogProof, "proof is \(text.utf8.count) bytes, limit \(TlogProof.maxSize)")
                }
                proof = text
            }
            self.entry = entry
            self.entryHash = entryHash
            self.items = items
            self.proof = proof
        }

        /// Exactly 64 lowercase hex digits (one spelling per value).
        static func hex32(_ text: String) -> Bytes32? {
            guard text.utf8.count == 64, let v = Bytes32(hex: text), v.hex == text else { return nil }
            return v
        }
    }
}
