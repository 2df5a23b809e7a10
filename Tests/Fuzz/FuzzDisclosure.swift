// Disclosure documents from outside (`trail verify disclosure`): Disclosure.verify with and without
// the log key of the seeds (Tests/Fuzz/seeds.py).
@testable import TrailCore

let disclosureCodes = entryCodes.union(proofCodes).union(80...83)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDisclosure(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = input(data, size)
    let unchecked: Disclosure.Summary
    do { unchecked = try Disclosure.verify(bytes, logKey: nil) } catch {
        checkRejection(error, disclosureCodes, "verify without a key")
        // A key only adds checks: the document fails with it too, with the same answer.
        do {
            _ = try Disclosure.verify(bytes, logKey: fuzzLogKey)
            check(false, "a document rejected without a key verifies with one")
        } catch let withKey {
            check(withKey.code == error.code, "without a key \(error.code), with one \(withKey.code)")
        }
        return 0
    }
    check(unchecked.proof == .absent || unchecked.proof == .unchecked, "no key, yet the proof is \(unchecked.proof)")
    check(Set(unchecked.fields).count == unchecked.fields.count, "a field disclosed twice was accepted")
    for f in unchecked.fields { check(f.value(in: unchecked.entry.body) != nil, "\(f) accepted but not in the entry") }
    // The document as we would write it again verifies to the same summary.
    let parsed: Disclosure.Parsed
    do { parsed = try Disclosure.Parsed(bytes) } catch { check(false, "verified, yet does not parse: \(error)"); return 0 }
    let rewritten = Disclosure(entry: unchecked.entry, items: parsed.items, proof: parsed.proof).encode()
    do {
        let again = try Disclosure.verify(rewritten, logKey: nil)
        check(again.entry == unchecked.entry && again.fields == unchecked.fields && again.proof == unchecked.proof, "rewritten document differs")
    } catch {
        check(false, "rewritten document does not verify: \(error)")
    }
    do {
        let checked = try Disclosure.verify(bytes, logKey: fuzzLogKey)
        guard case .verified(let index, let cp) = checked.proof else {
            check(checked.proof == .absent, "a key was given, yet the proof is \(checked.proof)")
            return 0
        }
        check(index < cp.size, "verified index outside the tree")
    } catch {
        check(unchecked.proof == .unchecked, "only a proof can fail with a key: \(error)")
        checkRejection(error, proofCodes, "verify with a key")
    }
    return 0
}
