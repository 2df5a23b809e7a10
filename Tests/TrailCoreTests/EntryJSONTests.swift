import Foundation
import Testing
import TrailCore

/// Parsing the JSON form from text, as the CLI and the vectors do.
@Suite("Entry JSON parsing")
struct EntryJSONTests {
    static let signer = testKey("json").publicKey

    /// An action entry's JSON with `seq` (and so `prev`) and `timestamp_ms` given as raw JSON text.
    static func entryText(version: String = "1", seq: String = "0", timestamp: String = "1763900000000", latency: String? = nil) -> String {
        let prev = seq == "0" ? Bytes32.zero.hex : h("prev").hex
        let latencyField = latency.map { #", "latency_ms": \#($0)"# } ?? ""
        return #"""
            {"version": \#(version), "kind": "action", "signer": "\#(signer.hex)", "seq": \#(seq),
             "timestamp_ms": \#(timestamp), "prev": "\#(prev)",
             "body": {"action_type": "a", "target": "", "content_hash": "\#(h("c").hex)", "flags": []\#(latencyField)}}
            """#
    }

    static func parse(_ text: String) throws(TrailError) -> UnsignedEntry {
        try EntryJSON.unsignedEntry(try EntryJSON.parseObject(utf8(text))).0
    }

    /// 0 and 1 are numbers, not booleans; integers above 2^53 are read exactly, up to UInt64.max.
    @Test func integersAreExact() throws {
        #expect(try Self.parse(Self.entryText()).seq == 0)
        #expect(try Self.parse(Self.entryText(seq: "1")).seq == 1)
        #expect(try Self.parse(Self.entryText(seq: "18446744073709551615")).seq == UInt64.max)
        #expect(try Self.parse(Self.entryText(seq: "18446744073709551614")).seq == UInt64.max - 1)
        #expect(try Self.parse(Self.entryText(seq: "9007199254740993")).seq == 9_007_199_254_740_993)
        #expect(try Self.parse(Self.entryText(timestamp: "0")).timestampMs == 0)
        #expect(try Self.parse(Self.entryText(timestamp: "18446744073709551615")).timestampMs == UInt64.max)
        let latency = try Self.parse(Self.entryText(latency: "4294967295"))
        guard case .action(let a) = latency.body else { throw TrailError(.unknownKind, "not an action") }
        #expect(a.latencyMs == UInt32.max)
    }

    @Test func badIntegersAreRejected() {
        for bad in ["18446744073709551616", "18446744073709551617", "100000000000000000000", "-1", "1.5", "true", "false", "\"1\"", "null", "1e20"] {
            expectTrailError(.invalidJSON, "seq \(bad)") { _ = try Self.parse(Self.entryText(seq: bad)) }
            expectTrailError(.invalidJSON, "timestamp_ms \(bad)") { _ = try Self.parse(Self.entryText(timestamp: bad)) }
        }
        for bad in ["4294967296", "-1", "true", "0.5"] {
            expectTrailError(.invalidJSON, "latency_ms \(bad)") { _ = try Self.parse(Self.entryText(latency: bad)) }
        }
        // version is a number, and 1.
        expectTrailError(.invalidJSON) { _ = try Self.parse(Self.entryText(version: "true")) }
        expectTrailError(.unsupportedVersion) { _ = try Self.parse(Self.entryText(version: "2")) }
        expectTrailError(.invalidJSON) { _ = try Self.parse(Self.entryText(version: "256")) }
    }

    @Test func badFieldsAreRejected() throws {
        let base = try EntryJSON.parseObject(utf8(Self.entryText()))
        func with(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            var o = base
            change(&o)
            return o
        }
        func withBody(_ change: (inout [String: Any]) -> Void) -> [String: Any] {
            with { o in
                var b = o["body"] as! [String: Any]
                change(&b)
                o["body"] = b
            }
        }
        let cases: [(String, TrailError.Code, [String: Any])] = [
            ("unknown kind", .unknownKind, with { $0["kind"] = "nope" }),
            ("missing signer", .invalidJSON, with { $0["signer"] = nil }),
            ("short signer", .invalidJSON, with { $0["signer"] = "abcd" }),
            ("body not an object", .invalidJSON, with { $0["body"] = "x" }),
            ("bad signature hex", .invalidJSON, with { $0["signature"] = "00" }),
            ("unknown flag", .invalidJSON, withBody { $0["flags"] = ["nope"] }),
            ("tools not strings", .invalidJSON, withBody { $0["tools"] = [1] }),
            ("missing content_hash", .invalidJSON, withBody { $0["content_hash"] = nil }),
            ("action_type not a string", .invalidJSON, withBody { $0["action_type"] = 5 }),
        ]
        for (name, code, o) in cases {
            expectTrailError(code, "\(name)") { _ = try EntryJSON.unsignedEntry(o) }
        }
        expectTrailError(.invalidJSON) { _ = try EntryJSON.parseObject(utf8("[1, 2]")) }
        expectTrailError(.invalidJSON) { _ = try EntryJSON.parseObject(utf8("{")) }
        // Unknown enum names in bodies.
        let receipt: [String: Any] = [
            "request_commitment": h("r").hex, "outcome": "maybe", "started_ms": 1, "total_ms": 1,
            "trace_commitment": h("t").hex, "stages": [],
        ]
        expectTrailError(.invalidEnum) { _ = try EntryJSON.body(.receipt, receipt) }
        var badStage = receipt
        badStage["outcome"] = "ok"
        badStage["stages"] = [["label": "s", "duration_ms": 1, "status": "later"]]
        expectTrailError(.invalidEnum) { _ = try EntryJSON.body(.receipt, badStage) }
    }
}
