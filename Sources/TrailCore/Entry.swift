/// The kind of an entry; kinds differ only in their body (protocol/SPEC.md section 1.4).
public enum EntryKind: UInt8, Sendable, CaseIterable, Codable {
    case action = 1
    case receipt = 2
    case registration = 3
    case policy = 4
    case report = 5

    public var name: String {
        switch self {
        case .action: "action"
        case .receipt: "receipt"
        case .registration: "registration"
        case .policy: "policy"
        case .report: "report"
        }
    }

    public init?(name: String) {
        guard let k = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}

/// Client-set flags of an action (bit positions are part of the format).
public struct ActionFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let humanReview = ActionFlags(rawValue: 1 << 0)
    public static let a2aDelegated = ActionFlags(rawValue: 1 << 1)
    public static let error = ActionFlags(rawValue: 1 << 2)
    public static let incomplete = ActionFlags(rawValue: 1 << 3)

    public static let all: ActionFlags = [.humanReview, .a2aDelegated, .error, .incomplete]
    public static let named: [(String, ActionFlags)] = [
        ("human_review", .humanReview), ("a2a_delegated", .a2aDelegated), ("error", .error),
        ("incomplete", .incomplete),
    ]

    public var names: [String] { Self.named.filter { contains($0.1) }.map(\.0) }
}

/// Something an agent did. Carries hashes of content, never the content.
public struct ActionBody: Sendable, Hashable {
    public var actionType: String
    public var target: String
    public var contentHash: Bytes32
    public var inputHash: Bytes32?
    public var outputHash: Bytes32?
    public var modelID: String?
    public var latencyMs: UInt32?
    public var tools: [String]?
    public var dataClass: String?
    public var requestCommitment: Bytes32?
    public var flags: ActionFlags

    public init(
        actionType: String, target: String, contentHash: Bytes32, inputHash: Bytes32? = nil,
        outputHash: Bytes32? = nil, modelID: String? = nil, latencyMs: UInt32? = nil, tools: [String]? = nil,
        dataClass: String? = nil, requestCommitment: Bytes32? = nil, flags: ActionFlags = []
    ) {
        self.actionType = actionType
        self.target = target
        self.contentHash = contentHash
        self.inputHash = inputHash
        self.outputHash = outputHash
        self.modelID = modelID
        self.latencyMs = latencyMs
        self.tools = tools
        self.dataClass = dataClass
        self.requestCommitment = requestCommitment
        self.flags = flags
    }
}

public enum RunOutcome: UInt8, Sendable, CaseIterable {
    case ok = 0, error = 1, denied = 2, checkpoint = 3
    public static let names = ["ok", "error", "denied", "checkpoint"]
    public var name: String { Self.names[Int(rawValue)] }
}

public enum StageStatus: UInt8, Sendable, CaseIterable {
    case ok = 0, error = 1, skipped = 2
    public static let names = ["ok", "error", "skipped"]
    public var name: String { Self.names[Int(rawValue)] }
}

public struct Stage: Sendable, Hashable {
    public var label: String
    public var durationMs: UInt32
    public var status: StageStatus
    public init(label: String, durationMs: UInt32, status: StageStatus) {
        self.label = label
        self.durationMs = durationMs
        self.status = status
    }
}

/// One agent run: its stages, outcome and a salted commitment to the detailed trace.
public struct ReceiptBody: Sendable, Hashable {
    public var requestCommitment: Bytes32
    public var outcome: RunOutcome
    public var startedMs: UInt64
    public var totalMs: UInt32
    public var traceCommitment: Bytes32
    public var stages: [Stage]
    public init(
        requestCommitment: Bytes32, outcome: RunOutcome, startedMs: UInt64, totalMs: UInt32,
        traceCommitment: Bytes32, stages: [Stage]
    ) {
        self.requestCommitment = requestCommitment
        self.outcome = outcome
        self.startedMs = startedMs
        self.totalMs = totalMs
        self.traceCommitment = traceCommitment
        self.stages = stages
    }
}

/// An owner vouches for an agent key; the agent proves possession by signing.
public struct RegistrationBody: Sendable, Hashable {
    public var agent: PublicKey
    public var label: String
    public var evidenceHash: Bytes32?
    public var agentSignature: Signature64
    public init(agent: PublicKey, label: String, evidenceHash: Bytes32?, agentSignature: Signature64) {
        self.agent = agent
        self.label = label
        self.evidenceHash = evidenceHash
        self.agentSignature = agentSignature
    }

    /// The domain-separated message an agent signs to prove possession of its key.
    public static func possessionMessage(owner: PublicKey, agent: PublicKey) -> [UInt8] {
        Array("AgentTrail/registration/v1".utf8) + [0] + owner.bytes + agent.bytes
    }
}

/// A versioned, machine-checkable policy an owner declares for an agent.
public struct PolicyBody: Sendable, Hashable {
    public var agent: PublicKey
    public var version: UInt32
    public var documentHash: Bytes32
    public var allowActions: [String]
    public var denyActions: [String]
    public var allowTargets: [String]
    public var maxPerMinute: UInt32
    public init(
        agent: PublicKey, version: UInt32, documentHash: Bytes32, allowActions: [String], denyActions: [String],
        allowTargets: [String], maxPerMinute: UInt32
    ) {
        self.agent = agent
        self.version = version
        self.documentHash = documentHash
        self.allowActions = allowActions
        self.denyActions = denyActions
        self.allowTargets = allowTargets
        self.maxPerMinute = maxPerMinute
    }
}

public enum ReportCategory: UInt8, Sendable, CaseIterable {
    case unloggedAction = 0, policyViolation = 1, harmfulOutput = 2, misrepresentation = 3, other = 4
    public static let names = ["unlogged_action", "policy_violation", "harmful_output", "misrepresentation", "other"]
    public var name: String { Self.names[Int(rawValue)] }
}

public enum Severity: UInt8, Sendable, CaseIterable {
    case low = 0, medium = 1, high = 2, critical = 3
    public static let names = ["low", "medium", "high", "critical"]
    public var name: String { Self.names[Int(rawValue)] }
}

/// What an observer saw an agent (the subject) do.
public struct ReportBody: Sendable, Hashable {
    public var subject: PublicKey
    public var category: ReportCategory
    public var severity: Severity
    public var observedFromMs: UInt64
    public var observedToMs: UInt64
    public var refEntry: Bytes32?
    public var evidenceHash: Bytes32
    public var description: String
    public init(
        subject: PublicKey, category: ReportCategory, severity: Severity, observedFromMs: UInt64,
        observedToMs: UInt64, refEntry: Bytes32?, evidenceHash: Bytes32, description: String
    ) {
        self.subject = subject
        self.category = category
        self.severity = severity
        self.observedFromMs = observedFromMs
        self.observedToMs = observedToMs
        self.refEntry = refEntry
        self.evidenceHash = evidenceHash
        self.description = description
    }
}

public enum EntryBody: Sendable, Hashable {
    case action(ActionBody)
    case receipt(ReceiptBody)
    case registration(RegistrationBody)
    case policy(PolicyBody)
    case report(ReportBody)

    public var kind: EntryKind {
        switch self {
        case .action: .action
        case .receipt: .receipt
        case .registration: .registration
        case .policy: .policy
        case .report: .report
        }
    }
}

/// The fields of an entry before it is signed.
public struct UnsignedEntry: Sendable, Hashable {
    public var signer: PublicKey
    public var seq: UInt64
    public var timestampMs: UInt64
    public var prev: Bytes32
    public var body: EntryBody

    public init(signer: PublicKey, seq: UInt64, timestampMs: UInt64, prev: Bytes32, body: EntryBody) {
        self.signer = signer
        self.seq = seq
        self.timestampMs = timestampMs
        self.prev = prev
        self.body = body
    }
}

/// A signed entry together with its exact encoding. Decoding keeps the received bytes; the
/// signature and the hash are always computed over those bytes, never over a re-encoding.
public struct Entry: Sendable, Hashable {
    public static let version: UInt8 = 1

    public let signer: PublicKey
    public let seq: UInt64
    public let timestampMs: UInt64
    public let prev: Bytes32
    public let body: EntryBody
    public let signature: Signature64
    /// The exact encoded bytes.
    public let encoded: [UInt8]

    init(
        signer: PublicKey, seq: UInt64, timestampMs: UInt64, prev: Bytes32, body: EntryBody,
        signature: Signature64, encoded: [UInt8]
    ) {
        self.signer = signer
        self.seq = seq
        self.timestampMs = timestampMs
        self.prev = prev
        self.body = body
        self.signature = signature
        self.encoded = encoded
    }

    public var kind: EntryKind { body.kind }

    public var unsigned: UnsignedEntry {
        UnsignedEntry(signer: signer, seq: seq, timestampMs: timestampMs, prev: prev, body: body)
    }

    /// RFC 9162 leaf hash of the encoding: the entry's identity, chain link and Merkle leaf.
    public var hash: Bytes32 { SHA256.leafHash(encoded) }

    /// Number of leading bytes covered by the signature (everything before `sig_len`).
    public var signedCount: Int { encoded.count - 66 }
}
