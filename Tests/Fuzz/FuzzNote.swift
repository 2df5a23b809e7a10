// Signed notes, checkpoints, chain statements and verifier keys from outside (`GET /v1/checkpoint`,
// bundles, `--log-key`): SignedNote.parse, Checkpoint.parse/open, ChainStatement.parse/open,
// NoteVerifierKey.
@testable import TrailCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNote(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = input(data, size)
    let text = String(decoding: bytes, as: UTF8.self)

    // A verifier key line (also the first line of any input).
    let keyLine = String(decoding: bytes.prefix(while: { $0 != 0x0a }), as: UTF8.self)
    do {
        let key = try NoteVerifierKey(keyLine)
        // The key ID's hex digits may be either case; everything else has one spelling.
        var parts = keyLine.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        parts[1] = parts[1].lowercased()
        check(key.description == parts.joined(separator: "+"), "key \(keyLine) prints as \(key)")
        let again = try NoteVerifierKey(key.description)
        check(again == key && again.keyID == key.keyID, "key does not round-trip")
    } catch {
        checkRejection(error, [38], "verifier key")
    }

    let note: SignedNote
    do { note = try SignedNote.parse(bytes) } catch {
        checkRejection(error, [34], "note")
        // Opening must fail the same way.
        do {
            _ = try Checkpoint.open(note: bytes, verifierKey: vectorLogKey)
            check(false, "checkpoint opens from a note that does not parse")
        } catch {
            check(error.code == .malformedNote, "open answers \(error) for an unparseable note")
        }
        bodies(text)
        return 0
    }
    // The envelope re-assembles to exactly the input.
    var again = note.text + "\n"
    for s in note.signatures {
        let id = [UInt8(s.keyID >> 24), UInt8((s.keyID >> 16) & 0xff), UInt8((s.keyID >> 8) & 0xff), UInt8(s.keyID & 0xff)]
        again += "\u{2014} \(s.name) \(Base64.encode(id + s.signature))\n"
    }
    check(Array(again.utf8) == bytes, "note re-assembles to other bytes")
    check(!note.signatures.isEmpty && note.signatures.count <= SignedNote.maxSignatures, "signature count")
    check(note.text.hasSuffix("\n"), "note text without its newline")

    for key in [vectorLogKey, fuzzLogKey] {
        do {
            let cp = try Checkpoint.open(note: bytes, verifierKey: key)
            check(cp.origin == key.name, "opened checkpoint of another origin")
            check(cp.body == note.text, "opened checkpoint's body differs from the note text")
        } catch {
            checkRejection(error, proofCodes, "open checkpoint")
        }
        do {
            let st = try ChainStatement.open(note: text, verifierKey: key)
            check(st.body == note.text, "opened statement's body differs from the note text")
        } catch {
            checkRejection(error, proofCodes.union([51]), "open statement")
        }
    }
    bodies(note.text)
    return 0
}

/// The note text as a checkpoint body and as a chain statement body: canonical, so what parses
/// prints back as exactly the text.
func bodies(_ text: String) {
    do {
        let cp = try Checkpoint.parse(body: text)
        check(cp.body == text, "checkpoint body \(String(reflecting: text)) prints as \(String(reflecting: cp.body))")
    } catch {
        checkRejection(error, [35, 36, 37], "checkpoint body")
    }
    do {
        let st = try ChainStatement.parse(body: text)
        check(st.body == text, "statement body \(String(reflecting: text)) prints as \(String(reflecting: st.body))")
        check(st.from <= st.through && st.through <= st.headSeq, "statement range")
    } catch {
        checkRejection(error, [51], "statement body")
    }
}
