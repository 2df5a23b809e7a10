import Foundation
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
import TrailCore
import TrailNIO

/// protocol/vectors/frames.json, read in place.
enum Vectors {
    struct Frame {
        let name: String
        let direction: String
        let bytes: [UInt8]
        /// The expected error code of an invalid vector.
        let code: UInt16?
    }

    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().appendingPathComponent("../../protocol/vectors/frames.json").standardized

    static let (maxFrame, maxBatch, valid, invalid): (UInt32, Int, [Frame], [Frame]) = {
        let o = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        func frames(_ key: String) -> [Frame] {
            (o[key] as! [[String: Any]]).map {
                Frame(
                    name: $0["name"] as! String, direction: $0["direction"] as! String,
                    bytes: Hex.decode($0["hex"] as! String)!, code: ($0["code"] as? NSNumber)?.uint16Value)
            }
        }
        return ((o["max_frame"] as! NSNumber).uint32Value, (o["max_batch"] as! NSNumber).intValue, frames("valid"), frames("invalid"))
    }()

    static func named(_ name: String) -> Frame { (valid + invalid).first { $0.name == name }! }
}

/// The frame `bytes` (length prefix included) should come out of FrameDecoder as.
func inbound(_ bytes: [UInt8]) -> InboundFrame {
    InboundFrame(type: bytes[4], payload: ByteBuffer(bytes: bytes[5...]))
}

/// The TrailError a decoder threw, or nil if `body` succeeds.
func trailErrorCode(_ body: () throws -> Void) -> TrailError.Code? {
    do {
        try body()
        return nil
    } catch let e as TrailError {
        return e.code
    } catch {
        Issue.record("expected a TrailError, got \(error)")
        return nil
    }
}

@Suite("FrameDecoder (TrailNIO)")
struct FrameDecoderTests {
    /// Frames that FrameDecoder passes on (all but the two whose length prefix it refuses).
    static var framed: [Vectors.Frame] {
        (Vectors.valid + Vectors.invalid).filter { $0.code != 100 && !($0.code == 102 && $0.bytes.count == 4) }
    }

    @Test func vectorsThroughVerifier() throws {
        // Each vector alone, and every valid one as one stream, fed whole, byte by byte and many at once.
        var pairs = Self.framed.map { (ByteBuffer(bytes: $0.bytes), [inbound($0.bytes)]) }
        pairs.append((ByteBuffer(bytes: Vectors.valid.flatMap(\.bytes)), Vectors.valid.map { inbound($0.bytes) }))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(maxFrame: Vectors.maxFrame)
        }
    }

    @Test func streamSplitAtEveryByte() throws {
        // The valid vectors as one stream, cut in two at every position: always the same frames.
        let stream = Vectors.valid.flatMap(\.bytes)
        let expected = Vectors.valid.map { inbound($0.bytes) }
        for cut in 0...stream.count {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: Vectors.maxFrame)))
            try channel.writeInbound(ByteBuffer(bytes: stream[..<cut]))
            try channel.writeInbound(ByteBuffer(bytes: stream[cut...]))
            var got: [InboundFrame] = []
            while let f = try channel.readInbound(as: InboundFrame.self) { got.append(f) }
            #expect(got == expected, "cut at \(cut)")
            #expect(try channel.finish().isClean)
        }
    }

    /// Decodes one vector as a connection does: FrameDecoder, then WireCodec for its direction.
    static func decode(_ v: Vectors.Frame) throws -> [UInt8] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: Vectors.maxFrame)))
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(bytes: v.bytes))
        guard let frame = try channel.readInbound(as: InboundFrame.self) else { throw TrailError(.truncated, "no frame") }
        #expect(try channel.readInbound(as: InboundFrame.self) == nil, "one vector, one frame")
        return try frame.payload.withUnsafeReadableBytes { (p) throws -> [UInt8] in
            v.direction == "client"
                ? WireCodec.encode(try WireCodec.decodeClient(type: frame.type, payload: p, maxBatch: Vectors.maxBatch))
                : WireCodec.encode(try WireCodec.decodeServer(type: frame.type, payload: p))
        }
    }

    @Test(arguments: Vectors.valid.map(\.name))
    func validVector(_ name: String) throws {
        let v = Vectors.named(name)
        #expect(try Self.decode(v) == v.bytes, "decoded and re-encoded")
    }

    @Test(arguments: Vectors.invalid.map(\.name))
    func invalidVector(_ name: String) {
        let v = Vectors.named(name)
        #expect(trailErrorCode { _ = try Self.decode(v) }?.rawValue == v.code)
    }

    @Test func lengthIsCheckedBeforeThePayloadArrives() throws {
        // Only the 4-byte prefix of a frame one byte over the limit: refused at once, nothing buffered.
        let limit: UInt32 = 100
        let over = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: limit)))
        var prefix = ByteBuffer()
        prefix.writeInteger(limit + 1)
        #expect(trailErrorCode { try over.writeInbound(prefix) } == .frameTooLarge)
        var huge = ByteBuffer()
        huge.writeInteger(UInt32.max)
        let max = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: limit)))
        #expect(trailErrorCode { try max.writeInbound(huge) } == .frameTooLarge)
        let zero = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: limit)))
        #expect(trailErrorCode { try zero.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0])) } == .malformedFrame)

        // Exactly the limit is a frame.
        let at = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: limit)))
        var frame = ByteBuffer()
        frame.writeInteger(limit)
        frame.writeInteger(UInt8(FrameType.ping.rawValue))
        frame.writeBytes([UInt8](repeating: 0xab, count: Int(limit) - 1))
        try at.writeInbound(frame)
        let got = try #require(try at.readInbound(as: InboundFrame.self))
        #expect(got.type == FrameType.ping.rawValue && got.payload.readableBytes == Int(limit) - 1)
        #expect(try at.finish().isClean)
    }

    @Test func randomFramesSplitAnyway() throws {
        // Deterministic random streams of frames of every type byte and size up to 300 bytes, fed in
        // random pieces: the frames come out whole and in order.
        var rng = SplitMix64(seed: 10)
        for round in 0..<200 {
            var stream: [UInt8] = []
            var expected: [InboundFrame] = []
            for _ in 0..<Int(rng.next() % 8 + 1) {
                let payload = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let bytes = [UInt8](withUnsafeBytes(of: UInt32(payload.count + 1).bigEndian, Array.init))
                    + [UInt8(truncatingIfNeeded: rng.next())] + payload
                stream += bytes
                expected.append(inbound(bytes))
            }
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maxFrame: 512)))
            var pos = 0
            while pos < stream.count {
                let n = min(stream.count - pos, Int(rng.next() % 64) + 1)
                try channel.writeInbound(ByteBuffer(bytes: stream[pos..<(pos + n)]))
                pos += n
            }
            var got: [InboundFrame] = []
            while let f = try channel.readInbound(as: InboundFrame.self) { got.append(f) }
            #expect(got == expected, "round \(round)")
            #expect(try channel.finish().isClean)
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failing round can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
