// Entries from outside (APPEND frames, bundles, `trail entry inspect`): EntryCodec.decode, then verify.
@testable import TrailCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = input(data, size)
    let entry: Entry
    do { entry = try EntryCodec.decode(bytes) } catch {
        checkRejection(error, entryDecodeCodes, "decode")
        return 0
    }
    // The decoded entry keeps the input as its encoding, and its fields re-encode to exactly
    // that input: one encoding per entry, so nothing is ever re-serialised differently.
    check(entry.encoded == bytes, "decoded entry does not keep its bytes")
    do {
        let again = try EntryCodec.assemble(entry.unsigned, signature: entry.signature)
        check(again.encoded == bytes, "fields re-encode to other bytes")
    } catch {
        check(false, "a decoded entry does not re-encode: \(error)")
    }
    check(entry.signedCount == bytes.count - EntryLimits.signatureTrailer, "signed part")
    check(entry.hash == SHA256.leafHash(bytes), "entry hash")
    // Verification: valid, or a signature (20) or proof-of-possession (21) failure; never both answers.
    let verified: Bool
    do {
        try EntryCodec.verify(entry)
        verified = true
    } catch {
        checkRejection(error, [20, 21], "verify")
        verified = false
    }
    do {
        let e2 = try EntryCodec.decodeVerified(bytes)
        check(verified && e2 == entry, "decodeVerified accepts what verify rejects")
    } catch {
        check(!verified, "decodeVerified rejects what verify accepts: \(error)")
    }
    return 0
}
