import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import TrailCore
import TrailStore

/// The HTTP read API (JSON): checkpoints, RFC 9162 proofs, entries, agents and chain
/// verification. It reads LMDB in short read transactions and never takes the writer lock, so
/// it does not block ingest; chain verification runs on a thread pool, not on the event loop.
final class HTTPAPI: @unchecked Sendable {
    let store: ChainStore
    let pipeline: IngestPipeline
    let checkpointer: Checkpointer
    let pool: NIOThreadPool
    let logger: Logger

    init(store: ChainStore, pipeline: IngestPipeline, checkpointer: Checkpointer, pool: NIOThreadPool, logger: Logger) {
        self.logger = logger
        self.store = store
        self.pipeline = pipeline
        self.checkpointer = checkpointer
        self.pool = pool
    }

    struct Response {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]

        static func json(_ o: Any, _ status: HTTPResponseStatus = .ok) -> Response {
            Response(status: status, contentType: "application/json", body: Array((EntryJSON.serialize(o) + "\n").utf8))
        }
        static func error(_ status: HTTPResponseStatus, _ code: String, _ message: String) -> Response {
            json(["error": code, "message": message], status)
        }
        static func text(_ s: String) -> Response {
            Response(status: .ok, contentType: "text/plain; charset=utf-8", body: Array(s.utf8))
        }
    }

    struct BadRequest: Error {
        let message: String
    }

    struct NotFound: Error {
        let message: String
    }

    /// Answers one GET. Errors: 400 for bad parameters, 404 for unknown things.
    func handle(method: HTTPMethod, uri: String) -> Response {
        guard method == .GET || method == .HEAD else { return .error(.methodNotAllowed, "method_not_allowed", "only GET") }
        let (path, query) = Self.split(uri)
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        do {
            switch parts.count >= 2 && parts[0] == "v1" ? Array(parts.dropFirst()) : [] {
            case ["checkpoint"]:
                return .text(checkpointer.note(for: pipeline.tree))
            case ["proof", "inclusion"]:
                return try inclusion(query)
            case ["proof", "consistency"]:
                return try consistency(query)
            case let p where p.count == 2 && p[0] == "entries":
                return try entry(hashText: p[1])
            case let p where p.count == 3 && p[0] == "entries" && p[2] == "proof":
                return try tlogProof(hashText: p[1])
            case let p where p.count == 2 && p[0] == "agents":
                return try agent(try Self.did(p[1]))
            case let p where p.count == 3 && p[0] == "agents" && p[2] == "entries":
                return try agentEntries(try Self.did(p[1]), query)
            case let p where p.count == 3 && p[0] == "agents" && p[2] == "equivocations":
                return try agentEquivocations(try Self.did(p[1]))
            case let p where p.count == 3 && p[0] == "agents" && p[2] == "notes":
                return try agentNotes(try Self.did(p[1]), query)
            case let p where p.count == 2 && p[0] == "runs":
                return try run(commitmentText: p[1])
            default:
                return .error(.notFound, "not_found", "no such resource: \(path)")
            }
        } catch {
            return Self.response(for: error)
        }
    }

    /// The JSON error for a failed request: 400 for bad parameters, 404 for unknown things.
    static func response(for error: Error) -> Response {
        switch error {
        case let e as BadRequest:
            return .error(.badRequest, "bad_request", e.message)
        case let e as NotFound:
            return .error(.notFound, "not_found", e.message)
        case let e as TrailError where e.code.rawValue >= 30 && e.code.rawValue < 50:
            return .error(.badRequest, e.code.name, e.reason)
        case let e as TrailError where e.code == .invalidArgument:
            return .error(.badRequest, e.code.name, e.reason)
        default:
            return .error(.internalServerError, "internal", "\(error)")
        }
    }

    /// Chain verification can take long: it runs on the thread pool.
    func isSlow(_ uri: String) -> Bool { Self.split(uri).0.hasPrefix("/v1/verify/chain/") }

    func handleSlow(uri: String) -> Response {
        let parts = Self.split(uri).0.split(separator: "/").map(String.init)
        guard parts.count == 4 else { return .error(.notFound, "not_found", "no such resource") }
        do {
            return try verifyChain(try Self.did(parts[3]))
        } catch {
            return Self.response(for: error)
        }
    }

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            query[String(kv[0])] = kv.count > 1 ? String(kv[1]).removingPercentEncoding ?? String(kv[1]) : ""
        }
        return (String(uri[..<q]), query)
    }

    static func did(_ s: String) throws -> PublicKey {
        try DIDKey.decode(s.removingPercentEncoding ?? s)
    }

    static func uint(_ q: [String: String], _ name: String, default d: UInt64? = nil) throws -> UInt64 {
        guard let s = q[name] else {
            if let d { return d }
            throw BadRequest(message: "missing parameter \(name)")
        }
        guard let v = UInt64(s) else { throw BadRequest(message: "\(name) must be a non-negative integer, got \(s.prefix(40))") }
        return v
    }

    func inclusion(_ q: [String: String]) throws -> Response {
        let size = try Self.uint(q, "size")
        let index = try Self.uint(q, "index")
        let tree = pipeline.tree
        guard size <= tree.size else { throw BadRequest(message: "size \(size) is beyond the log's \(tree.size) entries") }
        guard index < size else { throw BadRequest(message: "index \(index) is not below size \(size)") }
        let proof = try store.inclusionProof(index: index, size: size)
        let leaf = try store.withMerkleNodes { try $0(MerkleNode(level: 0, index: index)) }
        return .json([
            "index": index, "size": size, "leaf_hash": Base64.encode(leaf.bytes),
            "root": Base64.encode(try store.merkleRoot(size: size).bytes), "proof": proof.map { Base64.encode($0.bytes) },
        ])
    }

    func consistency(_ q: [String: String]) throws -> Response {
        let from = try Self.uint(q, "from")
        let to = try Self.uint(q, "to")
        let tree = pipeline.tree
        guard to <= tree.size else { throw BadRequest(message: "to \(to) is beyond the log's \(tree.size) entries") }
        guard from >= 1, from <= to else { throw BadRequest(message: "need 1 <= from <= to") }
        let proof = try store.consistencyProof(from: from, to: to)
        return .json([
            "from": from, "to": to, "old_root": Base64.encode(try store.merkleRoot(size: from).bytes),
            "new_root": Base64.encode(try store.merkleRoot(size: to).bytes), "proof": proof.map { Base64.encode($0.bytes) },
        ])
    }

    func entryObject(_ bytes: [UInt8], index: UInt64) throws -> [String: Any] {
        let e = try EntryCodec.decode(bytes)
        var o = EntryJSON.object(e)
        o["index"] = index
        o["entry_hash"] = e.hash.hex
        o["signer_did"] = DIDKey.encode(e.signer)
        o["encoded"] = Base64.encode(bytes)
        return o
    }

    /// Equivocation evidence in JSON form: like a log entry, with `"evidence": true`, no
    /// `index` (it is not in the log), and the hash of the entry the log holds at its position.
    func evidenceObject(_ bytes: [UInt8]) throws -> [String: Any] {
        let e = try EntryCodec.decode(bytes)
        var o = EntryJSON.object(e)
        o["entry_hash"] = e.hash.hex
        o["signer_did"] = DIDKey.encode(e.signer)
        o["encoded"] = Base64.encode(bytes)
        o["evidence"] = true
        if let stored = try store.chain(of: e.signer, fromSeq: e.seq, limit: 1).first, let s = try? EntryCodec.decode(stored.entry),
            s.seq == e.seq
        {
            o["stored_entry_hash"] = s.hash.hex
        }
        return o
    }

    func entry(hashText: String) throws -> Response {
        guard let hash = Bytes32(hex: hashText) else { throw BadRequest(message: "entry hash must be 64 hex digits") }
        if let index = try store.index(ofHash: hash), let bytes = try store.entry(at: index) {
            return .json(try entryObject(bytes, index: index))
        }
        if let bytes = try store.evidence(ofHash: hash) {
            return .json(try evidenceObject(bytes))
        }
        return .error(.notFound, "not_found", "no entry with hash \(hash.hex)")
    }

    /// Every equivocation of a signer: the entry the log holds at the position (`stored`, with
    /// its index) and the competing, validly signed entry kept as evidence, both with their
    /// exact bytes so an auditor can check the signatures offline.
    func agentEquivocations(_ key: PublicKey) throws -> Response {
        var items: [[String: Any]] = []
        for bytes in try store.equivocations(of: key) {
            let evidence = try EntryCodec.decode(bytes)
            var item: [String: Any] = ["seq": evidence.seq, "evidence": try evidenceObject(bytes)]
            if let stored = try store.chain(of: key, fromSeq: evidence.seq, limit: 1).first {
                item["stored"] = try entryObject(stored.entry, index: stored.index)
            } else {
                item["stored"] = NSNull()
            }
            items.append(item)
        }
        return .json(["did": DIDKey.encode(key), "count": items.count, "equivocations": items])
    }

    /// The entry's inclusion proof at the current checkpoint as a C2SP tlog-proof@v1 text.
    func tlogProof(hashText: String) throws -> Response {
        guard let hash = Bytes32(hex: hashText) else { throw BadRequest(message: "entry hash must be 64 hex digits") }
        let tree = pipeline.tree
        guard let index = try store.index(ofHash: hash), index < tree.size else {
            return .error(.notFound, "not_found", "no entry with hash \(hash.hex) in the log")
        }
        let proof = try store.inclusionProof(index: index, size: tree.size)
        return .text(TlogProof(index: index, proof: proof, checkpointNote: checkpointer.note(for: tree)).text)
    }

    // MARK: Proof bundles

    /// What a bundle download will send: its header (checkpoint and signed chain statement at
    /// one tree size) and the seqs whose records follow.
    struct BundlePlan {
        let signer: PublicKey
        let size: UInt64
        let from: UInt64
        let through: UInt64
        let header: [UInt8]
    }

    static func isBundle(_ path: String) -> Bool {
        let p = path.split(separator: "/")
        return p.count == 4 && p[0] == "v1" && p[1] == "agents" && p[3] == "bundle"
    }

    /// Validates a bundle request and signs its checkpoint and chain statement.
    func bundlePlan(uri: String) throws -> BundlePlan {
        let (path, q) = Self.split(uri)
        let key = try Self.did(String(path.split(separator: "/")[2]))
        let (size, head) = try store.snapshot(of: key)
        guard head.nextSeq > 0 else { throw NotFound(message: "no entries for \(DIDKey.encode(key))") }
        let from = try Self.uint(q, "from", default: 0)
        let through = try Self.uint(q, "through", default: head.nextSeq - 1)
        guard from <= through, through < head.nextSeq else {
            throw BadRequest(message: "need from <= through <= \(head.nextSeq - 1), the chain's last seq")
        }
        let statement = try ChainStatement(
            signer: key, treeSize: size, from: from, through: through, headSeq: head.nextSeq - 1, headHash: head.hash)
        let checkpoint = checkpointer.note(for: TreeHead(size: size, root: try store.merkleRoot(size: size)))
        let header = ProofBundle.encodeHeader(
            logKey: checkpointer.verifierKey, checkpoint: checkpoint,
            statement: try statement.signedNote(signer: checkpointer.key, keyName: checkpointer.origin),
            count: through - from + 1)
        return BundlePlan(signer: key, size: size, from: from, through: through, header: header)
    }

    /// The records of seqs `from...` (at most `limit`, none past `plan.through`), encoded.
    func bundlePage(_ plan: BundlePlan, from: UInt64, limit: Int) throws -> [UInt8] {
        let n = Int(min(UInt64(limit), plan.through - from + 1))
        let records = try store.proofRecords(of: plan.signer, fromSeq: from, limit: n, size: plan.size)
        guard records.count == n else { throw TrailError(.storage, "chain of \(DIDKey.encode(plan.signer)) ends before seq \(from + UInt64(n) - 1)") }
        var w = ByteWriter(capacity: n * 1024)
        for r in records { ProofBundle.encode(record: r, into: &w) }
        return w.bytes
    }

    /// An agent's profile: its chain, owner and registration, active policy and history,
    /// violations by rule, flags, reports by category and reporter, and the gap signal. Every
    /// part is an index lookup or a scan of what concerns this key only.
    func agent(_ key: PublicKey) throws -> Response {
        let head = try store.head(of: key)
        let evidence = try store.equivocations(of: key)
        let record = try store.agentRecord(key)
        let reports = try store.reports(about: key)
        guard head.nextSeq > 0 || !evidence.isEmpty || record != nil || !reports.isEmpty else {
            return .error(.notFound, "not_found", "nothing is known about \(DIDKey.encode(key))")
        }
        func entryAt(_ index: UInt64) throws -> Entry {
            guard let bytes = try store.entry(at: index) else { throw TrailError(.storage, "log entry \(index) is missing") }
            return try EntryCodec.decode(bytes)
        }
        var o: [String: Any] = [
            "did": DIDKey.encode(key), "public_key": key.hex, "entries": head.nextSeq, "next_seq": head.nextSeq,
            "head_hash": head.hash.hex, "equivocations": evidence.count,
        ]
        if let record {
            let reg = try entryAt(record.registration)
            var registration: [String: Any] = ["index": record.registration, "entry_hash": reg.hash.hex, "timestamp_ms": reg.timestampMs]
            if case .registration(let r) = reg.body { registration["label"] = r.label }
            o["owner"] = ["did": DIDKey.encode(record.owner), "registration": registration]
        } else {
            o["owner"] = NSNull()
        }
        var history: [[String: Any]] = []
        var active: Any = NSNull()
        for p in try store.policyHistory(key) {
            let e = try entryAt(p.index)
            history.append(["version": Int(p.version), "index": p.index, "entry_hash": e.hash.hex, "timestamp_ms": e.timestampMs])
            if p.index == record?.policy, case .policy(let body) = e.body {
                active = [
                    "version": Int(body.version), "index": p.index, "entry_hash": e.hash.hex, "document_hash": body.documentHash.hex,
                    "allow_actions": body.allowActions, "deny_actions": body.denyActions, "allow_targets": body.allowTargets,
                    "max_per_minute": Int(body.maxPerMinute),
                ]
            }
        }
        o["policy"] = ["active": active, "history": history]
        let violations = try store.counters(key, .violation)
        o["violations"] = Dictionary(uniqueKeysWithValues: PolicyViolations.named.enumerated().map { bit, n in (n.0, violations[UInt8(bit)] ?? 0) })
        let flags = try store.counters(key, .flag)
        o["flags"] = Dictionary(uniqueKeysWithValues: TrustFlags.named.enumerated().map { bit, n in (n.0, flags[UInt8(bit)] ?? 0) })
        var byCategory = Dictionary(uniqueKeysWithValues: ReportCategory.names.map { ($0, 0) })
        var byReporter: [String: Int] = [:]
        var gaps: [[String: Any]] = []
        for r in reports {
            byCategory[r.category.name, default: 0] += 1
            byReporter[DIDKey.encode(r.reporter), default: 0] += 1
            if r.category == .unloggedAction, try !store.hasEntry(of: key, fromMs: r.fromMs, toMs: r.toMs) {
                gaps.append([
                    "index": r.index, "entry_hash": try entryAt(r.index).hash.hex, "reporter": DIDKey.encode(r.reporter),
                    "observed_from_ms": r.fromMs, "observed_to_ms": r.toMs,
                ])
            }
        }
        o["reports"] = ["total": reports.count, "by_category": byCategory, "by_reporter": byReporter]
        o["gap_signal"] = ["count": gaps.count, "reports": gaps]
        return .json(o)
    }

    /// An agent's noted entries: the violations and flags each one got when it was accepted.
    func agentNotes(_ key: PublicKey, _ q: [String: String]) throws -> Response {
        let from = try Self.uint(q, "from", default: 0)
        let limit = try Self.uint(q, "limit", default: 100)
        guard (1...1000).contains(limit) else { throw BadRequest(message: "limit must be 1...1000") }
        let notes = try store.notes(of: key, fromIndex: from, limit: Int(limit))
        return .json([
            "did": DIDKey.encode(key),
            "notes": notes.map { ["index": $0.index, "violations": $0.violations.names, "flags": $0.flags.names] as [String: Any] },
        ])
    }

    /// Actions and receipts of one run, joined by their request commitment.
    func run(commitmentText: String) throws -> Response {
        guard let c = Bytes32(hex: commitmentText) else { throw BadRequest(message: "a request commitment is 64 hex digits") }
        let indices = try store.run(c)
        guard !indices.isEmpty else { return .error(.notFound, "not_found", "no entries carry commitment \(c.hex)") }
        var items: [[String: Any]] = []
        var actions = 0
        var receipts = 0
        for i in indices {
            guard let bytes = try store.entry(at: i) else { continue }
            let o = try entryObject(bytes, index: i)
            if o["kind"] as? String == "receipt" { receipts += 1 } else { actions += 1 }
            items.append(o)
        }
        return .json(["request_commitment": c.hex, "actions": actions, "receipts": receipts, "entries": items])
    }

    func agentEntries(_ key: PublicKey, _ q: [String: String]) throws -> Response {
        let from = try Self.uint(q, "from", default: 0)
        let limit = try Self.uint(q, "limit", default: 100)
        guard (1...1000).contains(limit) else { throw BadRequest(message: "limit must be 1...1000") }
        let items = try store.chain(of: key, fromSeq: from, limit: Int(limit))
        return .json(["did": DIDKey.encode(key), "from": from, "entries": try items.map { try entryObject($0.entry, index: $0.index) }])
    }

    func verifyChain(_ key: PublicKey) throws -> Response {
        var prev = Bytes32.zero
        var seq: UInt64 = 0
        var problem: [String: Any]?
        var checked = 0
        outer: while true {
            let page = try store.chain(of: key, fromSeq: seq, limit: 4096)
            if page.isEmpty { break }
            for item in page {
                do {
                    let e = try EntryCodec.decodeVerified(item.entry)
                    guard e.seq == seq else { throw TrailError(.invalidPrev, "expected seq \(seq), found \(e.seq)") }
                    guard e.prev == prev else { throw TrailError(.invalidPrev, "prev does not link to seq \(seq - 1)") }
                    prev = e.hash
                } catch let err as TrailError {
                    problem = ["seq": seq, "index": item.index, "code": Int(err.code.rawValue), "error": err.code.name, "message": err.reason]
                    break outer
                }
                seq += 1
                checked += 1
            }
        }
        let evidence = try store.equivocations(of: key).count
        var o: [String: Any] = [
            "did": DIDKey.encode(key), "entries_checked": checked, "valid": problem == nil, "head_hash": prev.hex,
            "equivocations": evidence,
        ]
        if let problem { o["first_problem"] = problem }
        return .json(o)
    }
}

/// NIOHTTP1 glue: one response per request, keep-alive as the client asks.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let api: HTTPAPI
    private var head: HTTPRequestHead?

    init(api: HTTPAPI) { self.api = api }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            if h.method == .GET && HTTPAPI.isBundle(HTTPAPI.split(h.uri).0) {
                streamBundle(context: context, h)
            } else if api.isSlow(h.uri) {
                let loop = context.eventLoop
                let bound = NIOLoopBound(context, eventLoop: loop)
                let boundSelf = NIOLoopBound(self, eventLoop: loop)
                api.pool.runIfActive(eventLoop: loop) { [api] in api.handleSlow(uri: h.uri) }.whenComplete { result in
                    let r = (try? result.get()) ?? .error(.serviceUnavailable, "unavailable", "shutting down")
                    boundSelf.value.respond(context: bound.value, h, r)
                }
            } else {
                respond(context: context, h, api.handle(method: h.method, uri: h.uri))
            }
        }
    }

    /// Streams a proof bundle from the thread pool, one page of records at a time, each written
    /// and flushed before the next is read (bounded memory, short read transactions). A failure
    /// before the first byte is a JSON error; after it, the connection is closed mid-body so the
    /// client sees an incomplete download rather than a short bundle.
    func streamBundle(context: ChannelHandlerContext, _ request: HTTPRequestHead) {
        let channel = context.channel
        let loop = context.eventLoop
        let bound = NIOLoopBound(context, eventLoop: loop)
        let boundSelf = NIOLoopBound(self, eventLoop: loop)
        api.pool.runIfActive(eventLoop: loop) { [api] () -> HTTPAPI.Response? in
            let plan: HTTPAPI.BundlePlan
            do { plan = try api.bundlePlan(uri: request.uri) } catch { return HTTPAPI.response(for: error) }
            func send(_ part: HTTPServerResponsePart) throws {
                try channel.writeAndFlush(part).wait()
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Transfer-Encoding", value: "chunked")
            headers.add(name: "Connection", value: "close")
            do {
                try send(.head(HTTPResponseHead(version: request.version, status: .ok, headers: headers)))
                try send(.body(.byteBuffer(channel.allocator.buffer(bytes: plan.header))))
                var seq = plan.from
                while seq <= plan.through {
                    let page = try api.bundlePage(plan, from: seq, limit: 1024)
                    try send(.body(.byteBuffer(channel.allocator.buffer(bytes: page))))
                    let (next, overflow) = seq.addingReportingOverflow(1024)
                    if overflow { break }
                    seq = next
                }
                try send(.end(nil))
            } catch {
                api.logger.warning("bundle download failed: \(error)")
            }
            channel.close(promise: nil)
            return nil
        }.whenComplete { result in
            switch result {
            case .success(nil): break
            case .success(let r?): boundSelf.value.respond(context: bound.value, request, r)
            case .failure: boundSelf.value.respond(context: bound.value, request, .error(.serviceUnavailable, "unavailable", "shutting down"))
            }
        }
    }

    func respond(context: ChannelHandlerContext, _ request: HTTPRequestHead, _ r: HTTPAPI.Response) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: "\(r.body.count)")
        let keepAlive = request.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: r.status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: r.body.count)
            buffer.writeBytes(r.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { bound.value.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension HTTPHandler: Sendable {}
