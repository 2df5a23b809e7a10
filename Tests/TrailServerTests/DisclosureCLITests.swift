import Foundation
import Testing
import TrailCore
import TrailServer

/// Run receipts and selective disclosure end to end: a real collector, `trail log --vault
/// --request-id`, `trail receipt`, `trail disclose` and `trail verify disclosure`.
@Suite("Run receipts and disclosures from the command line")
struct DisclosureCLITests {
    func json(_ run: TrailRun) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout) \(run.stderr)")
    }

    func write(_ dir: String, _ name: String, _ text: String) {
        #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(text.utf8)))
    }

    /// The collector's JSON form of an entry's body.
    func storedBody(_ httpPort: Int, _ hash: String) throws -> [String: Any] {
        let r = try httpGet(port: httpPort, "/v1/entries/\(hash)")
        #expect(r.status == 200)
        return try #require(try jsonObject(r.body)["body"] as? [String: Any])
    }

    @Test func actionsAndReceiptJoinAndDisclose() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            let httpPort = collector.httpAddress!.port!
            let http = "http://127.0.0.1:\(httpPort)"
            let server = "127.0.0.1:\(port)"
            let logKey = collector.checkpointer.verifierKey
            try await withTemporaryDirectory { dir in
                #expect(try trail(["keys", "new", "--out", "a.key"], in: dir).status == 0)
                write(dir, "reply.txt", "the reply\n")
                write(dir, "question.txt", "the question\n")
                write(dir, "trace.json", "{\"stages\": [\"plan\", \"act\"]}\n")

                // Two actions of run "run-1" and its receipt carry one request commitment.
                let first = try json(try trail(
                    ["log", "--key", "a.key", "--server", server, "--action", "post_reply", "--target", "forum.example.com",
                     "--content", "reply.txt", "--input", "question.txt", "--vault", "v", "--request-id", "run-1", "--json"], in: dir))
                #expect(first["status"] as? String == "accepted")
                let commitment = try #require(first["request_commitment"] as? String)
                let second = try json(try trail(
                    ["log", "--key", "a.key", "--server", server, "--action", "fetch", "--content", "question.txt",
                     "--vault", "v", "--request-id", "run-1", "--json"], in: dir))
                #expect(second["request_commitment"] as? String == commitment)
                let receipt = try json(try trail(
                    ["receipt", "--key", "a.key", "--server", server, "--request-id", "run-1", "--vault", "v", "--outcome", "ok",
                     "--started-ms", "1763900000000", "--total-ms", "1200", "--stage", "plan:200:ok", "--stage", "act:1000:ok",
                     "--trace", "trace.json", "--json"], in: dir))
                #expect(receipt["status"] as? String == "accepted" && receipt["seq"] as? Int == 2)
                #expect(receipt["request_commitment"] as? String == commitment)
                let traceCommitment = try #require(receipt["trace_commitment"] as? String)

                // As the collector stores them.
                let actionHash = try #require(first["entry_hash"] as? String)
                let receiptHash = try #require(receipt["entry_hash"] as? String)
                let actionBody = try storedBody(httpPort, actionHash)
                #expect(actionBody["request_commitment"] as? String == commitment)
                #expect(actionBody["input_hash"] as? String == SHA256.hash(Array("the question\n".utf8)).hex)
                #expect(try storedBody(httpPort, try #require(second["entry_hash"] as? String))["request_commitment"] as? String == commitment)
                let receiptBody = try storedBody(httpPort, receiptHash)
                #expect(receiptBody["request_commitment"] as? String == commitment)
                #expect(receiptBody["trace_commitment"] as? String == traceCommitment)
                #expect(receiptBody["outcome"] as? String == "ok" && (receiptBody["stages"] as? [Any])?.count == 2)
                // The commitment hides the request id: it is not its plain hash.
                #expect(commitment != SHA256.hash(Array("run-1".utf8)).hex)
                let vaultFiles = try FileManager.default.subpathsOfDirectory(atPath: dir + "/v")
                #expect(vaultFiles.contains("entries/\(actionHash)") && vaultFiles.contains("entries/\(receiptHash)"))
                #expect(vaultFiles.contains("commitments/\(commitment).json"))
                let commitmentMode = try FileManager.default.attributesOfItem(atPath: "\(dir)/v/commitments/\(commitment).json")[.posixPermissions] as? Int
                #expect(commitmentMode == 0o600)

                // Disclose the action with its proof; verify it against the log key.
                let disclose = try trail(["disclose", actionHash, "--vault", "v", "--out", "d.json", "--http", http], in: dir)
                #expect(disclose.status == 0, "\(disclose.stderr)")
                #expect(disclose.stdout.contains("inclusion proof: leaf 0 at tree size 3"), "\(disclose.stdout)")
                let verified = try trail(["verify", "disclosure", "d.json", "--log-key", logKey], in: dir)
                #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
                #expect(verified.stdout.hasPrefix("valid: action entry \(actionHash)"))
                #expect(verified.stdout.contains("disclosed: content_hash, input_hash, request_commitment"))
                #expect(verified.stdout.contains("proof: leaf 0 of \(collector.checkpointer.origin) at tree size 3"))
                let verifiedJSON = try json(try trail(["verify", "disclosure", "d.json", "--log-key", logKey, "--json"], in: dir))
                #expect(verifiedJSON["valid"] as? Bool == true && verifiedJSON["proof"] as? String == "verified")
                #expect(verifiedJSON["index"] as? Int == 0 && verifiedJSON["tree_size"] as? Int == 3)
                let unchecked = try trail(["verify", "disclosure", "d.json"], in: dir)
                #expect(unchecked.status == 0 && unchecked.stdout.contains("the inclusion proof was not checked"))

                // The receipt's trace only: the document carries the trace file itself.
                #expect(try trail(["disclose", receiptHash, "--vault", "v", "--out", "r.json", "--http", http,
                                   "--field", "trace_commitment"], in: dir).status == 0)
                let r = try trail(["verify", "disclosure", "r.json", "--log-key", logKey, "--json"], in: dir)
                #expect(r.status == 0)
                #expect(try json(r)["fields"] as? [String] == ["trace_commitment"])
                let rDoc = try jsonObject(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/r.json"))))
                let item = try #require((rDoc["disclosed"] as? [[String: String]])?.first)
                #expect(item["value"].flatMap { Base64.decode($0) } == Array("{\"stages\": [\"plan\", \"act\"]}\n".utf8))

                // Tampered: another reply. Invalid, exit 1, with the code.
                var doc = try jsonObject(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/d.json"))))
                var items = try #require(doc["disclosed"] as? [[String: String]])
                items[0]["content"] = Base64.encode(Array("another reply\n".utf8))
                doc["disclosed"] = items
                try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: dir + "/tampered.json"))
                let tampered = try trail(["verify", "disclosure", "tampered.json", "--log-key", logKey], in: dir)
                #expect(tampered.status == 1)
                #expect(tampered.stdout.hasPrefix("invalid: disclosure_mismatch (81): content_hash"), "\(tampered.stdout)")
                // The receipt's proof in the action's document: checked, and refused.
                doc = try jsonObject(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/d.json"))))
                doc["proof"] = rDoc["proof"]
                try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: dir + "/wrongproof.json"))
                let wrongProof = try trail(["verify", "disclosure", "wrongproof.json", "--log-key", logKey], in: dir)
                #expect(wrongProof.status == 1 && wrongProof.stdout.hasPrefix("invalid: root_mismatch (33):"), "\(wrongProof.stdout)")
                // A field this entry does not have.
                let noOutput = try trail(["disclose", actionHash, "--vault", "v", "--out", "x.json", "--http", http, "--field", "output_hash"], in: dir)
                #expect(noOutput.status == 1 && noOutput.stderr.hasPrefix("error: field_not_in_entry (82):"), "\(noOutput.stderr)")

                // Unusable input: exit 2.
                #expect(try trail(["verify", "disclosure", "missing.json", "--log-key", logKey], in: dir).status == 2)
                #expect(try trail(["verify", "disclosure", "d.json", "--log-key", "not+a+key"], in: dir).status == 2)
            }
        }
    }

    @Test func withoutACollectorTheDocumentHasNoProof() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            let httpPort = collector.httpAddress!.port!
            let logKey = collector.checkpointer.verifierKey
            try await withTemporaryDirectory { dir in
                #expect(try trail(["keys", "new", "--out", "a.key"], in: dir).status == 0)
                write(dir, "reply.txt", "hello\n")
                let logged = try json(try trail(
                    ["log", "--key", "a.key", "--server", "127.0.0.1:\(port)", "--action", "post_reply", "--content", "reply.txt",
                     "--vault", "v", "--json"], in: dir))
                let hash = try #require(logged["entry_hash"] as? String)
                #expect(logged["request_commitment"] == nil)

                // Nothing listens on port 1: written without proof, and said so.
                let offline = try trail(["disclose", hash, "--vault", "v", "--out", "d.json", "--http", "http://127.0.0.1:1"], in: dir)
                #expect(offline.status == 0, "\(offline.stderr)")
                #expect(offline.stdout.contains("inclusion proof: none"))
                #expect(offline.stderr.contains("without an inclusion proof"))
                let doc = try jsonObject(try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/d.json"))))
                #expect(doc["proof"] == nil)
                let v = try trail(["verify", "disclosure", "d.json", "--log-key", logKey], in: dir)
                #expect(v.status == 0, "\(v.stdout)")
                #expect(v.stdout.contains("disclosed: content_hash"))
                #expect(v.stdout.contains("note: no inclusion proof"))
                #expect(try json(try trail(["verify", "disclosure", "d.json", "--json"], in: dir))["proof"] as? String == "absent")

                // An entry missing from the vault is fetched from the collector (and checked).
                try FileManager.default.removeItem(atPath: "\(dir)/v/entries/\(hash)")
                let fetched = try trail(["disclose", hash, "--vault", "v", "--out", "e.json", "--http", "http://127.0.0.1:\(httpPort)"], in: dir)
                #expect(fetched.status == 0, "\(fetched.stderr)")
                #expect(FileManager.default.fileExists(atPath: "\(dir)/v/entries/\(hash)"))
                #expect(try trail(["verify", "disclosure", "e.json", "--log-key", logKey], in: dir).status == 0)
            }
        }
    }

    @Test func badArguments() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            #expect(try trail(["keys", "new", "--out", "a.key"], in: dir).status == 0)
            write(dir, "reply.txt", "hello\n")
            // Checked before anything is kept or sent (port 1: nothing listens).
            let noVault = try trail(["log", "--key", "a.key", "--server", "127.0.0.1:1", "--action", "x", "--content", "reply.txt",
                                     "--request-id", "run-1"], in: dir)
            #expect(noVault.status == 1 && noVault.stderr.hasPrefix("error: invalid_argument (202): --request-id needs --vault"), "\(noVault.stderr)")
            let receiptArgs = ["receipt", "--key", "a.key", "--server", "127.0.0.1:1", "--request-id", "r", "--vault", "v",
                               "--started-ms", "1", "--total-ms", "2"]
            let badOutcome = try trail(receiptArgs + ["--outcome", "fine"], in: dir)
            #expect(badOutcome.status == 1 && badOutcome.stderr.hasPrefix("error: invalid_argument (202): --outcome"), "\(badOutcome.stderr)")
            let badStage = try trail(receiptArgs + ["--outcome", "ok", "--stage", "plan:soon:ok"], in: dir)
            #expect(badStage.status == 1 && badStage.stderr.hasPrefix("error: invalid_argument (202): --stage"), "\(badStage.stderr)")
            let longLabel = try trail(receiptArgs + ["--outcome", "ok", "--stage", String(repeating: "a", count: 65) + ":1:ok"], in: dir)
            #expect(longLabel.status == 1 && longLabel.stderr.hasPrefix("error: length_exceeds_limit (6):"), "\(longLabel.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/v"), "nothing was kept")
            let noSuchVault = try trail(["disclose", String(repeating: "ab", count: 32), "--vault", "nowhere", "--out", "d.json"], in: dir)
            #expect(noSuchVault.status == 1 && noSuchVault.stderr.hasPrefix("error: not_found (206):"), "\(noSuchVault.stderr)")
            let badField = try trail(["disclose", String(repeating: "ab", count: 32), "--vault", ".", "--out", "d.json", "--field", "salt"], in: dir)
            #expect(badField.status == 1 && badField.stderr.hasPrefix("error: invalid_argument (202): unknown field salt"), "\(badField.stderr)")
        }
    }
}
