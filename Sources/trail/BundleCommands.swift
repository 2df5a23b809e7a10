import ArgumentParser
import Foundation
import Synchronization
import TrailCore

/// The default HTTP read API address of every command that reads.
let defaultHTTP = "http://127.0.0.1:7412"

/// A verifier key given on the command line: the key text itself, or a file holding it.
func parseLogKey(_ arg: String) throws -> NoteVerifierKey {
    if arg.contains("+") { return try NoteVerifierKey(arg) }
    let text = String(decoding: try readFile(arg), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return try NoteVerifierKey(text)
}

/// A DID argument as a public key.
func parseDID(_ s: String) throws -> PublicKey {
    do { return try DIDKey.decode(s) } catch { throw TrailError(.invalidArgument, "\(s) is not a did:key: \(error.reason)") }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Download a proof bundle of an agent's chain (or a range of it) from a collector.",
        discussion: """
            The bundle holds every entry with its inclusion proof, the checkpoint those proofs lead \
            to, the log's signed chain statement and the log key. Check it offline with \
            `trail verify bundle FILE --log-key KEY`.
            """)

    @Argument(help: "The signer's did:key.") var did: String
    @Option(help: "The collector's HTTP read API.") var http = defaultHTTP
    @Option(help: "First seq (default 0).") var from: UInt64?
    @Option(help: "Last seq (default: the chain's head).") var through: UInt64?
    @Option(help: "Output file.") var out: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        do {
            _ = try parseDID(did)
            let client = try HTTPClient(http)
            var query: [String] = []
            if let from { query.append("from=\(from)") }
            if let through { query.append("through=\(through)") }
            let path = "/v1/agents/\(did)/bundle" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))

            let tmp = out + ".part-\(getpid())"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw TrailError(.io, "cannot write \(out): \(String(cString: strerror(errno)))") }
            do {
                let response = try client.get(path) { chunk in
                    try chunk.withUnsafeBytes { buf in
                        var done = 0
                        while done < buf.count {
                            let n = write(fd, buf.baseAddress! + done, buf.count - done)
                            if n < 0 && errno == EINTR { continue }
                            guard n > 0 else { throw TrailError(.io, "cannot write \(out): \(String(cString: strerror(errno)))") }
                            done += n
                        }
                    }
                }
                guard response.status == 200 else {
                    throw response.failure(client.url + path)
                }
                guard fsync(fd) == 0 else { throw TrailError(.io, "cannot sync \(out)") }
            } catch {
                close(fd)
                unlink(tmp)
                throw error
            }
            close(fd)
            // The whole layout must be there: a download cut short never becomes the bundle.
            let bytes = try readFile(tmp)
            let layout: BundleLayout
            do {
                layout = try bytes.withUnsafeBytes { raw in Result { () throws(TrailError) in try BundleLayout.parse(raw) } }.get()
            } catch {
                unlink(tmp)
                throw TrailError(.connection, "the download from \(client.url) is not a complete bundle: \(error.reason)")
            }
            guard rename(tmp, out) == 0 else { throw TrailError(.io, "cannot rename to \(out)") }
            let statement = try? ChainStatement.parse(body: SignedNote.parse(layout.statement).text)
            if json {
                printJSON([
                    "file": out, "bytes": bytes.count, "entries": layout.records.count, "log_key": layout.logKey,
                    "from": statement?.from ?? 0, "through": statement?.through ?? 0, "tree_size": statement?.treeSize ?? 0,
                ])
            } else {
                print("wrote \(out): \(layout.records.count) entries", terminator: "")
                if let s = statement { print(", seq \(s.from)-\(s.through) of \(s.headSeq + 1), at tree size \(s.treeSize)", terminator: "") }
                print(", \(bytes.count) bytes")
                print("log key (as the collector states it; check it against one you trust): \(layout.logKey)")
            }
        } catch { fail(error, status: 2) }
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check bundles and proofs offline, trusting only the log key.",
        subcommands: [Bundle.self, Proof.self, VerifyDisclosure.self])

    struct Bundle: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a proof bundle offline: signatures, seqs, links, the head, every inclusion proof and the checkpoint.",
            discussion: "Exit status: 0 valid, 1 invalid (the first bad entry and the reason are printed), 2 unusable input.")

        @Argument(help: "The bundle file.") var file: String
        @Option(help: "The log's verifier key (name+keyhash+base64), or a file holding it.") var logKey: String
        @Option(help: "Worker threads (default: all cores).") var threads: Int?
        @Flag(help: "Show progress on stderr even when it is not a terminal.") var progress = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let key: NoteVerifierKey
            let mapped: MappedFile
            do {
                key = try parseLogKey(logKey)
                mapped = try MappedFile(path: file)
            } catch { fail(error, status: 2) }
            defer { mapped.close() }

            let reporter = ProgressReporter(enabled: progress || isatty(2) != 0)
            let started = Date()
            let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
            let result = Result { () throws(BundleFailure) in
                try BundleVerifier.verify(mapped.bytes, trustedKey: key, threads: max(1, threads), progress: { reporter.report($0) })
            }
            reporter.finish()
            let seconds = Date().timeIntervalSince(started)
            switch result {
            case .success(let s):
                let rate = seconds > 0 ? Double(s.entries) / seconds : 0
                if json {
                    printJSON([
                        "valid": true, "signer": DIDKey.encode(s.statement.signer), "entries": s.entries,
                        "from": s.statement.from, "through": s.statement.through, "head_seq": s.statement.headSeq,
                        "tree_size": s.checkpoint.size, "root": Base64.encode(s.checkpoint.root.bytes), "origin": s.checkpoint.origin,
                        "seconds": seconds, "entries_per_second": rate.rounded(), "threads": threads,
                    ])
                } else {
                    print("valid: \(s.entries) entries of \(DIDKey.encode(s.statement.signer)), seq \(s.statement.from)-\(s.statement.through) (chain head seq \(s.statement.headSeq))")
                    print("checkpoint: \(s.checkpoint.origin) at tree size \(s.checkpoint.size), root \(Base64.encode(s.checkpoint.root.bytes))")
                    print(String(format: "checked in %.2f s (%.0f entries/s on %d threads)", seconds, rate, threads))
                }
            case .failure(let f):
                if json {
                    var o: [String: Any] = ["valid": false, "code": Int(f.error.code.rawValue), "error": f.error.code.name, "message": f.error.reason]
                    if let r = f.record { o["record"] = r }
                    if let s = f.seq { o["seq"] = s }
                    printJSON(o)
                } else {
                    print("invalid: \(f.error.code.name) (\(f.error.code.rawValue)): \(f.error.reason)")
                }
                throw ExitCode(1)
            }
        }
    }

    struct Proof: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a C2SP tlog-proof@v1 text for one entry against the log key.",
            discussion: "Exit status: 0 valid, 1 invalid, 2 unusable input.")

        @Argument(help: "The tlog-proof file.") var file: String
        @Option(help: "The log's verifier key, or a file holding it.") var logKey: String
        @Option(help: "The encoded entry (binary file); its hash is the leaf.") var entry: String?
        @Option(help: "The entry hash (64 hex digits), instead of --entry.") var hash: String?

        func run() throws {
            let key: NoteVerifierKey
            let leaf: Bytes32
            let text: [UInt8]
            do {
                key = try parseLogKey(logKey)
                text = try readFile(file)
                switch (entry, hash) {
                case (let path?, nil): leaf = SHA256.leafHash(try readFile(path))
                case (nil, let hex?):
                    guard let h = Bytes32(hex: hex) else { throw TrailError(.invalidArgument, "--hash must be 64 hex digits") }
                    leaf = h
                default: throw TrailError(.invalidArgument, "give exactly one of --entry and --hash")
                }
            } catch { fail(error, status: 2) }
            do {
                let proof = try TlogProof.parse(text)
                let checkpoint = try proof.verify(leafHash: leaf, verifierKey: key)
                print("valid: entry \(leaf.hex) is leaf \(proof.index) of \(checkpoint.origin) at tree size \(checkpoint.size)")
            } catch {
                print("invalid: \(error.code.name) (\(error.code.rawValue)): \(error.reason)")
                throw ExitCode(1)
            }
        }
    }
}

struct ProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proof",
        abstract: "Print an entry's inclusion proof as a C2SP tlog-proof@v1 text, from a collector or a bundle.")

    @Argument(help: "The entry hash (64 hex digits).") var hash: String
    @Option(help: "The collector's HTTP read API.") var http = defaultHTTP
    @Option(help: "Take the proof from this bundle instead of asking a collector.") var bundle: String?

    func run() throws {
        do {
            guard let h = Bytes32(hex: hash) else { throw TrailError(.invalidArgument, "the entry hash must be 64 hex digits") }
            if let path = bundle {
                let b = try ProofBundle.decode(try readFile(path))
                guard let i = b.records.firstIndex(where: { SHA256.leafHash($0.entry) == h }) else {
                    throw TrailError(.invalidArgument, "no entry with hash \(h.hex) in \(path)")
                }
                print(b.tlogProof(record: i).text, terminator: "")
            } else {
                let client = try HTTPClient(http)
                let r = try client.get("/v1/entries/\(h.hex)/proof")
                guard r.status == 200 else { throw r.failure(client.url) }
                print(r.text, terminator: "")
            }
        } catch { fail(error) }
    }
}

/// A read-only memory map of a whole file (bundles can be larger than is comfortable to copy).
final class MappedFile {
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TrailError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TrailError(.io, "cannot stat \(path)") }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TrailError(.io, "cannot map \(path): \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    func close() {
        if let base { munmap(base, bytes.count) }
    }
}

/// Prints verification progress on stderr at most every half second.
final class ProgressReporter: Sendable {
    private let enabled: Bool
    private let state = Mutex<(last: Date, printed: Bool)>((Date(), false))

    init(enabled: Bool) { self.enabled = enabled }

    func report(_ p: BundleVerifier.Progress) {
        guard enabled, p.total >= 50_000 else { return }
        let line: String? = state.withLock { s in
            let now = Date()
            guard now.timeIntervalSince(s.last) >= 0.5 || p.done == p.total else { return nil }
            s.last = now
            s.printed = true
            return "\rverifying \(p.stage): \(p.done)/\(p.total) (\(p.done * 100 / max(p.total, 1))%)   "
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    func finish() {
        if state.withLock({ $0.printed }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
