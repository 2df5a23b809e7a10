// Proof bundles from outside (`trail verify bundle`): BundleLayout.parse, ProofBundle.decode and
// BundleVerifier.verify against the key of protocol/vectors/bundles.json.
@testable import TrailCore

/// Everything the verifier may answer: entry codes, proof and note codes, bundle codes.
let bundleCodes = entryCodes.union(proofCodes).union(50...60)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBundle(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = input(data, size)
    let bundle: ProofBundle
    do { bundle = try ProofBundle.decode(bytes) } catch {
        checkRejection(error, [50], "decode")
        // The verifier must fail the layout with the same answer.
        do {
            _ = try BundleVerifier.verify(bytes, trustedKey: vectorLogKey, threads: 1)
            check(false, "verifier accepts a bundle whose layout does not decode")
        } catch {
            check(error.error.code == .malformedBundle && error.record == nil, "layout failure answered \(error.error)")
        }
        return 0
    }
    // One encoding per bundle.
    check(bundle.encode() == bytes, "decoded bundle re-encodes to other bytes")
    for r in bundle.records {
        check(r.entry.count >= ProofBundle.minEntrySize && r.entry.count <= EntryLimits.maxEntrySize, "record size")
        check(r.proof.count <= ProofBundle.maxProof, "proof length")
    }
    do {
        let summary = try BundleVerifier.verify(bytes, trustedKey: vectorLogKey, threads: 1)
        // A valid bundle: its records are exactly the statement's range, each a valid entry of the signer.
        check(summary.entries == bundle.records.count, "summary counts \(summary.entries) of \(bundle.records.count)")
        check(UInt64(summary.entries) == summary.statement.through - summary.statement.from + 1, "range and count")
        check(summary.statement.treeSize == summary.checkpoint.size, "tree sizes")
        for (i, r) in bundle.records.enumerated() {
            guard let e = try? EntryCodec.decodeVerified(r.entry) else { check(false, "record \(i) is not a valid entry"); return 0 }
            check(e.signer == summary.statement.signer && e.seq == summary.statement.from + UInt64(i), "record \(i) seq/signer")
            check(r.index < summary.checkpoint.size, "record \(i) index past the tree")
        }
    } catch {
        checkRejection(error.error, bundleCodes, "verify")
        if let record = error.record { check(record >= 0 && record < bundle.records.count, "failure names record \(record)") }
    }
    return 0
}
