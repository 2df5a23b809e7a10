/// The policy rules an action can break (SPEC 2.1, status `noted`). Declared, not enforced:
/// a breaking action is stored and acknowledged with the rules it broke.
public struct PolicyViolations: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `allow_actions` is not empty and does not list the action type.
    public static let actionNotAllowed = PolicyViolations(rawValue: 1 << 0)
    /// `deny_actions` lists the action type.
    public static let actionDenied = PolicyViolations(rawValue: 1 << 1)
    /// `allow_targets` is not empty and no pattern matches the target.
    public static let targetNotAllowed = PolicyViolations(rawValue: 1 << 2)
    /// More than `max_per_minute` actions in the minute ending at this one (the signer's clock:
    /// the running maximum of its timestamps, which it cannot turn back).
    public static let rateExceeded = PolicyViolations(rawValue: 1 << 3)

    public static let named: [(String, PolicyViolations)] = [
        ("action_not_allowed", .actionNotAllowed), ("action_denied", .actionDenied),
        ("target_not_allowed", .targetNotAllowed), ("rate_exceeded", .rateExceeded),
    ]

    /// Only defined bits.
    public init?(exactly raw: UInt8) {
        guard raw & ~0x0f == 0 else { return nil }
        self.init(rawValue: raw)
    }

    public var names: [String] { Self.named.filter { contains($0.1) }.map(\.0) }
}

/// Trust flags computed when an entry is accepted (README, "Trust flags").
public struct TrustFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let retried = TrustFlags(rawValue: 1 << 0)
    public static let hedged = TrustFlags(rawValue: 1 << 1)
    public static let incomplete = TrustFlags(rawValue: 1 << 2)
    public static let highLatency = TrustFlags(rawValue: 1 << 3)
    public static let error = TrustFlags(rawValue: 1 << 4)
    public static let humanReview = TrustFlags(rawValue: 1 << 5)
    public static let a2aDelegated = TrustFlags(rawValue: 1 << 6)
    public static let speedAnomaly = TrustFlags(rawValue: 1 << 7)
    /// The entry's timestamp is more than `TrustRules.clockToleranceMs` below the signer's clock
    /// (the highest timestamp among its earlier entries): its clock went backwards.
    public static let clockRegressed = TrustFlags(rawValue: 1 << 8)
    /// The entry's timestamp is more than `TrustRules.maxSkewMs` away from the collector's time of
    /// the group commit that stored it.
    public static let clockSkew = TrustFlags(rawValue: 1 << 9)

    public static let named: [(String, TrustFlags)] = [
        ("retried", .retried), ("hedged", .hedged), ("incomplete", .incomplete), ("high_latency", .highLatency),
        ("error", .error), ("human_review", .humanReview), ("a2a_delegated", .a2aDelegated), ("speed_anomaly", .speedAnomaly),
        ("clock_regressed", .clockRegressed), ("clock_skew", .clockSkew),
    ]

    public init?(exactly raw: UInt16) {
        guard raw & ~0x03ff == 0 else { return nil }
        self.init(rawValue: raw)
    }

    public var names: [String] { Self.named.filter { contains($0.1) }.map(\.0) }
}

/// The thresholds of the trust-flag rules.
public struct TrustRules: Sendable, Hashable {
    /// `retried` / `hedged`: the same input hash again within this many ms (signer's clock).
    public var retryWindowMs: UInt64 = 10 * 60 * 1000
    /// The rate and retry rules look at most this many of the signer's most recent actions.
    public var recentActions: Int = 1024
    /// `clock_regressed`: a timestamp this far below the signer's clock.
    public var clockToleranceMs: UInt64 = 1000
    /// `clock_skew`: a timestamp this far from the collector's time.
    public var maxSkewMs: UInt64 = 5 * 60 * 1000
    /// `high_latency`: latency above this many ms.
    public var highLatencyMs: UInt32 = 30_000
    /// `speed_anomaly`: latency below `speedFraction` of the model's mean latency, once the
    /// collector has seen `speedMinSamples` latencies for that model.
    public var speedMinSamples: UInt64 = 20
    public var speedFraction: Double = 0.1

    public init() {}
}

extension PolicyBody {
    /// The rules `action` breaks under this policy. `actionsInLastMinute` counts the signer's
    /// actions in the minute of its clock ending at this one, this one included.
    public func violations(by action: ActionBody, actionsInLastMinute: Int) -> PolicyViolations {
        var v: PolicyViolations = []
        if !allowActions.isEmpty && !allowActions.contains(action.actionType) { v.insert(.actionNotAllowed) }
        if denyActions.contains(action.actionType) { v.insert(.actionDenied) }
        if !allowTargets.isEmpty && !allowTargets.contains(where: { Glob.matches($0, action.target) }) { v.insert(.targetNotAllowed) }
        if maxPerMinute > 0 && actionsInLastMinute > Int(maxPerMinute) { v.insert(.rateExceeded) }
        return v
    }
}

/// Target patterns: `*` matches any run of characters (possibly empty); everything else
/// matches itself, byte for byte.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi
                mark = ti
                pi += 1
            } else if pi < p.count && p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}

/// What the collector knows about a key as an agent: its owner (from the owner's registration)
/// and its active policy.
public struct AgentRecord: Sendable, Hashable {
    public var owner: PublicKey
    public var registration: UInt64
    /// Log index and version of the active policy, if any.
    public var policy: UInt64?
    public var policyVersion: UInt32

    public init(owner: PublicKey, registration: UInt64, policy: UInt64? = nil, policyVersion: UInt32 = 0) {
        self.owner = owner
        self.registration = registration
        self.policy = policy
        self.policyVersion = policyVersion
    }
}

/// Latency statistics of one model id across the log, for the speed-anomaly flag.
public struct ModelStats: Sendable, Hashable {
    public var count: UInt64 = 0
    public var meanLatencyMs: Double = 0
    public init(count: UInt64 = 0, meanLatencyMs: Double = 0) {
        self.count = count
        self.meanLatencyMs = meanLatencyMs
    }

    public mutating func add(_ latencyMs: UInt32) {
        count += 1
        meanLatencyMs += (Double(latencyMs) - meanLatencyMs) / Double(count)
    }
}

/// A signer's counters: violations by rule, flags by flag, reports about it by category.
public enum CounterKind: UInt8, Sendable {
    case violation = 1, flag = 2, reportCategory = 3
}

/// The accountability indexes one group commit writes, next to its entries.
public struct AccountDelta: Sendable {
    /// New values of agent records (absolute).
    public var agents: [PublicKey: AgentRecord] = [:]
    public var policies: [(agent: PublicKey, index: UInt64, version: UInt32)] = []
    public var notes: [(signer: PublicKey, index: UInt64, violations: PolicyViolations, flags: TrustFlags)] = []
    /// Increments, keyed by signer and counter.
    public var counters: [CounterID: UInt64] = [:]
    public var reports: [(subject: PublicKey, index: UInt64, reporter: PublicKey, category: ReportCategory, fromMs: UInt64, toMs: UInt64)] = []
    public var runs: [(commitment: Bytes32, index: UInt64)] = []
    /// New values of model statistics (absolute).
    public var models: [String: ModelStats] = [:]

    public init() {}

    public struct CounterID: Hashable, Sendable {
        public let signer: PublicKey
        public let kind: CounterKind
        public let id: UInt8
        public init(_ signer: PublicKey, _ kind: CounterKind, _ id: UInt8) {
            self.signer = signer
            self.kind = kind
            self.id = id
        }
    }

    public mutating func count(_ signer: PublicKey, _ kind: CounterKind, _ id: UInt8) {
        counters[CounterID(signer, kind, id), default: 0] += 1
    }
}
