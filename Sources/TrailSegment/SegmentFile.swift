#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TrailCore

/// Sealed segments on disk: written crash-safely, read back with full validation.
public enum SegmentFile {
    /// A segment file larger than this is refused before it is read (a k = 24 segment of
    /// typical entries is about 3 GiB).
    public static let defaultMaxFileSize = 1 << 34

    /// The temporary file `write` uses for `path`: `.<name>.partial` in the same folder. One that
    /// exists when no write is running was left by a crash and can be deleted.
    public static func temporaryPath(for path: String) -> String {
        let (folder, name) = split(path)
        return "\(folder)/.\(name).partial"
    }

    /// Encodes the segment and writes it to `path` (see `write(_:to:)`); returns its header.
    @discardableResult
    public static func write(
        segment: UInt64, segmentBits: Int, entries: [[UInt8]], to path: String, options: SegmentWriteOptions = .default
    ) throws(TrailError) -> SegmentHeader {
        let bytes = try Segment.encode(segment: segment, segmentBits: segmentBits, entries: entries, options: options)
        try write(bytes, to: path)
        return try Segment(bytes: bytes).header
    }

    /// Writes encoded segment `bytes` to `path` so that `path` is either absent, its old content,
    /// or the whole new segment, even after a crash: a temporary file, fsync, rename, fsync of
    /// the folder. Nothing may rely on the segment before this returns.
    public static func write(_ bytes: [UInt8], to path: String) throws(TrailError) {
        let (folder, _) = split(path)
        let tmp = temporaryPath(for: path)
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("cannot create \(tmp)") }
        var done = 0
        let ok = bytes.withUnsafeBytes { buf -> Bool in
            while done < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + done, min(buf.count - done, 1 << 30))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return fsync(fd) == 0
        }
        let e = errno
        close(fd)
        guard ok else {
            unlink(tmp)
            throw TrailError(.io, "cannot write \(tmp): \(String(cString: strerror(e)))")
        }
        guard rename(tmp, path) == 0 else {
            let e = ioError("cannot rename \(tmp) to \(path)")
            unlink(tmp)
            throw e
        }
        let dfd = Glibc.open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw ioError("cannot open \(folder)") }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw ioError("cannot sync \(folder)") }
    }

    /// Reads and fully validates the segment at `path` (SPEC 5.4, every step). The header frame
    /// is read and checked against the file's size first, so nothing is allocated on the word
    /// of a damaged header; a file cut short (a crash during a write) is `segment_truncated`.
    public static func open(
        _ path: String, expecting expected: SegmentExpectation = .none, maxFileSize: Int = defaultMaxFileSize
    ) throws(TrailError) -> Segment {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw TrailError(.notFound, "no segment at \(path)") }
            throw ioError("cannot open \(path)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("cannot stat \(path)") }
        let size = Int(st.st_size)
        guard size <= maxFileSize else {
            throw TrailError(.segmentLimitExceeded, "\(path) is \(size) bytes, limit \(maxFileSize)")
        }
        var prefix = [UInt8](repeating: 0, count: min(size, 8))
        try readFully(fd, &prefix, at: 0, path)
        let headerLength = try prefix.withUnsafeBytes { raw in
            Result { () throws(TrailError) in try SegmentHeader.headerLength(prefix: raw, fileSize: size) }
        }.get()
        var header = [UInt8](repeating: 0, count: headerLength)
        try readFully(fd, &header, at: 0, path)
        _ = try header.withUnsafeBytes { raw in
            Result { () throws(TrailError) in try SegmentHeader.parse(raw, fileSize: size, expecting: expected) }
        }.get()
        var bytes = [UInt8](repeating: 0, count: size)
        try readFully(fd, &bytes, at: 0, path)
        return try Segment.open(bytes: bytes, expecting: expected)
    }

    static func readFully(_ fd: Int32, _ out: inout [UInt8], at offset: Int, _ path: String) throws(TrailError) {
        var done = 0
        var failed: Int32 = 0
        let count = out.count
        out.withUnsafeMutableBytes { buf in
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, min(count - done, 1 << 30), off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failed = errno }
                if n <= 0 { return }
                done += n
            }
        }
        guard done == count else {
            if failed == 0 { throw TrailError(.segmentTruncated, "\(path) shrank while it was read") }
            throw TrailError(.io, "cannot read \(path): \(String(cString: strerror(failed)))")
        }
    }

    private static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }

    static func ioError(_ what: String) -> TrailError {
        TrailError(.io, "\(what): \(String(cString: strerror(errno)))")
    }
}

/// A sealed segment read from its file on demand: the header frame is read and validated
/// (SPEC 5.4 steps 1-14) when it is opened, and each `record(_:)` reads and checks only the
/// frame that holds it (step 15). For serving cold ranges without loading whole segments; a
/// segment is validated whole once, when it is written or received (`SegmentFile.open`).
///
/// Holds the file open; `pread` makes it safe to share between threads.
public final class SegmentFileReader: Sendable {
    public let path: String
    public let header: SegmentHeader
    private let fd: Int32

    public init(_ path: String, expecting expected: SegmentExpectation = .none) throws(TrailError) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw TrailError(.notFound, "no segment at \(path)") }
            throw SegmentFile.ioError("cannot open \(path)")
        }
        do throws(TrailError) {
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw SegmentFile.ioError("cannot stat \(path)") }
            let size = Int(st.st_size)
            var prefix = [UInt8](repeating: 0, count: min(size, 8))
            try SegmentFile.readFully(fd, &prefix, at: 0, path)
            let length = try prefix.withUnsafeBytes { raw in
                Result { () throws(TrailError) in try SegmentHeader.headerLength(prefix: raw, fileSize: size) }
            }.get()
            var bytes = [UInt8](repeating: 0, count: length)
            try SegmentFile.readFully(fd, &bytes, at: 0, path)
            self.header = try bytes.withUnsafeBytes { raw in
                Result { () throws(TrailError) in try SegmentHeader.parse(raw, fileSize: size, expecting: expected) }
            }.get()
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// The records of frame `j`: one read of its compressed bytes, checked and decompressed.
    public func frameRecords(_ j: Int) throws(TrailError) -> [[UInt8]] {
        precondition(header.frames.indices.contains(j), "frame \(j) outside the segment")
        let frame = header.frames[j]
        var compressed = [UInt8](repeating: 0, count: frame.compressedSize)
        try SegmentFile.readFully(fd, &compressed, at: frame.offset, path)
        var out: [[UInt8]] = []
        out.reserveCapacity(frame.recordCount)
        let decompressor = try ZstdDecompressor()
        try compressed.withUnsafeBytes { raw in
            Result { () throws(TrailError) in try SegmentDataFrame.decode(raw, frame, j, decompressor) { out.append(Array($0)) } }
        }.get()
        return out
    }

    /// Record `r` (log index `header.firstIndex + r`), reading one frame.
    public func record(_ r: Int) throws(TrailError) -> [UInt8] {
        guard r >= 0 && r < header.recordCount else {
            throw TrailError(.indexOutOfRange, "record \(r) outside a segment of \(header.recordCount)")
        }
        let j = header.frameIndex(ofRecord: r)
        return try frameRecords(j)[r - header.frames[j].firstRecord]
    }
}
