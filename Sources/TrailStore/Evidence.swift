import TrailCore

extension ChainStore {
    /// Equivocation evidence by entry hash: the encoded entry, if some signer's evidence holds
    /// an entry with this hash. Evidence is rare and not indexed by hash, so this scans the
    /// evidence database (its keys end with the entry hash); the log's own entries are found
    /// through `index(ofHash:)` first.
    public func evidence(ofHash hash: Bytes32) throws -> [UInt8]? {
        try environment.read { (txn) in
            var found: [UInt8]?
            try txn.scan(equivocations, from: UnsafeRawBufferPointer(start: nil, count: 0)) { k, v in
                if k.count == 72, Bytes32(unsafe: UnsafeRawBufferPointer(rebasing: k[40..<72])) == hash {
                    found = Array(v)
                    return false
                }
                return true
            }
            return found
        }
    }
}
