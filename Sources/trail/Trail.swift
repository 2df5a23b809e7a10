import AgentTrail
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

/// Reads a whole file (`Files.read`); a missing file is an error.
func readFile(_ path: String) throws -> [UInt8] {
    guard let bytes = try Files.read(path) else { throw TrailError(.io, "cannot open \(path): no such file") }
    return bytes
}

/// Writes a file atomically with the given POSIX mode (`Files.writeAtomically`).
func writeFile(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
    try Files.writeAtomically(path, bytes, mode: mode_t(mode))
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
