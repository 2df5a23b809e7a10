import TrailCore

/// Checking a segment's root against a checkpoint (SPEC 5.5) with plain RFC 9162 proofs.
///
/// A segment is the log's complete subtree node at level k, index i, and every such node is a
/// node of every larger tree. Seen from level k, the tree of `size` leaves is an RFC 9162 tree
/// of `ceil(size / 2^k)` nodes (the last one possibly partial), so:
/// (a) an inclusion proof of the segment's root at index i in that tree (any leaf's inclusion
/// proof in the segment without its first k hashes), or
/// (b) given the roots of segments 0...i, an RFC 9162 consistency proof from `(i + 1) * 2^k`.
public enum SegmentProof {
    /// (a): the proof for segment `segment` of 2^k entries in the tree of `size` leaves.
    public static func inclusionProof(
        segment: UInt64, segmentBits k: Int, size: UInt64, node: Merkle.NodeAccessor
    ) throws(TrailError) -> [Bytes32] {
        try checkComplete(segment, k, size)
        return Array(try Merkle.inclusionProof(index: segment << UInt64(k), size: size, node: node).dropFirst(k))
    }

    /// (a): `root` is the node (k, `segment`) of the tree of `size` leaves whose root is `treeRoot`.
    public static func verifyInclusion(
        root: Bytes32, segment: UInt64, segmentBits k: Int, size: UInt64, proof: [Bytes32], treeRoot: Bytes32
    ) throws(TrailError) {
        try checkComplete(segment, k, size)
        let nodes = (size >> UInt64(k)) + (size & ((UInt64(1) << UInt64(k)) - 1) == 0 ? 0 : 1)
        try Merkle.verifyInclusion(index: segment, size: nodes, leafHash: root, proof: proof, root: treeRoot)
    }

    /// (b): `roots` are the roots of segments 0, 1, ..., i; their MTH is the root of the first
    /// `(i + 1) * 2^k` entries, tied to the tree of `size` leaves by an RFC 9162 consistency proof.
    public static func verifyPrefix(
        roots: [Bytes32], segmentBits k: Int, size: UInt64, proof: [Bytes32], treeRoot: Bytes32
    ) throws(TrailError) {
        guard !roots.isEmpty else { throw TrailError(.invalidTreeRange, "no segment roots") }
        try checkComplete(UInt64(roots.count - 1), k, size)
        try Merkle.verifyConsistency(
            from: UInt64(roots.count) << UInt64(k), to: size, proof: proof, oldRoot: Merkle.root(leaves: roots), newRoot: treeRoot)
    }

    static func checkComplete(_ segment: UInt64, _ k: Int, _ size: UInt64) throws(TrailError) {
        guard k >= 0 && k <= SegmentFormat.maxSegmentBits, segment < size >> UInt64(k) else {
            throw TrailError(.indexOutOfRange, "segment \(segment) of 2^\(k) entries is not complete in a tree of \(size)")
        }
    }
}
