import Foundation
import Logging
import Synchronization
import TrailCore
import TrailStore

/// One append batch on its way through the pipeline. Verifier threads write disjoint slots of
/// `statuses` and `hashes`, so those live in manually allocated buffers rather than arrays.
final class IngestBatch: @unchecked Sendable {
    let entries: [Entry?]
    /// Pre-sequencing verdicts: nil = verified and waiting for the sequencer.
    let statuses: UnsafeMutableBufferPointer<AppendStatus?>
    let hashes: UnsafeMutableBufferPointer<Bytes32>
    let completion: @Sendable (Result<[AppendStatus], TrailError>) -> Void
    var chunksLeft = 0
    var verified = false

    init(decoded: [Result<Entry, TrailError>], completion: @escaping @Sendable (Result<[AppendStatus], TrailError>) -> Void) {
        var entries: [Entry?] = []
        entries.reserveCapacity(decoded.count)
        statuses = .allocate(capacity: decoded.count)
        hashes = .allocate(capacity: decoded.count)
        hashes.initialize(repeating: .zero)
        for (i, d) in decoded.enumerated() {
            switch d {
            case .success(let e):
                entries.append(e)
                (statuses.baseAddress! + i).initialize(to: nil)
            case .failure(let err):
                entries.append(nil)
                (statuses.baseAddress! + i).initialize(to: .malformed(err.code))
            }
        }
        self.entries = entries
        self.completion = completion
    }

    deinit {
        statuses.deinitialize()
        statuses.deallocate()
        hashes.deallocate()
    }

    var count: Int { entries.count }
}

/// Counters the pipeline exposes for metrics and benchmarks.
public struct IngestStats: Sendable {
    public var accepted: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var rejected: UInt64 = 0
    public var equivocations: UInt64 = 0
    public var overloaded: UInt64 = 0
    public var groups: UInt64 = 0
    public var logSize: UInt64 = 0
}

/// The path of an entry after decoding: parallel Ed25519 verification on dedicated threads
/// (one per core), then one sequencer thread that applies the chain rules in submission order
/// and writes many batches in one LMDB transaction (group commit) before acknowledging any.
public final class IngestPipeline: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Verifier threads; defaults to the number of cores.
        public var verifiers: Int = ProcessInfo.processInfo.activeProcessorCount
        /// Entries accepted into the pipeline but not yet acknowledged, across all connections.
        /// Past it, batches are answered `overloaded`.
        public var maxPendingEntries: Int = 200_000
        /// The most entries one group commit takes.
        public var maxGroupEntries: Int = 50_000
        /// Thresholds of the trust-flag rules.
        public var trust = TrustRules()
        public init() {}
    }

    private struct Chunk {
        let batch: IngestBatch
        let range: Range<Int>
    }

    let store: ChainStore
    let configuration: Configuration
    let logger: Logger

    private let lock = NSCondition()
    // Guarded by `lock`:
    private var jobs: [Chunk] = []
    private var jobHead = 0
    private var ordered: [IngestBatch] = []
    private var orderedHead = 0
    private var pendingEntries = 0
    private var stopping = false
    private var threads: [Thread] = []

    // Owned by the sequencer thread:
    private var heads: [PublicKey: ChainHead]
    private var nextIndex: UInt64
    private var frontier: MerkleFrontier
    private let accountant: Accountant
    private let treeBox: Mutex<TreeHead>

    private let statsBox = Mutex(IngestStats())
    private let allStopped = DispatchSemaphore(value: 0)

    public init(store: ChainStore, configuration: Configuration = .init(), logger: Logger) throws {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        heads = try store.allHeads()
        nextIndex = try store.logSize()
        frontier = try store.merkleFrontier(size: nextIndex)
        accountant = Accountant(store: store, rules: configuration.trust)
        treeBox = Mutex(TreeHead(size: frontier.size, root: frontier.root))
        statsBox.withLock { $0.logSize = nextIndex }
    }

    public var stats: IngestStats { statsBox.withLock { $0 } }

    /// Size and root of the log's Merkle tree over everything committed (durable).
    public var tree: TreeHead { treeBox.withLock { $0 } }

    /// Starts the verifier threads and the sequencer.
    public func start() {
        let n = max(1, configuration.verifiers)
        for i in 0..<n {
            let t = Thread { [self] in verifierLoop() }
            t.name = "trail-verify-\(i)"
            t.stackSize = 1 << 20
            threads.append(t)
        }
        let s = Thread { [self] in sequencerLoop() }
        s.name = "trail-sequencer"
        threads.append(s)
        for t in threads { t.start() }
        logger.info("ingest pipeline started", metadata: ["verifiers": "\(n)", "log_size": "\(nextIndex)"])
    }

    /// Finishes every batch already submitted, then stops the threads.
    public func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        lock.unlock()
        let n = threads.count
        for _ in 0..<n { allStopped.wait() }
        threads = []
    }

    /// Submits a batch of decoded entries (decode failures carry their error). `completion` runs
    /// on the sequencer thread after the batch is durable, or at once if the pipeline is full.
    public func submit(
        _ decoded: [Result<Entry, TrailError>],
        completion: @escaping @Sendable (Result<[AppendStatus], TrailError>) -> Void
    ) {
        let batch = IngestBatch(decoded: decoded, completion: completion)
        lock.lock()
        if stopping {
            lock.unlock()
            completion(.failure(TrailError(.shuttingDown, "the server is shutting down")))
            return
        }
        if pendingEntries + batch.count > configuration.maxPendingEntries {
            let backlog = pendingEntries
            lock.unlock()
            statsBox.withLock { $0.overloaded += UInt64(batch.count) }
            // Hint: time to drain the backlog at ~40k/s, at least 10 ms.
            let retry = UInt32(max(10, min(5_000, backlog / 40)))
            completion(.success(Array(repeating: .overloaded(retryAfterMs: retry), count: batch.count)))
            return
        }
        pendingEntries += batch.count
        let workers = max(1, configuration.verifiers)
        let chunkSize = max(8, min(64, (batch.count + workers - 1) / workers))
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + chunkSize)
            jobs.append(Chunk(batch: batch, range: start..<end))
            batch.chunksLeft += 1
            start = end
        }
        ordered.append(batch)
        lock.broadcast()
        lock.unlock()
    }

    // MARK: Verification

    private func verifierLoop() {
        while true {
            lock.lock()
            while jobHead == jobs.count && !stopping { lock.wait() }
            if jobHead == jobs.count {
                lock.unlock()
                break
            }
            let chunk = jobs[jobHead]
            jobHead += 1
            if jobHead > 4096 && jobHead * 2 > jobs.count {
                jobs.removeFirst(jobHead)
                jobHead = 0
            }
            lock.unlock()

            verify(chunk)

            lock.lock()
            chunk.batch.chunksLeft -= 1
            if chunk.batch.chunksLeft == 0 {
                chunk.batch.verified = true
                lock.broadcast()
            }
            lock.unlock()
        }
        threadStopped()
    }

    private func verify(_ chunk: Chunk) {
        let batch = chunk.batch
        for i in chunk.range {
            guard let entry = batch.entries[i] else { continue }
            batch.hashes[i] = entry.hash
            do {
                try EntryCodec.verify(entry)
            } catch {
                batch.statuses[i] = .badSignature(error.code)
            }
        }
    }

    // MARK: Sequencing and group commit

    private func sequencerLoop() {
        while true {
            lock.lock()
            while !(orderedHead < ordered.count && ordered[orderedHead].verified) && !(stopping && orderedHead == ordered.count) {
                lock.wait()
            }
            if orderedHead == ordered.count {
                lock.unlock()
                break
            }
            var group: [IngestBatch] = []
            var entries = 0
            while orderedHead < ordered.count && ordered[orderedHead].verified && entries < configuration.maxGroupEntries {
                group.append(ordered[orderedHead])
                entries += ordered[orderedHead].count
                orderedHead += 1
            }
            if orderedHead > 1024 && orderedHead * 2 > ordered.count {
                ordered.removeFirst(orderedHead)
                orderedHead = 0
            }
            lock.unlock()

            commit(group)

            lock.lock()
            pendingEntries -= entries
            lock.unlock()
        }
        threadStopped()
    }

    private func threadStopped() {
        allStopped.signal()
    }

    /// Applies the chain rules to a group of batches and commits them in one transaction.
    private func commit(_ group: [IngestBatch]) {
        let result: (ChainStore.Group, ([[AppendStatus]], MerkleFrontier, Accountant.Scratch))
        do {
            result = try store.commit { (txn, store) in
                try self.decide(group, txn, store)
            }
        } catch {
            let e = (error as? TrailError) ?? TrailError(.storage, "\(error)")
            logger.error("group commit failed", metadata: ["error": "\(e)"])
            for b in group { b.completion(.failure(e)) }
            return
        }
        let (written, (statuses, newFrontier, scratch)) = result
        // Durable now: publish the new heads, accountability state and tree, then acknowledge.
        for (signer, head) in written.heads { heads[signer] = head }
        accountant.commit(scratch)
        nextIndex += UInt64(written.appended.count)
        if newFrontier.size != frontier.size {
            frontier = newFrontier
            let head = TreeHead(size: newFrontier.size, root: newFrontier.root)
            treeBox.withLock { $0 = head }
        }
        var accepted: UInt64 = 0
        var duplicates: UInt64 = 0
        var rejected: UInt64 = 0
        for s in statuses {
            for st in s {
                switch st {
                case .accepted, .noted: accepted += 1
                case .duplicate: duplicates += 1
                default: rejected += 1
                }
            }
        }
        let logSize = nextIndex
        statsBox.withLock {
            $0.accepted += accepted
            $0.duplicates += duplicates
            $0.rejected += rejected
            $0.equivocations += UInt64(written.equivocations.count)
            $0.groups += 1
            $0.logSize = logSize
        }
        for (b, s) in zip(group, statuses) { b.completion(.success(s)) }
    }

    /// Pure with respect to the sequencer's state: may run twice if the map has to grow.
    private func decide(
        _ group: [IngestBatch], _ txn: borrowing LMDBTransaction, _ store: ChainStore
    ) throws -> (ChainStore.Group, ([[AppendStatus]], MerkleFrontier, Accountant.Scratch)) {
        var out = ChainStore.Group()
        var scratch = Accountant.Scratch()
        var tree = frontier
        var groupHashes: [Bytes32: UInt64] = [:]
        var index = nextIndex
        var all: [[AppendStatus]] = []
        all.reserveCapacity(group.count)
        for batch in group {
            var statuses: [AppendStatus] = []
            statuses.reserveCapacity(batch.count)
            for i in 0..<batch.count {
                if let s = batch.statuses[i] {
                    statuses.append(s)
                    continue
                }
                let entry = batch.entries[i]!
                let hash = batch.hashes[i]
                let head = out.heads[entry.signer] ?? heads[entry.signer] ?? .empty
                if entry.seq == head.nextSeq {
                    if entry.prev == head.hash {
                        let verdict = try accountant.check(entry, index: index, &scratch, &out.accounts, txn)
                        guard case .accept(let violations, let flags) = verdict else {
                            if case .reject(let e) = verdict { statuses.append(.rejected(e.code)) }
                            continue
                        }
                        out.appended.append((index, entry, hash))
                        tree.append(hash) { node, nodeHash in
                            if node.level >= ChainStore.storedMerkleLevel { out.merkleNodes.append((node, nodeHash)) }
                        }
                        out.heads[entry.signer] = ChainHead(nextSeq: entry.seq + 1, hash: hash)
                        groupHashes[hash] = index
                        statuses.append(.accepted(index: index, violations: violations, flags: flags))
                        index += 1
                    } else {
                        statuses.append(.conflict(head: head))
                    }
                } else if entry.seq > head.nextSeq {
                    statuses.append(.gap(head: head))
                } else if let existing = try groupHashes[hash] ?? store.index(ofHash: hash, in: txn) {
                    statuses.append(.duplicate(index: existing))
                } else {
                    // A different, validly signed entry at a position already taken: evidence.
                    out.equivocations.append((entry, hash))
                    statuses.append(.equivocation(head: head))
                }
            }
            all.append(statuses)
        }
        return (out, (all, tree, scratch))
    }
}


/// The size and root of a log's Merkle tree.
public struct TreeHead: Sendable, Hashable {
    public var size: UInt64
    public var root: Bytes32
    public init(size: UInt64, root: Bytes32) {
        self.size = size
        self.root = root
    }
}
