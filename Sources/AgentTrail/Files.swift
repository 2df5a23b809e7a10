import Foundation
import TrailCore

/// Whole-file reads and crash-safe writes with plain POSIX calls (files over 2 GiB included),
/// failures mapped to `TrailError(.io)`. Shared by the vault and the `trail` command.
public enum Files {
    /// The whole file, or nil if it does not exist; a file larger than `max` bytes is an error.
    public static func read(_ path: String, max: Int = .max) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        if fd < 0 && errno == ENOENT { return nil }
        guard fd >= 0 else { throw TrailError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TrailError(.io, "cannot stat \(path)") }
        let size = Int(st.st_size)
        guard size <= max else { throw TrailError(.io, "\(path) is \(size) bytes, more than the \(max) expected") }
        var out = [UInt8](repeating: 0, count: size)
        var done = 0
        try out.withUnsafeMutableBytes { buf in
            while done < size {
                let n = Glibc.read(fd, buf.baseAddress! + done, min(size - done, 1 << 30))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw TrailError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        return out
    }

    /// Writes `bytes` to `path` atomically: a synced temporary file renamed over it, then the
    /// folder synced.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let tmp = try writeTemporary(in: folder.isEmpty ? "/" : folder, bytes, mode: mode)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw TrailError(.io, "cannot write \(path): \(String(cString: strerror(e)))")
        }
        try syncDirectory(folder.isEmpty ? "/" : folder)
    }

    /// A new file in `folder` holding `bytes`, synced; returns its path.
    public static func writeTemporary(in folder: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws -> String {
        let tmp = "\(folder)/.tmp-\(getpid())-\(SecureRandom.bytes32().hex.prefix(16))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw TrailError(.io, "cannot write in \(folder): \(String(cString: strerror(errno)))") }
        var done = 0
        let ok = bytes.withUnsafeBytes { buf -> Bool in
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, min(buf.count - done, 1 << 30))
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
            throw TrailError(.io, "cannot write in \(folder): \(String(cString: strerror(e)))")
        }
        return tmp
    }

    public static func syncDirectory(_ folder: String) throws {
        let fd = open(folder, O_RDONLY)
        guard fd >= 0 else { throw TrailError(.io, "cannot open \(folder): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw TrailError(.io, "cannot sync \(folder): \(String(cString: strerror(errno)))") }
    }
}
