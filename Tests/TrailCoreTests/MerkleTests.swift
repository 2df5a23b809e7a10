import Foundation
import Testing
import TrailCore

/// Tests/TrailCoreTests/Fixtures/rfc9162: transparency-dev/merkle's proof cases, used unchanged.
enum RFC9162Vectors {
    struct Case {
        let path: String
        let fields: [String: Any]
        var wantErr: Bool { fields["wantErr"] as! Bool }
        func u64(_ key: String) -> UInt64 { (fields[key] as! NSNumber).uint64Value }

        /// A hash field. Our API holds hashes as 32 bytes, so a value of another length (the
        /// vectors' "don't care" placeholders and truncated or extended hashes) stands for an
        /// arbitrary value distinct from every real hash: SHA-256 of a tag and the bytes.
        /// Equality between such values is kept, which is all the verifiers look at.
        func hash(_ key: String) -> Bytes32 { Self.hash(fields[key] as! String) }

        static func hash(_ b64: String) -> Bytes32 {
            let raw = Base64.decode(b64)!
            return Bytes32(raw) ?? SHA256.hash(Array("placeholder:".utf8) + raw)
        }

        /// The leaf hash must be a real 32-byte hash (as in the reference verifier, which
        /// rejects any other length before anything else); nil otherwise.
        var leafHash: Bytes32? { Bytes32(Base64.decode(fields["leafHash"] as! String)!) }

        var proof: [Bytes32] { ((fields["proof"] as? [String]) ?? []).map(Self.hash) }
    }

    static let root: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/rfc9162")

    static func cases(_ folder: String) -> [Case] {
        let dir = root.appendingPathComponent(folder)
        let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }
        return files.map { url in
            let object = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            return Case(path: url.path.replacingOccurrences(of: dir.path + "/", with: ""), fields: object)
        }.sorted { $0.path < $1.path }
    }

    /// Runs every case of `folder` through `verify` and checks that exactly the `wantErr: false`
    /// cases are accepted. Returns (cases, accepted).
    static func run(_ folder: String, _ verify: (Case) throws(TrailError) -> Void) -> (Int, Int) {
        var accepted = 0
        let all = cases(folder)
        for c in all {
            let code = failure { () throws(TrailError) in try verify(c) }
            if code == nil { accepted += 1 }
            #expect((code != nil) == c.wantErr, "\(folder)/\(c.path): wantErr \(c.wantErr), got \(code?.name ?? "accepted")")
        }
        return (all.count, accepted)
    }

    /// The RFC 6962 / transparency-dev test leaves the vectors are built from.
    static let leafData: [[UInt8]] = [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        Array(0x50...0x57), Array(0x60...0x6f),
    ]

    /// MTH of the first n of `leafData`, n = 1...8, as published with them.
    static let knownRoots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
}

/// Leaf hashes for generated trees.
private let leaves: [Bytes32] = (0..<300).map { SHA256.leafHash(Array("leaf \($0)".utf8)) }
private func leafAt(_ i: UInt64) -> Bytes32 { leaves[Int(i)] }
private func mth(_ start: Int, _ end: Int) -> Bytes32 { Merkle.root(leaves: Array(leaves[start..<end])) }

/// Flips one bit of a hash.
private func tampered(_ h: Bytes32) -> Bytes32 {
    var b = h.bytes
    b[7] ^= 0x20
    return Bytes32(b)!
}

@Suite("Merkle")
struct MerkleTests {
    // MARK: RFC 9162 vectors

    @Test func inclusionVectors() {
        let (count, accepted) = RFC9162Vectors.run("inclusion") { c throws(TrailError) in
            guard let leaf = c.leafHash else { throw TrailError(.invalidHash, "leaf hash is not 32 bytes") }
            try Merkle.verifyInclusion(
                index: c.u64("leafIdx"), size: c.u64("treeSize"), leafHash: leaf, proof: c.proof, root: c.hash("root"))
        }
        #expect(count == 98)
        #expect(accepted == 6)
    }

    @Test func consistencyVectors() {
        let (count, accepted) = RFC9162Vectors.run("consistency") { c throws(TrailError) in
            try Merkle.verifyConsistency(
                from: c.u64("size1"), to: c.u64("size2"), proof: c.proof, oldRoot: c.hash("root1"), newRoot: c.hash("root2"))
        }
        #expect(count == 98)
        #expect(accepted == 6)
    }

    @Test func subtreeInclusionVectors() {
        let (count, accepted) = RFC9162Vectors.run("subtreeinclusion") { c throws(TrailError) in
            guard let leaf = c.leafHash else { throw TrailError(.invalidHash, "leaf hash is not 32 bytes") }
            try Merkle.verifySubtreeInclusion(
                index: c.u64("leafIdx"), start: c.u64("start"), end: c.u64("end"), leafHash: leaf, proof: c.proof,
                subtreeRoot: c.hash("root"))
        }
        #expect(count == 204)
        #expect(accepted == 12)
    }

    @Test func subtreeConsistencyVectors() {
        let (count, accepted) = RFC9162Vectors.run("subtreeconsistency") { c throws(TrailError) in
            try Merkle.verifySubtreeConsistency(
                start: c.u64("start"), end: c.u64("end"), size: c.u64("size"), proof: c.proof,
                subtreeRoot: c.hash("root1"), root: c.hash("root2"))
        }
        #expect(count == 118)
        #expect(accepted == 12)
    }

    /// The roots published with the RFC 6962 test leaves, cross-checked against every root of a
    /// whole tree that the happy-path vectors carry.
    @Test func knownRoots() {
        let hashes = RFC9162Vectors.leafData.map(SHA256.leafHash)
        #expect(Merkle.root(leaves: []) == b32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        for n in 1...8 {
            #expect(Merkle.root(leaves: Array(hashes[0..<n])) == b32(RFC9162Vectors.knownRoots[n - 1]), "size \(n)")
        }
        var checked = Set<UInt64>()
        for folder in ["inclusion", "consistency"] {
            for c in RFC9162Vectors.cases(folder) where c.path.hasSuffix("happy-path.json") && !c.path.hasPrefix("additional") {
                let pairs: [(String, String)] = folder == "inclusion" ? [("treeSize", "root")] : [("size1", "root1"), ("size2", "root2")]
                for (sizeKey, rootKey) in pairs {
                    let n = c.u64(sizeKey)
                    #expect(c.hash(rootKey) == b32(RFC9162Vectors.knownRoots[Int(n) - 1]), "\(folder)/\(c.path) \(rootKey)")
                    checked.insert(n)
                }
                if folder == "inclusion" {
                    #expect(c.leafHash == hashes[Int(c.u64("leafIdx"))])
                    // Our generator reproduces the vector's proof.
                    let proof = try? Merkle.inclusionProof(index: c.u64("leafIdx"), size: c.u64("treeSize")) { i throws(TrailError) in hashes[Int(i)] }
                    #expect(proof == c.proof, "\(c.path)")
                } else {
                    let proof = try? Merkle.consistencyProof(from: c.u64("size1"), to: c.u64("size2")) { i throws(TrailError) in hashes[Int(i)] }
                    #expect(proof == c.proof, "\(c.path)")
                }
            }
        }
        #expect(checked == [1, 2, 3, 5, 6, 7, 8])
    }

    // MARK: Generated proofs

    @Test func inclusionProofsUpTo64() throws {
        let cache = NodeCache(leafCount: 64)
        var checked = 0
        for size in UInt64(1)...64 {
            let root = mth(0, Int(size))
            for index in 0..<size {
                let proof = try Merkle.inclusionProof(index: index, size: size, leaf: leafAt)
                #expect(proof.count == Merkle.inclusionProofLength(index: index, size: size))
                #expect(try Merkle.inclusionProof(index: index, size: size, node: cache.accessor(size: size)) == proof)
                try Merkle.verifyInclusion(index: index, size: size, leafHash: leafAt(index), proof: proof, root: root)
                for i in proof.indices {
                    var bad = proof
                    bad[i] = tampered(bad[i])
                    #expect(failure { () throws(TrailError) in
                        try Merkle.verifyInclusion(index: index, size: size, leafHash: leafAt(index), proof: bad, root: root)
                    } == .rootMismatch)
                }
                let leaf = leafAt(index)
                #expect(failure { () throws(TrailError) in
                    try Merkle.verifyInclusion(index: index, size: size, leafHash: tampered(leaf), proof: proof, root: root)
                } == .rootMismatch)
                #expect(failure { () throws(TrailError) in
                    try Merkle.verifyInclusion(index: index, size: size, leafHash: leaf, proof: proof + [leaf], root: root)
                } == .wrongProofLength)
                if !proof.isEmpty {
                    #expect(failure { () throws(TrailError) in
                        try Merkle.verifyInclusion(index: index, size: size, leafHash: leaf, proof: proof.dropLast(), root: root)
                    } == .wrongProofLength)
                }
                checked += 1
            }
            #expect(failure { () throws(TrailError) in
                try Merkle.verifyInclusion(index: size, size: size, leafHash: leafAt(0), proof: [], root: root)
            } == .indexOutOfRange)
            #expect(failure { () throws(TrailError) in _ = try Merkle.inclusionProof(index: size, size: size, leaf: leafAt) } == .indexOutOfRange)
        }
        #expect(checked == 2080)
    }

    @Test func consistencyProofsUpTo64() throws {
        let cache = NodeCache(leafCount: 64)
        let roots = (0...64).map { mth(0, $0) }
        var checked = 0
        for to in UInt64(1)...64 {
            for from in 1...to {
                let (old, new) = (roots[Int(from)], roots[Int(to)])
                let proof = try Merkle.consistencyProof(from: from, to: to, leaf: leafAt)
                #expect(proof.count == Merkle.consistencyProofLength(from: from, to: to))
                #expect(try Merkle.consistencyProof(from: from, to: to, node: cache.accessor(size: to)) == proof)
                try Merkle.verifyConsistency(from: from, to: to, proof: proof, oldRoot: old, newRoot: new)
                // The general subtree proof with start 0 is the same proof.
                #expect(try Merkle.subtreeConsistencyProof(start: 0, end: from, size: to, node: cache.accessor(size: to)) == proof)
                try Merkle.verifySubtreeConsistency(start: 0, end: from, size: to, proof: proof, subtreeRoot: old, root: new)
                for i in proof.indices {
                    var bad = proof
                    bad[i] = tampered(bad[i])
                    #expect(failure { () throws(TrailError) in
                        try Merkle.verifyConsistency(from: from, to: to, proof: bad, oldRoot: old, newRoot: new)
                    } == .rootMismatch, "\(from)->\(to) hash \(i)")
                }
                #expect(failure { () throws(TrailError) in
                    try Merkle.verifyConsistency(from: from, to: to, proof: proof, oldRoot: tampered(old), newRoot: new)
                } == .rootMismatch)
                #expect(failure { () throws(TrailError) in
                    try Merkle.verifyConsistency(from: from, to: to, proof: proof, oldRoot: old, newRoot: tampered(new))
                } == .rootMismatch)
                #expect(failure { () throws(TrailError) in
                    try Merkle.verifyConsistency(from: from, to: to, proof: proof + [old], oldRoot: old, newRoot: new)
                } == .wrongProofLength)
                if from < to {
                    #expect(failure { () throws(TrailError) in
                        try Merkle.verifyConsistency(from: from, to: to, proof: proof.dropLast(), oldRoot: old, newRoot: new)
                    } == .wrongProofLength)
                }
                checked += 1
            }
        }
        #expect(checked == 2080)
        #expect(failure { () throws(TrailError) in
            try Merkle.verifyConsistency(from: 0, to: 5, proof: [], oldRoot: Merkle.emptyRoot, newRoot: roots[5])
        } == .invalidTreeRange)
        #expect(failure { () throws(TrailError) in
            try Merkle.verifyConsistency(from: 6, to: 5, proof: [], oldRoot: roots[6], newRoot: roots[5])
        } == .invalidTreeRange)
        #expect(failure { () throws(TrailError) in _ = try Merkle.consistencyProof(from: 0, to: 3, leaf: leafAt) } == .invalidTreeRange)
    }

    /// Every valid subtree of every tree up to 24 leaves: inclusion and consistency proofs verify
    /// and any tampered hash fails.
    @Test func subtreeProofs() throws {
        let cache = NodeCache(leafCount: 24)
        var checked = 0
        for size in UInt64(1)...24 {
            let root = mth(0, Int(size))
            for start in 0..<size {
                for end in (start + 1)...size where Merkle.isValidSubtree(start: start, end: end) {
                    let subRoot = mth(Int(start), Int(end))
                    let proof = try Merkle.subtreeConsistencyProof(start: start, end: end, size: size, node: cache.accessor(size: size))
                    try Merkle.verifySubtreeConsistency(start: start, end: end, size: size, proof: proof, subtreeRoot: subRoot, root: root)
                    for i in proof.indices {
                        var bad = proof
                        bad[i] = tampered(bad[i])
                        #expect(failure { () throws(TrailError) in
                            try Merkle.verifySubtreeConsistency(start: start, end: end, size: size, proof: bad, subtreeRoot: subRoot, root: root)
                        } == .rootMismatch)
                    }
                    #expect(failure { () throws(TrailError) in
                        try Merkle.verifySubtreeConsistency(
                            start: start, end: end, size: size, proof: proof, subtreeRoot: tampered(subRoot), root: root)
                    } != nil)
                    if end == size {
                        for index in start..<end {
                            let p = try Merkle.subtreeInclusionProof(index: index, start: start, end: end, node: cache.accessor(size: end))
                            try Merkle.verifySubtreeInclusion(index: index, start: start, end: end, leafHash: leafAt(index), proof: p, subtreeRoot: subRoot)
                        }
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 200)
        #expect(!Merkle.isValidSubtree(start: 1, end: 5))
        #expect(Merkle.isValidSubtree(start: 4, end: 8) && Merkle.isValidSubtree(start: 8, end: 13) && Merkle.isValidSubtree(start: 7, end: 7))
        #expect(!Merkle.isValidSubtree(start: 1, end: 1 << 63 + 2))
        #expect(Merkle.isValidSubtree(start: 0, end: .max))
    }

    /// The worked examples of the Merkle Tree Certificates draft (tree of 14 leaves).
    @Test func subtreeDraftExamples() throws {
        let node = NodeCache(leafCount: 14).accessor(size: 14)
        #expect(try Merkle.subtreeConsistencyProof(start: 4, end: 8, size: 14, node: node) == [mth(0, 4), mth(8, 14)])
        #expect(try Merkle.subtreeConsistencyProof(start: 8, end: 13, size: 14, node: node) == [leaves[12], leaves[13], mth(8, 12), mth(0, 8)])
        #expect(try Merkle.subtreeInclusionProof(index: 10, start: 8, end: 13, node: node) == [leaves[11], mth(8, 10), leaves[12]])
    }

    // MARK: Frontier

    @Test func frontierMatchesRoot() throws {
        var frontier = MerkleFrontier()
        var completed: [MerkleNode: Bytes32] = [:]
        #expect(frontier.root == Merkle.emptyRoot)
        #expect(Merkle.root(leaves: []) == Merkle.emptyRoot)
        for n in 1...300 {
            frontier.append(leaves[n - 1]) { node, hash in completed[node] = hash }
            #expect(frontier.size == UInt64(n))
            #expect(frontier.nodes.count == n.nonzeroBitCount)
            #expect(frontier.root == Merkle.root(leaves: Array(leaves[0..<n])), "size \(n)")
        }
        // Completed nodes are exactly the complete subtrees, with their hashes.
        #expect(completed.count == (0...8).reduce(0) { $0 + 300 >> $1 })
        for (node, hash) in completed {
            #expect(hash == mth(Int(node.start), Int(node.start + node.count)), "\(node)")
        }
        // Restoring from stored border hashes or from cached nodes gives the same frontier.
        for n in [0, 1, 2, 7, 64, 255, 300] {
            var f = MerkleFrontier()
            for l in leaves[0..<n] { f.append(l) }
            #expect(try MerkleFrontier(size: UInt64(n), nodes: f.nodes) == f)
            #expect(try MerkleFrontier(size: UInt64(n)) { (node: MerkleNode) throws(TrailError) -> Bytes32 in completed[node]! } == f)
            #expect(f.borderNodes.map { completed[$0]! } == f.nodes)
        }
        #expect(failure { () throws(TrailError) in _ = try MerkleFrontier(size: 3, nodes: [leaves[0]]) } == .invalidTreeSize)
    }

    @Test func subtreeRootAccessors() throws {
        let cache = NodeCache(leafCount: 100)
        for (s, e) in [(0, 0), (0, 1), (3, 4), (0, 100), (5, 77), (64, 100), (17, 18)] {
            let want = mth(s, e)
            #expect(try Merkle.subtreeRoot(start: UInt64(s), end: UInt64(e), leaf: leafAt) == want)
            #expect(try Merkle.subtreeRoot(start: UInt64(s), end: UInt64(e), node: cache.accessor(size: 100)) == want)
        }
    }
}

/// Complete-subtree hashes as a store would cache them; the accessor checks that nothing outside
/// the requested tree size is asked for.
private final class NodeCache: Sendable {
    let nodes: [MerkleNode: Bytes32]

    init(leafCount: Int) {
        var f = MerkleFrontier()
        var nodes: [MerkleNode: Bytes32] = [:]
        for l in leaves[0..<leafCount] { f.append(l) { nodes[$0] = $1 } }
        self.nodes = nodes
    }

    func accessor(size: UInt64) -> Merkle.NodeAccessor {
        { (node: MerkleNode) throws(TrailError) -> Bytes32 in
            guard node.start + node.count <= size, let h = self.nodes[node] else {
                throw TrailError(.storage, "\(node) is outside a tree of \(size) leaves")
            }
            return h
        }
    }
}
