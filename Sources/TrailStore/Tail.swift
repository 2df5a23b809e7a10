import TrailCore

/// What the store keeps in memory about the recent tail of the log: every signer's head and its
/// chain positions not yet written as a block, and the hashes of the entries not yet in a hash
/// run. Owned by `ChainStore` behind a mutex; only the writer changes it.
struct Tail: Sendable {
    struct Record: Sendable {
        let index: UInt64
        let timestampMs: UInt64
        /// An action or a receipt (the kinds the time buckets hold).
        let timed: Bool
    }

    struct Signer: Sendable {
        var id: UInt32
        /// Whether `id` is written in `signers` (it is once the signer's first block is).
        var persisted: Bool
        /// Chain positions below this seq are in `chains`; `records[0]` has this seq.
        var flushedNextSeq: UInt64 = 0
        var records: [Record] = []
        var state: SignerState = .empty
    }

    /// One chain block to write.
    struct Block: Sendable {
        let id: UInt32
        let firstSeq: UInt64
        let maxTimestampMs: UInt64
        let indices: [UInt64]
        let timed: [UInt64]
        let signer: PublicKey
    }

    /// What a group commit writes besides the engine's writes.
    struct Plan: Sendable {
        var newSigners: [(UInt32, PublicKey)] = []
        var blocks: [Block] = []
        var runs: [(first: UInt64, table: [UInt8])] = []
        var replayFrom: UInt64 = 0
        var previousReplayFrom: UInt64 = 0
        /// Ids given to signers first seen in this group.
        var assigned: [PublicKey: UInt32] = [:]
        var nextID: UInt32 = 0
    }

    var signers: [PublicKey: Signer] = [:]
    var nextID: UInt32 = 0
    var size: UInt64 = 0
    /// Hashes of the entries from `runStart` on, in log order, and the same as a map.
    var runStart: UInt64 = 0
    var runHashes: [Bytes32] = []
    var hashes: [Bytes32: UInt64] = [:]
    /// Signers with unwritten positions, by the log index of their oldest one (FIFO; an item is
    /// stale once that signer's oldest unwritten position is another).
    var horizon: [(index: UInt64, signer: PublicKey)] = []
    var horizonHead = 0
    var replayFrom: UInt64 = 0

    /// Adds one committed entry (in log order) at `index`.
    mutating func add(_ signer: PublicKey, seq: UInt64, timestampMs: UInt64, timed: Bool, hash: Bytes32, index: UInt64, assign id: UInt32? = nil) {
        var s: Signer
        if let known = signers[signer] {
            s = known
        } else {
            s = Signer(id: id ?? nextID, persisted: false)
            nextID = max(nextID, s.id + 1)
        }
        if s.records.isEmpty { horizon.append((index, signer)) }
        s.records.append(Record(index: index, timestampMs: timestampMs, timed: timed))
        s.state.head = ChainHead(nextSeq: seq + 1, hash: hash)
        s.state.maxTimestampMs = max(s.state.maxTimestampMs, timestampMs)
        signers[signer] = s
        if index >= runStart {
            runHashes.append(hash)
            hashes[hash] = index
        }
        size = max(size, index + 1)
    }

    /// The blocks, runs and signer ids a group makes due, computed without changing anything.
    func plan(_ w: RulesEngine.Writes, _ layout: ChainStore.Layout) -> Plan {
        var plan = Plan()
        plan.previousReplayFrom = replayFrom
        plan.nextID = nextID
        let sizeAfter = w.firstIndex + UInt64(w.appended.count)
        // The group's positions per signer, in order.
        var added: [PublicKey: [(Record, UInt64)]] = [:]
        for (i, a) in w.appended.enumerated() {
            let timed: Bool
            switch a.entry.body {
            case .action, .receipt: timed = true
            default: timed = false
            }
            added[a.entry.signer, default: []].append((Record(index: w.firstIndex + UInt64(i), timestampMs: a.entry.timestampMs, timed: timed), a.entry.seq))
        }
        var flushing = Set<PublicKey>()
        func flush(_ key: PublicKey, _ plan: inout Plan) {
            guard flushing.insert(key).inserted else { return }
            let s = signers[key]
            let mine = added[key] ?? []
            let records = (s?.records ?? []) + mine.map(\.0)
            guard !records.isEmpty else { return }
            var id = s?.id
            if id == nil {
                id = plan.assigned[key] ?? plan.nextID
                if plan.assigned[key] == nil {
                    plan.assigned[key] = id
                    plan.nextID += 1
                }
            }
            if !(s?.persisted ?? false) { plan.newSigners.append((id!, key)) }
            let firstSeq = s.map { $0.flushedNextSeq } ?? mine[0].1
            let maxTs = w.signers[key]?.maxTimestampMs ?? s?.state.maxTimestampMs ?? 0
            plan.blocks.append(Block(
                id: id!, firstSeq: firstSeq, maxTimestampMs: maxTs, indices: records.map(\.index),
                timed: records.filter(\.timed).map(\.timestampMs), signer: key))
        }
        // Full blocks, in the order the signers appear in the group.
        for a in w.appended where !flushing.contains(a.entry.signer) {
            let key = a.entry.signer
            if (signers[key]?.records.count ?? 0) + (added[key]?.count ?? 0) >= layout.chainBlock { flush(key, &plan) }
        }
        // Positions that reached the horizon.
        let threshold = sizeAfter > UInt64(layout.chainHorizon) ? sizeAfter - UInt64(layout.chainHorizon) : 0
        var h = horizonHead
        while h < horizon.count && horizon[h].index < threshold {
            let item = horizon[h]
            if let s = signers[item.signer], s.records.first?.index == item.index { flush(item.signer, &plan) }
            h += 1
        }
        // A signer first seen in this group whose positions are already past the horizon
        // (possible only with a tiny horizon) is written too.
        for (key, mine) in added where signers[key] == nil && mine[0].0.index < threshold { flush(key, &plan) }
        // Ids for new signers that are not flushed yet are assigned in log order of first sight.
        for a in w.appended where signers[a.entry.signer] == nil && plan.assigned[a.entry.signer] == nil {
            plan.assigned[a.entry.signer] = plan.nextID
            plan.nextID += 1
        }
        // Hash runs that are complete.
        var start = runStart
        let all = sizeAfter >= start + UInt64(layout.hashRun) ? runHashes + w.appended.map(\.hash) : []
        var offset = 0
        while sizeAfter >= start + UInt64(layout.hashRun) {
            var items: [(UInt64, UInt32)] = []
            items.reserveCapacity(layout.hashRun)
            for i in 0..<layout.hashRun {
                items.append((all[offset + i].withUnsafeBytes { Key.readU64($0) }, UInt32(i)))
            }
            items.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            var table = ByteWriter(capacity: items.count * 12)
            for (p, o) in items {
                table.u64(p)
                table.u32(o)
            }
            plan.runs.append((start, table.bytes))
            start += UInt64(layout.hashRun)
            offset += layout.hashRun
        }
        plan.replayFrom = max(replayFrom, threshold)
        return plan
    }

    /// Makes a committed group and its plan the tail's state.
    mutating func apply(_ w: RulesEngine.Writes, _ plan: Plan) {
        for (i, a) in w.appended.enumerated() {
            let timed: Bool
            switch a.entry.body {
            case .action, .receipt: timed = true
            default: timed = false
            }
            add(a.entry.signer, seq: a.entry.seq, timestampMs: a.entry.timestampMs, timed: timed, hash: a.hash,
                index: w.firstIndex + UInt64(i), assign: plan.assigned[a.entry.signer])
        }
        nextID = max(nextID, plan.nextID)
        for b in plan.blocks {
            guard var s = signers[b.signer] else { continue }
            s.persisted = true
            s.flushedNextSeq = b.firstSeq + UInt64(b.indices.count)
            s.records.removeFirst(min(b.indices.count, s.records.count))
            if !s.records.isEmpty { horizon.append((s.records[0].index, b.signer)) }
            signers[b.signer] = s
        }
        for run in plan.runs {
            let n = run.table.count / 12
            for h in runHashes[0..<n] { hashes[h] = nil }
            runHashes.removeFirst(n)
            runStart = run.first + UInt64(n)
        }
        // Forget horizon items that are below the threshold (handled) or stale.
        while horizonHead < horizon.count {
            let item = horizon[horizonHead]
            if let s = signers[item.signer], s.records.first?.index == item.index, item.index >= plan.replayFrom { break }
            horizonHead += 1
        }
        if horizonHead > 4096 && horizonHead * 2 > horizon.count {
            horizon.removeFirst(horizonHead)
            horizonHead = 0
        }
        replayFrom = plan.replayFrom
    }
}

extension ChainStore {
    /// Rebuilds the tail: the signers and their last written blocks, then the log from the
    /// replay point on.
    static func recover(_ store: ChainStore) throws -> Tail {
        var t = Tail()
        try store.environment.write { txn in
            let formatKey = Array("format".utf8)
            let format = try formatKey.withUnsafeBytes { k in try txn.withValue(store.meta, k) { $0.map { Key.readU32($0) } } }
            let size = try txn.last(store.entries) { kv in kv.map { Key.readU64($0.0) + 1 } ?? 0 }
            if format == nil {
                guard size == 0 else {
                    throw TrailError(.storage, "\(store.environment.path) holds a log in storage format 1, which this version does not read; export its chains and ingest them into a new data folder")
                }
                try formatKey.withUnsafeBytes { k in try Key.u32(format ?? Self.format).withUnsafeBytes { v in try txn.put(store.meta, k, v) } }
            } else if format != Self.format {
                throw TrailError(.storage, "\(store.environment.path) has storage format \(format!), this version reads \(Self.format)")
            }
        }
        try store.environment.read { txn in
            t.size = try txn.last(store.entries) { kv in kv.map { Key.readU64($0.0) + 1 } ?? 0 }
            t.replayFrom = try Array("replay_from".utf8).withUnsafeBytes { k in try txn.withValue(store.meta, k) { $0.map { Key.readU64($0) } } } ?? 0
            // Signers and their last blocks.
            var keys: [(UInt32, PublicKey)] = []
            try txn.scan(store.signers, from: UnsafeRawBufferPointer(start: nil, count: 0)) { k, v in
                guard k.count == 4, v.count == 32 else { throw TrailError(.storage, "malformed signers record") }
                keys.append((Key.readU32(k), Bytes32(unsafe: v)))
                return true
            }
            for (id, key) in keys {
                var s = Tail.Signer(id: id, persisted: true)
                try Key.block(id, .max).withUnsafeBytes { start in
                    try txn.scanBackward(store.chains, from: start) { k, v in
                        guard k.count == 12, Key.readU32(k) == id, v.count >= 16, (v.count - 8) % 8 == 0 else {
                            throw TrailError(.storage, "signer \(id) has no chain block")
                        }
                        let n = (v.count - 8) / 8
                        s.flushedNextSeq = Key.readU64(k, at: 4) + UInt64(n)
                        s.state.maxTimestampMs = Key.readU64(v)
                        let last = Key.readU64(v, at: 8 + (n - 1) * 8)
                        guard let bytes = try store.entry(at: last, in: txn) else { throw TrailError(.storage, "log entry \(last) is missing") }
                        s.state.head = ChainHead(nextSeq: s.flushedNextSeq, hash: SHA256.leafHash(bytes))
                        return false
                    }
                }
                t.signers[key] = s
                t.nextID = max(t.nextID, id + 1)
            }
            // Hash runs end where the tail's hashes begin.
            t.runStart = try txn.last(store.hashruns) { kv in kv.map { Key.readU64($0.0) + UInt64($0.1.count / 12) } ?? 0 }
            // Replay the log from the earlier of the two points.
            var index = min(t.replayFrom, t.runStart)
            while index < t.size {
                guard let bytes = try store.entry(at: index, in: txn) else { throw TrailError(.storage, "log entry \(index) is missing") }
                let e = try EntryCodec.decode(bytes)
                let hash = SHA256.leafHash(bytes)
                let known = t.signers[e.signer].map { $0.flushedNextSeq + UInt64($0.records.count) } ?? 0
                if e.seq >= known {
                    guard e.seq == known else { throw TrailError(.storage, "log entry \(index) is at seq \(e.seq), expected \(known)") }
                    let timed: Bool
                    switch e.body {
                    case .action, .receipt: timed = true
                    default: timed = false
                    }
                    t.add(e.signer, seq: e.seq, timestampMs: e.timestampMs, timed: timed, hash: hash, index: index)
                } else if index >= t.runStart {
                    t.runHashes.append(hash)
                    t.hashes[hash] = index
                }
                index += 1
            }
        }
        return t
    }
}
