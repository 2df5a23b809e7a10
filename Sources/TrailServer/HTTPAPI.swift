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

    init(store: ChainStore, pipeline: IngestPipeline, checkpointer: Checkpointer, pool: NIOThreadPool) {
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
            case let p where p.count == 2 && p[0] == "agents":
                return try agent(try Self.did(p[1]))
            case let p where p.count == 3 && p[0] == "agents" && p[2] == "entries":
                return try agentEntries(try Self.did(p[1]), query)
            default:
                return .error(.notFound, "not_found", "no such resource: \(path)")
            }
        } catch let e as BadRequest {
            return .error(.badRequest, "bad_request", e.message)
        } catch let e as TrailError where e.code.rawValue >= 30 && e.code.rawValue < 50 {
            return .error(.badRequest, e.code.name, e.reason)
        } catch let e as TrailError where e.code == .invalidArgument {
            return .error(.badRequest, e.code.name, e.reason)
        } catch {
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
        } catch let e as TrailError where e.code == .invalidArgument {
            return .error(.badRequest, e.code.name, e.reason)
        } catch {
            return .error(.internalServerError, "internal", "\(error)")
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

    func entry(hashText: String) throws -> Response {
        guard let hash = Bytes32(hex: hashText) else { throw BadRequest(message: "entry hash must be 64 hex digits") }
        guard let index = try store.index(ofHash: hash), let bytes = try store.entry(at: index) else {
            return .error(.notFound, "not_found", "no entry with hash \(hash.hex)")
        }
        return .json(try entryObject(bytes, index: index))
    }

    func agent(_ key: PublicKey) throws -> Response {
        let head = try store.head(of: key)
        let evidence = try store.equivocations(of: key)
        guard head.nextSeq > 0 || !evidence.isEmpty else {
            return .error(.notFound, "not_found", "no entries for \(DIDKey.encode(key))")
        }
        return .json([
            "did": DIDKey.encode(key), "public_key": key.hex, "entries": head.nextSeq, "next_seq": head.nextSeq,
            "head_hash": head.hash.hex, "equivocations": evidence.count,
        ])
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
            if api.isSlow(h.uri) {
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
