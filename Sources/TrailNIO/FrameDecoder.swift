import NIOCore
import TrailCore

/// One frame as read off the wire: its type byte and payload.
public struct InboundFrame: Equatable {
    public var type: UInt8
    public var payload: ByteBuffer
    public init(type: UInt8, payload: ByteBuffer) {
        self.type = type
        self.payload = payload
    }
}

/// Splits the byte stream into `u32 length || u8 type || payload` frames. The length is checked
/// against `maxFrame` before anything is buffered, so a hostile prefix cannot make us allocate.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = InboundFrame
    public let maxFrame: UInt32

    public init(maxFrame: UInt32) { self.maxFrame = maxFrame }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length >= 1 else { throw TrailError(.malformedFrame, "frame length 0: a frame holds at least its type") }
        guard length <= maxFrame else {
            throw TrailError(.frameTooLarge, "frame of \(length) bytes, limit \(maxFrame)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let type: UInt8 = buffer.readInteger()!
        let payload = buffer.readSlice(length: Int(length) - 1)!
        context.fireChannelRead(wrapInboundOut(InboundFrame(type: type, payload: payload)))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

