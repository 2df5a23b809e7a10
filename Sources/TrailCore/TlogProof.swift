/// A C2SP `tlog-proof@v1` text: one entry's inclusion proof with the signed checkpoint it leads to.
///
/// ```
/// c2sp.org/tlog-proof@v1
/// extra <base64>            (optional)
/// index <decimal>
/// <base64 hash>             (zero or more, leaf's sibling first)
///
/// <checkpoint signed note, verbatim>
/// ```
public struct TlogProof: Hashable, Sendable {
    public static let header = "c2sp.org/tlog-proof@v1"
    /// Largest text accepted: a maximal note plus 64 proof hashes and some extra data.
    public static let maxSize = SignedNote.maxSize + 16384

    /// Opaque, unauthenticated application data; never empty when present.
    public let extra: [UInt8]?
    public let index: UInt64
    public let proof: [Bytes32]
    /// The checkpoint signed note, verbatim (it may carry witness cosignatures).
    public let checkpointNote: String

    public init(index: UInt64, proof: [Bytes32], checkpointNote: String, extra: [UInt8]? = nil) {
        self.index = index
        self.proof = proof
        self.checkpointNote = checkpointNote
        self.extra = extra?.isEmpty == true ? nil : extra
    }

    public var text: String {
        var s = Self.header + "\n"
        if let extra { s += "extra \(Base64.encode(extra))\n" }
        s += "index \(index)\n"
        for h in proof { s += Base64.encode(h.bytes) + "\n" }
        return s + "\n" + checkpointNote
    }

    /// Parses the text strictly. The checkpoint is not opened here; see `verify`.
    public static func parse(_ text: [UInt8]) throws(TrailError) -> TlogProof {
        guard text.count <= maxSize else { throw TrailError(.malformedTlogProof, "proof is \(text.count) bytes, limit \(maxSize)") }
        var pos = 0
        /// The next line without its newline, or nil at the end of the text.
        func line() throws(TrailError) -> [UInt8] {
            guard let nl = text[pos...].firstIndex(of: 0x0a) else {
                throw TrailError(.malformedTlogProof, "proof ends before its checkpoint")
            }
            defer { pos = nl + 1 }
            return Array(text[pos..<nl])
        }
        func prefixed(_ l: [UInt8], _ p: String) -> String? {
            let pb = Array(p.utf8)
            guard l.starts(with: pb) else { return nil }
            return String(decoding: l[pb.count...], as: UTF8.self)
        }

        guard try line() == Array(header.utf8) else {
            throw TrailError(.malformedTlogProof, "first line must be \(header)")
        }
        var l = try line()
        var extra: [UInt8]? = nil
        if let e = prefixed(l, "extra ") {
            guard let raw = Base64.decode(e), !raw.isEmpty else {
                throw TrailError(.malformedTlogProof, "extra data is not non-empty base64")
            }
            extra = raw
            l = try line()
        }
        guard let indexText = prefixed(l, "index ") else {
            throw TrailError(.malformedTlogProof, "expected an 'index <n>' line")
        }
        let index = try Checkpoint.parseDecimal(indexText, code: .malformedTlogProof, what: "index")
        var proof: [Bytes32] = []
        while true {
            let h = try line()
            if h.isEmpty { break }
            guard proof.count < 64 else { throw TrailError(.wrongProofLength, "inclusion proof has more than 64 hashes") }
            guard let raw = Base64.decode(String(decoding: h, as: UTF8.self)), let hash = Bytes32(raw) else {
                throw TrailError(.invalidHash, "inclusion proof line \(proof.count + 1) is not base64 of 32 bytes")
            }
            proof.append(hash)
        }
        guard pos < text.count else { throw TrailError(.malformedTlogProof, "proof has no checkpoint after its blank line") }
        guard let note = String(validating: text[pos...], as: UTF8.self) else {
            throw TrailError(.malformedNote, "checkpoint note is not valid UTF-8")
        }
        return TlogProof(index: index, proof: proof, checkpointNote: note, extra: extra)
    }

    public static func parse(_ text: String) throws(TrailError) -> TlogProof {
        try parse(Array(text.utf8))
    }

    /// Opens the checkpoint with `verifierKey` and checks that `leafHash` is leaf `index` of it.
    /// Returns the checkpoint.
    @discardableResult
    public func verify(leafHash: Bytes32, verifierKey: NoteVerifierKey) throws(TrailError) -> Checkpoint {
        let checkpoint = try Checkpoint.open(note: checkpointNote, verifierKey: verifierKey)
        try Merkle.verifyInclusion(index: index, size: checkpoint.size, leafHash: leafHash, proof: proof, root: checkpoint.root)
        return checkpoint
    }

    /// Parses and verifies a proof text in one step.
    public static func open(
        _ text: String, leafHash: Bytes32, verifierKey: String
    ) throws(TrailError) -> (proof: TlogProof, checkpoint: Checkpoint) {
        let key = try NoteVerifierKey(verifierKey)
        let proof = try parse(text)
        return (proof, try proof.verify(leafHash: leafHash, verifierKey: key))
    }
}
