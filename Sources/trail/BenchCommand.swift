import AgentTrail
import ArgumentParser
import Dispatch
import Foundation
import Synchronization

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Pre-signed corpora and the replay load generator.",
        subcommands: [Gen.self, Replay.self, Limit.self, Verify.self, Agent.self, VerifierBench.self, SegmentBench.self])

    struct Gen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a pre-signed corpus: every agent's chain, interleaved evenly, with what the collector must answer to each entry.",
            discussion: """
                --governed adds owners who register a third of the agents with policies (a setup phase the replay sends \
                first), observers' reports, and actions that raise every trust flag and break every policy rule. The \
                hostile fractions (of --entries) mix in entries the collector must refuse without harming the chains.
                """)
        @Option(help: "Number of agents (signers).") var agents = 1000
        @Option(help: "Total number of the agents' own entries (their chains).") var entries = 1_000_000
        @Option(help: "Output file.") var out: String
        @Option(help: "Seed text for the keys (same seed and options, same corpus).") var seed = "agenttrail-bench"
        @Flag(help: "Owners, policies, reports and actions that exercise every accountability rule and trust flag.") var governed = false
        @Option(help: "Fraction of --entries added with a bad signature.") var badSignatures = 0.0
        @Option(help: "Fraction added that does not decode.") var malformed = 0.0
        @Option(help: "Fraction added as the very same entry resent.") var duplicates = 0.0
        @Option(help: "Fraction added as validly signed entries with a wrong prev.") var conflicts = 0.0
        @Option(help: "Fraction added as validly signed entries past the chain's next seq.") var gaps = 0.0
        @Option(help: "Fraction added as other validly signed entries at a taken seq.") var equivocations = 0.0

        func run() async throws {
            guard agents >= 1, entries >= 1, agents <= entries, agents <= 10_000_000, entries <= 100_000_000 else {
                fail(TrailError(.invalidArgument, "need 1 <= agents <= entries (at most 10M agents, 100M entries)"))
            }
            let o = CorpusOptions(
                agents: agents, entries: entries, seed: seed, governed: governed, badSignatures: badSignatures, malformed: malformed,
                duplicates: duplicates, conflicts: conflicts, gaps: gaps, equivocations: equivocations)
            for (name, f) in o.hostileFractions where !(0...1).contains(f) {
                fail(TrailError(.invalidArgument, "--\(name.replacingOccurrences(of: "_", with: "-")) must be a fraction between 0 and 1"))
            }
            let start = ContinuousClock.now
            let bar = ProgressBar(total: entries, label: "signed")
            let corpus = CorpusGenerator.generate(o) { bar.advance(by: $0) }
            bar.finish()
            status("writing \(out)")
            do { try corpus.write(to: out) } catch { fail(error) }
            statusDone()
            let secs = (ContinuousClock.now - start).seconds
            let phases = corpus.phases.map { "\($0.entries.count)" }.joined(separator: " + ")
            print("wrote \(corpus.entryCount) entries (phases: \(phases)) of \(agents) agents to \(out) (\(corpus.byteCount) bytes) in \(String(format: "%.1f", secs)) s")
            let x = corpus.expectedCounts
            print("expected: " + Expectation.names.enumerated().filter { x.byStatus[$0.offset] > 0 }.map { "\($0.element) \(x.byStatus[$0.offset])" }.joined(separator: ", "))
        }
    }

    struct Limit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure this machine's Ed25519 limit: libsodium verifications/s with every core verifying.")
        @Option(help: "Seconds to measure.") var seconds = 2.0
        @Option(help: "Threads (default: one per core).") var threads: Int?
        func run() async throws {
            let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let rate = VerifyLimit.measure(threads: n, seconds: seconds)
            print(String(format: "%.0f verifications/s with %d threads", rate, n))
        }
    }

    struct Agent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the did:key of one agent of a corpus made by 'bench gen'.")
        @Option(help: "The corpus seed.") var seed = "agenttrail-bench"
        @Option(help: "The agent's number, from 0.") var index = 0
        func run() async throws {
            print(DIDKey.encode(Corpus.agentKey(seed: seed, index: index).publicKey))
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Offline bundle verification speed as a ratio to the Ed25519 limit measured in the same run.",
            discussion: "Measures the limit, verifies the bundle --runs times, measures the limit again; the ratio uses the best run and the mean limit.")
        @Argument(help: "A bundle written by 'trail export'.") var bundle: String
        @Option(help: "The log's verifier key, or a file holding it.") var logKey: String
        @Option(help: "Verification runs.") var runs = 3
        @Option(help: "Seconds for each Ed25519 limit measurement.") var limitSeconds = 2.0
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let cores = ProcessInfo.processInfo.activeProcessorCount
            let key: NoteVerifierKey
            let file: MappedFile
            do {
                key = try parseLogKey(logKey)
                file = try MappedFile(path: bundle)
            } catch { fail(error, status: 2) }
            defer { file.close() }
            status("measuring the Ed25519 limit (\(cores) threads, \(limitSeconds) s)")
            let before = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            var rates: [Double] = []
            var entries = 0
            for r in 0..<max(1, runs) {
                status("verification run \(r + 1)/\(runs)")
                let start = ContinuousClock.now
                do throws(BundleFailure) {
                    entries = try BundleVerifier.verify(file.bytes, trustedKey: key, threads: cores).entries
                } catch { fail(error.error) }
                rates.append(Double(entries) / (ContinuousClock.now - start).seconds)
            }
            status("measuring the Ed25519 limit again")
            let after = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            statusDone()
            let limit = (before + after) / 2
            let best = rates.max()!
            if json {
                printJSON([
                    "entries": entries, "bytes": file.bytes.count, "runs_entries_per_sec": rates.map { $0.rounded() },
                    "entries_per_sec": best.rounded(), "limit_per_sec": limit.rounded(), "limit_before": before.rounded(),
                    "limit_after": after.rounded(), "ratio": (best / limit * 1000).rounded() / 1000, "threads": cores,
                ])
            } else {
                print(String(format: "bundle           %d entries, %d bytes", entries, file.bytes.count))
                print(String(format: "verified/s       %.0f  (best of %d: %@)", best, rates.count, rates.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
                print(String(format: "Ed25519 limit/s  %.0f  (%.0f before, %.0f after, %d threads)", limit, before, after, cores))
                print(String(format: "ratio            %.3f", best / limit))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stream a corpus to a collector and report entries/s, ack latency, the ratio to the Ed25519 limit and every status's count.",
            discussion: """
                Measures the Ed25519 limit, sends the corpus's setup phases (each one fully acknowledged before the next), \
                streams the last phase (the measured one), measures the limit again, and divides by the higher of the \
                two limits. Every ack is compared with what the corpus expects of that entry.
                """)
        @Argument(help: "A corpus written by 'trail bench gen'.") var corpus: String
        @Option(help: "Collector address.") var server = "127.0.0.1:7411"
        @Option(help: "Connections; each signer's entries go over one connection, in order.") var connections = 64
        @Option(help: "Entries per APPEND batch.") var batch = 128
        @Option(help: "APPEND batches in flight per connection.") var window = 4
        @Option(help: "Target total entries/s of the measured phase (default: as fast as possible).") var rate: Double?
        @Option(help: "Seconds for each Ed25519 limit measurement (before and after the replay).") var limitSeconds = 2.0
        @Option(help: "Server process id, to report its peak RSS and anonymous memory (RssAnon).") var serverPid: Int?
        @Option(help: "Also sample the server's RssAnon when this many entries are acknowledged (comma-separated).") var rssAt: [String] = []
        @Option(help: "Stop sending after this many seconds (what is in flight is still waited for, at most 60 s more).") var timeout = 600.0
        @Flag(help: "Exit 1 if any entry's status differs from what the corpus expects.") var strict = false
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            guard connections >= 1, connections <= 1024, batch >= 1, window >= 1, timeout > 0, limitSeconds > 0 else {
                fail(TrailError(.invalidArgument, "need --connections 1-1024, --batch >= 1, --window >= 1, --timeout > 0, --limit-seconds > 0"))
            }
            if let rate, !(rate > 0) { fail(TrailError(.invalidArgument, "--rate must be above 0")) }
            let marks = list(rssAt).compactMap { Int($0) }
            guard marks.count == list(rssAt).count else { fail(TrailError(.invalidArgument, "--rss-at takes entry counts, e.g. 1000000,10000000")) }
            let c: Corpus
            status("reading \(corpus)")
            do { c = try Corpus.read(from: corpus) } catch { fail(error) }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            status("measuring the Ed25519 limit (\(cores) threads, \(limitSeconds) s)")
            let before = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            let acked = Counter()
            let bar = ProgressBar(total: c.entryCount, label: "replayed", counter: acked)
            let memory = serverPid.map { ServerMemory(pid: $0, marks: marks, acked: acked) }
            let r: ReplayResult
            do {
                r = try await Replayer(
                    corpus: c, server: server, connections: connections, batch: batch, window: window, rate: rate,
                    timeout: timeout, acked: acked
                ).run()
            } catch {
                bar.finish()
                _ = memory?.stop()
                fail(error)
            }
            let mem = memory?.stop()
            bar.finish()
            status("measuring the Ed25519 limit again")
            let after = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            statusDone()
            let limit = max(before, after)
            let eps = Double(r.completed) / max(r.seconds, 1e-9)
            let ratio = (eps / limit * 1000).rounded() / 1000
            var o: [String: Any] = [
                "entries_per_sec": eps.rounded(), "limit_per_sec": limit.rounded(), "limit_before_per_sec": before.rounded(),
                "limit_after_per_sec": after.rounded(), "ratio": ratio,
                "p50_ms": r.percentile(0.50), "p99_ms": r.percentile(0.99), "p999_ms": r.percentile(0.999),
                "accepted": r.accepted, "noted": r.noted, "stored": r.accepted + r.noted, "rejected": r.rejected,
                "duplicates": r.duplicates, "entries": r.completed, "setup_entries": r.setupEntries,
                "setup_seconds": (r.setupSeconds * 1000).rounded() / 1000, "unsent": r.unsent, "stored_bytes": r.storedBytes,
                "statuses": r.counts.statuses, "expected": r.expected.statuses, "mismatches": r.mismatches,
                "noted_violations": r.counts.violationNames, "noted_flags": r.counts.flagNames,
                "expected_noted_violations": r.expected.violationNames, "expected_noted_flags": r.expected.flagNames,
                "seconds": (r.seconds * 1000).rounded() / 1000, "connections": connections, "batch": batch, "window": window,
            ]
            if let meta = try? JSONSerialization.jsonObject(with: Data(c.meta.utf8)) { o["corpus"] = meta }
            if !r.mismatchExamples.isEmpty { o["mismatch_examples"] = r.mismatchExamples }
            if !r.notStoredByStatus.isEmpty { o["rejected_by_status"] = r.notStoredByStatus }
            if let rate { o["rate"] = rate }
            if let mem {
                if let v = mem.peakRSS { o["server_peak_rss_mb"] = v }
                if let v = mem.peakAnon { o["server_peak_rss_anon_mb"] = v }
                if let v = mem.lastAnon { o["server_rss_anon_mb"] = v }
                if !mem.atMarks.isEmpty { o["server_rss_anon_mb_at"] = Dictionary(uniqueKeysWithValues: mem.atMarks.map { ("\($0.0)", $0.1) }) }
            }
            if json {
                print(EntryJSON.serialize(o, pretty: false))
            } else {
                print(String(format: "entries/s        %.0f  (%d entries in %.2f s; setup %d entries in %.2f s)", eps, r.completed, r.seconds, r.setupEntries, r.setupSeconds))
                print(String(format: "Ed25519 limit/s  %.0f  (higher of %.0f before, %.0f after; libsodium, %d threads)", limit, before, after, cores))
                print(String(format: "ratio            %.3f", eps / limit))
                print(String(format: "ack latency ms   p50 %.2f  p99 %.2f  p99.9 %.2f", r.percentile(0.5), r.percentile(0.99), r.percentile(0.999)))
                print("stored           \(r.accepted + r.noted) (accepted \(r.accepted), noted \(r.noted))  duplicates \(r.duplicates)  rejected \(r.rejected)")
                print("status           got        expected")
                for (i, name) in Expectation.names.enumerated() where r.counts.byStatus[i] > 0 || r.expected.byStatus[i] > 0 {
                    print("  " + name.padding(toLength: 15, withPad: " ", startingAt: 0) + String(r.counts.byStatus[i]).padding(toLength: 11, withPad: " ", startingAt: 0) + String(r.expected.byStatus[i]))
                }
                if r.noted > 0 || r.expected.byStatus[8] > 0 {
                    let v = r.counts.violationNames.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                    let f = r.counts.flagNames.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                    print("noted for        " + (v + f).joined(separator: ", "))
                }
                print(r.mismatches == 0 ? "every entry got the status the corpus expects" : "MISMATCHES       \(r.mismatches)")
                for m in r.mismatchExamples { print("  \(m)") }
                if r.unsent > 0 { print("unsent           \(r.unsent) (stopped by --timeout)") }
                if let v = o["server_peak_rss_mb"] { print("server peak RSS  \(v) MB") }
                if let v = o["server_peak_rss_anon_mb"] { print("server RssAnon    peak \(v) MB, at the end \(o["server_rss_anon_mb"] ?? "-") MB") }
            }
            if r.mismatches > 0 {
                FileHandle.standardError.write(Data("warning: \(r.mismatches) entries got another status than the corpus expects\n".utf8))
                if strict { throw ExitCode(1) }
            }
        }
    }
}

/// The server's memory from /proc/PID/status, sampled every 100 ms on a thread of its own:
/// peak RssAnon (anonymous memory: heap and stacks, not mapped file pages), its last value, its
/// value when the acknowledged count first reaches each mark, and peak RSS (VmHWM, kept by the kernel).
final class ServerMemory: Sendable {
    struct Result: Sendable {
        var peakRSS: Int?
        var peakAnon: Int?
        var lastAnon: Int?
        var atMarks: [(Int, Int)] = []
    }
    private struct State: Sendable {
        var result = Result()
        var pendingMarks: [Int]
        var stopped = false
    }
    let pid: Int
    private let state: Mutex<State>
    private let done = DispatchSemaphore(value: 0)

    init(pid: Int, marks: [Int], acked: Counter) {
        self.pid = pid
        state = Mutex(State(pendingMarks: marks.sorted()))
        Thread { [self] in
            while true {
                let anon = Self.statusField(pid: pid, "RssAnon:")
                let n = acked.value
                let stop = state.withLock { s -> Bool in
                    if let anon {
                        s.result.peakAnon = max(s.result.peakAnon ?? 0, anon)
                        s.result.lastAnon = anon
                        while let m = s.pendingMarks.first, n >= m {
                            s.result.atMarks.append((m, anon))
                            s.pendingMarks.removeFirst()
                        }
                    }
                    return s.stopped
                }
                if stop { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            done.signal()
        }.start()
    }

    /// Stops sampling (after one last sample) and returns what was seen.
    func stop() -> Result {
        state.withLock { $0.stopped = true }
        done.wait()
        var r = state.withLock { $0.result }
        r.peakRSS = Self.statusField(pid: pid, "VmHWM:")
        return r
    }

    /// A `kB` field of /proc/PID/status, in MB.
    static func statusField(pid: Int, _ name: String) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix(name) {
            return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) / 1024
        }
        return nil
    }
}

/// Whether stderr is a terminal: progress is drawn only there.
let stderrIsTerminal = isatty(STDERR_FILENO) == 1

/// Serialises everything written to the status line.
private let statusLine = Mutex(())

/// One status line on stderr (terminal only), replaced by the next. Safe from any thread.
func status(_ s: String) {
    guard stderrIsTerminal else { return }
    statusLine.withLock { _ in FileHandle.standardError.write(Data("\r\u{1b}[K\(s)".utf8)) }
}

func statusDone() {
    guard stderrIsTerminal else { return }
    statusLine.withLock { _ in FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
}

/// A progress bar on stderr, drawn only when stderr is a terminal, at most 5 times a second.
/// The count is atomic and drawing is serialised, so any thread may advance it.
final class ProgressBar: Sendable {
    let total: Int
    let label: String
    let counter: Counter
    private let start = ContinuousClock.now
    private let lastDraw = Mutex<ContinuousClock.Instant?>(nil)
    private let stopped = Atomic<Bool>(false)

    /// With `counter` (a count advanced elsewhere), a thread draws the bar until `finish()`.
    init(total: Int, label: String, counter: Counter? = nil) {
        self.total = max(total, 1)
        self.label = label
        self.counter = counter ?? Counter()
        guard stderrIsTerminal, counter != nil else { return }
        Thread { [self] in
            while !stopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 0.2)
                draw()
            }
        }.start()
    }

    func advance(by n: Int) {
        counter.add(n)
        if stderrIsTerminal { draw() }
    }

    private func draw() {
        let now = ContinuousClock.now
        lastDraw.withLock { last in
            if stopped.load(ordering: .relaxed) { return }
            if let l = last, now - l < .milliseconds(200) { return }
            last = now
            let done = min(counter.value, total)
            let perSec = Double(done) / max((now - start).seconds, 1e-3)
            let width = 30
            let filled = width * done / total
            let eta = perSec > 0 ? String(format: "  ETA %.0f s", Double(total - done) / perSec) : ""
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            status("\(label) [\(bar)] \(String(format: "%5.1f", 100 * Double(done) / Double(total)))%  \(done)/\(total)  \(String(format: "%.0f", perSec))/s\(eta)")
        }
    }

    /// Stops drawing and clears the line.
    func finish() {
        lastDraw.withLock { _ in stopped.store(true, ordering: .relaxed) }
        statusDone()
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// libsodium Ed25519 verifications per second with `threads` threads verifying at once.
enum VerifyLimit {
    static func measure(threads: Int, seconds: Double) -> Double {
        let key = SigningKey(seed: SHA256.hash(Array("limit".utf8)))
        let message = [UInt8](repeating: 7, count: 200)
        let sig = key.sign(message)
        let total = Counter()
        let start = DispatchTime.now()
        let deadline = start.uptimeNanoseconds + UInt64(seconds * 1e9)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            var n = 0
            message.withUnsafeBytes { m in
                while DispatchTime.now().uptimeNanoseconds < deadline {
                    for _ in 0..<64 { _ = Ed25519.verify(signature: sig, message: m, publicKey: key.publicKey) }
                    n += 64
                }
            }
            total.add(n)
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return Double(total.value) / elapsed
    }
}
