import Testing
import TrailCore

/// The encoder refuses whatever the decoder would reject, so nothing is signed that cannot be read.
@Suite("Encoder rejections")
struct EncoderRejectionTests {
    /// A policy whose signed entry is exactly `total` bytes (allow_targets fill the space).
    static func policyOfSize(_ total: Int) -> PolicyBody {
        var remaining = total - EntryLimits.headerSize - EntryLimits.signatureTrailer - 75
        var targets: [String] = []
        while remaining > 258 {
            targets.append(String(repeating: "t", count: 256))
            remaining -= 258
        }
        precondition(remaining >= 3 && targets.count < 64)
        targets.append(String(repeating: "u", count: remaining - 2))
        return PolicyBody(
            agent: h("agent"), version: 1, documentHash: h("doc"), allowActions: [], denyActions: [], allowTargets: targets,
            maxPerMinute: 0)
    }

    let key = testKey("encoder")

    func unsigned(_ body: EntryBody, seq: UInt64 = 0, prev: Bytes32 = .zero) -> UnsignedEntry {
        UnsignedEntry(signer: key.publicKey, seq: seq, timestampMs: 1_763_900_000_000, prev: prev, body: body)
    }

    func action(_ change: (inout ActionBody) -> Void) -> EntryBody {
        var a = ActionBody(actionType: "tool.call", target: "t", contentHash: h("c"))
        change(&a)
        return .action(a)
    }

    func expectRefused(_ code: TrailError.Code, _ body: EntryBody, seq: UInt64 = 0, prev: Bytes32 = .zero, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        let u = unsigned(body, seq: seq, prev: prev)
        expectTrailError(code, comment, sourceLocation: sourceLocation) { _ = try EntryCodec.sign(u, with: key) }
        expectTrailError(code, comment, sourceLocation: sourceLocation) { _ = try EntryCodec.assemble(u, signature: .zero) }
    }

    @Test func overLimitStrings() {
        let s = { (n: Int) in String(repeating: "a", count: n) }
        expectRefused(.lengthExceedsLimit, action { $0.actionType = s(65) }, "action_type")
        expectRefused(.lengthExceedsLimit, action { $0.target = s(513) }, "target")
        expectRefused(.lengthExceedsLimit, action { $0.modelID = s(129) }, "model_id")
        expectRefused(.lengthExceedsLimit, action { $0.tools = Array(repeating: "t", count: 33) }, "tools")
        expectRefused(.lengthExceedsLimit, action { $0.tools = [s(65)] }, "tool name")
        expectRefused(.lengthExceedsLimit, action { $0.dataClass = s(33) }, "data_class")
        // The limit counts UTF-8 bytes, not characters: 22 three-byte characters are 66 bytes.
        expectRefused(.lengthExceedsLimit, action { $0.actionType = String(repeating: "東", count: 22) }, "action_type in bytes")
        let stage = Stage(label: "s", durationMs: 1, status: .ok)
        let receipt = { (stages: [Stage]) in
            EntryBody.receipt(ReceiptBody(requestCommitment: h("r"), outcome: .ok, startedMs: 1, totalMs: 1, traceCommitment: h("t"), stages: stages))
        }
        expectRefused(.lengthExceedsLimit, receipt(Array(repeating: stage, count: 65)), "stages")
        expectRefused(.lengthExceedsLimit, receipt([Stage(label: s(65), durationMs: 1, status: .ok)]), "stage label")
        expectRefused(
            .lengthExceedsLimit,
            .registration(RegistrationBody(agent: h("a"), label: s(129), evidenceHash: nil, agentSignature: .zero)), "label")
        let policy = { (allow: [String], deny: [String], targets: [String]) in
            EntryBody.policy(PolicyBody(agent: h("a"), version: 1, documentHash: h("d"), allowActions: allow, denyActions: deny, allowTargets: targets, maxPerMinute: 0))
        }
        expectRefused(.lengthExceedsLimit, policy(Array(repeating: "a", count: 65), [], []), "allow_actions")
        expectRefused(.lengthExceedsLimit, policy([], [s(65)], []), "deny action")
        expectRefused(.lengthExceedsLimit, policy([], [], [s(257)]), "allow target")
        expectRefused(
            .lengthExceedsLimit,
            .report(ReportBody(subject: h("s"), category: .other, severity: .low, observedFromMs: 1, observedToMs: 1, refEntry: nil, evidenceHash: h("e"), description: s(1025))),
            "description")
    }

    @Test func emptyFields() {
        expectRefused(.emptyField, action { $0.actionType = "" }, "action_type")
        expectRefused(.emptyField, action { $0.modelID = "" }, "model_id")
        expectRefused(.emptyField, action { $0.tools = [] }, "tools")
        expectRefused(.emptyField, action { $0.tools = ["a", ""] }, "tool name")
        expectRefused(.emptyField, action { $0.dataClass = "" }, "data_class")
        expectRefused(
            .emptyField,
            .receipt(ReceiptBody(requestCommitment: h("r"), outcome: .ok, startedMs: 1, totalMs: 1, traceCommitment: h("t"), stages: [Stage(label: "", durationMs: 1, status: .ok)])),
            "stage label")
        expectRefused(
            .emptyField,
            .policy(PolicyBody(agent: h("a"), version: 1, documentHash: h("d"), allowActions: [], denyActions: [], allowTargets: [""], maxPerMinute: 0)),
            "allow target")
    }

    @Test func invalidPrev() {
        expectRefused(.invalidPrev, simpleAction(), seq: 0, prev: h("p"), "seq 0 with a non-zero prev")
        expectRefused(.invalidPrev, simpleAction(), seq: 1, prev: .zero, "seq 1 with a zero prev")
        expectRefused(.invalidPrev, simpleAction(), seq: UInt64.max, prev: .zero, "seq max with a zero prev")
    }

    @Test func invalidValuesAndReservedBits() {
        expectRefused(
            .invalidValue,
            .policy(PolicyBody(agent: h("a"), version: 0, documentHash: h("d"), allowActions: [], denyActions: [], allowTargets: [], maxPerMinute: 0)),
            "policy version 0")
        expectRefused(
            .invalidValue,
            .report(ReportBody(subject: h("s"), category: .other, severity: .low, observedFromMs: 2, observedToMs: 1, refEntry: nil, evidenceHash: h("e"), description: "")),
            "observed_to before observed_from")
        for bit in 4..<8 {
            expectRefused(.reservedBitsSet, action { $0.flags = ActionFlags(rawValue: 1 << bit) }, "flag bit \(bit)")
        }
    }

    @Test func entryTooLarge() throws {
        let atLimit = try EntryCodec.sign(unsigned(.policy(Self.policyOfSize(EntryLimits.maxEntrySize))), with: key)
        #expect(atLimit.encoded.count == EntryLimits.maxEntrySize)
        expectRefused(.entryTooLarge, .policy(Self.policyOfSize(EntryLimits.maxEntrySize + 1)))
    }

    @Test func signerMustBeTheKey() {
        let u = UnsignedEntry(signer: testKey("someone else").publicKey, seq: 0, timestampMs: 1, prev: .zero, body: simpleAction())
        expectTrailError(.invalidArgument) { _ = try EntryCodec.sign(u, with: key) }
    }
}
