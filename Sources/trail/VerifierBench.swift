import ArgumentParser
import Dispatch
import Foundation
import Synchronization
import TrailCore

/// `trail bench verifiers`: the collector's verification scheduling on its own, Dispatch (a
/// concurrent queue, as the pipeline does it) against a dedicated thread pool with a locked job
/// queue (as the pipeline did it before), both against the Ed25519 limit in the same run.
struct VerifierBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifiers",
        abstract: "Compare Dispatch and a thread pool for verifying entries in batches, as ratios to the Ed25519 limit.")

    @Option(help: "Entries to verify per run (signed once, up front).") var entries = 100_000
    @Option(help: "Entries per batch (an APPEND).") var batch = 128
    @Option(help: "Entries per verification work item.") var chunk = 32
    @Option(help: "Runs of each scheduler (the best is kept).") var runs = 3
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard entries >= batch, batch >= 1, chunk >= 1, runs >= 1 else {
            fail(TrailError(.invalidArgument, "need entries >= batch >= 1, chunk >= 1, runs >= 1"))
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        status("signing \(entries) entries")
        let key = SigningKey(seed: SHA256.hash(Array("verifier-bench".utf8)))
        // Each worker signs a contiguous share into its own slot.
        let shares = Slots<[Entry]>(count: cores, empty: [])
        DispatchQueue.concurrentPerform(iterations: cores) { w in
            let range = (entries * w / cores)..<(entries * (w + 1) / cores)
            shares.buffer[w] = range.map { try! EntryCodec.decode(Self.sample(key, $0)) }
        }
        let all = (0..<cores).flatMap { shares.buffer[$0] }
        status("measuring the Ed25519 limit")
        let before = VerifyLimit.measure(threads: cores, seconds: 2)
        var dispatchRates: [Double] = []
        var poolRates: [Double] = []
        for r in 0..<runs {
            status("run \(r + 1)/\(runs): Dispatch")
            dispatchRates.append(Self.viaDispatch(all, batch: batch, chunk: chunk))
            status("run \(r + 1)/\(runs): thread pool")
            poolRates.append(Self.viaThreads(all, batch: batch, chunk: chunk, threads: cores))
        }
        let after = VerifyLimit.measure(threads: cores, seconds: 2)
        statusDone()
        let limit = max(before, after)
        let d = dispatchRates.max()!
        let p = poolRates.max()!
        if json {
            print(EntryJSON.serialize([
                "entries": entries, "batch": batch, "chunk": chunk, "limit_before_per_sec": Int(before), "limit_after_per_sec": Int(after),
                "dispatch_per_sec": Int(d), "thread_pool_per_sec": Int(p),
                "dispatch_ratio": (d / limit * 1000).rounded() / 1000, "thread_pool_ratio": (p / limit * 1000).rounded() / 1000,
            ]))
        } else {
            print(String(format: "Ed25519 limit: %.0f/s before, %.0f/s after", before, after))
            print(String(format: "Dispatch:    %.0f entries/s, ratio %.3f", d, d / limit))
            print(String(format: "thread pool: %.0f entries/s, ratio %.3f", p, p / limit))
        }
    }

    static func sample(_ key: SigningKey, _ i: Int) -> [UInt8] {
        let body = ActionBody(
            actionType: "post_reply", target: "forum.example.com/t/\(i % 1000)", contentHash: SHA256.hash(Array("\(i)".utf8)),
            modelID: "model-a", latencyMs: 250)
        return try! EntryCodec.sign(
            UnsignedEntry(signer: key.publicKey, seq: 0, timestampMs: 1_763_900_000_000, prev: .zero, body: .action(body)), with: key
        ).encoded
    }

    /// What the pipeline does per entry: the leaf hash and the signature check.
    @inline(__always)
    static func check(_ e: Entry) -> Bool {
        _ = e.hash
        return (try? EntryCodec.verify(e)) != nil
    }

    /// Batches submitted at once; each split into chunks on a concurrent queue, the last chunk of
    /// a batch signalling its completion.
    static func viaDispatch(_ all: [Entry], batch: Int, chunk: Int) -> Double {
        let queue = DispatchQueue(label: "bench.verify", qos: .userInitiated, attributes: .concurrent)
        let done = NSCondition()
        let batchesLeft = Box((all.count + batch - 1) / batch)
        let start = DispatchTime.now()
        for b in stride(from: 0, to: all.count, by: batch) {
            let end = min(all.count, b + batch)
            let counter = ChunkCounter((end - b + chunk - 1) / chunk)
            for c in stride(from: b, to: end, by: chunk) {
                let range = c..<min(end, c + chunk)
                queue.async {
                    for i in range { _ = check(all[i]) }
                    if counter.left.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                        done.lock()
                        batchesLeft.value -= 1
                        done.signal()
                        done.unlock()
                    }
                }
            }
        }
        done.lock()
        while batchesLeft.value > 0 { done.wait() }
        done.unlock()
        return Double(all.count) / (Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }

    /// The former design: one thread per core taking chunks from a locked queue, a broadcast on
    /// every chunk completion.
    static func viaThreads(_ all: [Entry], batch: Int, chunk: Int, threads: Int) -> Double {
        let lock = NSCondition()
        let state = Box((jobs: [Range<Int>](), head: 0, chunksLeft: [Int: Int](), batchesLeft: 0, stop: false))
        for b in stride(from: 0, to: all.count, by: batch) {
            let end = min(all.count, b + batch)
            for c in stride(from: b, to: end, by: chunk) { state.value.jobs.append(c..<min(end, c + chunk)) }
            state.value.chunksLeft[b / batch] = (end - b + chunk - 1) / chunk
            state.value.batchesLeft += 1
        }
        let start = DispatchTime.now()
        let workers = (0..<threads).map { _ in
            Thread {
                while true {
                    lock.lock()
                    while state.value.head == state.value.jobs.count && !state.value.stop { lock.wait() }
                    if state.value.head == state.value.jobs.count {
                        lock.unlock()
                        return
                    }
                    let job = state.value.jobs[state.value.head]
                    state.value.head += 1
                    lock.unlock()
                    for i in job { _ = check(all[i]) }
                    lock.lock()
                    let b = job.lowerBound / batch
                    state.value.chunksLeft[b]! -= 1
                    if state.value.chunksLeft[b] == 0 { state.value.batchesLeft -= 1 }
                    lock.broadcast()
                    lock.unlock()
                }
            }
        }
        for t in workers { t.start() }
        lock.lock()
        while state.value.batchesLeft > 0 { lock.wait() }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        state.value.stop = true
        lock.broadcast()
        lock.unlock()
        return Double(all.count) / elapsed
    }
}

/// A mutable box shared by closures whose accesses are serialised by the caller.
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

final class ChunkCounter: Sendable {
    let left: Atomic<Int>
    init(_ n: Int) { left = Atomic(n) }
}
