import Foundation
import Testing
import TrailCore
import TrailStore

func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
    let path = NSTemporaryDirectory() + "agenttrail-store-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

func signedChain(_ name: String, count: Int) -> [Entry] {
    let key = SigningKey(seed: SHA256.hash(Array(name.utf8)))
    var prev = Bytes32.zero
    return (0..<count).map { i in
        let body = EntryBody.action(ActionBody(actionType: "a", target: "t", contentHash: SHA256.hash([UInt8(i & 0xff)])))
        let e = try! EntryCodec.sign(UnsignedEntry(signer: key.publicKey, seq: UInt64(i), timestampMs: 1, prev: prev, body: body), with: key)
        prev = e.hash
        return e
    }
}

/// A store and the rules engine over it, committing as the sequencer does.
struct Ledger {
    let store: ChainStore
    var engine: RulesEngine

    init(_ store: ChainStore, rules: TrustRules = TrustRules()) throws {
        self.store = store
        engine = RulesEngine(
            rules: rules, signers: store.signerStates(), frontier: try store.merkleFrontier(size: try store.logSize()),
            lastTimeMs: try store.lastGroupTime())
    }

    /// Decides and commits one group of one batch at collector time `nowMs`.
    @discardableResult
    mutating func append(_ entries: [Entry], nowMs: UInt64 = 1_800_000_000_000) throws -> [AppendStatus] {
        let d = try engine.decide([entries.map { .entry($0, hash: $0.hash) }], nowMs: nowMs, view: store)
        try store.commit(d.writes)
        engine.apply(d)
        return d.statuses[0]
    }
}

/// Commits entries in log order as the sequencer would.
func append(_ store: ChainStore, _ entries: [Entry]) throws {
    var ledger = try Ledger(store)
    let statuses = try ledger.append(entries)
    precondition(statuses.allSatisfy(\.isAccepted), "\(statuses)")
}

@Suite("LMDB chain store")
struct ChainStoreTests {
    @Test func entriesHeadsAndHashesPersistAcrossReopen() throws {
        try withTemporaryDirectory { dir in
            let chain = signedChain("persist", count: 50)
            do {
                let store = try ChainStore(directory: dir)
                try append(store, chain)
            }
            let store = try ChainStore(directory: dir)
            #expect(try store.logSize() == 50)
            #expect(try store.head(of: chain[0].signer) == ChainHead(nextSeq: 50, hash: chain[49].hash))
            #expect(store.signerStates().count == 1)
            for (i, e) in chain.enumerated() {
                #expect(try store.index(ofHash: e.hash) == UInt64(i))
                #expect(try store.entry(at: UInt64(i)) == e.encoded)
            }
            let page = try store.chain(of: chain[0].signer, fromSeq: 10, limit: 5)
            #expect(page.map(\.index) == [10, 11, 12, 13, 14])
            #expect(try store.head(of: SHA256.hash([1])) == .empty)
            #expect(try store.index(ofHash: SHA256.hash([2])) == nil)
        }
    }

    @Test func mapFullGrowsTheMapWithoutLosingTheBatch() throws {
        try withTemporaryDirectory { dir in
            var options = LMDBEnvironment.Options()
            options.mapSize = 256 * 1024  // far too small for what follows
            let store = try ChainStore(directory: dir, options: options)
            let chain = signedChain("grow", count: 4000)  // ~1 MB of entries plus indexes
            for part in stride(from: 0, to: chain.count, by: 1000) {
                try append(store, Array(chain[part..<part + 1000]))
            }
            #expect(store.environment.currentMapSize > 256 * 1024)
            #expect(try store.logSize() == 4000)
            #expect(try store.entry(at: 3999) == chain[3999].encoded)
            #expect(try store.chain(of: chain[0].signer, fromSeq: 0, limit: .max).count == 4000)
        }
    }

    @Test func equivocationEvidenceIsKeptPerSigner() throws {
        try withTemporaryDirectory { dir in
            let store = try ChainStore(directory: dir)
            let a = signedChain("a", count: 2)
            let rival = signedChain("a", count: 1)[0]  // same position, same bytes: not evidence
            let other = signedChain("b", count: 1)[0]
            var ledger = try Ledger(store)
            let b = signedChain("b", count: 1)
            try ledger.append([a[0], b[0]])
            // Another entry at a's seq 0 (signed over other content), and the very same entry again.
            let key = SigningKey(seed: SHA256.hash(Array("a".utf8)))
            let competing = try EntryCodec.sign(
                UnsignedEntry(signer: key.publicKey, seq: 0, timestampMs: 2, prev: .zero, body: a[1].body), with: key)
            let statuses = try ledger.append([competing, rival])
            #expect(statuses == [.equivocation(head: ChainHead(nextSeq: 1, hash: a[0].hash)), .duplicate(index: 0)])
            #expect(try store.equivocations(of: a[0].signer) == [competing.encoded])
            #expect(try store.equivocations(of: other.signer) == [])
            #expect(rival.hash == a[0].hash)
        }
    }

    @Test func openingAFileAsTheDataFolderFailsWithAStorageError() throws {
        try withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let file = dir + "/not-a-dir"
            #expect(FileManager.default.createFile(atPath: file, contents: Data([1, 2, 3])))
            #expect(throws: TrailError(.storage, "")) { try ChainStore(directory: file) }
        }
    }
}
