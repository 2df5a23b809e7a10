/// An error with a stable numeric code that appears on the wire and in protocol/SPEC.md.
///
/// Equality compares the code only, so tests assert on the rejection, not on its wording.
public struct TrailError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Stable codes. Entry codes (1-21) are listed in protocol/SPEC.md section 1.6, Merkle log and
    /// checkpoint codes (30-49) in the checkpoints section, bundle codes (50-69) in section 4, segment codes (90-99) in section 5, protocol codes (100-) in section 2.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }

        public static let truncated = Code(rawValue: 1)
        public static let trailingBytes = Code(rawValue: 2)
        public static let unsupportedVersion = Code(rawValue: 3)
        public static let unknownKind = Code(rawValue: 4)
        public static let entryTooLarge = Code(rawValue: 5)
        public static let lengthExceedsLimit = Code(rawValue: 6)
        public static let invalidUTF8 = Code(rawValue: 7)
        public static let badSignatureLength = Code(rawValue: 8)
        public static let invalidEnum = Code(rawValue: 9)
        public static let reservedBitsSet = Code(rawValue: 10)
        public static let emptyField = Code(rawValue: 11)
        public static let invalidPrev = Code(rawValue: 12)
        public static let invalidValue = Code(rawValue: 13)
        public static let badSignature = Code(rawValue: 20)
        public static let badProofOfPossession = Code(rawValue: 21)

        // Merkle proofs, checkpoints, signed notes and tlog-proof texts (30-49).
        public static let indexOutOfRange = Code(rawValue: 30)
        public static let invalidTreeRange = Code(rawValue: 31)
        public static let wrongProofLength = Code(rawValue: 32)
        public static let rootMismatch = Code(rawValue: 33)
        public static let malformedNote = Code(rawValue: 34)
        public static let malformedCheckpoint = Code(rawValue: 35)
        public static let invalidTreeSize = Code(rawValue: 36)
        public static let invalidHash = Code(rawValue: 37)
        public static let invalidVerifierKey = Code(rawValue: 38)
        public static let originMismatch = Code(rawValue: 39)
        public static let unknownKey = Code(rawValue: 40)
        public static let badNoteSignature = Code(rawValue: 41)
        public static let malformedTlogProof = Code(rawValue: 42)

        // Proof bundles (SPEC section 4).
        public static let malformedBundle = Code(rawValue: 50)
        public static let malformedStatement = Code(rawValue: 51)
        public static let logKeyMismatch = Code(rawValue: 52)
        public static let statementMismatch = Code(rawValue: 53)
        public static let wrongSigner = Code(rawValue: 54)
        public static let missingEntry = Code(rawValue: 55)
        public static let entriesOutOfOrder = Code(rawValue: 56)
        public static let duplicateEntry = Code(rawValue: 57)
        public static let brokenLink = Code(rawValue: 58)
        public static let chainTruncated = Code(rawValue: 59)
        public static let headMismatch = Code(rawValue: 60)

        // Accountability rules: an entry refused with status `rejected` (SPEC 2.1).
        public static let alreadyRegistered = Code(rawValue: 70)
        public static let notOwner = Code(rawValue: 71)
        public static let agentNotRegistered = Code(rawValue: 72)
        public static let stalePolicyVersion = Code(rawValue: 73)

        // Disclosure documents (SPEC section 1.11).
        public static let malformedDisclosure = Code(rawValue: 80)
        public static let disclosureMismatch = Code(rawValue: 81)
        public static let fieldNotInEntry = Code(rawValue: 82)
        public static let duplicateField = Code(rawValue: 83)

        // Sealed segments (SPEC section 5).
        public static let malformedSegment = Code(rawValue: 90)
        public static let segmentTruncated = Code(rawValue: 91)
        public static let notASegment = Code(rawValue: 92)
        public static let unsupportedSegmentVersion = Code(rawValue: 93)
        public static let segmentHeaderCorrupt = Code(rawValue: 94)
        public static let segmentFrameCorrupt = Code(rawValue: 95)
        public static let segmentCountMismatch = Code(rawValue: 96)
        public static let segmentLimitExceeded = Code(rawValue: 97)
        public static let segmentRootMismatch = Code(rawValue: 98)
        public static let unexpectedSegment = Code(rawValue: 99)

        // Frames and the TCP protocol (SPEC section 2).
        public static let frameTooLarge = Code(rawValue: 100)
        public static let unknownFrameType = Code(rawValue: 101)
        public static let malformedFrame = Code(rawValue: 102)
        public static let unsupportedProtocol = Code(rawValue: 103)
        public static let helloRequired = Code(rawValue: 104)
        public static let batchTooLarge = Code(rawValue: 105)
        public static let tooManyConnections = Code(rawValue: 106)
        public static let idleTimeout = Code(rawValue: 107)
        public static let shuttingDown = Code(rawValue: 108)
        public static let helloTimeout = Code(rawValue: 109)
        public static let frameTimeout = Code(rawValue: 110)

        // Local failures (files, storage, arguments): never on the wire.
        public static let io = Code(rawValue: 200)
        public static let storage = Code(rawValue: 201)
        public static let invalidArgument = Code(rawValue: 202)
        public static let invalidKeyFile = Code(rawValue: 203)
        public static let invalidJSON = Code(rawValue: 204)
        public static let connection = Code(rawValue: 205)
        public static let notFound = Code(rawValue: 206)

        static let names: [UInt16: String] = [
            1: "truncated", 2: "trailing_bytes", 3: "unsupported_version", 4: "unknown_kind",
            5: "entry_too_large", 6: "length_exceeds_limit", 7: "invalid_utf8", 8: "bad_signature_length",
            9: "invalid_enum", 10: "reserved_bits_set", 11: "empty_field", 12: "invalid_prev",
            13: "invalid_value", 20: "bad_signature", 21: "bad_proof_of_possession",
            30: "index_out_of_range", 31: "invalid_tree_range", 32: "wrong_proof_length", 33: "root_mismatch",
            34: "malformed_note", 35: "malformed_checkpoint", 36: "invalid_tree_size", 37: "invalid_hash",
            38: "invalid_verifier_key", 39: "origin_mismatch", 40: "unknown_key", 41: "bad_note_signature",
            42: "malformed_tlog_proof",
            50: "malformed_bundle", 51: "malformed_statement", 52: "log_key_mismatch", 53: "statement_mismatch",
            54: "wrong_signer", 55: "missing_entry", 56: "entries_out_of_order", 57: "duplicate_entry",
            58: "broken_link", 59: "chain_truncated", 60: "head_mismatch",
            70: "already_registered", 71: "not_owner", 72: "agent_not_registered", 73: "stale_policy_version",
            80: "malformed_disclosure", 81: "disclosure_mismatch", 82: "field_not_in_entry", 83: "duplicate_field",
            90: "malformed_segment", 91: "segment_truncated", 92: "not_a_segment", 93: "unsupported_segment_version",
            94: "segment_header_corrupt", 95: "segment_frame_corrupt", 96: "segment_count_mismatch",
            97: "segment_limit_exceeded", 98: "segment_root_mismatch", 99: "unexpected_segment",
            100: "frame_too_large", 101: "unknown_frame_type", 102: "malformed_frame",
            103: "unsupported_protocol", 104: "hello_required", 105: "batch_too_large",
            106: "too_many_connections", 107: "idle_timeout", 108: "shutting_down",
            109: "hello_timeout", 110: "frame_timeout",
            200: "io", 201: "storage", 202: "invalid_argument", 203: "invalid_key_file",
            204: "invalid_json", 205: "connection", 206: "not_found",
        ]

        /// The snake_case name used in the spec, JSON output and the reference codec.
        public var name: String { Self.names[rawValue] ?? "code_\(rawValue)" }
        public var description: String { name }
    }

    public let code: Code
    public let reason: String
    public let file: String
    public let line: Int

    public init(_ code: Code, _ reason: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.file = file
        self.line = line
    }

    public var description: String { "\(code.name) (\(code.rawValue)): \(reason)" }

    public static func == (lhs: TrailError, rhs: TrailError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
