import AgentTrail
import Foundation
import Testing

/// The client library's vault: what it keeps, with which modes, and the documents it builds.
@Suite("Vault")
struct VaultTests {
    static let key = SigningKey(seed: SHA256.hash(Array("vault-test-key".utf8)))

    func mode(_ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }

    func sign(_ body: EntryBody, seq: UInt64 = 0, prev: Bytes32 = .zero) throws -> Entry {
        try EntryCodec.sign(UnsignedEntry(signer: Self.key.publicKey, seq: seq, timestampMs: 1_763_900_000_000, prev: prev, body: body), with: Self.key)
    }

    @Test func layoutAndModes() async throws {
        try await withTemporaryDirectory { dir in
            let vault = try Vault(directory: dir + "/v")
            for sub in ["", "/objects", "/commitments", "/requests", "/entries"] {
                #expect(try mode(dir + "/v" + sub) == 0o700, "\(sub)")
            }
            let content = Array("the reply".utf8)
            let hash = try vault.storeContent(content)
            #expect(hash == SHA256.hash(content))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/v/objects/\(hash.hex)")) == Data(content))
            #expect(try mode("\(dir)/v/objects/\(hash.hex)") == 0o600)
            #expect(try vault.content(hash) == content)
            #expect(try vault.content(SHA256.hash(Array("other".utf8))) == nil)

            let c = try vault.commit(Array("trace".utf8), field: .traceCommitment)
            let path = "\(dir)/v/commitments/\(c.hex).json"
            #expect(try mode(path) == 0o600, "salts are secrets")
            let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: String])
            #expect(Set(record.keys) == ["field", "salt", "value"])
            #expect(record["field"] == "trace_commitment" && record["value"] == Base64.encode(Array("trace".utf8)))
            let salt = try #require(Bytes32(hex: record["salt"]!))
            #expect(Commitment.hash(salt: salt, value: Array("trace".utf8)) == c)
            let opened = try #require(try vault.opening(c))
            #expect(opened.field == .traceCommitment && opened.commitment.salt == salt)
            // A fresh salt every time; content hashes are not commitments.
            #expect(try vault.commit(Array("trace".utf8), field: .traceCommitment) != c)
            #expect(throws: TrailError(.invalidArgument, "")) { try vault.commit([], field: .contentHash) }

            // Reopening keeps everything, and no temporary file is left behind.
            let again = try Vault(directory: dir + "/v/")
            #expect(try again.opening(c)?.commitment.value == Array("trace".utf8))
            let leftovers = try FileManager.default.subpathsOfDirectory(atPath: dir + "/v").filter { $0.contains(".tmp-") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func oneCommitmentPerRequestID() async throws {
        try await withTemporaryDirectory { dir in
            let vault = try Vault(directory: dir)
            #expect(try vault.existingRequestCommitment("run-1") == nil)
            let first = try vault.requestCommitment("run-1")
            #expect(try vault.requestCommitment("run-1") == first)
            #expect(try vault.existingRequestCommitment("run-1") == first)
            #expect(try Vault(directory: dir).requestCommitment("run-1") == first, "persisted")
            #expect(try vault.requestCommitment("run-2") != first)
            let opened = try #require(try vault.opening(first))
            #expect(opened.field == .requestCommitment && opened.commitment.value == Array("run-1".utf8))

            // Racing writers (other processes, here other threads) agree on one commitment.
            let results = await withTaskGroup(of: Bytes32?.self) { group in
                for _ in 0..<8 { group.addTask { try? Vault(directory: dir).requestCommitment("race") } }
                var all: [Bytes32?] = []
                for await r in group { all.append(r) }
                return all
            }
            #expect(results.count == 8 && !results.contains(nil))
            #expect(Set(results).count == 1)
            let stored = try FileManager.default.contentsOfDirectory(atPath: dir + "/commitments")
            #expect(stored.count == 3, "losers' commitments are removed: \(stored)")
        }
    }

    @Test func disclosuresFromWhatTheVaultHolds() async throws {
        try await withTemporaryDirectory { dir in
            let vault = try Vault(directory: dir)
            let content = Array("reply".utf8), input = Array("question".utf8)
            let request = try vault.requestCommitment("run-7")
            let action = try sign(.action(ActionBody(
                actionType: "post_reply", target: "forum.example.com", contentHash: try vault.storeContent(content),
                inputHash: try vault.storeContent(input), requestCommitment: request)))
            #expect(throws: TrailError(.notFound, "")) { try vault.disclosure(entryHash: action.hash) }
            try vault.storeEntry(action)
            #expect(try vault.entry(action.hash) == action)

            let all = try Disclosure.verify(try vault.disclosure(entryHash: action.hash), logKey: nil)
            #expect(all.fields == [.contentHash, .inputHash, .requestCommitment] && all.proof == .absent)
            let some = try Disclosure.verify(try vault.disclosure(entryHash: action.hash, fields: [.requestCommitment, .requestCommitment]), logKey: nil)
            #expect(some.fields == [.requestCommitment])
            #expect(throws: TrailError(.fieldNotInEntry, "")) { try vault.disclosure(entryHash: action.hash, fields: [.outputHash]) }
            #expect(throws: TrailError(.fieldNotInEntry, "")) { try vault.disclosure(entryHash: action.hash, fields: [.traceCommitment]) }

            // A proof is carried as given, and must at least parse.
            let leaves = [SHA256.hash(Array("x".utf8)), action.hash]
            let logKey = SigningKey(seed: SHA256.hash(Array("vault-log".utf8)))
            let checkpoint = try Checkpoint(origin: "vault.example/log", size: 2, root: Merkle.root(leaves: leaves))
            let proof = TlogProof(index: 1, proof: [leaves[0]], checkpointNote: checkpoint.signedNote(signer: logKey)).text
            let withProof = try Disclosure.verify(
                try vault.disclosure(entryHash: action.hash, proof: proof), logKey: checkpoint.verifierKey(logKey.publicKey))
            #expect(withProof.proof == .verified(index: 1, checkpoint: checkpoint))
            #expect(throws: TrailError(.malformedTlogProof, "")) { try vault.disclosure(entryHash: action.hash, proof: "not a proof") }

            // What the vault does not hold (or holds corrupted) is left out, or refused when asked for.
            try Data("tampered".utf8).write(to: URL(fileURLWithPath: "\(dir)/objects/\(SHA256.hash(input).hex)"))
            #expect(try Disclosure.verify(try vault.disclosure(entryHash: action.hash), logKey: nil).fields == [.contentHash, .requestCommitment])
            #expect(throws: TrailError(.notFound, "")) { try vault.disclosure(entryHash: action.hash, fields: [.inputHash]) }
            let bare = try sign(.action(ActionBody(actionType: "x", target: "", contentHash: SHA256.hash(Array("elsewhere".utf8)))))
            try vault.storeEntry(bare)
            #expect(throws: TrailError(.notFound, "")) { try vault.disclosure(entryHash: bare.hash) }
            #expect(try Disclosure.verify(try vault.disclosure(entryHash: bare.hash, fields: []), logKey: nil).fields.isEmpty)
        }
    }
}
