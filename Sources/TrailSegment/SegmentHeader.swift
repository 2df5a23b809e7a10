import TrailCore

/// Constants of the sealed segment format (protocol/SPEC.md section 5).
public enum SegmentFormat {
    /// The zstd skippable frame magic of the header frame (little-endian on disk, as zstd has it).
    public static let headerFrameMagic: UInt32 = 0x184D_2A5A
    /// The magic of a zstd data frame (RFC 8878).
    static let zstdFrameMagic: UInt32 = 0xFD2F_B528
    /// The first 8 bytes of the header payload.
    public static let magic: [UInt8] = Array("ATSEGMNT".utf8)
    public static let version: UInt8 = 1
    /// The largest `k`: a segment holds at most 2^24 records.
    public static let maxSegmentBits = 24
    /// The default `k`: 65,536 entries per segment.
    public static let defaultSegmentBits = 16
    /// The largest decompressed size of one data frame, and of its zstd window.
    public static let maxFrameContent = 16 << 20
    /// Record lengths: the smallest entry (header, empty body, signature) up to the entry limit.
    public static let minRecord = 152
    public static let maxRecord = EntryLimits.maxEntrySize
    /// The most compressed bytes a frame may declare for `content` decompressed bytes: above any
    /// zstd frame's worst case (`ZSTD_compressBound`), so that a file's size is bounded by its
    /// records before it is read.
    public static func maxCompressedSize(content: Int) -> Int { content + (content >> 7) + 1024 }
    /// magic, version, k, segment, record count, file size, root, frame count.
    static let fixedHeader = 66
    static let tableEntry = 56
    static let digestSize = 32
    /// The skippable frame's own magic and size fields.
    static let skippableOverhead = 8
    static var minHeaderPayload: Int { fixedHeader + tableEntry + digestSize }
    static var maxHeaderPayload: Int { fixedHeader + tableEntry * (1 << maxSegmentBits) + digestSize }
}

/// One zstd data frame of a segment, as its header's offset table lists it.
public struct SegmentFrame: Hashable, Sendable {
    /// Byte offset of the frame in the segment file.
    public let offset: Int
    public let compressedSize: Int
    /// Index (within the segment) of the first record in the frame.
    public let firstRecord: Int
    public let recordCount: Int
    /// Decompressed size: the frame's length-prefixed records.
    public let contentSize: Int
    /// SHA-256 of the frame's compressed bytes, so that any changed byte is caught, also one
    /// that zstd would decode to the same records.
    public let digest: Bytes32

    public var records: Range<Int> { firstRecord..<(firstRecord + recordCount) }
    public var end: Int { offset + compressedSize }
}

/// What a caller already knows about a segment it opens; a header that disagrees is
/// `unexpected_segment` (99).
public struct SegmentExpectation: Hashable, Sendable {
    public var segment: UInt64?
    public var segmentBits: Int?
    public var root: Bytes32?

    public init(segment: UInt64? = nil, segmentBits: Int? = nil, root: Bytes32? = nil) {
        self.segment = segment
        self.segmentBits = segmentBits
        self.root = root
    }

    public static let none = SegmentExpectation()
}

/// The validated header of a segment: which subtree of the log it holds, its root, and where
/// each frame is.
public struct SegmentHeader: Hashable, Sendable {
    /// k: the segment holds 2^k entries.
    public let segmentBits: Int
    /// i: the segment holds log entries `[i * 2^k, (i + 1) * 2^k)`.
    public let segment: UInt64
    /// RFC 9162 MTH of the 2^k entry hashes: the log's complete subtree node at level k, index i.
    public let root: Bytes32
    /// Total length of the segment file in bytes.
    public let fileSize: Int
    public let frames: [SegmentFrame]

    public var recordCount: Int { 1 << segmentBits }
    /// Log index of the first record.
    public var firstIndex: UInt64 { segment << UInt64(segmentBits) }
    /// Log indexes held: `[firstIndex, firstIndex + 2^k)`.
    public var indexes: Range<UInt64> { firstIndex..<(firstIndex + UInt64(recordCount)) }
    /// The log's Merkle node this segment is.
    public var node: MerkleNode { MerkleNode(level: segmentBits, index: segment) }
    /// Bytes of the header frame, skippable frame fields included.
    public var headerSize: Int { SegmentFormat.skippableOverhead + Self.payloadSize(frames: frames.count) }
    /// Sum of the frames' decompressed sizes: the length-prefixed records `zstd -d` prints.
    public var contentSize: Int { frames.reduce(0) { $0 + $1.contentSize } }

    static func payloadSize(frames: Int) -> Int {
        SegmentFormat.fixedHeader + SegmentFormat.tableEntry * frames + SegmentFormat.digestSize
    }

    /// The frame holding record `r` (0-based within the segment).
    public func frameIndex(ofRecord r: Int) -> Int {
        precondition(r >= 0 && r < recordCount, "record \(r) outside the segment")
        var lo = 0
        var hi = frames.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if frames[mid].firstRecord <= r { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    // MARK: Encoding

    /// The header frame: skippable frame magic and size (little-endian), then the payload.
    func encode() -> [UInt8] {
        let payload = Self.payloadSize(frames: frames.count)
        var w = ByteWriter(capacity: SegmentFormat.skippableOverhead + payload)
        w.u32(SegmentFormat.headerFrameMagic.byteSwapped)
        w.u32(UInt32(payload).byteSwapped)
        w.raw(SegmentFormat.magic)
        w.u8(SegmentFormat.version)
        w.u8(UInt8(segmentBits))
        w.u64(segment)
        w.u32(UInt32(recordCount))
        w.u64(UInt64(fileSize))
        w.bytes32(root)
        w.u32(UInt32(frames.count))
        for f in frames {
            w.u64(UInt64(f.offset))
            w.u32(UInt32(f.compressedSize))
            w.u32(UInt32(f.firstRecord))
            w.u32(UInt32(f.recordCount))
            w.u32(UInt32(f.contentSize))
            w.bytes32(f.digest)
        }
        let digest = w.bytes.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[SegmentFormat.skippableOverhead...])) }
        w.bytes32(digest)
        return w.bytes
    }

    // MARK: Parsing

    /// The header frame's length, skippable fields included, from the first 8 bytes of a file of
    /// `fileSize` bytes: steps 1-3 of SPEC 5.4, so a reader knows how much to read before
    /// allocating anything.
    public static func headerLength(prefix: UnsafeRawBufferPointer, fileSize: Int) throws(TrailError) -> Int {
        guard prefix.count >= 8, fileSize >= 8 else {
            throw TrailError(.segmentTruncated, "segment is \(fileSize) bytes, shorter than a header frame's 8-byte prefix")
        }
        guard littleEndianU32(prefix, 0) == SegmentFormat.headerFrameMagic else {
            throw TrailError(.notASegment, "first frame magic is 0x\(String(littleEndianU32(prefix, 0), radix: 16)), not the segment header's 0x184d2a5a")
        }
        let size = Int(littleEndianU32(prefix, 4))
        guard size >= SegmentFormat.minHeaderPayload else {
            throw TrailError(.malformedSegment, "header payload is \(size) bytes, at least \(SegmentFormat.minHeaderPayload) required")
        }
        guard size <= SegmentFormat.maxHeaderPayload else {
            throw TrailError(.segmentLimitExceeded, "header payload is \(size) bytes, limit \(SegmentFormat.maxHeaderPayload)")
        }
        guard SegmentFormat.skippableOverhead + size <= fileSize else {
            throw TrailError(.segmentTruncated, "segment is \(fileSize) bytes, ends inside its \(8 + size)-byte header frame")
        }
        return SegmentFormat.skippableOverhead + size
    }

    /// Parses and validates the header frame at the start of `bytes` (at least the header frame;
    /// the whole file for an in-memory segment) of a file of `fileSize` bytes: SPEC 5.4 steps 1-14.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, fileSize: Int, expecting expected: SegmentExpectation = .none
    ) throws(TrailError) -> SegmentHeader {
        let length = try headerLength(prefix: bytes, fileSize: fileSize)
        guard bytes.count >= length else { throw TrailError(.segmentTruncated, "input ends inside the header frame") }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[SegmentFormat.skippableOverhead..<length])
        guard payload.starts(with: SegmentFormat.magic) else {
            throw TrailError(.notASegment, "header magic is not ATSEGMNT")
        }
        guard payload[8] == SegmentFormat.version else {
            throw TrailError(.unsupportedSegmentVersion, "segment format version \(payload[8]), only 1 is known")
        }
        let body = UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - SegmentFormat.digestSize)])
        let stored = Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: payload[(payload.count - SegmentFormat.digestSize)...]))
        guard SHA256.hash(body) == stored else {
            throw TrailError(.segmentHeaderCorrupt, "header digest does not match: the header was altered or damaged")
        }
        // The digest matched: the fields are as written, now check that they make sense.
        var r = ByteReader(body, offset: 9)
        let k = Int(try r.u8("segment bits"))
        let number = try r.u64("segment number")
        let count = try r.u32("record count")
        let declaredSize = try r.u64("file size")
        let root = try r.bytes32("root")
        let frameCount = Int(try r.u32("frame count"))
        guard k <= SegmentFormat.maxSegmentBits else {
            throw TrailError(.segmentLimitExceeded, "segment bits \(k), limit \(SegmentFormat.maxSegmentBits)")
        }
        let records = 1 << k
        guard count == records else {
            throw TrailError(.segmentCountMismatch, "header declares \(count) records, a segment of k = \(k) holds \(records)")
        }
        guard k == 0 || number < UInt64(1) << UInt64(64 - k) else {
            throw TrailError(.malformedSegment, "segment \(number) of 2^\(k) entries lies past the end of a 64-bit log")
        }
        guard frameCount >= 1 && frameCount <= records else {
            throw TrailError(.malformedSegment, "\(frameCount) frames for \(records) records")
        }
        guard payload.count == payloadSize(frames: frameCount) else {
            throw TrailError(.malformedSegment, "header payload is \(payload.count) bytes, \(frameCount) frames need \(payloadSize(frames: frameCount))")
        }
        guard declaredSize <= UInt64(fileSize) else {
            throw TrailError(.segmentTruncated, "segment is \(fileSize) bytes, its header declares \(declaredSize): the file was cut short")
        }
        guard declaredSize == UInt64(fileSize) else {
            throw TrailError(.malformedSegment, "segment is \(fileSize) bytes, its header declares \(declaredSize): bytes after the last frame")
        }
        var frames: [SegmentFrame] = []
        frames.reserveCapacity(frameCount)
        var offset = length
        var first = 0
        for j in 0..<frameCount {
            let fOffset = try r.u64("frame offset")
            let compressed = Int(try r.u32("frame compressed size"))
            let fFirst = Int(try r.u32("frame first record"))
            let fCount = Int(try r.u32("frame record count"))
            let content = Int(try r.u32("frame content size"))
            let digest = try r.bytes32("frame digest")
            guard content <= SegmentFormat.maxFrameContent else {
                throw TrailError(.segmentLimitExceeded, "frame \(j) declares \(content) decompressed bytes, limit \(SegmentFormat.maxFrameContent)")
            }
            guard compressed <= SegmentFormat.maxCompressedSize(content: content) else {
                throw TrailError(.segmentLimitExceeded, "frame \(j) declares \(compressed) compressed bytes for \(content), limit \(SegmentFormat.maxCompressedSize(content: content))")
            }
            guard fCount >= 1 else { throw TrailError(.malformedSegment, "frame \(j) holds no records") }
            guard fOffset == UInt64(offset) else {
                throw TrailError(.malformedSegment, "frame \(j) is at offset \(fOffset), expected \(offset) (frames follow each other)")
            }
            guard fFirst == first else {
                throw TrailError(.malformedSegment, "frame \(j) starts at record \(fFirst), expected \(first)")
            }
            guard compressed >= 1 && compressed <= fileSize - offset else {
                throw TrailError(.malformedSegment, "frame \(j) of \(compressed) bytes at offset \(offset) does not fit in the file")
            }
            guard first + fCount <= records else {
                throw TrailError(.segmentCountMismatch, "frames hold more than the segment's \(records) records")
            }
            guard content >= fCount * (4 + SegmentFormat.minRecord) && content <= fCount * (4 + SegmentFormat.maxRecord) else {
                throw TrailError(.malformedSegment, "frame \(j) declares \(content) bytes for \(fCount) records")
            }
            frames.append(SegmentFrame(offset: offset, compressedSize: compressed, firstRecord: first, recordCount: fCount, contentSize: content, digest: digest))
            offset += compressed
            first += fCount
        }
        guard first == records else {
            throw TrailError(.segmentCountMismatch, "frames hold \(first) records, the segment \(records)")
        }
        guard offset == fileSize else {
            throw TrailError(.malformedSegment, "frames end at byte \(offset), the file at \(fileSize)")
        }
        let header = SegmentHeader(segmentBits: k, segment: number, root: root, fileSize: fileSize, frames: frames)
        try header.check(expected)
        return header
    }

    /// SPEC 5.4 step 14: the caller's expectations.
    func check(_ expected: SegmentExpectation) throws(TrailError) {
        if let n = expected.segment, n != segment {
            throw TrailError(.unexpectedSegment, "segment file holds segment \(segment), expected \(n)")
        }
        if let k = expected.segmentBits, k != segmentBits {
            throw TrailError(.unexpectedSegment, "segment file has k = \(segmentBits), expected \(k)")
        }
        if let root = expected.root, root != self.root {
            throw TrailError(.unexpectedSegment, "segment root is \(self.root.hex), expected \(root.hex)")
        }
    }
}

@inline(__always)
func littleEndianU32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
}
