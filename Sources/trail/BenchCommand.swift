import AgentTrail
import ArgumentParser
import Dispatch
import Foundation
import Synchronization

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Pre-signed corpora and the replay load generator.",
        subcommands: [Gen.self, Replay.self, Limit.self, Verify.self, Agent.self, SegmentBench.self])

    struct Gen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a pre-signed corpus: every agent's chain, interleaved round-robin.")
        @Option(help: "Number of agents (signers).") var agents = 1000
        @Option(help: "Total number of entries.") var entries = 1_000_000
        @Option(help: "Output file.") var out: String
        @Option(help: "Seed text for the agents' keys (same seed, same corpus).") var seed = "agenttrail-bench"

        func run() async throws {
            guard agents >= 1, entries >= 1, agents <= entries else {
                fail(TrailError(.invalidArgument, "need 1 <= agents <= entries"))
            }
            let start = ContinuousClock.now
            let corpus = Corpus.generate(agents: agents, entries: entries, seed: seed) { done in
                progress("signed \(done)/\(entries)")
            }
            do { try corpus.write(to: out) } catch { fail(error) }
            let secs = (ContinuousClock.now - start).seconds
            progressDone()
            print("wrote \(entries) entries of \(agents) agents to \(out) (\(corpus.byteCount) bytes) in \(String(format: "%.1f", secs)) s")
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
            progress("measuring the Ed25519 limit (\(cores) threads, \(limitSeconds) s)")
            let before = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            var rates: [Double] = []
            var entries = 0
            for r in 0..<max(1, runs) {
                progress("verification run \(r + 1)/\(runs)")
                let start = ContinuousClock.now
                do throws(BundleFailure) {
                    entries = try BundleVerifier.verify(file.bytes, trustedKey: key, threads: cores).entries
                } catch { fail(error.error) }
                rates.append(Double(entries) / (ContinuousClock.now - start).seconds)
            }
            progress("measuring the Ed25519 limit again")
            let after = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            progressDone()
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
            abstract: "Stream a corpus to a collector and report entries/s, ack latency and the ratio to the Ed25519 limit.")
        @Argument(help: "A corpus written by 'trail bench gen'.") var corpus: String
        @Option(help: "Collector address.") var server = "127.0.0.1:7411"
        @Option(help: "Connections; each agent's entries go over one connection, in order.") var connections = 64
        @Option(help: "Entries per APPEND batch.") var batch = 128
        @Option(help: "APPEND batches in flight per connection.") var window = 4
        @Option(help: "Target total entries/s (default: as fast as possible).") var rate: Double?
        @Option(help: "Seconds for measuring the Ed25519 limit before the replay.") var limitSeconds = 2.0
        @Option(help: "Server process id, to report its peak RSS.") var serverPid: Int?
        @Option(help: "Stop after this many seconds.") var timeout = 600.0
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let c: Corpus
            do { c = try Corpus.read(from: corpus) } catch { fail(error) }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            progress("measuring the Ed25519 limit (\(cores) threads, \(limitSeconds) s)")
            let limit = VerifyLimit.measure(threads: cores, seconds: limitSeconds)
            let r: ReplayResult
            do {
                r = try await Replayer(
                    corpus: c, server: server, connections: connections, batch: batch, window: window, rate: rate,
                    timeout: timeout
                ).run()
            } catch { fail(error) }
            progressDone()
            let eps = Double(r.completed) / r.seconds
            var o: [String: Any] = [
                "entries_per_sec": eps.rounded(), "limit_per_sec": limit.rounded(), "ratio": (eps / limit * 1000).rounded() / 1000,
                "p50_ms": r.percentile(0.50), "p99_ms": r.percentile(0.99), "p999_ms": r.percentile(0.999),
                "accepted": r.accepted, "rejected": r.rejected, "duplicates": r.duplicates, "entries": r.completed,
                "seconds": (r.seconds * 1000).rounded() / 1000, "connections": connections, "batch": batch, "window": window,
            ]
            if !r.byStatus.isEmpty { o["rejected_by_status"] = r.byStatus }
            if let serverPid, let rss = peakRSS(pid: serverPid) { o["server_peak_rss_mb"] = rss }
            if json {
                print(EntryJSON.serialize(o, pretty: false))
            } else {
                print(String(format: "entries/s        %.0f", eps))
                print(String(format: "Ed25519 limit/s  %.0f  (libsodium, %d threads, same run)", limit, cores))
                print(String(format: "ratio            %.3f", eps / limit))
                print(String(format: "ack latency ms   p50 %.2f  p99 %.2f  p99.9 %.2f", r.percentile(0.5), r.percentile(0.99), r.percentile(0.999)))
                print("accepted \(r.accepted)  duplicates \(r.duplicates)  rejected \(r.rejected) \(r.byStatus)")
                if let rss = o["server_peak_rss_mb"] { print("server peak RSS  \(rss) MB") }
            }
        }
    }
}

func peakRSS(pid: Int) -> Int? {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return kb / 1024
    }
    return nil
}

nonisolated(unsafe) var lastProgress = ContinuousClock.now
func progress(_ s: String) {
    let now = ContinuousClock.now
    guard now - lastProgress > .milliseconds(500) else { return }
    lastProgress = now
    FileHandle.standardError.write(Data("\r\u{1b}[K\(s)".utf8))
}
func progressDone() { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }

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
