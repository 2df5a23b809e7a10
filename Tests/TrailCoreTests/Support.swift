import Foundation
import Testing
import TrailCore

// MARK: Errors

/// The code `body` fails with, or nil if it succeeds.
func failure(_ body: () throws(TrailError) -> Void) -> TrailError.Code? {
    do throws(TrailError) {
        try body()
        return nil
    } catch {
        return error.code
    }
}

/// The code decoding `bytes` fails with, or nil if it decodes.
func decodeFailure(_ bytes: [UInt8]) -> TrailError.Code? {
    failure { () throws(TrailError) in _ = try EntryCodec.decode(bytes) }
}

/// The code decoding then verifying `bytes` fails with, or nil if the entry is authentic.
func verifyFailure(_ bytes: [UInt8]) -> TrailError.Code? {
    failure { () throws(TrailError) in _ = try EntryCodec.decodeVerified(bytes) }
}

/// Asserts that `body` throws a `TrailError` with exactly `code`.
func expectTrailError(
    _ code: TrailError.Code, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(code.name) (\(code.rawValue)), nothing was thrown. \(comment?.rawValue ?? "")", sourceLocation: sourceLocation)
    } catch let error as TrailError {
        #expect(error.code == code, "\(error) \(comment?.rawValue ?? "")", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected TrailError \(code.name), got \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: Bytes and keys

func unhex(_ s: String) -> [UInt8] {
    guard let b = Hex.decode(s) else { fatalError("bad hex in test: \(s.prefix(40))") }
    return b
}

func b32(_ s: String) -> Bytes32 { Bytes32(hex: s)! }

/// A deterministic 32-byte value for a label.
func h(_ label: String) -> Bytes32 { SHA256.hash(Array(label.utf8)) }

/// A deterministic key for a label.
func testKey(_ label: String) -> SigningKey { SigningKey(seed: h("trailcore-test-key-\(label)")) }

func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// SHA-256(0x00 || bytes), computed without `leafHash`.
func independentLeafHash(_ bytes: [UInt8]) -> Bytes32 { SHA256.hash([0] + bytes) }

// MARK: Signed entries

func sign(_ key: SigningKey, seq: UInt64 = 0, prev: Bytes32 = .zero, timestamp: UInt64 = 1_763_900_000_000, _ body: EntryBody) throws -> Entry {
    try EntryCodec.sign(UnsignedEntry(signer: key.publicKey, seq: seq, timestampMs: timestamp, prev: prev, body: body), with: key)
}

func simpleAction(_ label: String = "x") -> EntryBody {
    .action(ActionBody(actionType: "tool.call", target: "https://example.com/\(label)", contentHash: h("content-\(label)")))
}

/// A registration whose proof of possession is signed by `agent` for `owner`.
func registration(owner: SigningKey, agent: SigningKey, label: String = "bot", evidence: Bytes32? = nil) -> EntryBody {
    let proof = agent.sign(RegistrationBody.possessionMessage(owner: owner.publicKey, agent: agent.publicKey))
    return .registration(RegistrationBody(agent: agent.publicKey, label: label, evidenceHash: evidence, agentSignature: proof))
}

// MARK: Raw entries (for malformed input)

extension ByteWriter {
    /// `u16 length || bytes`, whatever the bytes are.
    mutating func rawString(_ b: [UInt8]) {
        u16(UInt16(b.count))
        raw(b)
    }
}

/// An entry built field by field, so that any field can be wrong. Decoding does not verify, so
/// the signature defaults to zeros; `signed(with:)` produces a real one.
struct RawEntry {
    var version: UInt8 = 1
    var kind: UInt8 = 1
    var signer: Bytes32 = h("raw-signer")
    var seq: UInt64 = 0
    var timestampMs: UInt64 = 1_763_900_000_000
    var prev: Bytes32 = .zero
    var body: [UInt8]
    /// Overrides the real body length.
    var bodyLen: UInt32? = nil
    var sigLen: UInt16 = 64
    var signature = [UInt8](repeating: 0, count: 64)
    var trailing: [UInt8] = []

    init(kind: UInt8, _ body: [UInt8]) {
        self.kind = kind
        self.body = body
    }

    var unsignedBytes: [UInt8] {
        var w = ByteWriter()
        w.u8(version)
        w.u8(kind)
        w.bytes32(signer)
        w.u64(seq)
        w.u64(timestampMs)
        w.bytes32(prev)
        w.u32(bodyLen ?? UInt32(body.count))
        w.raw(body)
        return w.bytes
    }

    var bytes: [UInt8] {
        var w = ByteWriter()
        w.raw(unsignedBytes)
        w.u16(sigLen)
        w.raw(signature)
        w.raw(trailing)
        return w.bytes
    }

    /// Sets the signer to `key` and signs the unsigned part as the spec says.
    func signed(with key: SigningKey) -> [UInt8] {
        var e = self
        e.signer = key.publicKey
        e.signature = key.sign(prefix: EntryCodec.signingDomain, e.unsignedBytes).bytes
        return e.bytes
    }
}

/// Raw body builders with valid defaults; every knob can be set to an invalid value.
enum RawBody {
    static func action(
        actionType: [UInt8] = utf8("tool.call"), target: [UInt8] = utf8("db.orders"), present: UInt8 = 0,
        flags: UInt8 = 0, _ optionals: (inout ByteWriter) -> Void = { _ in }
    ) -> [UInt8] {
        var w = ByteWriter()
        w.rawString(actionType)
        w.rawString(target)
        w.bytes32(h("content"))
        w.u8(present)
        w.u8(flags)
        optionals(&w)
        return w.bytes
    }

    struct RawStage {
        var label: [UInt8] = utf8("plan")
        var durationMs: UInt32 = 10
        var status: UInt8 = 0
    }

    static func receipt(outcome: UInt8 = 0, stages: [RawStage] = [RawStage()], stageCount: UInt8? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.bytes32(h("request"))
        w.u8(outcome)
        w.u64(1_763_900_000_000)
        w.u32(1234)
        w.bytes32(h("trace"))
        w.u8(stageCount ?? UInt8(stages.count))
        for s in stages {
            w.rawString(s.label)
            w.u32(s.durationMs)
            w.u8(s.status)
        }
        return w.bytes
    }

    static func registration(
        agent: Bytes32 = h("agent"), label: [UInt8] = utf8("bot"), evidenceTag: UInt8 = 0, evidence: Bytes32? = nil,
        agentSignature: [UInt8] = [UInt8](repeating: 0, count: 64)
    ) -> [UInt8] {
        var w = ByteWriter()
        w.bytes32(agent)
        w.rawString(label)
        w.u8(evidenceTag)
        if let evidence { w.bytes32(evidence) }
        w.raw(agentSignature)
        return w.bytes
    }

    static func policy(
        version: UInt32 = 1, allowActions: [[UInt8]] = [utf8("read")], denyActions: [[UInt8]] = [utf8("delete")],
        allowTargets: [[UInt8]] = [utf8("db.*")], allowCount: UInt8? = nil
    ) -> [UInt8] {
        var w = ByteWriter()
        w.bytes32(h("agent"))
        w.u32(version)
        w.bytes32(h("document"))
        w.u8(allowCount ?? UInt8(allowActions.count))
        for s in allowActions { w.rawString(s) }
        w.u8(UInt8(denyActions.count))
        for s in denyActions { w.rawString(s) }
        w.u8(UInt8(allowTargets.count))
        for s in allowTargets { w.rawString(s) }
        w.u32(60)
        return w.bytes
    }

    static func report(
        category: UInt8 = 0, severity: UInt8 = 0, from: UInt64 = 100, to: UInt64 = 200, refTag: UInt8 = 0,
        ref: Bytes32? = nil, description: [UInt8] = utf8("saw it")
    ) -> [UInt8] {
        var w = ByteWriter()
        w.bytes32(h("subject"))
        w.u8(category)
        w.u8(severity)
        w.u64(from)
        w.u64(to)
        w.u8(refTag)
        if let ref { w.bytes32(ref) }
        w.bytes32(h("evidence"))
        w.rawString(description)
        return w.bytes
    }
}

// MARK: JSON

/// A canonical text form of a parsed or constructed JSON value: sorted keys, booleans told apart
/// from numbers by storage type, integers printed exactly.
func canonicalJSON(_ value: Any) -> String {
    switch value {
    case let s as String:
        return String(reflecting: s)
    case let d as [String: Any]:
        return "{" + d.keys.sorted().map { String(reflecting: $0) + ":" + canonicalJSON(d[$0]!) }.joined(separator: ",") + "}"
    case let a as [Any]:
        return "[" + a.map(canonicalJSON).joined(separator: ",") + "]"
    case let n as NSNumber:
        if n.objCType.pointee == CChar(UInt8(ascii: "c")) { return n.boolValue ? "true" : "false" }
        if let u = UInt64(exactly: n) { return String(u) }
        if let i = Int64(exactly: n) { return String(i) }
        return "double:\(n.doubleValue)"
    case is NSNull:
        return "null"
    default:
        return "unknown:\(type(of: value))"
    }
}

/// Serialises `object` and parses it back, as a tool printing then reading it would.
func jsonRoundTrip(_ object: [String: Any]) throws -> [String: Any] {
    let text = EntryJSON.serialize(object, pretty: false)
    return try EntryJSON.parseObject(utf8(text))
}

// MARK: Files

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
