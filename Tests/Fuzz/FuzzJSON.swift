// JSON from outside: the `--body-json` form of a body and the JSON form of a whole entry
// (EntryJSON, over Foundation's parser), and StrictJSON, the reader of disclosure documents.
// The first byte picks the kind (and whole entry vs. body); the rest is the JSON text.
import Foundation
@testable import TrailCore

/// A fixed signer for bodies that encode.
let signer = SigningKey(seed: Bytes32([UInt8](repeating: 7, count: 32))!)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let all = input(data, size)
    guard let selector = all.first else { return 0 }
    let text = Array(all.dropFirst())
    strict(text)

    let object: [String: Any]
    do { object = try EntryJSON.parseObject(text) } catch {
        checkRejection(error, [204], "parseObject")
        return 0
    }
    let kind = EntryKind.allCases[Int(selector & 0x7f) % EntryKind.allCases.count]
    if selector & 0x80 == 0 {
        body(kind, object)
    } else {
        entry(object)
    }
    return 0
}

/// What EntryJSON may answer (JSON shape, version, kind, enums).
let jsonCodes: Set<UInt16> = [3, 4, 9, 204]
/// What encoding a parsed body may answer: the limits of SPEC 1.4 and 1.5.
let encodeCodes: Set<UInt16> = [5, 6, 10, 11, 12, 13]

func body(_ kind: EntryKind, _ object: [String: Any]) {
    let b: EntryBody
    do { b = try EntryJSON.body(kind, object) } catch {
        checkRejection(error, jsonCodes, "body")
        return
    }
    check(b.kind == kind, "asked for \(kind), got \(b.kind)")
    // As `trail entry new --body-json` does: the body goes into a signed entry.
    let u = UnsignedEntry(signer: signer.publicKey, seq: 0, timestampMs: 1, prev: .zero, body: b)
    let e: Entry
    do { e = try EntryCodec.sign(u, with: signer) } catch {
        checkRejection(error, encodeCodes, "sign")
        return
    }
    roundTrip(e)
}

func entry(_ object: [String: Any]) {
    let u: UnsignedEntry
    let signature: Signature64?
    do { (u, signature) = try EntryJSON.unsignedEntry(object) } catch {
        checkRejection(error, jsonCodes, "unsignedEntry")
        return
    }
    do {
        let e = try EntryCodec.assemble(u, signature: signature ?? Signature64([UInt8](repeating: 0, count: 64))!)
        roundTrip(e)
    } catch {
        checkRejection(error, encodeCodes, "assemble")
    }
}

/// Whatever we encode decodes to the same entry, and its JSON form parses back to the same body.
func roundTrip(_ e: Entry) {
    let decoded: Entry
    do { decoded = try EntryCodec.decode(e.encoded) } catch {
        check(false, "an entry we encoded does not decode: \(error)")
        return
    }
    check(decoded == e, "decoded entry differs from the one encoded")
    let json = Array(EntryJSON.serialize(EntryJSON.object(e)).utf8)
    do {
        let (u, sig) = try EntryJSON.unsignedEntry(try EntryJSON.parseObject(json))
        check(u == e.unsigned && sig == e.signature, "JSON form does not parse back to the entry")
    } catch {
        check(false, "the JSON form we print does not parse: \(error)")
    }
}

/// StrictJSON: what parses prints (below) and parses back to the same value.
func strict(_ text: [UInt8]) {
    guard let v = try? StrictJSON.parse(text) else { return }
    let printed = Array(print(v).utf8)
    guard let again = try? StrictJSON.parse(printed) else {
        check(false, "StrictJSON rejects its own value printed: \(String(decoding: printed, as: UTF8.self))")
        return
    }
    check(again == v, "StrictJSON value changes when printed and parsed again")
}

func print(_ v: StrictJSON.Value) -> String {
    switch v {
    case .object(let m): return "{" + m.keys.sorted().map { quote($0) + ":" + print(m[$0]!) }.joined(separator: ",") + "}"
    case .array(let a): return "[" + a.map(print).joined(separator: ",") + "]"
    case .string(let s): return quote(s)
    case .number(let n): return n
    case .bool(let b): return b ? "true" : "false"
    case .null: return "null"
    }
}

func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20: out += "\\u00" + Hex.encode([UInt8(u.value)])
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
