import AgentTrail
import Foundation
import Testing
import TrailServer

/// An equivocation made over TCP can be downloaded from the HTTP API and checked offline:
/// both entries decode, their signatures verify, same signer and seq, different bytes.
@Suite("Equivocation evidence over HTTP")
struct EquivocationEvidenceTests {
    func bytes(_ o: [String: Any], _ key: String = "encoded") throws -> [UInt8] {
        let text = try #require(o[key] as? String)
        return try #require(Base64.decode(text))
    }

    @Test func bothSignedEntriesCanBeFetchedAndCheckedOffline() async throws {
        try await withCollector { collector, port in
            let http = collector.httpAddress!.port!
            let s = try RawSocket(port: port)
            try s.hello()
            var a = TestAgent("equivocator")
            let first = [a.next(), a.next(), a.next()]
            #expect(try s.append(first).allSatisfy { $0.index != nil })
            let rival = a.at(seq: 1, prev: first[0].hash)
            #expect(try s.append([rival], id: 2) == [.equivocation(head: a.head)])
            // Resending the same evidence gets the same answer and is kept once.
            #expect(try s.append([rival], id: 3) == [.equivocation(head: a.head)])
            let did = DIDKey.encode(a.key.publicKey)

            let (st, body) = try httpGet(port: http, "/v1/agents/\(did)/equivocations")
            #expect(st == 200)
            let o = try jsonObject(body)
            #expect(o["did"] as? String == did)
            #expect(o["count"] as? Int == 1)
            let list = try #require(o["equivocations"] as? [[String: Any]])
            try #require(list.count == 1)
            #expect(list[0]["seq"] as? Int == 1)
            let stored = try #require(list[0]["stored"] as? [String: Any])
            let evidence = try #require(list[0]["evidence"] as? [String: Any])
            // Offline: exact bytes, decode, verify the signatures, same position, different entries.
            let storedEntry = try EntryCodec.decodeVerified(try bytes(stored))
            let evidenceEntry = try EntryCodec.decodeVerified(try bytes(evidence))
            #expect(storedEntry.signer == a.key.publicKey && evidenceEntry.signer == a.key.publicKey)
            #expect(storedEntry.seq == 1 && evidenceEntry.seq == 1)
            #expect(storedEntry.encoded != evidenceEntry.encoded)
            #expect(storedEntry.hash == first[1].hash && evidenceEntry.hash == rival.hash)
            #expect(stored["entry_hash"] as? String == first[1].hash.hex)
            #expect(stored["index"] as? Int == 1)
            #expect(evidence["entry_hash"] as? String == rival.hash.hex)
            #expect(evidence["evidence"] as? Bool == true)
            #expect(evidence["index"] == nil)
            #expect(evidence["stored_entry_hash"] as? String == first[1].hash.hex)

            // The evidence answers by its hash too, marked as evidence and without a log index.
            let (es, eb) = try httpGet(port: http, "/v1/entries/\(rival.hash.hex)")
            #expect(es == 200)
            let e = try jsonObject(eb)
            #expect(e["evidence"] as? Bool == true)
            #expect(e["index"] == nil)
            #expect(try EntryCodec.decodeVerified(try bytes(e)).hash == rival.hash)
            // Not in the log: no inclusion proof for it.
            #expect(try httpGet(port: http, "/v1/entries/\(rival.hash.hex)/proof").status == 404)

            // The CLI downloads both entries, checks them and writes their exact bytes.
            try await withTemporaryDirectory { dir in
                let r = try trail(["agent", "equivocations", did, "--http", "http://127.0.0.1:\(http)", "--out", dir + "/ev"], in: dir)
                #expect(r.status == 0, "\(r.stderr)")
                #expect(r.stdout.contains("seq 1: stored \(first[1].hash.hex), evidence \(rival.hash.hex): both signed by the agent"), "\(r.stdout)")
                let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/ev").sorted()
                #expect(files == ["seq-1-evidence-\(rival.hash.hex.prefix(16)).entry", "seq-1-stored.entry"])
                let written = try #require(FileManager.default.contents(atPath: dir + "/ev/seq-1-stored.entry"))
                #expect([UInt8](written) == first[1].encoded)
            }

            // An agent without equivocations has an empty list.
            var b = TestAgent("honest")
            _ = try s.append([b.next()], id: 4)
            let (hs, hb) = try httpGet(port: http, "/v1/agents/\(DIDKey.encode(b.key.publicKey))/equivocations")
            #expect(hs == 200)
            #expect(try jsonObject(hb)["count"] as? Int == 0)
        }
    }
}
