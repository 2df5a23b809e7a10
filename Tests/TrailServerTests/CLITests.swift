import Foundation
import Testing
import TrailCore

/// The `trail` executable end to end: keys, entries, inspect and its exit codes.
@Suite("trail command")
struct CLITests {
    @Test func keysEntriesAndInspect() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withTemporaryDirectory { dir in
            let new = try trail(["keys", "new", "--out", "agent.key"], in: dir)
            #expect(new.status == 0)
            #expect(new.stdout.hasPrefix("did:key:z6Mk"))
            let mode = try FileManager.default.attributesOfItem(atPath: dir + "/agent.key")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(try trail(["keys", "new", "--out", "agent.key"], in: dir).status != 0)  // no silent overwrite

            let show = try trail(["keys", "show", "agent.key", "--json"], in: dir)
            let shown = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
            #expect(shown["did"] as? String == new.stdout.trimmingCharacters(in: .whitespacesAndNewlines))

            #expect(FileManager.default.createFile(atPath: dir + "/reply.txt", contents: Data("hello\n".utf8)))
            let made = try trail(
                ["entry", "new", "--key", "agent.key", "--kind", "action", "--seq", "0", "--prev", "zero", "--action", "post_reply",
                 "--target", "forum.example.com", "--content", "reply.txt", "--flag", "human_review", "--out", "e.bin"], in: dir)
            #expect(made.status == 0, "\(made.stderr)")
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/e.bin")))
            #expect(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == SHA256.leafHash(bytes).hex)

            let inspect = try trail(["entry", "inspect", "e.bin"], in: dir)
            #expect(inspect.status == 0)
            let o = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
            #expect(o["signature_valid"] as? Bool == true)
            #expect((o["body"] as? [String: Any])?["content_hash"] as? String == SHA256.hash(Array("hello\n".utf8)).hex)

            // A flipped signature bit: decodes, does not verify (exit 1).
            var forged = bytes
            forged[forged.count - 1] ^= 1
            #expect(FileManager.default.createFile(atPath: dir + "/forged.bin", contents: Data(forged)))
            let bad = try trail(["entry", "inspect", "forged.bin"], in: dir)
            #expect(bad.status == 1)
            #expect(bad.stdout.contains("\"signature_valid\" : false"))

            // Truncated: not an entry (exit 2) with the precise code.
            #expect(FileManager.default.createFile(atPath: dir + "/short.bin", contents: Data(bytes.prefix(50))))
            let short = try trail(["entry", "inspect", "short.bin"], in: dir)
            #expect(short.status == 2)
            #expect(short.stderr.hasPrefix("error: truncated (1):"))

            // Other kinds from --body-json; a bad body gets its code.
            let report = """
                {"subject": "\(String(repeating: "ab", count: 32))", "category": "unlogged_action", "severity": "high",
                 "observed_from_ms": 1, "observed_to_ms": 2, "evidence_hash": "\(String(repeating: "cd", count: 32))",
                 "description": "saw it"}
                """
            #expect(FileManager.default.createFile(atPath: dir + "/report.json", contents: Data(report.utf8)))
            #expect(try trail(["entry", "new", "--key", "agent.key", "--kind", "report", "--seq", "1", "--prev", SHA256.leafHash(bytes).hex,
                               "--body-json", "report.json", "--out", "r.bin"], in: dir).status == 0)
            #expect(try trail(["entry", "inspect", "r.bin"], in: dir).status == 0)
            #expect(FileManager.default.createFile(atPath: dir + "/bad.json", contents: Data(report.replacingOccurrences(of: "\"high\"", with: "\"dire\"").utf8)))
            let badBody = try trail(["entry", "new", "--key", "agent.key", "--kind", "report", "--seq", "0", "--body-json", "bad.json", "--out", "x.bin"], in: dir)
            #expect(badBody.status == 1)
            #expect(badBody.stderr.hasPrefix("error: invalid_enum (9):"))
        }
    }

    @Test func logAppendsToTheAgentsChainOnACollector() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withCollector { collector, port in
            try await withTemporaryDirectory { dir in
                #expect(try trail(["keys", "new", "--out", "a.key"], in: dir).status == 0)
                #expect(FileManager.default.createFile(atPath: dir + "/reply.txt", contents: Data("hi".utf8)))
                let args = ["log", "--key", "a.key", "--server", "127.0.0.1:\(port)", "--action", "post_reply",
                            "--target", "forum.example.com", "--content", "reply.txt", "--json"]
                for expectedSeq in 0..<2 {
                    let r = try trail(args, in: dir)
                    #expect(r.status == 0, "\(r.stderr)")
                    let o = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
                    #expect(o["status"] as? String == "accepted")
                    #expect(o["seq"] as? Int == expectedSeq)
                    #expect(o["index"] as? Int == expectedSeq)
                }
                #expect(try collector.store.logSize() == 2)
                let down = try trail(["log", "--key", "a.key", "--server", "127.0.0.1:1", "--action", "x", "--content", "reply.txt"], in: dir)
                #expect(down.status == 1)
                #expect(down.stderr.hasPrefix("error: connection (205):"))
            }
        }
    }
}
