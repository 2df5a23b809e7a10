import Foundation
import Testing
import TrailCore

@testable import TrailSegment

/// protocol/vectors/segments.json (SPEC 5.7), made by the Python reference's writer
/// (`segment_ref.py gen-vectors`, compressing with the zstd tool) and read here in place.
@Suite("Segment vectors")
struct SegmentVectorTests {
    static let url = packageRoot.appendingPathComponent("protocol/vectors/segments.json")

    nonisolated(unsafe) static let document: [String: Any] = {
        let data = try! Data(contentsOf: url)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static var log: [String: Any] { document["log"] as! [String: Any] }
    static var valid: [[String: Any]] { document["valid"] as! [[String: Any]] }
    static var invalid: [[String: Any]] { document["invalid"] as! [[String: Any]] }
    static var validNames: [String] { valid.map { $0["name"] as! String } }
    static var invalidNames: [String] { invalid.map { $0["name"] as! String } }

    static func hashes(_ v: Any?) -> [Bytes32] { (v as! [String]).map { Bytes32(hex: $0)! } }
    static func bytes(_ v: [String: Any]) -> [UInt8] { Hex.decode(v["hex"] as! String)! }

    @Test func fileShape() throws {
        #expect(Self.valid.count == 12)
        #expect(Self.invalid.count >= 40)
        let names = Self.validNames + Self.invalidNames
        #expect(Set(names).count == names.count)
        // Every segment code has an invalid vector, and its name is TrailError's.
        #expect(Set(Self.invalid.map { $0["code"] as! Int }) == Set(90...99))
        for v in Self.invalid {
            #expect(TrailError.Code(rawValue: UInt16(v["code"] as! Int)).name == v["error"] as! String)
        }
        let cp = try Checkpoint.open(note: Self.log["checkpoint"] as! String, verifierKey: NoteVerifierKey(Self.log["log_key"] as! String))
        #expect(cp.size == UInt64(Self.log["size"] as! Int))
        #expect(Merkle.root(leaves: Self.hashes(Self.log["entry_hashes"])) == cp.root)
    }

    @Test(arguments: validNames)
    func valid(_ name: String) throws {
        let v = Self.valid.first { $0["name"] as! String == name }!
        let bytes = Self.bytes(v)
        let k = v["segment_bits"] as! Int
        let i = UInt64(v["segment"] as! Int)
        let root = Bytes32(hex: v["root"] as! String)!
        let s = try Segment.open(bytes: bytes, expecting: .init(segment: i, segmentBits: k, root: root))
        let records = try s.records()
        let leaves = Self.hashes(Self.log["entry_hashes"])
        let first = v["first_index"] as! Int
        #expect(s.header.firstIndex == UInt64(first))
        #expect(records.map { SHA256.leafHash($0) } == Array(leaves[first..<(first + (1 << k))]))
        #expect(records.allSatisfy { r in failure { () throws(TrailError) in _ = try EntryCodec.decodeVerified(r) } == nil })
        #expect(s.header.frames.map { [$0.firstRecord, $0.recordCount] } == v["frames"] as! [[Int]])
        for r in 0..<(1 << k) { #expect(try s.record(r) == records[r]) }
        // SPEC 5.5 against the vectors' checkpoint, both ways.
        let cp = try Checkpoint.open(note: Self.log["checkpoint"] as! String, verifierKey: NoteVerifierKey(Self.log["log_key"] as! String))
        let proof = Self.hashes(v["inclusion_proof"])
        try SegmentProof.verifyInclusion(root: root, segment: i, segmentBits: k, size: cp.size, proof: proof, treeRoot: cp.root)
        let leaf: Merkle.LeafAccessor = { (n: UInt64) throws(TrailError) -> Bytes32 in leaves[Int(n)] }
        #expect(try SegmentProof.inclusionProof(segment: i, segmentBits: k, size: cp.size, node: Merkle.nodes(fromLeaves: leaf)) == proof)
        let priorRoots = try (0...i).map { (j: UInt64) throws(TrailError) -> Bytes32 in
            try Merkle.subtreeRoot(start: j << UInt64(k), end: (j + 1) << UInt64(k), leaf: leaf)
        }
        #expect(priorRoots.last == root)
        try SegmentProof.verifyPrefix(roots: priorRoots, segmentBits: k, size: cp.size, proof: Self.hashes(v["consistency_proof"]), treeRoot: cp.root)
        // The Swift writer, cutting frames the same way, makes a segment with the same header
        // fields and records (compressed bytes need not match).
        let counts = s.header.frames.map(\.recordCount)
        if Set(counts.dropLast()).count <= 1 {
            let again = try Segment.open(bytes: Segment.encode(segment: i, segmentBits: k, entries: records, options: .init(maxFrameRecords: counts[0])))
            #expect(again.header.root == root && again.header.frames.map(\.recordCount) == counts)
            #expect(try again.records() == records)
        }
    }

    @Test(arguments: invalidNames)
    func invalid(_ name: String) throws {
        let v = Self.invalid.first { $0["name"] as! String == name }!
        var expected = SegmentExpectation.none
        if let e = v["expected"] as? [String: Any] {
            expected.segment = (e["segment"] as? Int).map(UInt64.init)
            expected.segmentBits = e["segment_bits"] as? Int
            expected.root = (e["root"] as? String).flatMap { Bytes32(hex: $0) }
        }
        let code = TrailError.Code(rawValue: UInt16(v["code"] as! Int))
        #expect(openFailure(Self.bytes(v), expected) == code)
        // The same from a file.
        try withTemporaryDirectory { dir in
            try writeFile("\(dir)/s", Self.bytes(v))
            #expect(failure { () throws(TrailError) in _ = try SegmentFile.open("\(dir)/s", expecting: expected) } == code)
        }
    }
}
