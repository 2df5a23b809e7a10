// Frames from outside: a byte stream cut into `u32 length || u8 type || payload` frames with the
// checks FrameDecoder (TrailNIO) makes, each payload decoded as WireCodec does for a server
// (client messages) and for a client (server messages). FrameDecoder itself, on NIO, is tested
// with ByteToMessageDecoderVerifier in Tests/TrailNIOTests.
@testable import TrailCore

/// The limits of protocol/vectors/frames.json.
let maxFrame = 1 << 20
let maxBatch = 1024

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = input(data, size)
    var pos = 0
    while bytes.count - pos >= WireCodec.lengthPrefix {
        let length = Int(bytes[pos]) << 24 | Int(bytes[pos + 1]) << 16 | Int(bytes[pos + 2]) << 8 | Int(bytes[pos + 3])
        // FrameDecoder: 0 is malformed (102), above max_frame is frame_too_large (100); both close.
        if length == 0 || length > maxFrame { return 0 }
        guard bytes.count - pos - WireCodec.lengthPrefix >= length else { return 0 }  // needs more data
        let frame = Array(bytes[pos..<(pos + WireCodec.lengthPrefix + length)])
        pos += WireCodec.lengthPrefix + length
        let type = frame[4]
        frame[5...].withUnsafeBytes { payload in
            do throws(TrailError) {
                let m = try WireCodec.decodeClient(type: type, payload: payload, maxBatch: maxBatch)
                // What decodes re-encodes to exactly the frame: one encoding per message.
                check(WireCodec.encode(m) == frame, "client message \(m) re-encodes differently")
                if case .append(_, let entries) = m {
                    check((1...maxBatch).contains(entries.count), "append batch of \(entries.count) entries")
                }
            } catch {
                checkRejection(error, [101, 102, 105], "decodeClient")
            }
            do throws(TrailError) {
                let m = try WireCodec.decodeServer(type: type, payload: payload)
                check(WireCodec.encode(m) == frame, "server message \(m) re-encodes differently")
            } catch {
                checkRejection(error, [101, 102], "decodeServer")
            }
        }
    }
    return 0
}
