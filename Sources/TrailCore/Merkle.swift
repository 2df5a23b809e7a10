/// A complete subtree of the log: the `2^level` leaves starting at `index << level`.
///
/// Level 0 nodes are leaves. Every complete, aligned block of leaves is a node of every tree that
/// contains it, so a store can cache these hashes forever once written.
public struct MerkleNode: Hashable, Sendable, CustomStringConvertible {
    public let level: Int
    public let index: UInt64

    public init(level: Int, index: UInt64) {
        precondition(level >= 0 && level < 64, "Merkle node level out of range")
        self.level = level
        self.index = index
    }

    /// The first leaf covered.
    public var start: UInt64 { index << UInt64(level) }
    /// The number of leaves covered.
    public var count: UInt64 { 1 << UInt64(level) }

    public var description: String { "node(level \(level), index \(index))" }
}

/// RFC 9162 section 2.1 Merkle trees over entry hashes (which are already leaf hashes,
/// `SHA-256(0x00 || entry)`), with interior nodes `SHA-256(0x01 || left || right)`.
///
/// Pure: nothing here reads storage. Proof generators ask the caller for node hashes through an
/// accessor, so a store can answer from leaf hashes or from cached complete subtrees.
public enum Merkle {
    /// Hash of a leaf, by index.
    public typealias LeafAccessor = (UInt64) throws(TrailError) -> Bytes32
    /// Hash of a complete subtree (a `MerkleNode`; level 0 is the leaf hash).
    public typealias NodeAccessor = (MerkleNode) throws(TrailError) -> Bytes32

    /// MTH of the empty tree: SHA-256 of the empty string.
    public static let emptyRoot: Bytes32 = SHA256.hash([UInt8]())

    // MARK: Tree hashes

    /// MTH(D[n]) over `leaves` (leaf hashes), computed recursively as RFC 9162 section 2.1.1 defines it.
    public static func root(leaves: [Bytes32]) -> Bytes32 {
        if leaves.isEmpty { return emptyRoot }
        return leaves.withUnsafeBufferPointer { mth($0[...]) }
    }

    private static func mth(_ leaves: Slice<UnsafeBufferPointer<Bytes32>>) -> Bytes32 {
        if leaves.count == 1 { return leaves.first! }
        let k = Int(split(UInt64(leaves.count)))
        let mid = leaves.startIndex + k
        return SHA256.nodeHash(mth(leaves[..<mid]), mth(leaves[mid...]))
    }

    /// MTH(D[start:end]), from leaf hashes. `start == end` gives `emptyRoot`.
    public static func subtreeRoot(start: UInt64, end: UInt64, leaf: LeafAccessor) throws(TrailError) -> Bytes32 {
        guard start <= end else { throw TrailError(.invalidTreeRange, "range start \(start) is after its end \(end)") }
        let n = end - start
        if n == 0 { return emptyRoot }
        if n == 1 { return try leaf(start) }
        let k = split(n)
        let left = try subtreeRoot(start: start, end: start + k, leaf: leaf)
        let right = try subtreeRoot(start: start + k, end: end, leaf: leaf)
        return SHA256.nodeHash(left, right)
    }

    /// MTH(D[start:end]), from complete subtrees: each aligned power-of-two block is asked for
    /// once, so a store that caches complete subtrees answers in O(log n) lookups.
    public static func subtreeRoot(start: UInt64, end: UInt64, node: NodeAccessor) throws(TrailError) -> Bytes32 {
        guard start <= end else { throw TrailError(.invalidTreeRange, "range start \(start) is after its end \(end)") }
        let n = end - start
        if n == 0 { return emptyRoot }
        if n & (n - 1) == 0 && start & (n - 1) == 0 {
            return try node(MerkleNode(level: n.trailingZeroBitCount, index: start >> UInt64(n.trailingZeroBitCount)))
        }
        let k = split(n)
        let left = try subtreeRoot(start: start, end: start + k, node: node)
        let right = try subtreeRoot(start: start + k, end: end, node: node)
        return SHA256.nodeHash(left, right)
    }

    /// A node accessor that computes every node from leaf hashes.
    public static func nodes(fromLeaves leaf: @escaping LeafAccessor) -> NodeAccessor {
        { (n: MerkleNode) throws(TrailError) -> Bytes32 in try subtreeRoot(start: n.start, end: n.start + n.count, leaf: leaf) }
    }

    // MARK: Inclusion proofs (RFC 9162 section 2.1.3)

    /// PATH(index, D[size]) (RFC 9162 section 2.1.3.1): sibling hashes from the leaf up.
    public static func inclusionProof(index: UInt64, size: UInt64, node: NodeAccessor) throws(TrailError) -> [Bytes32] {
        guard index < size else { throw TrailError(.indexOutOfRange, "leaf index \(index) is not below tree size \(size)") }
        var proof: [Bytes32] = []
        try path(index, 0, size, node, &proof)
        return proof
    }

    public static func inclusionProof(index: UInt64, size: UInt64, leaf: @escaping LeafAccessor) throws(TrailError) -> [Bytes32] {
        try inclusionProof(index: index, size: size, node: nodes(fromLeaves: leaf))
    }

    /// PATH over D[lo:hi] in absolute leaf positions, appended bottom-up.
    private static func path(
        _ m: UInt64, _ lo: UInt64, _ hi: UInt64, _ node: NodeAccessor, _ out: inout [Bytes32]
    ) throws(TrailError) {
        if hi - lo <= 1 { return }
        let mid = lo + split(hi - lo)
        if m < mid {
            try path(m, lo, mid, node, &out)
            out.append(try subtreeRoot(start: mid, end: hi, node: node))
        } else {
            try path(m, mid, hi, node, &out)
            out.append(try subtreeRoot(start: lo, end: mid, node: node))
        }
    }

    /// The number of hashes in PATH(index, D[size]); `index < size`.
    public static func inclusionProofLength(index: UInt64, size: UInt64) -> Int {
        precondition(index < size)
        var count = 0
        var (lo, hi) = (UInt64(0), size)
        while hi - lo > 1 {
            let mid = lo + split(hi - lo)
            if index < mid { hi = mid } else { lo = mid }
            count += 1
        }
        return count
    }

    /// The root an inclusion proof leads to, by RFC 9162 section 2.1.3.2 steps 1-4.
    public static func rootFromInclusionProof(
        index: UInt64, size: UInt64, leafHash: Bytes32, proof: [Bytes32]
    ) throws(TrailError) -> Bytes32 {
        guard index < size else { throw TrailError(.indexOutOfRange, "leaf index \(index) is not below tree size \(size)") }
        var fn = index
        var sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { throw inclusionLengthError(proof.count, index, size) }
            if fn & 1 == 1 || fn == sn {
                r = SHA256.nodeHash(p, r)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                r = SHA256.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        guard sn == 0 else { throw inclusionLengthError(proof.count, index, size) }
        return r
    }

    /// RFC 9162 section 2.1.3.2: `leafHash` is the leaf at `index` of the tree of `size` leaves whose
    /// root is `root`.
    public static func verifyInclusion(
        index: UInt64, size: UInt64, leafHash: Bytes32, proof: [Bytes32], root: Bytes32
    ) throws(TrailError) {
        let computed = try rootFromInclusionProof(index: index, size: size, leafHash: leafHash, proof: proof)
        guard computed == root else {
            throw TrailError(.rootMismatch, "inclusion proof for leaf \(index) leads to root \(computed.hex), expected \(root.hex) at size \(size)")
        }
    }

    static func inclusionLengthError(_ got: Int, _ index: UInt64, _ size: UInt64) -> TrailError {
        TrailError(.wrongProofLength, "inclusion proof for leaf \(index) at size \(size) has \(got) hashes, expected \(inclusionProofLength(index: index, size: size))")
    }

    /// Verifies many inclusion proofs in one tree, in leaf order, hashing each shared node once.
    ///
    /// Proofs of nearby leaves end in the same path. After the first proof is verified in full,
    /// a later one stops hashing at the first node it shares with the last verified path, provided
    /// its remaining proof hashes are exactly the ones that path used; the rest of the computation
    /// would then repeat a verified one step for step. Every proof is checked as strictly as
    /// `verifyInclusion` does (a wrong, missing or extra hash anywhere is still rejected).
    public struct InclusionVerifier {
        public let size: UInt64
        public let root: Bytes32
        /// The last verified path: state after each proof step, and its proof.
        private var fns: [UInt64] = []
        private var sns: [UInt64] = []
        private var hashes: [Bytes32] = []
        private var proof: [Bytes32] = []

        public init(size: UInt64, root: Bytes32) {
            self.size = size
            self.root = root
        }

        public mutating func verify(index: UInt64, leafHash: Bytes32, proof p: [Bytes32]) throws(TrailError) {
            guard index < size else { throw TrailError(.indexOutOfRange, "leaf index \(index) is not below tree size \(size)") }
            var fn = index
            var sn = size - 1
            var r = leafHash
            var newFns: [UInt64] = []
            var newSns: [UInt64] = []
            var newHashes: [Bytes32] = []
            newFns.reserveCapacity(p.count)
            newSns.reserveCapacity(p.count)
            newHashes.reserveCapacity(p.count)
            var j = 0
            for (k, h) in p.enumerated() {
                guard sn != 0 else { throw Merkle.inclusionLengthError(p.count, index, size) }
                if fn & 1 == 1 || fn == sn {
                    r = SHA256.nodeHash(h, r)
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                } else {
                    r = SHA256.nodeHash(r, h)
                }
                fn >>= 1
                sn >>= 1
                newFns.append(fn)
                newSns.append(sn)
                newHashes.append(r)
                // `sn` only shrinks along a path: find the verified path's step at this level.
                while j < sns.count && sns[j] > sn { j += 1 }
                if j < sns.count, sns[j] == sn, fns[j] == fn, hashes[j] == r, p[(k + 1)...].elementsEqual(proof[(j + 1)...]) {
                    // Same node, same remaining hashes: the rest is the verified computation.
                    fns = newFns + fns[(j + 1)...]
                    sns = newSns + sns[(j + 1)...]
                    hashes = newHashes + hashes[(j + 1)...]
                    proof = p
                    return
                }
            }
            guard sn == 0 else { throw Merkle.inclusionLengthError(p.count, index, size) }
            guard r == root else {
                throw TrailError(.rootMismatch, "inclusion proof for leaf \(index) leads to root \(r.hex), expected \(root.hex) at size \(size)")
            }
            (fns, sns, hashes, proof) = (newFns, newSns, newHashes, p)
        }
    }

    // MARK: Consistency proofs (RFC 9162 section 2.1.4)

    /// PROOF(from, D[to]) (RFC 9162 section 2.1.4.1). `0 < from <= to`; `from == to` gives `[]`.
    public static func consistencyProof(from: UInt64, to: UInt64, node: NodeAccessor) throws(TrailError) -> [Bytes32] {
        try checkSizes(from, to)
        var proof: [Bytes32] = []
        try subproof(from, 0, to, true, node, &proof)
        return proof
    }

    public static func consistencyProof(from: UInt64, to: UInt64, leaf: @escaping LeafAccessor) throws(TrailError) -> [Bytes32] {
        try consistencyProof(from: from, to: to, node: nodes(fromLeaves: leaf))
    }

    /// SUBPROOF(m, D[lo:hi], b) with `m` counted from `lo`'s tree start (absolute: the old tree is D[0:m]).
    private static func subproof(
        _ m: UInt64, _ lo: UInt64, _ hi: UInt64, _ b: Bool, _ node: NodeAccessor, _ out: inout [Bytes32]
    ) throws(TrailError) {
        if m == hi {
            if !b { out.append(try subtreeRoot(start: lo, end: hi, node: node)) }
            return
        }
        let mid = lo + split(hi - lo)
        if m <= mid {
            try subproof(m, lo, mid, b, node, &out)
            out.append(try subtreeRoot(start: mid, end: hi, node: node))
        } else {
            try subproof(m, mid, hi, false, node, &out)
            out.append(try subtreeRoot(start: lo, end: mid, node: node))
        }
    }

    /// The number of hashes in PROOF(from, D[to]); `0 < from <= to`.
    public static func consistencyProofLength(from: UInt64, to: UInt64) -> Int {
        precondition(from > 0 && from <= to)
        return subtreeConsistencyShape(start: 0, end: from, size: to).length
    }

    /// RFC 9162 section 2.1.4.2: the tree of `from` leaves with root `oldRoot` is a prefix of the
    /// tree of `to` leaves with root `newRoot`. Requires `0 < from <= to`; equal sizes need an empty
    /// proof and equal roots.
    public static func verifyConsistency(
        from: UInt64, to: UInt64, proof: [Bytes32], oldRoot: Bytes32, newRoot: Bytes32
    ) throws(TrailError) {
        try checkSizes(from, to)
        if from == to {
            guard proof.isEmpty else {
                throw TrailError(.wrongProofLength, "consistency proof between equal sizes \(from) must be empty, has \(proof.count) hashes")
            }
            guard oldRoot == newRoot else {
                throw TrailError(.rootMismatch, "roots differ at the same size \(from): \(oldRoot.hex) and \(newRoot.hex)")
            }
            return
        }
        // Step 1.
        guard !proof.isEmpty else { throw consistencyLengthError(0, from, to) }
        // Step 2.
        let path = from & (from - 1) == 0 ? [oldRoot] + proof : proof
        // Steps 3-4.
        var fn = from - 1
        var sn = to - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        // Step 5.
        var fr = path[0]
        var sr = path[0]
        // Step 6.
        for c in path.dropFirst() {
            guard sn != 0 else { throw consistencyLengthError(proof.count, from, to) }
            if fn & 1 == 1 || fn == sn {
                fr = SHA256.nodeHash(c, fr)
                sr = SHA256.nodeHash(c, sr)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                sr = SHA256.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        // Step 7.
        guard sn == 0 else { throw consistencyLengthError(proof.count, from, to) }
        guard fr == oldRoot else {
            throw TrailError(.rootMismatch, "consistency proof \(from)->\(to) leads to old root \(fr.hex), expected \(oldRoot.hex)")
        }
        guard sr == newRoot else {
            throw TrailError(.rootMismatch, "consistency proof \(from)->\(to) leads to new root \(sr.hex), expected \(newRoot.hex)")
        }
    }

    private static func checkSizes(_ from: UInt64, _ to: UInt64) throws(TrailError) {
        guard from <= to else { throw TrailError(.invalidTreeRange, "old tree size \(from) is larger than new tree size \(to)") }
        guard from > 0 else { throw TrailError(.invalidTreeRange, "consistency proofs start from a non-empty tree (old size is 0)") }
    }

    private static func consistencyLengthError(_ got: Int, _ from: UInt64, _ to: UInt64) -> TrailError {
        TrailError(.wrongProofLength, "consistency proof \(from)->\(to) has \(got) hashes, expected \(consistencyProofLength(from: from, to: to))")
    }

    // MARK: Subtrees (the Merkle Tree Certificates draft's extension of RFC 9162)

    /// A subtree `[start, end)` is valid when `start` is a multiple of the smallest power of two
    /// that is at least `end - start`; its hash is MTH(D[start:end]) and it is a node of the tree of
    /// `end` leaves. Empty ranges are valid.
    public static func isValidSubtree(start: UInt64, end: UInt64) -> Bool {
        guard start <= end else { return false }
        let n = end - start
        if n <= 1 { return true }
        let bits = 64 - (n - 1).leadingZeroBitCount  // ceil(log2(n))
        if bits == 64 { return start == 0 }
        return start & ((UInt64(1) << UInt64(bits)) - 1) == 0
    }

    private static func checkSubtree(_ start: UInt64, _ end: UInt64, nonEmpty: Bool) throws(TrailError) {
        guard isValidSubtree(start: start, end: end) else {
            throw TrailError(.invalidTreeRange, "[\(start), \(end)) is not a valid subtree")
        }
        guard !nonEmpty || start < end else { throw TrailError(.invalidTreeRange, "subtree [\(start), \(end)) is empty") }
    }

    /// The inclusion proof of leaf `index` in the subtree `[start, end)`: PATH(index - start, D[start:end]).
    public static func subtreeInclusionProof(
        index: UInt64, start: UInt64, end: UInt64, node: NodeAccessor
    ) throws(TrailError) -> [Bytes32] {
        try checkSubtree(start, end, nonEmpty: true)
        guard start <= index && index < end else {
            throw TrailError(.indexOutOfRange, "leaf index \(index) is outside subtree [\(start), \(end))")
        }
        var proof: [Bytes32] = []
        try path(index, start, end, node, &proof)
        return proof
    }

    /// `leafHash` is leaf `index` of the subtree `[start, end)` whose hash is `subtreeRoot`.
    public static func verifySubtreeInclusion(
        index: UInt64, start: UInt64, end: UInt64, leafHash: Bytes32, proof: [Bytes32], subtreeRoot: Bytes32
    ) throws(TrailError) {
        try checkSubtree(start, end, nonEmpty: true)
        guard start <= index && index < end else {
            throw TrailError(.indexOutOfRange, "leaf index \(index) is outside subtree [\(start), \(end))")
        }
        let computed = try rootFromInclusionProof(index: index - start, size: end - start, leafHash: leafHash, proof: proof)
        guard computed == subtreeRoot else {
            throw TrailError(.rootMismatch, "inclusion proof for leaf \(index) leads to subtree hash \(computed.hex), expected \(subtreeRoot.hex)")
        }
    }

    /// SUBTREE_PROOF(start, end, D[size]): proves the subtree `[start, end)` is part of the tree of
    /// `size` leaves. With `start == 0` this is RFC 9162's PROOF(end, D[size]).
    public static func subtreeConsistencyProof(
        start: UInt64, end: UInt64, size: UInt64, node: NodeAccessor
    ) throws(TrailError) -> [Bytes32] {
        try checkSubtree(start, end, nonEmpty: false)
        guard end <= size else { throw TrailError(.invalidTreeRange, "subtree [\(start), \(end)) ends after tree size \(size)") }
        if start == end { return [] }
        var proof: [Bytes32] = []
        try subtreeSubproof(start, end, 0, size, true, node, &proof)
        return proof
    }

    /// SUBTREE_SUBPROOF in absolute positions: the subtree `[s, e)` within the node D[lo:hi].
    private static func subtreeSubproof(
        _ s: UInt64, _ e: UInt64, _ lo: UInt64, _ hi: UInt64, _ known: Bool, _ node: NodeAccessor, _ out: inout [Bytes32]
    ) throws(TrailError) {
        if s == lo && e == hi {
            if !known { out.append(try subtreeRoot(start: lo, end: hi, node: node)) }
            return
        }
        let mid = lo + split(hi - lo)
        if e <= mid {
            try subtreeSubproof(s, e, lo, mid, known, node, &out)
            out.append(try subtreeRoot(start: mid, end: hi, node: node))
        } else if mid <= s {
            try subtreeSubproof(s, e, mid, hi, known, node, &out)
            out.append(try subtreeRoot(start: lo, end: mid, node: node))
        } else {
            // s == lo for a valid subtree: its left half is D[lo:mid], the rest continues on the right.
            try subtreeSubproof(mid, e, mid, hi, false, node, &out)
            out.append(try subtreeRoot(start: lo, end: mid, node: node))
        }
    }

    /// How a subtree consistency proof is laid out, derived from the sizes alone: whether it starts
    /// with a node hash the verifier does not know, then one step per level, bottom-up.
    private enum Step { case pathLeft, pathRight, splitSubtree }

    private static func subtreeConsistencyShape(start: UInt64, end: UInt64, size: UInt64) -> (seeded: Bool, steps: [Step], length: Int) {
        var (s, lo, hi) = (start, UInt64(0), size)
        var known = true
        var steps: [Step] = []
        while !(s == lo && end == hi) {
            let mid = lo + split(hi - lo)
            if end <= mid {
                steps.append(.pathLeft)
                hi = mid
            } else if mid <= s {
                steps.append(.pathRight)
                lo = mid
            } else {
                steps.append(.splitSubtree)
                (s, lo) = (mid, mid)
                known = false
            }
        }
        steps.reverse()
        return (!known, steps, steps.count + (known ? 0 : 1))
    }

    /// Verifies SUBTREE_PROOF(start, end, D[size]): the subtree `[start, end)` with hash
    /// `subtreeRoot` is part of the tree of `size` leaves with root `root`. The proof's layout is
    /// fixed by the three sizes; the hashes are folded bottom-up into both the subtree hash and the
    /// tree root. An empty subtree needs an empty proof and the empty hash (the root is not used).
    public static func verifySubtreeConsistency(
        start: UInt64, end: UInt64, size: UInt64, proof: [Bytes32], subtreeRoot: Bytes32, root: Bytes32
    ) throws(TrailError) {
        try checkSubtree(start, end, nonEmpty: false)
        guard end <= size else { throw TrailError(.invalidTreeRange, "subtree [\(start), \(end)) ends after tree size \(size)") }
        if start == end {
            guard proof.isEmpty else {
                throw TrailError(.wrongProofLength, "consistency proof for an empty subtree must be empty, has \(proof.count) hashes")
            }
            guard subtreeRoot == emptyRoot else {
                throw TrailError(.rootMismatch, "empty subtree hash must be \(emptyRoot.hex), got \(subtreeRoot.hex)")
            }
            return
        }
        let shape = subtreeConsistencyShape(start: start, end: end, size: size)
        guard proof.count == shape.length else {
            throw TrailError(.wrongProofLength, "consistency proof for subtree [\(start), \(end)) in size \(size) has \(proof.count) hashes, expected \(shape.length)")
        }
        var hashes = proof[...]
        var sub = subtreeRoot
        var node = subtreeRoot
        if shape.seeded {
            sub = hashes.removeFirst()
            node = sub
        }
        for (step, c) in zip(shape.steps, hashes) {
            switch step {
            case .pathLeft: node = SHA256.nodeHash(node, c)
            case .pathRight: node = SHA256.nodeHash(c, node)
            case .splitSubtree:
                node = SHA256.nodeHash(c, node)
                sub = SHA256.nodeHash(c, sub)
            }
        }
        guard sub == subtreeRoot else {
            throw TrailError(.rootMismatch, "consistency proof leads to subtree hash \(sub.hex), expected \(subtreeRoot.hex)")
        }
        guard node == root else {
            throw TrailError(.rootMismatch, "consistency proof leads to root \(node.hex), expected \(root.hex) at size \(size)")
        }
    }

    // MARK: Helpers

    /// The largest power of two smaller than `n` (RFC 9162's k), for `n >= 2`.
    @inline(__always)
    static func split(_ n: UInt64) -> UInt64 {
        UInt64(1) << UInt64(63 - (n - 1).leadingZeroBitCount)
    }
}

/// The right border of a growing log: one complete subtree root per set bit of `size`, largest
/// (leftmost) first. Appending costs amortised O(1) hashes, `root` O(log n); nothing else is kept.
public struct MerkleFrontier: Hashable, Sendable {
    public private(set) var size: UInt64
    /// Roots of the complete subtrees that make up the tree, left to right (decreasing size).
    public private(set) var nodes: [Bytes32]

    public init() {
        size = 0
        nodes = []
    }

    /// Restores a frontier from stored border hashes; `nodes.count` must equal the number of set bits of `size`.
    public init(size: UInt64, nodes: [Bytes32]) throws(TrailError) {
        guard nodes.count == size.nonzeroBitCount else {
            throw TrailError(.invalidTreeSize, "a tree of \(size) leaves has \(size.nonzeroBitCount) border nodes, got \(nodes.count)")
        }
        self.size = size
        self.nodes = nodes
    }

    /// Rebuilds the frontier of the first `size` leaves from complete-subtree hashes.
    public init(size: UInt64, node: Merkle.NodeAccessor) throws(TrailError) {
        var nodes: [Bytes32] = []
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size & (UInt64(1) << UInt64(level)) != 0 {
            nodes.append(try node(MerkleNode(level: level, index: start >> UInt64(level))))
            start += UInt64(1) << UInt64(level)
        }
        self.size = size
        self.nodes = nodes
    }

    /// The border nodes as `MerkleNode`s, matching `nodes`.
    public var borderNodes: [MerkleNode] {
        var out: [MerkleNode] = []
        var start: UInt64 = 0
        for level in stride(from: 63, through: 0, by: -1) where size & (UInt64(1) << UInt64(level)) != 0 {
            out.append(MerkleNode(level: level, index: start >> UInt64(level)))
            start += UInt64(1) << UInt64(level)
        }
        return out
    }

    /// Appends a leaf hash.
    public mutating func append(_ leafHash: Bytes32) {
        append(leafHash) { _, _ in }
    }

    /// Appends a leaf hash, reporting every complete subtree it finishes (the leaf itself at level 0
    /// first, then each larger one), so a store can cache them.
    public mutating func append(_ leafHash: Bytes32, completed: (MerkleNode, Bytes32) -> Void) {
        precondition(size < UInt64.max, "Merkle log is full")
        var hash = leafHash
        var level = 0
        completed(MerkleNode(level: 0, index: size), hash)
        while size & (UInt64(1) << UInt64(level)) != 0 {
            hash = SHA256.nodeHash(nodes.removeLast(), hash)
            level += 1
            completed(MerkleNode(level: level, index: size >> UInt64(level)), hash)
        }
        nodes.append(hash)
        size += 1
    }

    /// MTH of the tree so far: the border folded right to left.
    public var root: Bytes32 {
        guard var r = nodes.last else { return Merkle.emptyRoot }
        for n in nodes.dropLast().reversed() { r = SHA256.nodeHash(n, r) }
        return r
    }
}

/// The size and root of a log's Merkle tree.
public struct TreeHead: Sendable, Hashable {
    public var size: UInt64
    public var root: Bytes32
    public init(size: UInt64, root: Bytes32) {
        self.size = size
        self.root = root
    }
}
