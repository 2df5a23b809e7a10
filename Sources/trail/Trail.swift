import ArgumentParser
import Foundation
import TrailCore

@main
struct Trail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trail",
        abstract: "AgentTrail: a verifiable audit trail for AI-agent fleets.",
        subcommands: [
            KeysCommand.self, EntryCommand.self, ServeCommand.self, LogCommand.self, ExportCommand.self, VerifyCommand.self,
            ProofCommand.self, AgentCommand.self, PolicyCommand.self, ReportCommand.self, BenchCommand.self, NodeCommand.self,
            ReceiptCommand.self, DiscloseCommand.self,
        ]
    )
}

/// Reads a whole file with plain read(2) calls (files over 2 GiB included), mapping failures
/// to `TrailError(.io)`.
func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw TrailError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw TrailError(.io, "cannot stat \(path)") }
    let size = Int(st.st_size)
    var out = [UInt8](repeating: 0, count: size)
    var done = 0
    try out.withUnsafeMutableBytes { buf in
        while done < size {
            let n = read(fd, buf.baseAddress! + done, min(size - done, 1 << 30))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw TrailError(.io, "cannot read \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
    }
    return out
}

/// Writes a file atomically (temporary file, fsync, rename) with the given POSIX mode, in
/// plain write(2) calls so that files over 2 GiB are written whole.
func writeFile(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
    let tmp = path + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode_t(mode))
    guard fd >= 0 else { throw TrailError(.io, "cannot write \(path): \(String(cString: strerror(errno)))") }
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
    close(fd)
    guard ok, rename(tmp, path) == 0 else {
        unlink(tmp)
        throw TrailError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
    }
}

func loadKey(_ path: String) throws -> SigningKey {
    try KeyFile.decode(try readFile(path))
}

/// Prints an error as `error: name (code): reason` on stderr and exits with `status`.
func fail(_ error: Error, status: Int32 = 1) -> Never {
    if let e = error as? TrailError {
        FileHandle.standardError.write(Data("error: \(e.code.name) (\(e.code.rawValue)): \(e.reason)\n".utf8))
    } else {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    }
    exit(status)
}

func nowMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

func printJSON(_ o: Any) { print(EntryJSON.serialize(o)) }
