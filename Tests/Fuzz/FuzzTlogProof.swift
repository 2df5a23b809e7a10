// C2SP tlog-proof@v1 texts from outside (`trail verify proof`, disclosures): TlogProof.parse and
// verify. The seeds carry the leaf hash they prove as their `extra` data (Tests/Fuzz/seeds.py),
// so valid seeds verify all the way; other inputs prove SHA-256 of nothing.
@testable import TrailCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTlogProof(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = input(data, size)
    let proof: TlogProof
    do { proof = try TlogProof.parse(bytes) } catch {
        checkRejection(error, [32, 34, 37, 42], "parse")
        return 0
    }
    // One spelling per proof text: it prints back as exactly the input.
    check(Array(proof.text.utf8) == bytes, "proof text re-encodes to other bytes")
    check(proof.proof.count <= 64, "proof of \(proof.proof.count) hashes")
    check(proof.extra.map { !$0.isEmpty } ?? true, "empty extra data")
    let leaf = proof.extra.flatMap { Bytes32($0) } ?? SHA256.hash([])
    for key in [vectorLogKey, fuzzLogKey] {
        do {
            let cp = try proof.verify(leafHash: leaf, verifierKey: key)
            check(proof.index < cp.size, "verified index \(proof.index) outside a tree of \(cp.size)")
            // The same proof for another leaf must fail.
            var other = leaf.bytes
            other[0] ^= 1
            do {
                _ = try proof.verify(leafHash: Bytes32(other)!, verifierKey: key)
                check(false, "one proof verifies two leaves")
            } catch {
                check(error.code == .rootMismatch, "another leaf answered \(error)")
            }
        } catch {
            checkRejection(error, proofCodes, "verify")
        }
    }
    return 0
}
