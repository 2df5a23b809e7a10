/// Frame types of the TCP protocol (protocol/SPEC.md section 2).
public enum FrameType: UInt8, Sendable {
    case hello = 0x01
    case helloOK = 0x02
    case append = 0x03
    case ack = 0x04
    case headQuery = 0x05
    case head = 0x06
    case ping = 0x07
    case pong = 0x08
    case error = 0x7f
}

/// Protocol constants and the limits a server announces in its handshake.
public struct ServerLimits: Sendable, Hashable {
    public static let protocolVersion: UInt16 = 1
    /// The smallest maximum frame a server may announce: one full-size entry in a batch.
    public static let minimumFrame: UInt32 = 16 * 1024 + 64

    public var maxFrame: UInt32
    public var maxBatch: UInt32
    public var maxInFlightBytes: UInt32

    public init(maxFrame: UInt32 = 1 << 20, maxBatch: UInt32 = 1024, maxInFlightBytes: UInt32 = 8 << 20) {
        self.maxFrame = maxFrame
        self.maxBatch = maxBatch
        self.maxInFlightBytes = maxInFlightBytes
    }
}

/// The head of a signer's chain: the next sequence number and the hash to use as `prev`.
public struct ChainHead: Sendable, Hashable {
    public var nextSeq: UInt64
    public var hash: Bytes32
    public init(nextSeq: UInt64, hash: Bytes32) {
        self.nextSeq = nextSeq
        self.hash = hash
    }
    /// The head of a chain with no entries.
    public static let empty = ChainHead(nextSeq: 0, hash: .zero)
}

/// The answer for one entry of an append batch.
public enum AppendStatus: Sendable, Hashable {
    case accepted(index: UInt64)
    case duplicate(index: UInt64)
    case conflict(head: ChainHead)
    case gap(head: ChainHead)
    case badSignature(TrailError.Code)
    case malformed(TrailError.Code)
    case overloaded(retryAfterMs: UInt32)
    case equivocation(head: ChainHead)
    /// Accepted and durable at `index`, with the policy rules it broke and the trust flags it
    /// raised (never both empty: an entry with neither is plain `accepted`).
    case noted(index: UInt64, violations: PolicyViolations, flags: TrustFlags)
    /// Well-formed and authentic but refused by the accountability rules (codes 70-79); not stored.
    case rejected(TrailError.Code)

    /// `accepted`, or `noted` when there is something to note.
    public static func accepted(index: UInt64, violations: PolicyViolations, flags: TrustFlags) -> AppendStatus {
        violations.isEmpty && flags.isEmpty ? .accepted(index: index) : .noted(index: index, violations: violations, flags: flags)
    }

    /// True for `accepted` and `noted`: the entry was stored by this append.
    public var isAccepted: Bool {
        switch self {
        case .accepted, .noted: true
        default: false
        }
    }

    public var code: UInt8 {
        switch self {
        case .accepted: 0
        case .duplicate: 1
        case .conflict: 2
        case .gap: 3
        case .badSignature: 4
        case .malformed: 5
        case .overloaded: 6
        case .equivocation: 7
        case .noted: 8
        case .rejected: 9
        }
    }

    public var name: String {
        switch self {
        case .accepted: "accepted"
        case .duplicate: "duplicate"
        case .conflict: "conflict"
        case .gap: "gap"
        case .badSignature: "bad_signature"
        case .malformed: "malformed"
        case .overloaded: "overloaded"
        case .equivocation: "equivocation"
        case .noted: "noted"
        case .rejected: "rejected"
        }
    }

    /// The log index for accepted, noted and duplicate entries.
    public var index: UInt64? {
        switch self {
        case .accepted(let i), .duplicate(let i), .noted(let i, _, _): i
        default: nil
        }
    }
}

/// Messages a client sends.
public enum ClientMessage: Sendable, Hashable {
    case hello(version: UInt16, client: String)
    case append(requestID: UInt64, entries: [[UInt8]])
    case headQuery(requestID: UInt64, signer: PublicKey)
    case ping(nonce: UInt64)
}

/// Messages a server sends.
public enum ServerMessage: Sendable, Hashable {
    case helloOK(version: UInt16, limits: ServerLimits, nodeKey: PublicKey)
    case ack(requestID: UInt64, statuses: [AppendStatus])
    case head(requestID: UInt64, head: ChainHead)
    case pong(nonce: UInt64)
    case error(code: TrailError.Code, message: String)
}

/// Encodes and decodes frame payloads. Framing itself is `u32 length || u8 type || payload`,
/// where length counts the type byte and the payload.
public enum WireCodec {
    public static let lengthPrefix = 4
    public static let maxClientName = 64
    public static let maxErrorMessage = 1024

    static func frame(_ type: FrameType, _ fill: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.u32(0)
        w.u8(type.rawValue)
        fill(&w)
        let n = UInt32(w.bytes.count - lengthPrefix)
        w.bytes[0] = UInt8(n >> 24)
        w.bytes[1] = UInt8((n >> 16) & 0xff)
        w.bytes[2] = UInt8((n >> 8) & 0xff)
        w.bytes[3] = UInt8(n & 0xff)
        return w.bytes
    }

    /// A whole frame (length prefix included) for a client message.
    public static func encode(_ m: ClientMessage) -> [UInt8] {
        switch m {
        case .hello(let version, let client):
            return frame(.hello) {
                $0.u16(version)
                $0.string(utf8Prefix(client, max: maxClientName))
            }
        case .append(let id, let entries):
            return frame(.append) {
                $0.u64(id)
                $0.u16(UInt16(entries.count))
                for e in entries {
                    $0.u32(UInt32(e.count))
                    $0.raw(e)
                }
            }
        case .headQuery(let id, let signer):
            return frame(.headQuery) {
                $0.u64(id)
                $0.bytes32(signer)
            }
        case .ping(let nonce):
            return frame(.ping) { $0.u64(nonce) }
        }
    }

    /// A whole frame (length prefix included) for a server message.
    public static func encode(_ m: ServerMessage) -> [UInt8] {
        switch m {
        case .helloOK(let version, let limits, let nodeKey):
            return frame(.helloOK) {
                $0.u16(version)
                $0.u32(limits.maxFrame)
                $0.u32(limits.maxBatch)
                $0.u32(limits.maxInFlightBytes)
                $0.bytes32(nodeKey)
            }
        case .ack(let id, let statuses):
            return frame(.ack) { w in
                w.u64(id)
                w.u16(UInt16(statuses.count))
                for s in statuses { encodeStatus(s, &w) }
            }
        case .head(let id, let head):
            return frame(.head) {
                $0.u64(id)
                $0.u64(head.nextSeq)
                $0.bytes32(head.hash)
            }
        case .pong(let nonce):
            return frame(.pong) { $0.u64(nonce) }
        case .error(let code, let message):
            return frame(.error) {
                $0.u16(code.rawValue)
                $0.string(utf8Prefix(message, max: maxErrorMessage))
            }
        }
    }

    public static func encodeStatus(_ s: AppendStatus, _ w: inout ByteWriter) {
        w.u8(s.code)
        switch s {
        case .accepted(let i), .duplicate(let i): w.u64(i)
        case .conflict(let h), .gap(let h), .equivocation(let h):
            w.u64(h.nextSeq)
            w.bytes32(h.hash)
        case .badSignature(let c), .malformed(let c): w.u16(c.rawValue)
        case .overloaded(let ms): w.u32(ms)
        case .noted(let i, let v, let f):
            w.u64(i)
            w.u8(v.rawValue)
            w.u16(f.rawValue)
        case .rejected(let c): w.u16(c.rawValue)
        }
    }

    /// The longest prefix of `s` that is at most `max` UTF-8 bytes and does not cut a scalar in two.
    static func utf8Prefix(_ s: String, max: Int) -> String {
        let bytes = Array(s.utf8)
        guard bytes.count > max else { return s }
        var n = max
        while n > 0 && bytes[n] & 0xc0 == 0x80 { n -= 1 }  // bytes[n] continues a scalar: cut before it
        return String(decoding: bytes[..<n], as: UTF8.self)
    }

    static func malformed(_ what: String) -> TrailError { TrailError(.malformedFrame, what) }

    /// Decodes a client frame's type and payload (without the length prefix). `maxBatch` bounds
    /// the entry count before anything is allocated.
    public static func decodeClient(type: UInt8, payload: UnsafeRawBufferPointer, maxBatch: Int) throws(TrailError) -> ClientMessage {
        guard let t = FrameType(rawValue: type) else { throw TrailError(.unknownFrameType, "unknown frame type 0x\(String(type, radix: 16))") }
        var r = ByteReader(payload)
        let m: ClientMessage
        do throws(TrailError) {
            switch t {
            case .hello:
                let v = try r.u16("protocol_version")
                let name = try r.string("client_name", min: 0, max: maxClientName)
                m = .hello(version: v, client: name)
            case .append:
                let id = try r.u64("request_id")
                let n = Int(try r.u16("count"))
                guard n >= 1 else { throw malformed("append batch has no entries") }
                guard n <= maxBatch else { throw TrailError(.batchTooLarge, "append batch has \(n) entries, limit \(maxBatch)") }
                var entries = [[UInt8]]()
                entries.reserveCapacity(n)
                for i in 0..<n {
                    let len = Int(try r.u32("entry length"))
                    guard len <= r.remaining else { throw malformed("entry \(i) length \(len) exceeds the frame") }
                    entries.append(Array(try r.skip(len, "entry")))
                }
                m = .append(requestID: id, entries: entries)
            case .headQuery:
                m = .headQuery(requestID: try r.u64("request_id"), signer: try r.bytes32("signer"))
            case .ping:
                m = .ping(nonce: try r.u64("nonce"))
            default:
                throw TrailError(.unknownFrameType, "frame type 0x\(String(type, radix: 16)) is not sent by clients")
            }
        } catch {
            throw error.code.rawValue < 100 ? malformed("\(t) frame: \(error.reason)") : error
        }
        guard r.remaining == 0 else { throw malformed("\(r.remaining) trailing bytes in \(t) frame") }
        return m
    }

    /// Decodes a server frame's type and payload (without the length prefix).
    public static func decodeServer(type: UInt8, payload: UnsafeRawBufferPointer) throws(TrailError) -> ServerMessage {
        guard let t = FrameType(rawValue: type) else { throw TrailError(.unknownFrameType, "unknown frame type 0x\(String(type, radix: 16))") }
        var r = ByteReader(payload)
        let m: ServerMessage
        do throws(TrailError) {
            switch t {
            case .helloOK:
                let v = try r.u16("protocol_version")
                let limits = ServerLimits(maxFrame: try r.u32("max_frame"), maxBatch: try r.u32("max_batch"), maxInFlightBytes: try r.u32("max_inflight"))
                m = .helloOK(version: v, limits: limits, nodeKey: try r.bytes32("node_key"))
            case .ack:
                let id = try r.u64("request_id")
                let n = Int(try r.u16("count"))
                // Each status is at least 3 bytes: bound the count by what is there.
                guard n * 3 <= r.remaining else { throw malformed("ack count \(n) exceeds the frame") }
                var statuses = [AppendStatus]()
                statuses.reserveCapacity(n)
                for _ in 0..<n { statuses.append(try decodeStatus(&r)) }
                m = .ack(requestID: id, statuses: statuses)
            case .head:
                let id = try r.u64("request_id")
                m = .head(requestID: id, head: ChainHead(nextSeq: try r.u64("next_seq"), hash: try r.bytes32("head_hash")))
            case .pong:
                m = .pong(nonce: try r.u64("nonce"))
            case .error:
                let code = TrailError.Code(rawValue: try r.u16("code"))
                m = .error(code: code, message: try r.string("message", min: 0, max: maxErrorMessage))
            default:
                throw TrailError(.unknownFrameType, "frame type 0x\(String(type, radix: 16)) is not sent by servers")
            }
        } catch {
            throw error.code.rawValue < 100 ? malformed("\(t) frame: \(error.reason)") : error
        }
        guard r.remaining == 0 else { throw malformed("\(r.remaining) trailing bytes in \(t) frame") }
        return m
    }

    static func decodeStatus(_ r: inout ByteReader) throws(TrailError) -> AppendStatus {
        let code = try r.u8("status")
        switch code {
        case 0: return .accepted(index: try r.u64("index"))
        case 1: return .duplicate(index: try r.u64("index"))
        case 2, 3, 7:
            let head = ChainHead(nextSeq: try r.u64("next_seq"), hash: try r.bytes32("head_hash"))
            return code == 2 ? .conflict(head: head) : code == 3 ? .gap(head: head) : .equivocation(head: head)
        case 4: return .badSignature(TrailError.Code(rawValue: try r.u16("reason")))
        case 5: return .malformed(TrailError.Code(rawValue: try r.u16("reason")))
        case 6: return .overloaded(retryAfterMs: try r.u32("retry_after_ms"))
        case 8:
            let index = try r.u64("index")
            let v = try r.u8("violations")
            let f = try r.u16("flags")
            guard let violations = PolicyViolations(exactly: v), let flags = TrustFlags(exactly: f) else {
                throw malformed("noted status has undefined violation or flag bits")
            }
            guard !(violations.isEmpty && flags.isEmpty) else { throw malformed("noted status notes nothing") }
            return .noted(index: index, violations: violations, flags: flags)
        case 9: return .rejected(TrailError.Code(rawValue: try r.u16("reason")))
        default: throw malformed("unknown status \(code)")
        }
    }
}
