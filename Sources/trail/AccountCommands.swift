import AgentTrail
import ArgumentParser
import Foundation
import TrailCore

/// Signs `body` at the head of `key`'s chain on the collector at `server` and waits for its ack.
func appendOne(key: SigningKey, body: EntryBody, server: String) async throws -> AppendResult {
    let client = try TrailClient(address: server)
    await client.setReconnectTimeout(.seconds(5))
    let log = AgentLog(key: key, client: client, maxAttempts: 5)
    do {
        let r = try await log.append(body)
        await client.close()
        return r
    } catch {
        await client.close()
        throw error
    }
}

/// Prints an ack (`printAppend`) and exits 1 if the entry was not stored.
func report(_ r: AppendResult, json: Bool) throws {
    printAppend(r, json: json, extra: [])
    if !r.succeeded { throw ExitCode(1) }
}

/// Milliseconds since the epoch from RFC 3339 (`2026-11-22T10:00:00Z`, fractions allowed) or
/// a plain integer.
func parseTime(_ s: String) throws -> UInt64 {
    if let ms = UInt64(s) { return ms }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: s) ?? ISO8601DateFormatter().date(from: s), d.timeIntervalSince1970 >= 0 {
        return UInt64((d.timeIntervalSince1970 * 1000).rounded())
    }
    throw TrailError(.invalidArgument, "\(s) is not an RFC 3339 time (2026-11-22T10:00:00Z) or milliseconds")
}

/// Comma-separated and repeated list options, flattened.
func list(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
}

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Register agents and look at their profiles.", subcommands: [Register.self, Show.self, Equivocations.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append a registration to the owner's chain: the owner vouches for the agent key.",
            discussion: "The agent key signs a proof of possession. An agent registered to another owner is rejected (already_registered).")
        @Option(help: "The owner's key file.") var owner: String
        @Option(help: "The agent's key file (for its proof of possession).") var agent: String
        @Option(help: "A label for the agent.") var label = ""
        @Option(help: "A file whose SHA-256 is kept as evidence (platform attestation, contract).") var evidence: String?
        @Option(help: "Collector address.") var server = "127.0.0.1:7411"
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            do {
                let ownerKey = try loadKey(owner)
                let agentKey = try loadKey(agent)
                let proof = agentKey.sign(RegistrationBody.possessionMessage(owner: ownerKey.publicKey, agent: agentKey.publicKey))
                let body = RegistrationBody(
                    agent: agentKey.publicKey, label: label, evidenceHash: try evidence.map { SHA256.hash(try readFile($0)) },
                    agentSignature: proof)
                try report(try await appendOne(key: ownerKey, body: .registration(body), server: server), json: json)
            } catch let e as ExitCode { throw e } catch { fail(error) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an agent's profile: owner, policy and its history, counts, violations, reports, flags and the gap signal.")
        @Argument(help: "The agent's did:key.") var did: String
        @Option(help: "The collector's HTTP read API.") var http = defaultHTTP
        @Flag(help: "Print the JSON profile.") var json = false

        func run() async throws {
            do {
                _ = try parseDID(did)
                let p = try HTTPClient(http).json("/v1/agents/\(did)")
                if json {
                    printJSON(p)
                    return
                }
                print("agent:         \(did)")
                print("entries:       \(p["entries"] ?? 0) (equivocations: \(p["equivocations"] ?? 0))")
                if let owner = p["owner"] as? [String: Any], let reg = owner["registration"] as? [String: Any] {
                    print("owner:         \(owner["did"] ?? "")")
                    print("registration:  \(reg["entry_hash"] ?? "") at index \(reg["index"] ?? "")" + ((reg["label"] as? String).map { " \"\($0)\"" } ?? ""))
                } else {
                    print("owner:         none (not registered)")
                }
                let policy = p["policy"] as? [String: Any]
                if let active = policy?["active"] as? [String: Any] {
                    print("policy:        version \(active["version"] ?? "") (\(active["entry_hash"] ?? ""))")
                    print("  allow actions \((active["allow_actions"] as? [String] ?? []).joined(separator: ", "))")
                    print("  deny actions  \((active["deny_actions"] as? [String] ?? []).joined(separator: ", "))")
                    print("  allow targets \((active["allow_targets"] as? [String] ?? []).joined(separator: ", "))")
                    print("  max/minute    \(active["max_per_minute"] ?? 0)")
                } else {
                    print("policy:        none")
                }
                let history = policy?["history"] as? [[String: Any]] ?? []
                if history.count > 1 { print("  history       " + history.map { "v\($0["version"] ?? "")" }.joined(separator: ", ")) }
                func counts(_ key: String) -> String {
                    let d = p[key] as? [String: Any] ?? [:]
                    let nonzero = d.compactMap { k, v in (v as? Int).flatMap { $0 > 0 ? "\(k) \($0)" : nil } }.sorted()
                    return nonzero.isEmpty ? "none" : nonzero.joined(separator: ", ")
                }
                print("violations:    \(counts("violations"))")
                print("flags:         \(counts("flags"))")
                let reports = p["reports"] as? [String: Any] ?? [:]
                let byCategory = (reports["by_category"] as? [String: Any] ?? [:]).compactMap { k, v in (v as? Int).flatMap { $0 > 0 ? "\(k) \($0)" : nil } }.sorted()
                print("reports:       \(reports["total"] ?? 0)" + (byCategory.isEmpty ? "" : " (\(byCategory.joined(separator: ", ")))"))
                for (reporter, n) in (reports["by_reporter"] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    print("  by \(reporter): \(n)")
                }
                let gaps = p["gap_signal"] as? [String: Any] ?? [:]
                print("gap signal:    \(gaps["count"] ?? 0) unlogged_action report(s) with no entry in their window")
                for g in gaps["reports"] as? [[String: Any]] ?? [] {
                    print("  \(g["entry_hash"] ?? "") by \(g["reporter"] ?? ""): \(g["observed_from_ms"] ?? "")-\(g["observed_to_ms"] ?? "") ms")
                }
            } catch { fail(error) }
        }
    }

    struct Equivocations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download both signed entries of each of an agent's equivocations and check them offline.",
            discussion: """
                Checks each pair locally: both decode, both signatures verify, same signer and seq, \
                different bytes. With --out, writes the exact bytes as seq-<seq>-stored.entry and \
                seq-<seq>-evidence-<hash prefix>.entry. Exits 1 if a pair does not check out.
                """)
        @Argument(help: "The agent's did:key.") var did: String
        @Option(help: "The collector's HTTP read API.") var http = defaultHTTP
        @Option(help: "Folder to write the entries to (created if missing).") var out: String?
        @Flag(help: "Print the JSON answer.") var json = false

        func run() async throws {
            var bad = 0
            do {
                let key = try parseDID(did)
                let o = try HTTPClient(http).json("/v1/agents/\(did)/equivocations")
                if json { printJSON(o) }
                if let out { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
                let items = o["equivocations"] as? [[String: Any]] ?? []
                if !json { print("\(items.count) equivocation(s) of \(did)") }
                for item in items {
                    func bytes(_ side: String) throws -> [UInt8] {
                        guard let e = item[side] as? [String: Any], let text = e["encoded"] as? String, let b = Base64.decode(text) else {
                            throw TrailError(.invalidJSON, "equivocation without a base64 \(side).encoded")
                        }
                        return b
                    }
                    let storedBytes = try bytes("stored")
                    let evidenceBytes = try bytes("evidence")
                    var problem: String?
                    do {
                        let stored = try EntryCodec.decodeVerified(storedBytes)
                        let evidence = try EntryCodec.decodeVerified(evidenceBytes)
                        if stored.signer != key || evidence.signer != key {
                            problem = "signed by another key"
                        } else if stored.seq != evidence.seq {
                            problem = "different seqs \(stored.seq) and \(evidence.seq)"
                        } else if storedBytes == evidenceBytes {
                            problem = "the same entry twice"
                        }
                        if let out {
                            try Files.writeAtomically("\(out)/seq-\(stored.seq)-stored.entry", storedBytes)
                            try Files.writeAtomically("\(out)/seq-\(evidence.seq)-evidence-\(evidence.hash.hex.prefix(16)).entry", evidenceBytes)
                        }
                        if !json {
                            print("seq \(stored.seq): stored \(stored.hash.hex), evidence \(evidence.hash.hex): " + (problem.map { "INVALID: \($0)" } ?? "both signed by the agent"))
                        }
                    } catch let e as TrailError {
                        problem = "\(e)"
                        if !json { print("INVALID: \(e)") }
                    }
                    if problem != nil { bad += 1 }
                }
            } catch { fail(error) }
            if bad > 0 { throw ExitCode(1) }
        }
    }
}

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Declare what an agent may do.", subcommands: [Declare.self])

    struct Declare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append a new policy version for an agent to its owner's chain.",
            discussion: """
                Policies are versioned and never deleted: the newest version from the agent's registered owner is \
                active. Actions are checked against it when accepted; violations are flagged, not blocked.
                """)
        @Option(help: "The owner's key file.") var owner: String
        @Option(help: "The agent's did:key.") var agent: String
        @Option(help: "Allowed action types, comma-separated or repeated (none: any action).") var allowActions: [String] = []
        @Option(help: "Denied action types.") var denyActions: [String] = []
        @Option(help: "Allowed target patterns ('*' matches anything; none: any target).") var allowTargets: [String] = []
        @Option(help: "Most actions per minute (0: no limit).") var maxPerMinute: UInt32 = 0
        @Option(help: "The policy document; its SHA-256 is recorded.") var document: String
        @Option(help: "Version (default: the active version + 1, asked from --http).") var version: UInt32?
        @Option(help: "Collector address.") var server = "127.0.0.1:7411"
        @Option(help: "The collector's HTTP read API (for the default version).") var http = defaultHTTP
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            do {
                let ownerKey = try loadKey(owner)
                let agentKey = try parseDID(agent)
                let v: UInt32
                if let version {
                    v = version
                } else {
                    let r = try HTTPClient(http).get("/v1/agents/\(agent)")
                    if r.status == 404 {
                        v = 1
                    } else if r.status == 200, let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] {
                        let active = ((o["policy"] as? [String: Any])?["active"] as? [String: Any])?["version"] as? Int ?? 0
                        v = UInt32(active + 1)
                    } else {
                        throw r.failure("GET /v1/agents/\(agent)")
                    }
                }
                let body = PolicyBody(
                    agent: agentKey, version: v, documentHash: SHA256.hash(try readFile(document)), allowActions: list(allowActions),
                    denyActions: list(denyActions), allowTargets: list(allowTargets), maxPerMinute: maxPerMinute)
                try report(try await appendOne(key: ownerKey, body: .policy(body), server: server), json: json)
            } catch let e as ExitCode { throw e } catch { fail(error) }
        }
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Report what an agent did, logged or not.", subcommands: [File.self])

    struct File: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append a signed report about an agent to the reporter's chain.",
            discussion: "An unlogged_action report whose observed window holds no entry of the subject shows in its profile's gap signal.")
        @Option(help: "The reporter's key file.") var reporter: String
        @Option(help: "The subject's did:key.") var subject: String
        @Option(help: "unlogged_action, policy_violation, harmful_output, misrepresentation or other.") var category: String
        @Option(help: "low, medium, high or critical.") var severity = "medium"
        @Option(help: "When it was seen (RFC 3339 or ms); sets both ends of the window.") var observedAt: String?
        @Option(help: "Start of the observed window.") var observedFrom: String?
        @Option(help: "End of the observed window.") var observedTo: String?
        @Option(help: "Evidence file; its SHA-256 is recorded.") var evidence: String
        @Option(help: "Hash of an entry the report refers to.") var ref: String?
        @Option(help: "What was seen (up to 1024 bytes).") var description = ""
        @Option(help: "Collector address.") var server = "127.0.0.1:7411"
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            do {
                let key = try loadKey(reporter)
                guard let cat = ReportCategory.allCases.first(where: { $0.name == category }) else {
                    throw TrailError(.invalidArgument, "category must be one of \(ReportCategory.names.joined(separator: ", "))")
                }
                guard let sev = Severity.allCases.first(where: { $0.name == severity }) else {
                    throw TrailError(.invalidArgument, "severity must be one of \(Severity.names.joined(separator: ", "))")
                }
                let (from, to): (UInt64, UInt64)
                switch (observedAt, observedFrom, observedTo) {
                case (let at?, nil, nil):
                    let t = try parseTime(at)
                    (from, to) = (t, t)
                case (nil, let f?, let t?): (from, to) = (try parseTime(f), try parseTime(t))
                default: throw TrailError(.invalidArgument, "give --observed-at, or --observed-from and --observed-to")
                }
                let refHash = try ref.map { r -> Bytes32 in
                    guard let h = Bytes32(hex: r) else { throw TrailError(.invalidArgument, "--ref must be an entry hash (64 hex digits)") }
                    return h
                }
                let body = ReportBody(
                    subject: try parseDID(subject), category: cat, severity: sev, observedFromMs: from, observedToMs: to, refEntry: refHash,
                    evidenceHash: SHA256.hash(try readFile(evidence)), description: description)
                try report(try await appendOne(key: key, body: .report(body), server: server), json: json)
            } catch let e as ExitCode { throw e } catch { fail(error) }
        }
    }
}
