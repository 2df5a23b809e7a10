import ArgumentParser
import Foundation
import TrailCore

@main
struct Trail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trail",
        abstract: "AgentTrail: a verifiable audit trail for AI-agent fleets.",
        subcommands: [KeysCommand.self, EntryCommand.self, ServeCommand.self, LogCommand.self, BenchCommand.self]
    )
}

/// Reads a whole file, mapping failures to `TrailError(.io)`.
func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TrailError(.io, "cannot read \(path)")
    }
    return [UInt8](data)
}

/// Writes a file atomically with the given POSIX mode.
func writeFile(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
    let url = URL(fileURLWithPath: path)
    do {
        try Data(bytes).write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    } catch {
        throw TrailError(.io, "cannot write \(path): \(error.localizedDescription)")
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
