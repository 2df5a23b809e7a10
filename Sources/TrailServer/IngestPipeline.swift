import Dispatch
import Foundation
import Logging
import Synchronization
import TrailCore
import TrailStore

/// One append batch on its way through the pipeline. Verification work items write disjoint
/// slots of `statuses` and `hashes`, so those live in manually allocated buffers.
final class IngestBatch: @unchecked Sendable {
    let entries: [Entry?]
    /// Pre-sequencing verdicts: nil = verified and waiting for the sequencer.
    let statuses: UnsafeMutableBufferPointer<AppendStatus?>
    let hashes: UnsafeMutableBufferPointer<Bytes32>
    let completion: @Sendable (Result<[AppendStatus], TrailError>) -> Void
    /// Verification chunks still running.
    let chunksLeft = Atomic<Int>(0)
    /// Set (under the pipeline's lock) once every chunk is done.
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

    /// The batch as the rules engine's input.
    var candidates: [RulesEngine.Candidate] {
        (0..<count).map { i in
            if let s = statuses[i] { return .refused(s) }
            return .entry(entries[i]!, hash: hashes[i])
        }
    }
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

/// The path of an entry after decoding: Ed25519 verification in parallel on a concurrent
/// Dispatch queue (chunks of a batch run on every core), then one sequencer thread that hands
/// verified batches, in submission order, to the rules engine, writes what it decided for many
/// batches in one LMDB transaction (group commit), and acknowledges them once it is durable.
public final class IngestPipeline: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Entries per verification work item; a batch is split into chunks of about this size
        /// so that every core gets a share of it.
        public var verifyChunk: Int = 32
        /// Entries accepted into the pipeline but not yet acknowledged, across all connections.
        /// Past it, batches are answered `overloaded`.
        public var maxPendingEntries: Int = 200_000
        /// The most entries one group commit takes.
        public var maxGroupEntries: Int = 50_000
        /// Thresholds of the trust-flag rules.
        public var trust = TrustRules()
        /// The collector's clock (ms since the epoch): the time of each group commit, on which
        /// the rate and retry windows run. Tests set it; it defaults to the system clock.
        public var clock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
        public init() {}
    }

    let store: ChainStore
    let configuration: Configuration
    let logger: Logger
    private let verifyQueue = DispatchQueue(label: "trail.verify", qos: .userInitiated, attributes: .concurrent)

    private let lock = NSCondition()
    // Guarded by `lock`:
    private var ordered: [IngestBatch] = []
    private var orderedHead = 0
    private var pendingEntries = 0
    private var stopping = false
    private var running = false

    // Owned by the sequencer thread (read elsewhere only through `treeBox`).
    private var engine: RulesEngine
    private let treeBox: Mutex<TreeHead>
    private let statsBox = Mutex(IngestStats())
    private let stopped = DispatchSemaphore(value: 0)

    public init(store: ChainStore, configuration: Configuration = .init(), logger: Logger) throws {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        let size = try store.logSize()
        engine = RulesEngine(
            rules: configuration.trust, signers: store.signerStates(), frontier: try store.merkleFrontier(size: size),
            lastTimeMs: try store.lastGroupTime())
        treeBox = Mutex(engine.tree)
        statsBox.withLock { $0.logSize = size }
    }

    public var stats: IngestStats { statsBox.withLock { $0 } }

    /// Size and root of the log's Merkle tree over everything committed (durable).
    public var tree: TreeHead { treeBox.withLock { $0 } }

    /// Starts the sequencer thread.
    public func start() {
        lock.lock()
        running = true
        lock.unlock()
        let s = Thread { [self] in sequencerLoop() }
        s.name = "trail-sequencer"
        s.start()
        logger.info("ingest pipeline started", metadata: ["log_size": "\(engine.nextIndex)"])
    }

    /// Finishes every batch already submitted, then stops the sequencer.
    public func stop() {
        lock.lock()
        stopping = true
        let wasRunning = running
        lock.broadcast()
        lock.unlock()
        if wasRunning { stopped.wait() }
    }

    /// Submits a batch of decoded entries (decode failures carry their error). `completion` runs
    /// on the sequencer thread after the batch is durable, or at once (on the caller's thread)
    /// if the batch is empty, the pipeline is full or it is stopping.
    public func submit(
        _ decoded: [Result<Entry, TrailError>],
        completion: @escaping @Sendable (Result<[AppendStatus], TrailError>) -> Void
    ) {
        guard !decoded.isEmpty else {
            completion(.success([]))
            return
        }
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
        ordered.append(batch)
        lock.unlock()

        let chunk = max(1, configuration.verifyChunk)
        let chunks = (batch.count + chunk - 1) / chunk
        batch.chunksLeft.store(chunks, ordering: .relaxed)
        for c in 0..<chunks {
            let range = (c * chunk)..<min(batch.count, (c + 1) * chunk)
            verifyQueue.async { [self] in
                Self.verify(batch, range)
                if batch.chunksLeft.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    lock.lock()
                    batch.verified = true
                    lock.signal()
                    lock.unlock()
                }
            }
        }
    }

    // MARK: Verification

    private static func verify(_ batch: IngestBatch, _ range: Range<Int>) {
        for i in range {
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
        stopped.signal()
    }

    /// Decides a group with the rules engine, commits what it decided, and acknowledges.
    private func commit(_ group: [IngestBatch]) {
        let now = configuration.clock()
        let decision: RulesEngine.Decision
        do {
            decision = try engine.decide(group.map(\.candidates), nowMs: now, view: store)
            try store.commit(decision.writes)
        } catch {
            let e = (error as? TrailError) ?? TrailError(.storage, "\(error)")
            logger.error("group commit failed", metadata: ["error": "\(e)"])
            for b in group { b.completion(.failure(e)) }
            return
        }
        // Durable now: the decision becomes the engine's state, then every batch is acknowledged.
        engine.apply(decision)
        let tree = decision.writes.tree
        treeBox.withLock { $0 = tree }
        var accepted: UInt64 = 0
        var duplicates: UInt64 = 0
        var rejected: UInt64 = 0
        for s in decision.statuses {
            for st in s {
                switch st {
                case .accepted, .noted: accepted += 1
                case .duplicate: duplicates += 1
                default: rejected += 1
                }
            }
        }
        statsBox.withLock {
            $0.accepted += accepted
            $0.duplicates += duplicates
            $0.rejected += rejected
            $0.equivocations += UInt64(decision.writes.equivocations.count)
            $0.groups += 1
            $0.logSize = tree.size
        }
        for (b, s) in zip(group, decision.statuses) { b.completion(.success(s)) }
    }
}
