import Foundation
import Testing
import TrailCore

@testable import TrailSegment

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The code `body` fails with, or nil if it succeeds.
func failure(_ body: () throws(TrailError) -> Void) -> TrailError.Code? {
    do throws(TrailError) {
        try body()
        return nil
    } catch {
        return error.code
    }
}

/// The code opening (fully validating) segment `bytes` fails with, or nil.
func openFailure(_ bytes: [UInt8], _ expected: SegmentExpectation = .none) -> TrailError.Code? {
    failure { () throws(TrailError) in _ = try Segment.open(bytes: bytes, expecting: expected) }
}

/// A fresh folder, removed afterwards.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let dir = NSTemporaryDirectory() + "trail-segment-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

/// Signed action entries like `trail bench gen` makes: `agents` chains interleaved round-robin,
/// each a `post_reply` with a model and a latency (about 240 bytes).
func actionEntries(_ count: Int, agents: Int = 7, seed: String = "segment-test") -> [[UInt8]] {
    let keys = (0..<agents).map { SigningKey(seed: SHA256.hash(Array("\(seed)-agent-\($0)".utf8))) }
    var prev = [Bytes32](repeating: .zero, count: agents)
    var seqs = [UInt64](repeating: 0, count: agents)
    var out: [[UInt8]] = []
    out.reserveCapacity(count)
    for i in 0..<count {
        let a = i % agents
        let s = seqs[a]
        let body = ActionBody(
            actionType: "post_reply", target: "forum.example.com/t/\(s % 1000)",
            contentHash: SHA256.hash(Array("\(seed)-\(a)-\(s)".utf8)), modelID: "model-a", latencyMs: UInt32(200 + s % 300))
        let e = try! EntryCodec.sign(
            UnsignedEntry(signer: keys[a].publicKey, seq: s, timestampMs: 1_763_900_000_000 + s * 1000, prev: prev[a], body: .action(body)),
            with: keys[a])
        prev[a] = e.hash
        seqs[a] = s + 1
        out.append(e.encoded)
    }
    return out
}

/// `u32 length || entry` for each entry: what `zstd -d` must print for a segment.
func lengthPrefixed(_ entries: [[UInt8]]) -> [UInt8] {
    var w = ByteWriter()
    for e in entries {
        w.u32(UInt32(e.count))
        w.raw(e)
    }
    return w.bytes
}

struct ProcessRun {
    let status: Int32
    let stdout: [UInt8]
    let stderr: String
}

/// The first executable called `name` on PATH (or in /usr/bin).
func executable(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/usr/local/bin"
    for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    return nil
}

/// Runs a program with `stdin` as its standard input and waits for it (stderr to a file, so a
/// full pipe never stalls the child).
func run(_ program: String, _ args: [String], stdin: String? = nil) throws -> ProcessRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: program)
    p.arguments = args
    if let stdin { p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdin)) }
    let out = Pipe()
    let errPath = NSTemporaryDirectory() + "segment-stderr-" + UUID().uuidString
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    try err.close()
    let e = try Data(contentsOf: URL(fileURLWithPath: errPath))
    return ProcessRun(status: p.terminationStatus, stdout: Array(o), stderr: String(decoding: e, as: UTF8.self))
}

/// python3 with `cryptography` (as `make test` installs it), for the reference reader.
func pythonWithCryptography() -> String? {
    for python in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: python) {
        if let r = try? run(python, ["-c", "import cryptography"]), r.status == 0 { return python }
    }
    return nil
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}
