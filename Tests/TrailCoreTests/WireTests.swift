import Testing
import TrailCore

@Suite("Wire frames")
struct WireTests {
    /// Splits a whole frame into its type and payload, checking the length prefix.
    static func split(_ frame: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> (UInt8, [UInt8]) {
        let length = Int(frame[0]) << 24 | Int(frame[1]) << 16 | Int(frame[2]) << 8 | Int(frame[3])
        #expect(length == frame.count - WireCodec.lengthPrefix, "length counts the type byte and the payload", sourceLocation: sourceLocation)
        return (frame[4], Array(frame[5...]))
    }

    static func client(_ type: UInt8, _ payload: [UInt8], maxBatch: Int = 1024) throws(TrailError) -> ClientMessage {
        let r = payload.withUnsafeBytes { p in Result { () throws(TrailError) in try WireCodec.decodeClient(type: type, payload: p, maxBatch: maxBatch) } }
        return try r.get()
    }

    static func server(_ type: UInt8, _ payload: [UInt8]) throws(TrailError) -> ServerMessage {
        let r = payload.withUnsafeBytes { p in Result { () throws(TrailError) in try WireCodec.decodeServer(type: type, payload: p) } }
        return try r.get()
    }

    static func clientFailure(_ type: UInt8, _ payload: [UInt8], maxBatch: Int = 1024) -> TrailError.Code? {
        failure { () throws(TrailError) in _ = try client(type, payload, maxBatch: maxBatch) }
    }

    static func serverFailure(_ type: UInt8, _ payload: [UInt8]) -> TrailError.Code? {
        failure { () throws(TrailError) in _ = try server(type, payload) }
    }

    static let entries: [[UInt8]] = {
        let key = testKey("wire")
        return (0..<3).map { i in try! sign(key, simpleAction("\(i)")).encoded }
    }()

    static let clientMessages: [ClientMessage] = [
        .hello(version: ServerLimits.protocolVersion, client: "agenttrail-swift/1.0"),
        .hello(version: 0xffff, client: ""),
        .hello(version: 1, client: String(repeating: "n", count: 64)),
        .hello(version: 1, client: "клиент 🦀"),
        .append(requestID: 0, entries: [entries[0]]),
        .append(requestID: UInt64.max, entries: entries),
        .append(requestID: 7, entries: [[], [1, 2, 3]]),
        .headQuery(requestID: 42, signer: testKey("wire").publicKey),
        .ping(nonce: 0),
        .ping(nonce: UInt64.max),
    ]

    static let head = ChainHead(nextSeq: 17, hash: h("head"))

    static let allStatuses: [AppendStatus] = [
        .accepted(index: 0), .accepted(index: UInt64.max), .duplicate(index: 12), .conflict(head: head), .gap(head: .empty),
        .badSignature(.badSignature), .badSignature(.badProofOfPossession), .malformed(.truncated), .malformed(.invalidUTF8),
        .overloaded(retryAfterMs: 250), .overloaded(retryAfterMs: UInt32.max), .equivocation(head: head),
    ]

    static let serverMessages: [ServerMessage] = [
        .helloOK(version: 1, limits: ServerLimits(), nodeKey: testKey("node").publicKey),
        .helloOK(version: 2, limits: ServerLimits(maxFrame: ServerLimits.minimumFrame, maxBatch: 1, maxInFlightBytes: UInt32.max), nodeKey: .zero),
        .ack(requestID: 9, statuses: allStatuses),
        .ack(requestID: 0, statuses: []),
        .head(requestID: 3, head: head),
        .head(requestID: 4, head: .empty),
        .pong(nonce: 99),
        .error(code: .batchTooLarge, message: "append batch has 2000 entries, limit 1024"),
        .error(code: TrailError.Code(rawValue: 0xffff), message: ""),
        .error(code: .malformedFrame, message: String(repeating: "m", count: 1024)),
    ]

    @Test func clientRoundTrip() throws {
        for m in Self.clientMessages {
            let (type, payload) = Self.split(WireCodec.encode(m))
            #expect(try Self.client(type, payload) == m)
        }
        let types = Self.clientMessages.map { Self.split(WireCodec.encode($0)).0 }
        #expect(Set(types) == [FrameType.hello.rawValue, FrameType.append.rawValue, FrameType.headQuery.rawValue, FrameType.ping.rawValue])
    }

    @Test func serverRoundTrip() throws {
        for m in Self.serverMessages {
            let (type, payload) = Self.split(WireCodec.encode(m))
            #expect(try Self.server(type, payload) == m)
        }
        let types = Self.serverMessages.map { Self.split(WireCodec.encode($0)).0 }
        #expect(Set(types) == [FrameType.helloOK.rawValue, FrameType.ack.rawValue, FrameType.head.rawValue, FrameType.pong.rawValue, FrameType.error.rawValue])
    }

    /// Every status code 0...7, each alone in an ACK.
    @Test func everyAppendStatus() throws {
        #expect(Set(Self.allStatuses.map(\.code)) == Set(0...7))
        #expect(Set(Self.allStatuses.map(\.name)).count == 8)
        for s in Self.allStatuses {
            var w = ByteWriter()
            WireCodec.encodeStatus(s, &w)
            #expect(w.bytes[0] == s.code)
            let (type, payload) = Self.split(WireCodec.encode(ServerMessage.ack(requestID: 1, statuses: [s])))
            #expect(try Self.server(type, payload) == .ack(requestID: 1, statuses: [s]))
        }
        #expect(AppendStatus.accepted(index: 5).index == 5)
        #expect(AppendStatus.duplicate(index: 6).index == 6)
        #expect(AppendStatus.gap(head: .empty).index == nil)
    }

    /// Names and messages longer than their limit are cut to it, never inside a character.
    @Test func longTextIsTruncated() throws {
        let long = String(repeating: "x", count: 100)
        guard case .hello(_, let name) = try Self.client(FrameType.hello.rawValue, Self.split(WireCodec.encode(ClientMessage.hello(version: 1, client: long))).1) else {
            Issue.record("not a hello")
            return
        }
        #expect(name == String(repeating: "x", count: 64))
        // 63 ASCII bytes then a 2-byte character: the character does not fit.
        let split = String(repeating: "a", count: 63) + "é" + "tail"
        guard case .hello(_, let cut) = try Self.client(FrameType.hello.rawValue, Self.split(WireCodec.encode(ClientMessage.hello(version: 1, client: split))).1) else {
            Issue.record("not a hello")
            return
        }
        #expect(cut == String(repeating: "a", count: 63))
        let message = String(repeating: "e", count: 1022) + "🦀🦀"
        guard case .error(_, let text) = try Self.server(FrameType.error.rawValue, Self.split(WireCodec.encode(ServerMessage.error(code: .io, message: message))).1) else {
            Issue.record("not an error")
            return
        }
        #expect(text == String(repeating: "e", count: 1022))
    }

    @Test func unknownFrameType() {
        let known: Set<UInt8> = [1, 2, 3, 4, 5, 6, 7, 8, 0x7f]
        for t in 0...UInt8.max where !known.contains(t) {
            #expect(Self.clientFailure(t, []) == .unknownFrameType, "type \(t)")
            #expect(Self.serverFailure(t, []) == .unknownFrameType, "type \(t)")
        }
        // Each side refuses the other side's frames.
        for t in [FrameType.helloOK, .ack, .head, .pong, .error] {
            #expect(Self.clientFailure(t.rawValue, [0, 0, 0, 0, 0, 0, 0, 0]) == .unknownFrameType)
        }
        for t in [FrameType.hello, .append, .headQuery, .ping] {
            #expect(Self.serverFailure(t.rawValue, [0, 0, 0, 0, 0, 0, 0, 0]) == .unknownFrameType)
        }
    }

    @Test func truncatedPayloadsAndTrailingBytes() {
        for m in Self.clientMessages {
            let (type, payload) = Self.split(WireCodec.encode(m))
            for n in 0..<payload.count {
                #expect(Self.clientFailure(type, Array(payload[0..<n])) == .malformedFrame, "\(m) cut at \(n)")
            }
            #expect(Self.clientFailure(type, payload + [0]) == .malformedFrame, "\(m) plus a byte")
        }
        for m in Self.serverMessages {
            let (type, payload) = Self.split(WireCodec.encode(m))
            for n in 0..<payload.count {
                #expect(Self.serverFailure(type, Array(payload[0..<n])) == .malformedFrame, "\(m) cut at \(n)")
            }
            #expect(Self.serverFailure(type, payload + [0]) == .malformedFrame, "\(m) plus a byte")
        }
    }

    static func appendPayload(count: UInt16, entries: [[UInt8]], lengths: [UInt32]? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.u64(1)
        w.u16(count)
        for (i, e) in entries.enumerated() {
            w.u32(lengths?[i] ?? UInt32(e.count))
            w.raw(e)
        }
        return w.bytes
    }

    @Test func appendBatchLimits() throws {
        let append = FrameType.append.rawValue
        #expect(Self.clientFailure(append, Self.appendPayload(count: 0, entries: [])) == .malformedFrame, "empty batch")
        // The count is checked against maxBatch before any entry is read or allocated: no entries follow.
        #expect(Self.clientFailure(append, Self.appendPayload(count: 1025, entries: [])) == .batchTooLarge)
        #expect(Self.clientFailure(append, Self.appendPayload(count: 0xffff, entries: [])) == .batchTooLarge)
        #expect(Self.clientFailure(append, Self.appendPayload(count: 3, entries: []), maxBatch: 2) == .batchTooLarge)
        // Exactly maxBatch is fine.
        let three = Self.appendPayload(count: 3, entries: Self.entries)
        #expect(try Self.client(append, three, maxBatch: 3) == .append(requestID: 1, entries: Self.entries))
        #expect(Self.clientFailure(append, three, maxBatch: 2) == .batchTooLarge)
        // Fewer entries than the count says.
        #expect(Self.clientFailure(append, Self.appendPayload(count: 4, entries: Self.entries)) == .malformedFrame)
    }

    @Test func entryLengthBeyondFrame() {
        let append = FrameType.append.rawValue
        let e = Self.entries[0]
        for length in [UInt32(e.count + 1), UInt32(e.count + 1000), UInt32.max] {
            #expect(Self.clientFailure(append, Self.appendPayload(count: 1, entries: [e], lengths: [length])) == .malformedFrame, "length \(length)")
        }
        // The second entry's length runs past the end.
        #expect(Self.clientFailure(append, Self.appendPayload(count: 2, entries: [e, e], lengths: [UInt32(e.count), UInt32(e.count + 1)])) == .malformedFrame)
        // A length shorter than the entry leaves bytes that do not parse as the next entry.
        #expect(Self.clientFailure(append, Self.appendPayload(count: 1, entries: [e], lengths: [UInt32(e.count - 1)])) == .malformedFrame)
    }

    @Test func malformedFields() {
        // Hello: client name over 64 bytes, invalid UTF-8.
        var w = ByteWriter()
        w.u16(1)
        w.rawString([UInt8](repeating: 0x61, count: 65))
        #expect(Self.clientFailure(FrameType.hello.rawValue, w.bytes) == .malformedFrame)
        w = ByteWriter()
        w.u16(1)
        w.rawString([0xc0, 0xaf])
        #expect(Self.clientFailure(FrameType.hello.rawValue, w.bytes) == .malformedFrame)
        // Ack: a count larger than the statuses present, an unknown status code.
        w = ByteWriter()
        w.u64(1)
        w.u16(0xffff)
        w.u8(0)
        w.u64(0)
        #expect(Self.serverFailure(FrameType.ack.rawValue, w.bytes) == .malformedFrame)
        for code: UInt8 in [8, 0x7f, 0xff] {
            w = ByteWriter()
            w.u64(1)
            w.u16(1)
            w.u8(code)
            w.u64(0)
            #expect(Self.serverFailure(FrameType.ack.rawValue, w.bytes) == .malformedFrame, "status \(code)")
        }
        // Error: message over 1024 bytes.
        w = ByteWriter()
        w.u16(TrailError.Code.io.rawValue)
        w.rawString([UInt8](repeating: 0x61, count: 1025))
        #expect(Self.serverFailure(FrameType.error.rawValue, w.bytes) == .malformedFrame)
    }
}
