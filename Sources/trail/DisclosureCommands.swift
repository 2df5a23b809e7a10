import AgentTrail
import ArgumentParser
import Foundation

// Run receipts and selective disclosure: `trail receipt`, `trail disclose`, `trail verify disclosure`
// (protocol/SPEC.md section 1.11), and what `trail log --vault` shares with them.

/// Appends one body to the key's chain with `AgentLog`. With `rebuild`, also returns the entry's
/// exact bytes: the chain's head is read first, and since Ed25519 signing is deterministic, signing
/// the same fields at that head gives the very entry the server acknowledged (checked by its
/// hash). Nil if another writer moved the head in between.
func appendRebuilding(
    _ body: EntryBody, key: SigningKey, server: String, rebuild: Bool
) async throws -> (result: AppendResult, entry: Entry?) {
    let client = try TrailClient(address: server)
    await client.setReconnectTimeout(.seconds(5))
    let timestamp = nowMs()
    var before: ChainHead?
    let log = AgentLog(key: key, client: client, maxAttempts: 5)
    let result: AppendResult
    do {
        if rebuild { before = try await client.connection().head(of: key.publicKey) }
        result = try await log.append(body, timestampMs: timestamp)
    } catch {
        await client.close()
        throw error
    }
    await client.close()
    guard result.succeeded, let head = before, head.nextSeq == result.seq else { return (result, nil) }
    let entry = try EntryCodec.sign(
        UnsignedEntry(signer: key.publicKey, seq: result.seq, timestampMs: timestamp, prev: head.hash, body: body), with: key)
    return (result, entry.hash == result.hash ? entry : nil)
}

/// Fails early, before anything is kept or sent, if `body` breaks a limit of the entry format.
func checkBody(_ body: EntryBody, key: SigningKey) throws {
    _ = try EntryCodec.encodeUnsigned(UnsignedEntry(signer: key.publicKey, seq: 0, timestampMs: 0, prev: .zero, body: body))
}

/// Keeps an appended entry in the vault, or says why it could not.
func keep(_ entry: Entry?, of result: AppendResult, in vault: Vault) throws {
    guard result.succeeded else { return }
    if let entry {
        try vault.storeEntry(entry)
    } else {
        FileHandle.standardError.write(Data(
            "note: the entry was appended, but another writer moved the chain meanwhile, so its bytes are not in the vault; `trail disclose` fetches them from the collector\n".utf8))
    }
}

/// Prints an append result as the other appending commands do (policy violations, trust flags or
/// the rejection included), with extra lines.
func printAppend(_ r: AppendResult, json: Bool, extra: [(String, String)]) {
    var details: [(String, String)] = []
    switch r.status {
    case .noted(_, let violations, let flags):
        if !violations.names.isEmpty { details.append(("violations", violations.names.joined(separator: ", "))) }
        if !flags.names.isEmpty { details.append(("flags", flags.names.joined(separator: ", "))) }
    case .rejected(let code), .badSignature(let code), .malformed(let code):
        details.append(("reason", "\(code.name) (\(code.rawValue))"))
    default: break
    }
    if json {
        var o: [String: Any] = ["status": r.status.name, "seq": r.seq, "entry_hash": r.hash.hex]
        if let i = r.index { o["index"] = i }
        switch r.status {
        case .noted(_, let violations, let flags):
            o["violations"] = violations.names
            o["flags"] = flags.names
        case .rejected(let code), .badSignature(let code), .malformed(let code):
            o["reason"] = code.name
            o["code"] = Int(code.rawValue)
        default: break
        }
        for (k, v) in extra { o[k] = v }
        printJSON(o)
    } else {
        var lines = [("status", r.status.name)]
        if let i = r.index { lines.append(("index", String(i))) }
        lines += [("seq", String(r.seq)), ("entry hash", r.hash.hex)] + details
        lines += extra.map { ($0.0.replacingOccurrences(of: "_", with: " "), $0.1) }
        let width = lines.map(\.0.count).max()! + 2
        for (label, value) in lines { print((label + ":").padding(toLength: width, withPad: " ", startingAt: 0) + value) }
    }
}

/// Parses `--field` names.
func parseFields(_ names: [String]) throws -> [Disclosure.Field] {
    try names.map { name in
        guard let f = Disclosure.Field(name: name) else {
            throw TrailError(.invalidArgument, "unknown field \(name); one of \(Disclosure.Field.allCases.map(\.name).joined(separator: ", "))")
        }
        return f
    }
}

struct ReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Append a run receipt (kind 2) to an agent's chain on a collector.",
        discussion: """
            The receipt's request_commitment is the one the vault made for --request-id (by `trail log \
            --request-id`), so the run's actions and its receipt join on it; a new one if the vault has \
            none. trace_commitment is a salted commitment to the --trace file (empty bytes without \
            one). Salts, values and the entry are kept in the vault for `trail disclose`.
            """)

    @Option(help: "The agent's key file.") var key: String
    @Option(help: "The run's request id (committed to, never sent).") var requestId: String
    @Option(help: "The vault folder that keeps salts, values and entries.") var vault: String
    @Option(help: "ok, error, denied or checkpoint.") var outcome: String
    @Option(help: "Start of the run, ms since the epoch.") var startedMs: UInt64
    @Option(help: "Duration of the run in ms.") var totalMs: UInt32
    @Option(help: "A stage as label:duration_ms:ok|error|skipped (repeatable, in order).") var stage: [String] = []
    @Option(help: "The run's detailed trace file, committed to with a salt.") var trace: String?
    @Option(help: "Collector address.") var server = "127.0.0.1:7411"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        do {
            let signingKey = try loadKey(key)
            guard let outcome = RunOutcome.names.firstIndex(of: self.outcome).flatMap({ RunOutcome(rawValue: UInt8($0)) }) else {
                throw TrailError(.invalidArgument, "--outcome must be one of \(RunOutcome.names.joined(separator: ", "))")
            }
            guard !requestId.isEmpty else { throw TrailError(.invalidArgument, "--request-id must not be empty") }
            let stages = try stage.map(Self.parseStage)
            let traceBytes = try trace.map(readFile) ?? []
            func body(_ request: Bytes32, _ trace: Bytes32) -> EntryBody {
                .receipt(ReceiptBody(
                    requestCommitment: request, outcome: outcome, startedMs: startedMs, totalMs: totalMs,
                    traceCommitment: trace, stages: stages))
            }
            try checkBody(body(.zero, .zero), key: signingKey)

            let vault = try Vault(directory: self.vault)
            let request = try vault.requestCommitment(requestId)
            let traceCommitment = try vault.commit(traceBytes, field: .traceCommitment)
            let (r, entry) = try await appendRebuilding(body(request, traceCommitment), key: signingKey, server: server, rebuild: true)
            try keep(entry, of: r, in: vault)
            printAppend(r, json: json, extra: [("request_commitment", request.hex), ("trace_commitment", traceCommitment.hex)])
            if !r.succeeded { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch { fail(error) }
    }

    /// `label:duration_ms:status`; the label may itself contain colons.
    static func parseStage(_ text: String) throws -> Stage {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3, let duration = UInt32(parts[parts.count - 2]),
            let status = StageStatus.names.firstIndex(of: String(parts[parts.count - 1])).flatMap({ StageStatus(rawValue: UInt8($0)) })
        else {
            throw TrailError(.invalidArgument, "--stage must be label:duration_ms:ok|error|skipped, got \(text)")
        }
        return Stage(label: parts.dropLast(2).joined(separator: ":"), durationMs: duration, status: status)
    }
}

struct DiscloseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disclose",
        abstract: "Write a disclosure document for one entry from a vault: the entry, chosen contents and commitment openings, and its inclusion proof.",
        discussion: """
            Without --field, every field the vault can open is disclosed. The entry's tlog-proof is \
            fetched from the collector's HTTP API; if the collector cannot be reached the document is \
            written without it. Check it with `trail verify disclosure FILE --log-key KEY`.
            """)

    @Argument(help: "The entry hash (64 hex digits).") var hash: String
    @Option(help: "The vault folder.") var vault: String
    @Option(help: "Output file.") var out: String
    @Option(help: "A field to disclose: content_hash, input_hash, output_hash, request_commitment or trace_commitment (repeatable).")
    var field: [String] = []
    @Option(help: "The collector's HTTP read API.") var http = defaultHTTP

    func run() throws {
        do {
            guard let entryHash = Bytes32(hex: hash) else { throw TrailError(.invalidArgument, "the entry hash must be 64 hex digits") }
            let fields = try field.isEmpty ? nil : parseFields(field)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: vault, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw TrailError(.notFound, "no vault folder at \(vault)")
            }
            let vault = try Vault(directory: self.vault)
            let client = try HTTPClient(http)

            if try vault.entry(entryHash) == nil {
                // Appended while another writer moved the chain: the collector has the bytes.
                let o: [String: Any]
                do { o = try client.json("/v1/entries/\(entryHash.hex)") } catch {
                    throw TrailError(.notFound, "the vault has no entry \(entryHash.hex), nor could it be fetched: \(error)")
                }
                guard let text = o["encoded"] as? String, let bytes = Base64.decode(text) else {
                    throw TrailError(.invalidJSON, "\(client.url) did not return the entry's encoding")
                }
                let entry = try EntryCodec.decodeVerified(bytes)
                guard entry.hash == entryHash else { throw TrailError(.connection, "\(client.url) returned another entry") }
                try vault.storeEntry(entry)
            }

            var proof: String?
            var why = ""
            do {
                let r = try client.get("/v1/entries/\(entryHash.hex)/proof")
                if r.status == 200 { proof = r.text } else { why = "the collector at \(client.url) answered \(r.errorMessage)" }
            } catch {
                why = "the collector at \(client.url) is not reachable (\(error))"
            }

            let document = try vault.disclosure(entryHash: entryHash, fields: fields, proof: proof)
            try writeFile(out, document, mode: 0o600)
            let summary = try Disclosure.verify(document, logKey: nil)
            print("wrote \(out): \(summary.kind.name) entry \(entryHash.hex)")
            print("disclosed: \(summary.fields.isEmpty ? "nothing" : summary.fields.map(\.name).joined(separator: ", "))")
            if let proof, let p = try? TlogProof.parse(proof),
                let size = try? Checkpoint.parse(body: SignedNote.parse(Array(p.checkpointNote.utf8)).text).size
            {
                print("inclusion proof: leaf \(p.index) at tree size \(size)")
            } else {
                print("inclusion proof: none")
                FileHandle.standardError.write(Data("note: written without an inclusion proof: \(why)\n".utf8))
            }
        } catch { fail(error) }
    }
}

struct VerifyDisclosure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disclosure",
        abstract: "Verify a disclosure document: the entry and its signature, every disclosed content and commitment opening, and with --log-key its inclusion proof.",
        discussion: """
            Exit status: 0 valid, 1 invalid (`invalid: name (code): reason`), 2 unusable input. Without \
            --log-key, or without a proof in the document, a valid document shows what the entry's \
            signer committed to, but not that the entry is in a log; the output says so.
            """)

    @Argument(help: "The disclosure document.") var file: String
    @Option(help: "The log's verifier key (name+keyhash+base64), or a file holding it.") var logKey: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let key: NoteVerifierKey?
        let document: [UInt8]
        do {
            key = try logKey.map(parseLogKey)
            var st = stat()
            guard stat(file, &st) == 0 else { throw TrailError(.io, "cannot open \(file): \(String(cString: strerror(errno)))") }
            // Bounded before reading, as the verifier bounds it before parsing.
            guard Int(st.st_size) <= Disclosure.maxDocumentSize else {
                reject(TrailError(.malformedDisclosure, "document is \(st.st_size) bytes, limit \(Disclosure.maxDocumentSize)"))
            }
            document = try readFile(file)
        } catch { fail(error, status: 2) }

        let summary: Disclosure.Summary
        do { summary = try Disclosure.verify(document, logKey: key) } catch { reject(error) }

        let fields = summary.fields.map(\.name)
        var proofNote: String
        var o: [String: Any] = [
            "valid": true, "entry_hash": summary.entryHash.hex, "signer": DIDKey.encode(summary.signer),
            "kind": summary.kind.name, "seq": summary.entry.seq, "fields": fields,
        ]
        switch summary.proof {
        case .absent:
            o["proof"] = "absent"
            proofNote = "note: no inclusion proof: the entry is authentic, but nothing here shows that it is in a log"
        case .unchecked:
            o["proof"] = "unchecked"
            proofNote = "note: the inclusion proof was not checked; give --log-key to check it"
        case .verified(let index, let checkpoint):
            o["proof"] = "verified"
            o["index"] = index
            o["tree_size"] = checkpoint.size
            o["origin"] = checkpoint.origin
            proofNote = "proof: leaf \(index) of \(checkpoint.origin) at tree size \(checkpoint.size)"
        }
        if json {
            printJSON(o)
        } else {
            print("valid: \(summary.kind.name) entry \(summary.entryHash.hex), seq \(summary.entry.seq) of \(DIDKey.encode(summary.signer))")
            print("disclosed: \(fields.isEmpty ? "nothing" : fields.joined(separator: ", "))")
            print(proofNote)
        }
    }

    /// Prints the rejection and exits 1.
    func reject(_ error: TrailError) -> Never {
        if json {
            printJSON(["valid": false, "code": Int(error.code.rawValue), "error": error.code.name, "message": error.reason])
        } else {
            print("invalid: \(error.code.name) (\(error.code.rawValue)): \(error.reason)")
        }
        Foundation.exit(1)
    }
}
