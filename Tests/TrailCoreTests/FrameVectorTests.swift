import Foundation
import Testing
import TrailCore

/// protocol/vectors/frames.json (SPEC 2.3), read in place and shared with the Python reference.
enum FrameVectors {
    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../protocol/vectors/frames.json").standardized

    /// Parsed once and never mutated.
    nonisolated(unsafe) static let document: [String: Any] = {
        let data = try! Data(contentsOf: url)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var maxFrame: UInt32 { (document["max_frame"] as! NSNumber).uint32Value }
    static var maxBatch: Int { (document["max_batch"] as! NSNumber).intValue }
    static var valid: [[String: Any]] { document["valid"] as! [[String: Any]] }
    static var invalid: [[String: Any]] { document["invalid"] as! [[String: Any]] }
    static var validNames: [String] { valid.map { $0["name"] as! String } }
    static var invalidNames: [String] { invalid.map { $0["name"] as! String } }
    static func valid(_ name: String) -> [String: Any] { valid.first { $0["name"] as? String == name }! }
    static func invalid(_ name: String) -> [String: Any] { invalid.first { $0["name"] as? String == name }! }
}

/// A decoded frame of either direction.
enum AnyMessage {
    case client(ClientMessage)
    case server(ServerMessage)
}

@Suite("Frame vectors")
struct FrameVectorTests {
    /// Decodes one whole frame (prefix included) the way a connection does: the length prefix is
    /// checked as `FrameDecoder` (TrailNIO) checks it, before the payload is read, then the type
    /// and payload go to `WireCodec`.
    static func decode(_ frame: [UInt8], direction: String) throws(TrailError) -> AnyMessage {
        guard frame.count >= WireCodec.lengthPrefix else { throw TrailError(.malformedFrame, "no length prefix") }
        let length = UInt32(frame[0]) << 24 | UInt32(frame[1]) << 16 | UInt32(frame[2]) << 8 | UInt32(frame[3])
        guard length >= 1 else { throw TrailError(.malformedFrame, "frame length 0") }
        guard length <= FrameVectors.maxFrame else { throw TrailError(.frameTooLarge, "frame of \(length) bytes") }
        // A vector is exactly one frame: anything else is a broken vector, not a codec result.
        guard frame.count == WireCodec.lengthPrefix + Int(length) else {
            throw TrailError(.invalidArgument, "vector is not exactly one frame")
        }
        let type = frame[4]
        let payload = Array(frame[5...])
        let r = payload.withUnsafeBytes { p in
            Result { () throws(TrailError) -> AnyMessage in
                direction == "client"
                    ? .client(try WireCodec.decodeClient(type: type, payload: p, maxBatch: FrameVectors.maxBatch))
                    : .server(try WireCodec.decodeServer(type: type, payload: p))
            }
        }
        return try r.get()
    }

    // MARK: Swift message -> JSON form (SPEC 2.3)

    static func json(_ m: AnyMessage) -> [String: Any] {
        switch m {
        case .client(.hello(let version, let client)):
            return ["type": "hello", "protocol_version": UInt64(version), "client_name": client]
        case .client(.append(let id, let entries)):
            return ["type": "append", "request_id": id, "entries": entries.map { Hex.encode($0) }]
        case .client(.headQuery(let id, let signer)):
            return ["type": "head_query", "request_id": id, "signer": signer.hex]
        case .client(.ping(let nonce)):
            return ["type": "ping", "nonce": nonce]
        case .server(.helloOK(let version, let limits, let nodeKey)):
            return ["type": "hello_ok", "protocol_version": UInt64(version), "max_frame": UInt64(limits.maxFrame),
                    "max_batch": UInt64(limits.maxBatch), "max_inflight": UInt64(limits.maxInFlightBytes),
                    "node_key": nodeKey.hex]
        case .server(.ack(let id, let statuses)):
            return ["type": "ack", "request_id": id, "statuses": statuses.map(json)]
        case .server(.head(let id, let head)):
            return ["type": "head", "request_id": id, "next_seq": head.nextSeq, "head_hash": head.hash.hex]
        case .server(.pong(let nonce)):
            return ["type": "pong", "nonce": nonce]
        case .server(.error(let code, let message)):
            return ["type": "error", "code": UInt64(code.rawValue), "message": message]
        }
    }

    static func json(_ s: AppendStatus) -> [String: Any] {
        var out: [String: Any] = ["status": s.name]
        switch s {
        case .accepted(let i), .duplicate(let i): out["index"] = i
        case .conflict(let h), .gap(let h), .equivocation(let h):
            out["next_seq"] = h.nextSeq
            out["head_hash"] = h.hash.hex
        case .badSignature(let c), .malformed(let c), .rejected(let c): out["reason"] = UInt64(c.rawValue)
        case .overloaded(let ms): out["retry_after_ms"] = UInt64(ms)
        case .noted(let i, let v, let f):
            out["index"] = i
            out["violations"] = v.names
            out["flags"] = f.names
        }
        return out
    }

    // MARK: JSON form -> Swift message, to encode from the vector's own description

    static func u64(_ v: Any?) -> UInt64 { (v as! NSNumber).uint64Value }
    static func u32(_ v: Any?) -> UInt32 { UInt32(u64(v)) }
    static func u16(_ v: Any?) -> UInt16 { UInt16(u64(v)) }

    static func message(_ j: [String: Any]) -> AnyMessage {
        switch j["type"] as! String {
        case "hello": return .client(.hello(version: u16(j["protocol_version"]), client: j["client_name"] as! String))
        case "append":
            return .client(.append(requestID: u64(j["request_id"]), entries: (j["entries"] as! [String]).map(unhex)))
        case "head_query": return .client(.headQuery(requestID: u64(j["request_id"]), signer: b32(j["signer"] as! String)))
        case "ping": return .client(.ping(nonce: u64(j["nonce"])))
        case "hello_ok":
            let limits = ServerLimits(maxFrame: u32(j["max_frame"]), maxBatch: u32(j["max_batch"]), maxInFlightBytes: u32(j["max_inflight"]))
            return .server(.helloOK(version: u16(j["protocol_version"]), limits: limits, nodeKey: b32(j["node_key"] as! String)))
        case "ack":
            return .server(.ack(requestID: u64(j["request_id"]), statuses: (j["statuses"] as! [[String: Any]]).map(status)))
        case "head":
            return .server(.head(requestID: u64(j["request_id"]), head: ChainHead(nextSeq: u64(j["next_seq"]), hash: b32(j["head_hash"] as! String))))
        case "pong": return .server(.pong(nonce: u64(j["nonce"])))
        case "error": return .server(.error(code: TrailError.Code(rawValue: u16(j["code"])), message: j["message"] as! String))
        case let t: fatalError("unknown message type \(t) in frames.json")
        }
    }

    static func status(_ j: [String: Any]) -> AppendStatus {
        func head() -> ChainHead { ChainHead(nextSeq: u64(j["next_seq"]), hash: b32(j["head_hash"] as! String)) }
        switch j["status"] as! String {
        case "accepted": return .accepted(index: u64(j["index"]))
        case "duplicate": return .duplicate(index: u64(j["index"]))
        case "conflict": return .conflict(head: head())
        case "gap": return .gap(head: head())
        case "bad_signature": return .badSignature(TrailError.Code(rawValue: u16(j["reason"])))
        case "malformed": return .malformed(TrailError.Code(rawValue: u16(j["reason"])))
        case "overloaded": return .overloaded(retryAfterMs: u32(j["retry_after_ms"]))
        case "equivocation": return .equivocation(head: head())
        case "rejected": return .rejected(TrailError.Code(rawValue: u16(j["reason"])))
        case "noted":
            func bits<T: OptionSet>(_ key: String, _ named: [(String, T)]) -> T where T.Element == T {
                (j[key] as! [String]).reduce(into: T()) { acc, n in acc.formUnion(named.first { $0.0 == n }!.1) }
            }
            return .noted(index: u64(j["index"]), violations: bits("violations", PolicyViolations.named), flags: bits("flags", TrustFlags.named))
        case let s: fatalError("unknown status \(s) in frames.json")
        }
    }

    static func encode(_ m: AnyMessage) -> [UInt8] {
        switch m {
        case .client(let c): WireCodec.encode(c)
        case .server(let s): WireCodec.encode(s)
        }
    }

    // MARK: Tests

    @Test func fileShape() {
        #expect(FrameVectors.maxFrame == 1 << 20)
        #expect(FrameVectors.maxBatch == 1024)
        #expect(FrameVectors.valid.count == 22)
        #expect(FrameVectors.invalid.count == 32)
        let names = FrameVectors.validNames + FrameVectors.invalidNames
        #expect(Set(names).count == names.count, "vector names are unique")
        let messages = FrameVectors.valid.map { $0["message"] as! [String: Any] }
        #expect(Set(messages.map { $0["type"] as! String })
            == ["hello", "hello_ok", "append", "ack", "head_query", "head", "ping", "pong", "error"])
        let statuses = messages.flatMap { ($0["statuses"] as? [[String: Any]]) ?? [] }.map { $0["status"] as! String }
        #expect(Set(statuses) == ["accepted", "duplicate", "conflict", "gap", "bad_signature", "malformed", "overloaded", "equivocation", "noted", "rejected"])
        #expect(Set(FrameVectors.invalid.map { ($0["code"] as! NSNumber).uint16Value }) == [100, 101, 102, 105])
        // APPEND entries are real entries from entries.json.
        let appended = messages.filter { $0["type"] as! String == "append" }.flatMap { $0["entries"] as! [String] }
        #expect(appended.count == 4)
        for e in appended { #expect(decodeFailure(unhex(e)) == nil) }
    }

    @Test(arguments: FrameVectors.validNames)
    func valid(_ name: String) throws {
        let v = FrameVectors.valid(name)
        let bytes = unhex(v["hex"] as! String)
        let direction = v["direction"] as! String
        let expected = v["message"] as! [String: Any]

        let decoded = try Self.decode(bytes, direction: direction)
        #expect(canonicalJSON(Self.json(decoded)) == canonicalJSON(expected))
        if case .server(.error(let code, _)) = decoded, name.hasPrefix("error_"), name != "error_empty_message" {
            // error_<name> vectors carry the code TrailError gives that name.
            #expect(name == "error_" + code.name)
        }
        #expect(Self.encode(decoded) == bytes, "re-encoding the decoded message")
        #expect(Self.encode(Self.message(expected)) == bytes, "encoding the vector's message")

        // The other direction does not accept this frame type.
        let other = direction == "client" ? "server" : "client"
        #expect(failure { () throws(TrailError) in _ = try Self.decode(bytes, direction: other) } == .unknownFrameType)
    }

    @Test(arguments: FrameVectors.invalidNames)
    func invalid(_ name: String) {
        let v = FrameVectors.invalid(name)
        let bytes = unhex(v["hex"] as! String)
        let code = TrailError.Code(rawValue: (v["code"] as! NSNumber).uint16Value)
        #expect(code.name == v["error"] as! String)
        let got = failure { () throws(TrailError) in _ = try Self.decode(bytes, direction: v["direction"] as! String) }
        #expect(got == code, "expected \(code.name), got \(got.map { "\($0.name) (\($0.rawValue))" } ?? "success")")
    }
}
