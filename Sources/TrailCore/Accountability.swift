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
    /// More than `max_per_minute` actions in the minute ending at this one (signer's clock).
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

    public static let named: [(String, TrustFlags)] = [
        ("retried", .retried), ("hedged", .hedged), ("incomplete", .incomplete), ("high_latency", .highLatency),
        ("error", .error), ("human_review", .humanReview), ("a2a_delegated", .a2aDelegated), ("speed_anomaly", .speedAnomaly),
    ]

    public init?(exactly raw: UInt16) {
        guard raw & ~0x00ff == 0 else { return nil }
        self.init(rawValue: raw)
    }

    public var names: [String] { Self.named.filter { contains($0.1) }.map(\.0) }
}

/// The thresholds of the trust-flag rules.
public struct TrustRules: Sendable, Hashable {
    /// `retried` / `hedged`: the same input hash again within this many ms (signer's clock).
    public var retryWindowMs: UInt64 = 10 * 60 * 1000
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
    /// actions with timestamps in the minute ending at this one, this one included.
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
