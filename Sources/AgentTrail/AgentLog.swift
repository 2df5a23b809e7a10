import Foundation
import NIOCore
import Synchronization

/// The final outcome of one appended entry.
public struct AppendResult: Sendable, Hashable {
    /// `accepted` or `duplicate` on success; otherwise the rejection the server gave.
    public let status: AppendStatus
    public let seq: UInt64
    public let hash: Bytes32

    public var succeeded: Bool { status.index != nil }
    public var index: UInt64? { status.index }
}

/// Appends to one signer's chain. It tracks sequence and `prev` itself, batches and pipelines
/// entries, resyncs from the server's head on a conflict or gap, waits when the server is
/// overloaded, and reconnects after a dropped connection and resends the very same bytes, so a
/// lost ack never creates anything twice (the server answers `duplicate`).
///
/// Entries are signed when first sent and re-signed only at positions the server has not
/// taken; Ed25519 is deterministic, so re-signing unchanged fields gives identical bytes.
public actor AgentLog {
    public nonisolated let key: SigningKey
    public nonisolated let client: TrailClient
    /// Entries per APPEND frame (capped by the server's limit).
    public let maxBatch: Int
    /// APPEND frames in flight at once.
    public let window: Int
    /// Gives up on an entry after this many recoveries without progress.
    public let maxAttempts: Int

    private struct Pending {
        let body: EntryBody
        let timestampMs: UInt64
        var entry: Entry?
        var inFlight = false
        let result: OneShot<AppendResult>
        let id: UInt64
    }

    private var head: ChainHead?
    private var serverBatchLimit = Int.max
    private var connection: TrailConnection?
    /// Entries of this log that the server answered `equivocation` (another writer used the key).
    public private(set) var equivocations = 0
    private var pending: [Pending] = []  // in chain order
    private var nextID: UInt64 = 0
    private var inFlightBatches = 0
    private var needsRecovery = false
    private var recovering = false
    private var retryAfterMs: UInt32 = 0
    private var failedRecoveries = 0
    /// Set when the server answered `overloaded` since the last recovery: waiting that out is
    /// not a failed attempt.
    private var sawOverload = false
    private var drained: [CheckedContinuation<Void, Never>] = []

    public init(key: SigningKey, client: TrailClient, maxBatch: Int = 256, window: Int = 8, maxAttempts: Int = 20) {
        self.key = key
        self.client = client
        self.maxBatch = maxBatch
        self.window = window
        self.maxAttempts = maxAttempts
    }

    /// The next sequence number and `prev` this log will use, once known.
    public var localHead: ChainHead? { head }

    /// Appends one body and waits for its final status. Call concurrently to pipeline.
    public func append(_ body: EntryBody, timestampMs: UInt64? = nil) async throws -> AppendResult {
        let r = enqueue(body, timestampMs: timestampMs)
        pump()
        return try await r.value()
    }

    /// Appends many bodies in this order and returns their results in the same order.
    public func append(contentsOf bodies: [EntryBody]) async throws -> [AppendResult] {
        let results = bodies.map { enqueue($0, timestampMs: nil) }
        pump()
        var out: [AppendResult] = []
        out.reserveCapacity(results.count)
        for r in results { out.append(try await r.value()) }
        return out
    }

    private func enqueue(_ body: EntryBody, timestampMs: UInt64?) -> OneShot<AppendResult> {
        let ts = timestampMs ?? UInt64(Date().timeIntervalSince1970 * 1000)
        let r = OneShot<AppendResult>()
        nextID += 1
        pending.append(Pending(body: body, timestampMs: ts, entry: nil, result: r, id: nextID))
        return r
    }

    // MARK: Sending

    private func pump() {
        guard !needsRecovery, !recovering else { return }
        if head == nil {
            startRecovery()
            return
        }
        while inFlightBatches < window {
            guard let first = pending.firstIndex(where: { !$0.inFlight }) else { return }
            var batchEnd = first
            var entries: [[UInt8]] = []
            var ids: [UInt64] = []
            let limit = min(maxBatch, serverBatchLimit)
            while batchEnd < pending.count && entries.count < limit {
                if pending[batchEnd].entry == nil {
                    do {
                        pending[batchEnd].entry = try sign(pending[batchEnd])
                    } catch {
                        // The body itself is invalid: fail it alone and keep the chain intact.
                        pending.remove(at: batchEnd).result.resolve(.failure(error))
                        continue
                    }
                }
                pending[batchEnd].inFlight = true
                entries.append(pending[batchEnd].entry!.encoded)
                ids.append(pending[batchEnd].id)
                batchEnd += 1
            }
            if entries.isEmpty { return }
            guard let connection, connection.isActive else {
                for i in pending.indices where ids.contains(pending[i].id) { pending[i].inFlight = false }
                startRecovery()
                return
            }
            inFlightBatches += 1
            // Queued on the connection now, so this chain's batches leave in order.
            let reply = connection.sendAppend(entries)
            let sentIDs = ids
            Task { await self.completed(reply, connection: connection, ids: sentIDs) }
        }
    }

    /// Signs at the local head and advances it.
    private func sign(_ p: Pending) throws -> Entry {
        let h = head!
        let e = try EntryCodec.sign(
            UnsignedEntry(signer: key.publicKey, seq: h.nextSeq, timestampMs: p.timestampMs, prev: h.hash, body: p.body), with: key)
        head = ChainHead(nextSeq: h.nextSeq + 1, hash: e.hash)
        return e
    }

    private func completed(_ reply: EventLoopFuture<[AppendStatus]>, connection: TrailConnection, ids: [UInt64]) async {
        do {
            handle(statuses: try await reply.get(), ids: ids)
        } catch {
            if self.connection === connection { self.connection = nil }
            await client.discard(connection)
            for i in pending.indices where ids.contains(pending[i].id) { pending[i].inFlight = false }
            needsRecovery = true
        }
        inFlightBatches -= 1
        if inFlightBatches == 0 {
            for d in drained { d.resume() }
            drained = []
        }
        if needsRecovery { startRecovery() } else { pump() }
    }

    private func handle(statuses: [AppendStatus], ids: [UInt64]) {
        for (status, id) in zip(statuses, ids) {
            guard let i = pending.firstIndex(where: { $0.id == id }) else { continue }
            switch status {
            case .accepted, .noted, .duplicate:
                let p = pending.remove(at: i)
                failedRecoveries = 0
                p.result.resolve(.success(AppendResult(status: status, seq: p.entry!.seq, hash: p.entry!.hash)))
            case .badSignature, .malformed, .rejected:
                // Final for this entry; the entries after it chained on it and must be re-signed.
                let p = pending.remove(at: i)
                p.result.resolve(.success(AppendResult(status: status, seq: p.entry!.seq, hash: p.entry!.hash)))
                needsRecovery = true
            case .equivocation:
                // Another writer holds this position (the server keeps both as evidence): this
                // content is still to be logged, so it is re-signed at the server's head.
                pending[i].inFlight = false
                pending[i].entry = nil
                equivocations += 1
                needsRecovery = true
            case .overloaded(let ms):
                retryAfterMs = max(retryAfterMs, ms)
                sawOverload = true
                pending[i].inFlight = false
                needsRecovery = true
            case .conflict, .gap:
                pending[i].inFlight = false
                needsRecovery = true
            }
        }
    }

    // MARK: Recovery

    private func startRecovery() {
        guard !recovering else { return }
        recovering = true
        Task { await self.recover() }
    }

    private func waitForDrain() async {
        if inFlightBatches == 0 { return }
        await withCheckedContinuation { drained.append($0) }
    }

    /// Waits for in-flight batches, then re-signs every unresolved entry from the server's head.
    private func recover() async {
        await waitForDrain()
        if retryAfterMs > 0 {
            // The server is full: wait. A random share of the hint more keeps writers that were
            // refused together from returning together.
            let ms = Int(retryAfterMs)
            retryAfterMs = 0
            try? await Task.sleep(for: .milliseconds(ms + Int.random(in: 0...ms)))
        }
        if sawOverload {
            sawOverload = false
        } else {
            failedRecoveries += 1
        }
        do {
            guard failedRecoveries <= maxAttempts else {
                throw TrailError(.connection, "no progress after \(maxAttempts) attempts")
            }
            let connection = try await client.connection()
            self.connection = connection
            serverBatchLimit = max(1, Int(connection.limits.maxBatch))
            resync(to: try await connection.head(of: key.publicKey))
        } catch {
            if failedRecoveries > maxAttempts {
                let all = pending
                pending = []
                for p in all { p.result.resolve(.failure(error)) }
                failedRecoveries = 0
            } else {
                try? await Task.sleep(for: .milliseconds(min(1000, 50 * failedRecoveries)))
                if head == nil {
                    // Nothing can be sent before the server's head is known: try again.
                    recovering = false
                    startRecovery()
                    return
                }
            }
        }
        needsRecovery = false
        recovering = false
        if !pending.isEmpty && head == nil { return }
        pump()
    }

    /// Entries below the server's head were sent before and keep their bytes: resending them
    /// yields `duplicate` with their index. The rest are re-signed from the server's head.
    private func resync(to serverHead: ChainHead) {
        head = serverHead
        for i in pending.indices {
            pending[i].inFlight = false
            if let e = pending[i].entry, e.seq < serverHead.nextSeq { continue }
            pending[i].entry = nil
        }
    }
}

/// A value delivered once, awaited once.
final class OneShot<T: Sendable>: Sendable {
    private let state = Mutex<(result: Result<T, Error>?, waiter: CheckedContinuation<T, Error>?)>((nil, nil))

    func resolve(_ r: Result<T, Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<T, Error>? in
            guard s.result == nil else { return nil }
            s.result = r
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume(with: r)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { c in
            let ready = state.withLock { s -> Result<T, Error>? in
                if let r = s.result { return r }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }
}
