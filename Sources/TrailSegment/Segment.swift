import TrailCore

/// How a writer cuts a segment into zstd frames and how hard it compresses them.
public struct SegmentWriteOptions: Hashable, Sendable {
    /// zstd compression level (1-22).
    public var level: Int
    /// A frame closes after this many records (seeking decompresses at most one frame).
    public var maxFrameRecords: Int
    /// ... or before a record would take its decompressed size past this many bytes.
    public var maxFrameBytes: Int

    public init(level: Int = 3, maxFrameRecords: Int = 4096, maxFrameBytes: Int = 1 << 20) {
        self.level = level
        self.maxFrameRecords = maxFrameRecords
        self.maxFrameBytes = maxFrameBytes
    }

    public static let `default` = SegmentWriteOptions()
}

/// A sealed segment in memory: the file's bytes and their validated header.
///
/// `init(bytes:expecting:)` checks the header and the offset table (SPEC 5.4 steps 1-14) without
/// decompressing anything; `validate()` decompresses every frame and recomputes the root
/// (steps 15-16). Reading a record decompresses only the frame that holds it.
public struct Segment: Sendable {
    public let bytes: [UInt8]
    public let header: SegmentHeader

    /// Parses the header and offset table of a whole segment file.
    public init(bytes: [UInt8], expecting expected: SegmentExpectation = .none) throws(TrailError) {
        self.header = try bytes.withUnsafeBytes { raw in
            Result { () throws(TrailError) in try SegmentHeader.parse(raw, fileSize: raw.count, expecting: expected) }
        }.get()
        self.bytes = bytes
    }

    /// Parses and fully validates a segment: header, every frame, every record, and the root.
    public static func open(bytes: [UInt8], expecting expected: SegmentExpectation = .none) throws(TrailError) -> Segment {
        let s = try Segment(bytes: bytes, expecting: expected)
        try s.validate()
        return s
    }

    // MARK: Encoding

    /// Encodes segment `segment` of 2^`segmentBits` entries: the log's entries
    /// `[segment * 2^k, (segment + 1) * 2^k)`, in order.
    public static func encode(
        segment: UInt64, segmentBits k: Int, entries: [[UInt8]], options: SegmentWriteOptions = .default
    ) throws(TrailError) -> [UInt8] {
        guard k >= 0 && k <= SegmentFormat.maxSegmentBits else {
            throw TrailError(.invalidArgument, "segment bits \(k) outside 0...\(SegmentFormat.maxSegmentBits)")
        }
        guard entries.count == 1 << k else {
            throw TrailError(.invalidArgument, "a segment of k = \(k) holds \(1 << k) entries, got \(entries.count)")
        }
        guard k == 0 || segment < UInt64(1) << UInt64(64 - k) else {
            throw TrailError(.invalidArgument, "segment \(segment) of 2^\(k) entries lies past the end of a 64-bit log")
        }
        guard options.maxFrameRecords >= 1, options.maxFrameBytes <= SegmentFormat.maxFrameContent else {
            throw TrailError(.invalidArgument, "frames need at least one record and at most \(SegmentFormat.maxFrameContent) bytes")
        }
        var frontier = MerkleFrontier()
        for (i, e) in entries.enumerated() {
            guard e.count >= SegmentFormat.minRecord && e.count <= SegmentFormat.maxRecord else {
                throw TrailError(.invalidArgument, "entry \(i) is \(e.count) bytes, not an entry (\(SegmentFormat.minRecord)...\(SegmentFormat.maxRecord))")
            }
            frontier.append(SHA256.leafHash(e))
        }
        let compressor = try ZstdCompressor(level: options.level)
        // Frames go after the header, whose size depends only on the frame count: cut first.
        var cuts: [Range<Int>] = []
        var start = 0
        var bytes = 0
        for (i, e) in entries.enumerated() {
            let record = 4 + e.count
            if i > start && (i - start == options.maxFrameRecords || bytes + record > options.maxFrameBytes) {
                cuts.append(start..<i)
                start = i
                bytes = 0
            }
            bytes += record
        }
        cuts.append(start..<entries.count)
        var body: [UInt8] = []
        var frames: [SegmentFrame] = []
        let headerSize = SegmentFormat.skippableOverhead + SegmentHeader.payloadSize(frames: cuts.count)
        var content = ByteWriter(capacity: min(options.maxFrameBytes, SegmentFormat.maxFrameContent))
        for cut in cuts {
            content.bytes.removeAll(keepingCapacity: true)
            for e in entries[cut] {
                content.u32(UInt32(e.count))
                content.raw(e)
            }
            let offset = headerSize + body.count
            try content.bytes.withUnsafeBytes { raw in
                Result { () throws(TrailError) in try compressor.compressFrame(raw, appendingTo: &body) }
            }.get()
            let digest = body.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[(offset - headerSize)...])) }
            frames.append(SegmentFrame(
                offset: offset, compressedSize: headerSize + body.count - offset, firstRecord: cut.lowerBound,
                recordCount: cut.count, contentSize: content.bytes.count, digest: digest))
        }
        let header = SegmentHeader(segmentBits: k, segment: segment, root: frontier.root, fileSize: headerSize + body.count, frames: frames)
        var out = header.encode()
        precondition(out.count == headerSize)
        out.append(contentsOf: body)
        return out
    }

    // MARK: Reading

    /// SPEC 5.4 steps 15-16: decompresses every frame, checks every record, recomputes the root.
    public func validate() throws(TrailError) {
        _ = try records()
    }

    /// Every record (encoded entry) in order, after full validation.
    public func records() throws(TrailError) -> [[UInt8]] {
        let decompressor = try ZstdDecompressor()
        var out: [[UInt8]] = []
        out.reserveCapacity(header.recordCount)
        var frontier = MerkleFrontier()
        for j in header.frames.indices {
            try decodeFrame(j, decompressor) { record in
                frontier.append(SHA256.hash(prefix: 0x00, record))
                out.append(Array(record))
            }
        }
        guard frontier.root == header.root else {
            throw TrailError(.segmentRootMismatch, "the records' subtree root is \(frontier.root.hex), the header says \(header.root.hex)")
        }
        return out
    }

    /// The records of frame `j`, decompressing that frame only.
    public func frameRecords(_ j: Int) throws(TrailError) -> [[UInt8]] {
        precondition(header.frames.indices.contains(j), "frame \(j) outside the segment")
        let decompressor = try ZstdDecompressor()
        var out: [[UInt8]] = []
        out.reserveCapacity(header.frames[j].recordCount)
        try decodeFrame(j, decompressor) { out.append(Array($0)) }
        return out
    }

    /// Record `r` (0-based within the segment: log index `firstIndex + r`), decompressing only the
    /// frame that holds it. The root is not rechecked: `validate()` once, or compare the record's
    /// hash with an inclusion proof.
    public func record(_ r: Int) throws(TrailError) -> [UInt8] {
        guard r >= 0 && r < header.recordCount else {
            throw TrailError(.indexOutOfRange, "record \(r) outside a segment of \(header.recordCount)")
        }
        let j = header.frameIndex(ofRecord: r)
        let decompressor = try ZstdDecompressor()
        var found: [UInt8] = []
        var i = header.frames[j].firstRecord
        try decodeFrame(j, decompressor) { record in
            if i == r { found = Array(record) }
            i += 1
        }
        return found
    }

    /// Decompresses frame `j` into a buffer of its declared size and hands each record to `body`
    /// in order, checking the frame (95) and its records (90, 96, 97).
    func decodeFrame(
        _ j: Int, _ decompressor: borrowing ZstdDecompressor, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(TrailError) {
        let frame = header.frames[j]
        try bytes.withUnsafeBytes { raw in Result { () throws(TrailError) in
            try SegmentDataFrame.decode(UnsafeRawBufferPointer(rebasing: raw[frame.offset..<frame.end]), frame, j, decompressor, body)
        } }.get()
    }
}

/// Checks of one data frame (SPEC 5.3) before and after decompression.
enum SegmentDataFrame {
    /// Step 15 for one frame: checks `compressed`, decompresses it into a buffer of its declared
    /// size, and hands each record to `body` in order.
    static func decode(
        _ compressed: UnsafeRawBufferPointer, _ frame: SegmentFrame, _ j: Int, _ decompressor: borrowing ZstdDecompressor,
        _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(TrailError) {
        try check(compressed, frame, j)
        let content = UnsafeMutableRawBufferPointer.allocate(byteCount: frame.contentSize, alignment: 8)
        defer { content.deallocate() }
        switch decompressor.decompress(compressed, into: content) {
        case .failure(let f):
            throw TrailError(.segmentFrameCorrupt, "frame \(j) does not decompress: \(f.reason)")
        case .success(let n):
            guard n == frame.contentSize else {
                throw TrailError(.segmentFrameCorrupt, "frame \(j) decompresses to \(n) bytes, declared \(frame.contentSize)")
            }
        }
        try records(UnsafeRawBufferPointer(content), frame, j, body)
    }

    /// The frame's SHA-256 must be the table's; its zstd frame header (RFC 8878 3.1.1) must declare the table's content size, a content
    /// checksum, no dictionary and a window of at most 16 MiB, and the frame must be exactly the
    /// table's compressed size.
    static func check(_ f: UnsafeRawBufferPointer, _ frame: SegmentFrame, _ j: Int) throws(TrailError) {
        func corrupt(_ why: String) -> TrailError { TrailError(.segmentFrameCorrupt, "frame \(j): \(why)") }
        guard SHA256.hash(f) == frame.digest else { throw corrupt("SHA-256 differs from the offset table's: the frame was altered or damaged") }
        guard f.count >= 6, littleEndianU32(f, 0) == SegmentFormat.zstdFrameMagic else { throw corrupt("not a zstd frame") }
        let fhd = f[4]
        let fcsFlag = Int(fhd >> 6)
        let singleSegment = fhd & 0x20 != 0
        guard fhd & 0x08 == 0 else { throw corrupt("reserved frame header bit set") }
        guard fhd & 0x04 != 0 else { throw corrupt("no content checksum") }
        guard fhd & 0x03 == 0 else { throw corrupt("uses a dictionary") }
        var at = 5
        var window = 0
        if !singleSegment {
            let wd = Int(f[at])
            at += 1
            let base = 1 << (10 + (wd >> 3))
            window = base + (base / 8) * (wd & 7)
        }
        let fcsSize = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]
        guard fcsSize > 0 else { throw corrupt("no content size") }
        guard f.count >= at + fcsSize else { throw corrupt("header cut short") }
        var fcs: UInt64 = 0
        for i in 0..<fcsSize { fcs |= UInt64(f[at + i]) << UInt64(8 * i) }
        if fcsSize == 2 { fcs += 256 }
        if singleSegment { window = Int(clamping: fcs) }
        guard fcs == UInt64(frame.contentSize) else {
            throw corrupt("content size \(fcs), the table says \(frame.contentSize)")
        }
        guard window <= SegmentFormat.maxFrameContent else { throw corrupt("window of \(window) bytes, limit \(SegmentFormat.maxFrameContent)") }
        guard let length = ZstdDecompressor.frameLength(f), length == f.count else {
            throw corrupt("is not one zstd frame of the table's \(f.count) bytes")
        }
    }

    /// Splits decompressed content into `u32 length || entry` records.
    static func records(
        _ content: UnsafeRawBufferPointer, _ frame: SegmentFrame, _ j: Int, _ body: (UnsafeRawBufferPointer) -> Void
    ) throws(TrailError) {
        var at = 0
        var count = 0
        while at < content.count {
            guard content.count - at >= 4 else {
                throw TrailError(.malformedSegment, "frame \(j) ends inside a record length")
            }
            let n = Int(content[at]) << 24 | Int(content[at + 1]) << 16 | Int(content[at + 2]) << 8 | Int(content[at + 3])
            at += 4
            guard n <= SegmentFormat.maxRecord else {
                throw TrailError(.segmentLimitExceeded, "record \(frame.firstRecord + count) is \(n) bytes, limit \(SegmentFormat.maxRecord)")
            }
            guard n >= SegmentFormat.minRecord else {
                throw TrailError(.malformedSegment, "record \(frame.firstRecord + count) is \(n) bytes, an entry has at least \(SegmentFormat.minRecord)")
            }
            guard content.count - at >= n else {
                throw TrailError(.malformedSegment, "frame \(j) ends inside record \(frame.firstRecord + count)")
            }
            body(UnsafeRawBufferPointer(rebasing: content[at..<(at + n)]))
            at += n
            count += 1
        }
        guard count == frame.recordCount else {
            throw TrailError(.segmentCountMismatch, "frame \(j) holds \(count) records, the table says \(frame.recordCount)")
        }
    }
}
