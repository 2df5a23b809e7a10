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

/// Commits entries in log order as the sequencer would.
func append(_ store: ChainStore, _ entries: [Entry]) throws {
    let start = try store.logSize()
    _ = try store.commit { _, _ in
        var g = ChainStore.Group()
        for (i, e) in entries.enumerated() {
            g.appended.append((start + UInt64(i), e, e.hash))
            g.heads[e.signer] = ChainHead(nextSeq: e.seq + 1, hash: e.hash)
        }
        return (g, ())
    }
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
            #expect(try store.allHeads().count == 1)
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
            _ = try store.commit { _, _ in
                var g = ChainStore.Group()
                g.equivocations = [(a[1], a[1].hash), (other, other.hash)]
                return (g, ())
            }
            #expect(try store.equivocations(of: a[0].signer) == [a[1].encoded])
            #expect(try store.equivocations(of: other.signer) == [other.encoded])
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
