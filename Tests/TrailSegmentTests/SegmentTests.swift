import Foundation
import Testing
import TrailCore

@testable import TrailSegment

@Suite("Segments")
struct SegmentTests {
    /// Encode, parse, validate: the records come back in order, the header names the subtree,
    /// and the root is the one TrailCore's Merkle code computes for those leaves.
    @Test(arguments: [(0, 1024), (2, 1), (2, 3), (4, 5), (8, 1024), (8, 17), (10, 100)])
    func roundTrip(k: Int, frameRecords: Int) throws {
        let entries = actionEntries(1 << k)
        let bytes = try Segment.encode(segment: 3, segmentBits: k, entries: entries, options: .init(maxFrameRecords: frameRecords))
        let segment = try Segment.open(bytes: bytes, expecting: .init(segment: 3, segmentBits: k))
        let h = segment.header
        #expect(try segment.records() == entries)
        #expect(h.segment == 3 && h.segmentBits == k && h.recordCount == 1 << k)
        #expect(h.firstIndex == 3 << UInt64(k) && h.indexes.count == 1 << k)
        #expect(h.root == Merkle.root(leaves: entries.map { SHA256.leafHash($0) }))
        #expect(h.fileSize == bytes.count)
        #expect(h.frames.count == ((1 << k) + frameRecords - 1) / frameRecords)
        #expect(h.frames.allSatisfy { $0.recordCount <= frameRecords })
        #expect(h.contentSize == lengthPrefixed(entries).count)
    }

    /// Frames close at the byte limit too, whatever the record limit says.
    @Test func framesCutBySize() throws {
        let entries = actionEntries(64)
        let bytes = try Segment.encode(segment: 0, segmentBits: 6, entries: entries, options: .init(maxFrameRecords: 1024, maxFrameBytes: 2000))
        let s = try Segment.open(bytes: bytes)
        #expect(s.header.frames.count > 1)
        #expect(s.header.frames.allSatisfy { $0.contentSize <= 2000 })
        #expect(try s.records() == entries)
    }

    /// The writer refuses what is not a segment.
    @Test func encoderRejectsBadInput() {
        let entries = actionEntries(4)
        #expect(failure { () throws(TrailError) in _ = try Segment.encode(segment: 0, segmentBits: 2, entries: Array(entries.prefix(3))) } == .invalidArgument)
        #expect(failure { () throws(TrailError) in _ = try Segment.encode(segment: 0, segmentBits: 25, entries: []) } == .invalidArgument)
        #expect(failure { () throws(TrailError) in _ = try Segment.encode(segment: 1 << 62, segmentBits: 2, entries: entries) } == .invalidArgument)
        var short = entries
        short[2] = Array(short[2].prefix(151))
        #expect(failure { () throws(TrailError) in _ = try Segment.encode(segment: 0, segmentBits: 2, entries: short) } == .invalidArgument)
    }

    /// `zstd -d < segment` (the real zstd tool) prints exactly the length-prefixed entries.
    @Test(arguments: [2, 9])
    func zstdToolReadsASegment(k: Int) throws {
        let zstd = try #require(executable("zstd"), "the zstd command-line tool is needed (make deps installs it)")
        let entries = actionEntries(1 << k)
        try withTemporaryDirectory { dir in
            let path = "\(dir)/seg-\(k)"
            let header = try SegmentFile.write(segment: 1, segmentBits: k, entries: entries, to: path, options: .init(maxFrameRecords: 100))
            #expect(header.frames.count == ((1 << k) + 99) / 100)
            let r = try run(zstd, ["-d", "-q", "-c"], stdin: path)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == lengthPrefixed(entries))
            // zstd's own integrity test passes too (every frame's checksum).
            let t = try run(zstd, ["-t", "-q", path])
            #expect(t.status == 0, "\(t.stderr)")
        }
    }

    /// Reading record r decompresses one frame only: with every other frame destroyed, each
    /// record of the intact frame still reads, and a record of a destroyed frame is 95.
    @Test func seekingDecompressesOneFrame() throws {
        let entries = actionEntries(256)
        let bytes = try Segment.encode(segment: 0, segmentBits: 8, entries: entries, options: .init(maxFrameRecords: 30))
        let header = try Segment(bytes: bytes).header
        #expect(header.frames.count == 9)
        for r in 0..<256 { #expect(try Segment(bytes: bytes).record(r) == entries[r]) }
        for keep in header.frames.indices {
            var damaged = bytes
            for (j, f) in header.frames.enumerated() where j != keep {
                for i in f.offset..<f.end { damaged[i] ^= 0xff }
            }
            let s = try Segment(bytes: damaged)
            let f = header.frames[keep]
            for r in f.records { #expect(try s.record(r) == entries[r]) }
            #expect(try s.frameRecords(keep) == Array(entries[f.records]))
            let other = keep == 0 ? 1 : 0
            #expect(failure { () throws(TrailError) in _ = try s.record(header.frames[other].firstRecord) } == .segmentFrameCorrupt)
            #expect(openFailure(damaged) == .segmentFrameCorrupt)
        }
        #expect(header.frameIndex(ofRecord: 0) == 0 && header.frameIndex(ofRecord: 29) == 0)
        #expect(header.frameIndex(ofRecord: 30) == 1 && header.frameIndex(ofRecord: 255) == 8)
        #expect(failure { () throws(TrailError) in _ = try Segment(bytes: bytes).record(256) } == .indexOutOfRange)
    }

    /// Every cut of a segment (a write interrupted at any byte) is `segment_truncated`, in memory
    /// and as a file on disk.
    @Test func everyTruncationIsDetected() throws {
        let bytes = try Segment.encode(segment: 5, segmentBits: 3, entries: actionEntries(8), options: .init(maxFrameRecords: 3))
        for cut in 0..<bytes.count {
            #expect(openFailure(Array(bytes.prefix(cut))) == .segmentTruncated, "cut at \(cut)")
        }
        try withTemporaryDirectory { dir in
            let path = "\(dir)/cut"
            for cut in stride(from: 0, to: bytes.count, by: 37) {
                try writeFile(path, Array(bytes.prefix(cut)))
                #expect(failure { () throws(TrailError) in _ = try SegmentFile.open(path) } == .segmentTruncated, "cut at \(cut)")
            }
        }
    }

    /// Any flipped byte, anywhere, is rejected: every byte of a small segment with several bit
    /// patterns, and sampled positions of a larger one.
    @Test func everyFlippedByteIsDetected() throws {
        let small = try Segment.encode(segment: 2, segmentBits: 3, entries: actionEntries(8), options: .init(maxFrameRecords: 3))
        let segmentCodes: Set<UInt16> = Set(90...99)
        for i in small.indices {
            for pattern: UInt8 in [0x01, 0x10, 0x80, 0xff] {
                var m = small
                m[i] ^= pattern
                let code = openFailure(m)
                #expect(code != nil && segmentCodes.contains(code!.rawValue), "flip \(pattern) at \(i): \(String(describing: code))")
            }
        }
        let large = try Segment.encode(segment: 0, segmentBits: 10, entries: actionEntries(1024), options: .init(maxFrameRecords: 100))
        for i in stride(from: 0, to: large.count, by: 97) {
            var m = large
            m[i] ^= 0x04
            #expect(openFailure(m) != nil, "flip at \(i)")
        }
        // Header flips are the header's digest; frame flips the frame's.
        let h = try Segment(bytes: large).header
        var m = large
        m[h.headerSize - 40] ^= 1
        #expect(openFailure(m) == .segmentHeaderCorrupt)
        m = large
        m[h.frames[3].offset + 50] ^= 1
        #expect(openFailure(m) == .segmentFrameCorrupt)
    }

    /// The caller's expectations are checked before anything is decompressed.
    @Test func expectations() throws {
        let entries = actionEntries(4)
        let bytes = try Segment.encode(segment: 7, segmentBits: 2, entries: entries)
        let root = Merkle.root(leaves: entries.map { SHA256.leafHash($0) })
        #expect(openFailure(bytes, .init(segment: 7, segmentBits: 2, root: root)) == nil)
        #expect(openFailure(bytes, .init(segment: 6)) == .unexpectedSegment)
        #expect(openFailure(bytes, .init(segmentBits: 3)) == .unexpectedSegment)
        #expect(openFailure(bytes, .init(root: SHA256.leafHash(entries[0]))) == .unexpectedSegment)
    }

    /// A segment's root is the log's node (k, i): the same hash TrailCore computes from the
    /// whole log, tied to the log's root by (a) the leaf inclusion proof without its first k
    /// hashes and (b) an RFC 9162 consistency proof from the end of the segment, and by the
    /// subtree consistency proof TrailCore also implements.
    @Test func rootMatchesTheLog() throws {
        let k = 4
        let log = actionEntries(3 * 16 + 5, agents: 3)
        let leaves = log.map { SHA256.leafHash($0) }
        let size = UInt64(log.count)
        let treeRoot = Merkle.root(leaves: leaves)
        let leaf: Merkle.LeafAccessor = { (i: UInt64) throws(TrailError) -> Bytes32 in leaves[Int(i)] }
        var roots: [Bytes32] = []
        for i in 0..<3 {
            let bytes = try Segment.encode(segment: UInt64(i), segmentBits: k, entries: Array(log[(i * 16)..<((i + 1) * 16)]))
            let h = try Segment.open(bytes: bytes).header
            #expect(h.root == (try Merkle.subtreeRoot(start: UInt64(i * 16), end: UInt64((i + 1) * 16), leaf: leaf)))
            let proof = try SegmentProof.inclusionProof(segment: UInt64(i), segmentBits: k, size: size, node: Merkle.nodes(fromLeaves: leaf))
            try SegmentProof.verifyInclusion(root: h.root, segment: UInt64(i), segmentBits: k, size: size, proof: proof, treeRoot: treeRoot)
            #expect(failure { () throws(TrailError) in
                try SegmentProof.verifyInclusion(root: h.root, segment: UInt64(i), segmentBits: k, size: size, proof: proof, treeRoot: leaves[0])
            } == .rootMismatch)
            roots.append(h.root)
            let end = UInt64((i + 1) * 16)
            let consistency = try Merkle.consistencyProof(from: end, to: size, leaf: leaf)
            try SegmentProof.verifyPrefix(roots: roots, segmentBits: k, size: size, proof: consistency, treeRoot: treeRoot)
            let subtree = try Merkle.subtreeConsistencyProof(start: UInt64(i * 16), end: end, size: size, node: Merkle.nodes(fromLeaves: leaf))
            try Merkle.verifySubtreeConsistency(start: UInt64(i * 16), end: end, size: size, proof: subtree, subtreeRoot: h.root, root: treeRoot)
        }
        // Segment 3 is not complete at this size.
        #expect(failure { () throws(TrailError) in
            try SegmentProof.verifyInclusion(root: roots[0], segment: 3, segmentBits: k, size: size, proof: [], treeRoot: treeRoot)
        } == .indexOutOfRange)
    }

    /// Hostile headers with a valid digest: huge declared counts and sizes are refused from the
    /// header alone, before anything of that size is allocated.
    @Test func hostileHeadersAreBounded() throws {
        let entries = actionEntries(4)
        let bytes = try Segment.encode(segment: 0, segmentBits: 2, entries: entries)
        let h = try Segment(bytes: bytes).header
        func forged(_ header: SegmentHeader, payloadSize: UInt32? = nil) -> [UInt8] {
            var out = header.encode()
            if let payloadSize { withUnsafeBytes(of: payloadSize.littleEndian) { for i in 0..<4 { out[4 + i] = $0[i] } } }
            return out + bytes[h.headerSize...]
        }
        func with(k: Int? = nil, frames: [SegmentFrame]? = nil, fileSize: Int? = nil) -> SegmentHeader {
            SegmentHeader(segmentBits: k ?? 2, segment: 0, root: h.root, fileSize: fileSize ?? h.fileSize, frames: frames ?? h.frames)
        }
        let f = h.frames[0]
        func frame(content: Int? = nil, count: Int? = nil) -> SegmentFrame {
            SegmentFrame(offset: f.offset, compressedSize: f.compressedSize, firstRecord: 0, recordCount: count ?? f.recordCount, contentSize: content ?? f.contentSize, digest: f.digest)
        }
        #expect(openFailure(forged(with(k: 24))) == .segmentCountMismatch)
        #expect(openFailure(forged(with(frames: [frame(content: Int(UInt32.max))]))) == .segmentLimitExceeded)
        #expect(openFailure(forged(with(frames: [frame(content: 16 << 20)]))) == .malformedSegment)
        #expect(openFailure(forged(with(frames: [frame(count: 1 << 20)]))) == .segmentCountMismatch)
        #expect(openFailure(forged(with(fileSize: Int(UInt32.max) * 16))) == .segmentTruncated)
        #expect(openFailure(forged(h, payloadSize: UInt32.max)) == .segmentLimitExceeded)
        #expect(openFailure(forged(h, payloadSize: 66 + 56 * (1 << 24) + 32)) == .segmentTruncated)
        #expect(openFailure(forged(h, payloadSize: 10)) == .malformedSegment)
        #expect(openFailure([]) == .segmentTruncated)
        #expect(openFailure(Array("not a segment at all".utf8)) == .notASegment)
    }
}

@Suite("Large segments")
struct LargeSegmentTests {
    /// A default segment (k = 16, 65,536 action entries of 1000 agents, about 240 bytes each):
    /// everything round-trips and the real zstd tool agrees; ratio and speed are printed (this is
    /// a debug build: `trail bench segment` measures a release build, bench/README.md).
    @Test func defaultSizeSegment() throws {
        let k = SegmentFormat.defaultSegmentBits
        let entries = actionEntries(1 << k, agents: 1000)
        let raw = entries.reduce(0) { $0 + $1.count }
        let clock = ContinuousClock()
        let t0 = clock.now
        let bytes = try Segment.encode(segment: 4, segmentBits: k, entries: entries)
        let t1 = clock.now
        let segment = try Segment.open(bytes: bytes, expecting: .init(segment: 4, segmentBits: k))
        let t2 = clock.now
        for r in stride(from: 0, to: 1 << k, by: 4099) { #expect(try segment.record(r) == entries[r]) }
        let t3 = clock.now
        #expect(try segment.records() == entries)
        #expect(segment.header.frames.count == 16)
        #expect(segment.header.root == Merkle.root(leaves: entries.map { SHA256.leafHash($0) }))
        let ratio = Double(bytes.count) / Double(raw)
        func mbps(_ d: Duration) -> String {
            String(format: "%.0f", Double(raw) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) / 1e6)
        }
        print("segment k=\(k): \(entries.count) entries, \(raw) raw bytes, \(bytes.count) segment bytes, ratio \(String(format: "%.4f", ratio)); encode \(mbps(t1 - t0)) MB/s, open+verify \(mbps(t2 - t1)) MB/s, 16 seeks \(t3 - t2) (debug build)")
        // Entries that are mostly hashes and signatures still shrink: keys, names and field
        // layout repeat.
        #expect(ratio < 0.95)
        let zstd = try #require(executable("zstd"), "the zstd command-line tool is needed (make deps installs it)")
        try withTemporaryDirectory { dir in
            try SegmentFile.write(bytes, to: "\(dir)/big")
            let r = try run(zstd, ["-d", "-q", "-c"], stdin: "\(dir)/big")
            #expect(r.status == 0 && r.stdout == lengthPrefixed(entries))
            #expect(try SegmentFile.open("\(dir)/big").header == segment.header)
        }
    }
}

@Suite("Segment files")
struct SegmentFileTests {
    /// Written through a temporary file that is renamed into place: nothing else is left in the
    /// folder, and the file opens with full validation.
    @Test func writeAndOpen() throws {
        let entries = actionEntries(16)
        try withTemporaryDirectory { dir in
            let path = "\(dir)/00000002.seg"
            let header = try SegmentFile.write(segment: 2, segmentBits: 4, entries: entries, to: path)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["00000002.seg"])
            let s = try SegmentFile.open(path, expecting: .init(segment: 2, segmentBits: 4, root: header.root))
            #expect(s.header == header)
            #expect(try s.records() == entries)
            // Rewriting replaces the file whole.
            let other = actionEntries(16, seed: "other")
            let h2 = try SegmentFile.write(segment: 2, segmentBits: 4, entries: other, to: path)
            #expect(try SegmentFile.open(path).records() == other)
            #expect(h2.root != header.root)
            #expect(failure { () throws(TrailError) in _ = try SegmentFile.open("\(dir)/absent") } == .notFound)
        }
    }

    /// A write that died half way (kill -9 before the rename) leaves the temporary file, never a
    /// half segment under the final name; reading the leftover is `segment_truncated`, and the
    /// next write replaces it.
    @Test func halfWrittenSegment() throws {
        let entries = actionEntries(16)
        let bytes = try Segment.encode(segment: 0, segmentBits: 4, entries: entries)
        try withTemporaryDirectory { dir in
            let path = "\(dir)/seg"
            let tmp = SegmentFile.temporaryPath(for: path)
            #expect(tmp == "\(dir)/.seg.partial")
            try writeFile(tmp, Array(bytes.prefix(bytes.count / 2)))
            #expect(failure { () throws(TrailError) in _ = try SegmentFile.open(path) } == .notFound)
            #expect(failure { () throws(TrailError) in _ = try SegmentFile.open(tmp) } == .segmentTruncated)
            try SegmentFile.write(bytes, to: path)
            #expect(!FileManager.default.fileExists(atPath: tmp))
            #expect(try SegmentFile.open(path).records() == entries)
        }
    }

    /// The on-demand reader checks the header when it opens and reads one frame per record:
    /// with every other frame destroyed on disk, the intact frame's records still read; a
    /// destroyed frame is 95 when it is read; a cut file does not open.
    @Test func readerSeeksInTheFile() throws {
        let entries = actionEntries(128)
        try withTemporaryDirectory { dir in
            let path = "\(dir)/seg"
            let h = try SegmentFile.write(segment: 3, segmentBits: 7, entries: entries, to: path, options: .init(maxFrameRecords: 20))
            let reader = try SegmentFileReader(path, expecting: .init(segment: 3, segmentBits: 7, root: h.root))
            #expect(reader.header == h)
            for r in 0..<128 { #expect(try reader.record(r) == entries[r]) }
            var bytes = try readFile(path)
            let keep = 2
            for (j, f) in h.frames.enumerated() where j != keep {
                for i in f.offset..<f.end { bytes[i] = 0 }
            }
            try writeFile(path, bytes)
            let damaged = try SegmentFileReader(path)
            for r in h.frames[keep].records { #expect(try damaged.record(r) == entries[r]) }
            #expect(failure { () throws(TrailError) in _ = try damaged.record(0) } == .segmentFrameCorrupt)
            #expect(failure { () throws(TrailError) in _ = try damaged.frameRecords(6) } == .segmentFrameCorrupt)
            #expect(failure { () throws(TrailError) in _ = try damaged.record(128) } == .indexOutOfRange)
            try writeFile(path, Array(bytes.prefix(bytes.count - 1)))
            #expect(failure { () throws(TrailError) in _ = try SegmentFileReader(path) } == .segmentTruncated)
            try writeFile(path, Array(bytes.prefix(40)))
            #expect(failure { () throws(TrailError) in _ = try SegmentFileReader(path) } == .segmentTruncated)
            #expect(failure { () throws(TrailError) in _ = try SegmentFileReader("\(dir)/absent") } == .notFound)
        }
    }

    /// The Python reference reads what the Swift writer wrote, and rejects a damaged copy.
    @Test func pythonReferenceReadsSwiftSegments() throws {
        guard let python = pythonWithCryptography() else {
            Issue.record("python3 with cryptography is needed (make deps installs it)")
            return
        }
        #expect(executable("zstd") != nil, "the zstd command-line tool is needed (make deps installs it)")
        let script = packageRoot.appendingPathComponent("protocol/reference/segment_ref.py").path
        let entries = actionEntries(64)
        try withTemporaryDirectory { dir in
            let path = "\(dir)/seg"
            let h = try SegmentFile.write(segment: 9, segmentBits: 6, entries: entries, to: path, options: .init(maxFrameRecords: 10))
            let ok = try run(python, [script, "verify", path, "--segment", "9", "--bits", "6", "--root", h.root.hex])
            #expect(ok.status == 0, "\(String(decoding: ok.stdout, as: UTF8.self)) \(ok.stderr)")
            let out = String(decoding: ok.stdout, as: UTF8.self)
            #expect(out.hasPrefix("valid: ") && out.contains("\"root\": \"\(h.root.hex)\"") && out.contains("\"records\": 64"))
            var damaged = try readFile(path)
            damaged[h.frames[2].offset + 7] ^= 0x02
            try writeFile(path, damaged)
            let bad = try run(python, [script, "verify", path])
            #expect(bad.status == 1)
            #expect(String(decoding: bad.stdout, as: UTF8.self).hasPrefix("invalid: segment_frame_corrupt (95)"))
        }
    }
}
