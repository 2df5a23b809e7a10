// Shared by every harness in Tests/Fuzz (compiled into each one by Tests/Fuzz/build.sh).
@testable import TrailCore

/// The fuzzer's input as an array (libFuzzer passes a null pointer for the empty input).
func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Stops the run with a message libFuzzer shows next to the crashing input: an invariant is broken.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError("invariant broken: \(message())", file: file, line: line) }
}

/// Every code in TrailError.Code (and in protocol/SPEC.md).
let knownCodes = Set(TrailError.Code.names.keys)

/// Entry decode codes (SPEC 1.6): what `EntryCodec.decode` may throw.
let entryDecodeCodes: Set<UInt16> = Set(1...13)
/// What decoding and then verifying an entry may throw.
let entryCodes: Set<UInt16> = entryDecodeCodes.union([20, 21])
/// Merkle proofs, signed notes, checkpoints and tlog-proof texts.
let proofCodes: Set<UInt16> = Set(30...42)

/// A thrown error must be a TrailError whose code is known and in `allowed`, with a reason.
func checkRejection(_ error: TrailError, _ allowed: Set<UInt16>, _ what: String) {
    check(knownCodes.contains(error.code.rawValue), "\(what): unknown code \(error.code.rawValue): \(error.reason)")
    check(allowed.contains(error.code.rawValue), "\(what): code \(error.code) not expected here: \(error.reason)")
    check(!error.reason.isEmpty, "\(what): \(error.code) without a reason")
}

/// The key that signs the checkpoints in protocol/vectors/bundles.json.
let vectorLogKey = try! NoteVerifierKey("agenttrail.local/0123456789abcdef+ddc65966+AYmuUc/KgJIB+Yif+L0pWJQOv1Qv9dEEq/qIu5d8FZsv")

/// The log key of the seeds that Tests/Fuzz/seeds.py signs itself (disclosures with a proof):
/// seed 32 bytes of 0x42, key name `fuzz.example/log`.
let fuzzLogKey = try! NoteVerifierKey(
    name: "fuzz.example/log", publicKey: SigningKey(seed: Bytes32([UInt8](repeating: 0x42, count: 32))!).publicKey)
