import AgentTrail
import Dispatch
import Foundation
import Synchronization

/// A pre-signed corpus: `"ATCORP01"`, u32 agents, u64 entries, then each entry as
/// `u32 length || entry`, agents interleaved round-robin (entry i is agent i mod agents).
struct Corpus: @unchecked Sendable {
    static let magic = Array("ATCORP01".utf8)
    let agents: Int
    let entries: [[UInt8]]

    var byteCount: Int { entries.reduce(20) { $0 + 4 + $1.count } }

    /// Signs `entries` actions for `agents` agents on all cores.
    /// The key of agent `index` in every corpus generated with `seed`.
    static func agentKey(seed: String, index: Int) -> SigningKey {
        SigningKey(seed: SHA256.hash(Array("\(seed)-agent-\(index)".utf8)))
    }

    static func generate(agents: Int, entries: Int, seed: String, progress: @escaping @Sendable (Int) -> Void) -> Corpus {
        let perAgent = (0..<agents).map { a in entries / agents + (a < entries % agents ? 1 : 0) }
        let slots = Slots(count: agents)
        let chains = slots.buffer
        let done = Counter()
        let base: UInt64 = 1_763_900_000_000
        let workers = ProcessInfo.processInfo.activeProcessorCount
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var a = w
            while a < agents {
                let key = agentKey(seed: seed, index: a)
                var prev = Bytes32.zero
                var chain: [[UInt8]] = []
                chain.reserveCapacity(perAgent[a])
                for s in 0..<perAgent[a] {
                    let content = SHA256.hash(Array("\(seed)-\(a)-\(s)".utf8))
                    let body = ActionBody(
                        actionType: "post_reply", target: "forum.example.com/t/\(s % 1000)", contentHash: content,
                        modelID: "model-a", latencyMs: UInt32(200 + s % 300))
                    let e = try! EntryCodec.sign(
                        UnsignedEntry(signer: key.publicKey, seq: UInt64(s), timestampMs: base + UInt64(s) * 1000, prev: prev, body: .action(body)),
                        with: key)
                    prev = e.hash
                    chain.append(e.encoded)
                }
                slots.buffer[a] = chain
                let d = done.add(chain.count)
                progress(d)
                a += workers
            }
        }
        var out: [[UInt8]] = []
        out.reserveCapacity(entries)
        var round = 0
        while out.count < entries {
            for a in 0..<agents where round < chains[a].count { out.append(chains[a][round]) }
            round += 1
        }
        return Corpus(agents: agents, entries: out)
    }

    func write(to path: String) throws {
        var w = ByteWriter(capacity: byteCount)
        w.raw(Self.magic)
        w.u32(UInt32(agents))
        w.u64(UInt64(entries.count))
        for e in entries {
            w.u32(UInt32(e.count))
            w.raw(e)
        }
        try writeFile(path, w.bytes)
    }

    static func read(from path: String) throws -> Corpus {
        let bytes = try readFile(path)
        return try bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            guard raw.count >= 20, Array(try r.skip(8, "magic")) == magic else {
                throw TrailError(.invalidArgument, "\(path) is not an AgentTrail corpus")
            }
            let agents = Int(try r.u32("agents"))
            let n = try r.u64("entries")
            // Every entry takes at least 4 bytes: bound the count by the file before allocating.
            guard n <= UInt64(r.remaining / 4) else { throw TrailError(.truncated, "corpus claims \(n) entries") }
            var entries: [[UInt8]] = []
            entries.reserveCapacity(Int(n))
            for _ in 0..<n {
                let len = Int(try r.u32("entry length"))
                guard len <= EntryLimits.maxEntrySize else { throw TrailError(.entryTooLarge, "corpus entry of \(len) bytes") }
                entries.append(Array(try r.skip(len, "entry")))
            }
            guard r.remaining == 0 else { throw TrailError(.trailingBytes, "\(r.remaining) bytes after the corpus") }
            return Corpus(agents: agents, entries: entries)
        }
    }
}

struct ReplayResult {
    var completed = 0
    var accepted = 0
    var duplicates = 0
    var rejected = 0
    var byStatus: [String: Int] = [:]
    var seconds = 0.0
    /// (latency ms, entries) per batch.
    var latencies: [(Double, Int)] = []

    func percentile(_ p: Double) -> Double {
        let sorted = latencies.sorted { $0.0 < $1.0 }
        let total = sorted.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return 0 }
        let target = Double(total) * p
        var seen = 0
        for (ms, n) in sorted {
            seen += n
            if Double(seen) >= target { return (ms * 100).rounded() / 100 }
        }
        return sorted.last!.0
    }
}

/// Streams a corpus over many connections, each agent's entries over one connection in order.
struct Replayer {
    let corpus: Corpus
    let server: String
    let connections: Int
    let batch: Int
    let window: Int
    let rate: Double?
    let timeout: Double

    func run() async throws -> ReplayResult {
        let (host, port) = try parseAddress(server)
        // Assign agents to connections by signer key.
        var lanes = [[[UInt8]]](repeating: [], count: connections)
        var laneOf: [Bytes32: Int] = [:]
        for e in corpus.entries {
            let signer = e.count >= 34 ? Bytes32(e[2..<34])! : .zero
            let lane: Int
            if let l = laneOf[signer] {
                lane = l
            } else {
                lane = laneOf.count % connections
                laneOf[signer] = lane
            }
            lanes[lane].append(e)
        }
        var conns: [TrailConnection] = []
        for _ in 0..<connections { conns.append(try await TrailConnection.connect(host: host, port: port, clientName: "trail-bench")) }
        let maxBatch = min(batch, Int(conns[0].limits.maxBatch))
        let total = corpus.entries.count
        let progressCount = Counter()
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(timeout)
        let perLaneRate = rate.map { $0 / Double(connections) }
        let progressTask = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let d = progressCount.value
                let s = (clock.now - start).seconds
                progress(String(format: "replayed %d/%d  %.0f entries/s", d, total, Double(d) / s))
            }
        }
        let result = try await withThrowingTaskGroup(of: ReplayResult.self) { group in
            for (i, lane) in lanes.enumerated() where !lane.isEmpty {
                let conn = conns[i]
                group.addTask {
                    try await replayLane(lane, conn, maxBatch: maxBatch, laneRate: perLaneRate, deadline: deadline, clock: clock, progress: progressCount)
                }
            }
            var merged = ReplayResult()
            for try await r in group {
                merged.completed += r.completed
                merged.accepted += r.accepted
                merged.duplicates += r.duplicates
                merged.rejected += r.rejected
                merged.byStatus.merge(r.byStatus, uniquingKeysWith: +)
                merged.latencies += r.latencies
            }
            return merged
        }
        progressTask.cancel()
        var r = result
        r.seconds = (clock.now - start).seconds
        for c in conns { await c.close() }
        return r
    }

    private func replayLane(
        _ lane: [[UInt8]], _ conn: TrailConnection, maxBatch: Int, laneRate: Double?, deadline: ContinuousClock.Instant,
        clock: ContinuousClock, progress: Counter
    ) async throws -> ReplayResult {
        var result = ReplayResult()
        let laneStart = clock.now
        try await withThrowingTaskGroup(of: (Double, [AppendStatus]).self) { group in
            var offset = 0
            var inFlight = 0
            func absorb(_ r: (Double, [AppendStatus])) {
                result.latencies.append((r.0, r.1.count))
                result.completed += r.1.count
                for s in r.1 {
                    switch s {
                    case .accepted: result.accepted += 1
                    case .duplicate: result.duplicates += 1
                    default:
                        result.rejected += 1
                        result.byStatus[s.name, default: 0] += 1
                    }
                }
                progress.add(r.1.count)
            }
            while offset < lane.count && clock.now < deadline {
                if inFlight >= window, let r = try await group.next() {
                    inFlight -= 1
                    absorb(r)
                }
                if let laneRate {
                    // Pace: batch k may start at k*batch/rate seconds.
                    let due = laneStart + .seconds(Double(offset) / laneRate)
                    if due > clock.now { try await Task.sleep(until: due, clock: clock) }
                }
                let slice = Array(lane[offset..<min(lane.count, offset + maxBatch)])
                offset += slice.count
                inFlight += 1
                let t0 = clock.now
                let reply = conn.sendAppend(slice)  // queued now: batches leave in order
                group.addTask {
                    let statuses = try await reply.get()
                    return ((clock.now - t0).seconds * 1000, statuses)
                }
            }
            while let r = try await group.next() { absorb(r) }
        }
        return result
    }
}

/// A shared counter.
final class Counter: Sendable {
    private let v = Atomic<Int>(0)
    @discardableResult func add(_ n: Int) -> Int { v.wrappingAdd(n, ordering: .relaxed).newValue }
    var value: Int { v.load(ordering: .relaxed) }
}

/// Per-index result slots that parallel workers fill, each writing only its own indices.
final class Slots: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<[[UInt8]]>
    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: [])
    }
    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }
}
