/// Limits of the entry format (protocol/SPEC.md section 1.4 and 1.5).
public enum EntryLimits {
    public static let maxEntrySize = 16384
    public static let headerSize = 86
    public static let signatureTrailer = 66
    public static let actionType = 64
    public static let target = 512
    public static let modelID = 128
    public static let tools = 32
    public static let toolName = 64
    public static let dataClass = 32
    public static let stages = 64
    public static let stageLabel = 64
    public static let label = 128
    public static let policyList = 64
    public static let policyAction = 64
    public static let policyTarget = 256
    public static let description = 1024
}

/// Encodes, signs, decodes and verifies entries exactly as protocol/SPEC.md section 1 says.
public enum EntryCodec {
    /// Domain separation prefix of the entry signature.
    public static let signingDomain: [UInt8] = Array("AgentTrail/entry/v1".utf8) + [0]

    // MARK: Encoding

    /// The bytes covered by the signature: version through body. Fails if a field breaks a limit,
    /// so that nothing we sign is something we would reject.
    public static func encodeUnsigned(_ e: UnsignedEntry) throws(TrailError) -> [UInt8] {
        var body = ByteWriter()
        try encodeBody(e.body, into: &body)
        var w = ByteWriter(capacity: EntryLimits.headerSize + 4 + body.bytes.count + EntryLimits.signatureTrailer)
        w.u8(Entry.version)
        w.u8(e.body.kind.rawValue)
        w.bytes32(e.signer)
        w.u64(e.seq)
        w.u64(e.timestampMs)
        w.bytes32(e.prev)
        w.u32(UInt32(body.bytes.count))
        w.raw(body.bytes)
        guard w.bytes.count + EntryLimits.signatureTrailer <= EntryLimits.maxEntrySize else {
            throw TrailError(.entryTooLarge, "entry would be \(w.bytes.count + 66) bytes, limit \(EntryLimits.maxEntrySize)")
        }
        if e.seq == 0 && !e.prev.isZero { throw TrailError(.invalidPrev, "seq 0 requires an all-zero prev") }
        if e.seq > 0 && e.prev.isZero { throw TrailError(.invalidPrev, "seq > 0 requires the previous entry's hash") }
        return w.bytes
    }

    /// Encodes and signs an entry. The signer field must be the key's public key.
    public static func sign(_ e: UnsignedEntry, with key: SigningKey) throws(TrailError) -> Entry {
        guard e.signer == key.publicKey else {
            throw TrailError(.invalidArgument, "the entry's signer is not the signing key")
        }
        let bytes = try encodeUnsigned(e)
        return finish(e, bytes, signature: key.sign(prefix: signingDomain, bytes))
    }

    /// Assembles an entry from its parts and a signature produced elsewhere (no check here).
    public static func assemble(_ e: UnsignedEntry, signature: Signature64) throws(TrailError) -> Entry {
        finish(e, try encodeUnsigned(e), signature: signature)
    }

    /// Appends `sig_len` and the signature to the unsigned bytes.
    static func finish(_ e: UnsignedEntry, _ unsigned: [UInt8], signature: Signature64) -> Entry {
        var bytes = unsigned
        bytes.append(0)
        bytes.append(64)
        bytes.append(contentsOf: signature.bytes)
        return Entry(
            signer: e.signer, seq: e.seq, timestampMs: e.timestampMs, prev: e.prev, body: e.body,
            signature: signature, encoded: bytes)
    }

    static func checkString(_ s: String, _ what: String, min: Int, max: Int) throws(TrailError) {
        let n = s.utf8.count
        if n > max { throw TrailError(.lengthExceedsLimit, "\(what) is \(n) bytes, limit \(max)") }
        if n < min { throw TrailError(.emptyField, "\(what) must not be empty") }
    }

    static func checkList(_ l: [String], _ what: String, min: Int, max: Int, itemMax: Int) throws(TrailError) {
        if l.count > max { throw TrailError(.lengthExceedsLimit, "\(what) has \(l.count) items, limit \(max)") }
        if l.count < min { throw TrailError(.emptyField, "\(what) must not be empty") }
        for s in l { try checkString(s, what, min: 1, max: itemMax) }
    }

    static func writeList(_ l: [String], _ w: inout ByteWriter) {
        w.u8(UInt8(l.count))
        for s in l { w.string(s) }
    }

    static func writeOptional(_ h: Bytes32?, _ w: inout ByteWriter) {
        if let h {
            w.u8(1)
            w.bytes32(h)
        } else {
            w.u8(0)
        }
    }

    static func encodeBody(_ body: EntryBody, into w: inout ByteWriter) throws(TrailError) {
        switch body {
        case .action(let a):
            try checkString(a.actionType, "action_type", min: 1, max: EntryLimits.actionType)
            try checkString(a.target, "target", min: 0, max: EntryLimits.target)
            w.string(a.actionType)
            w.string(a.target)
            w.bytes32(a.contentHash)
            var present: UInt8 = 0
            if a.inputHash != nil { present |= 1 << 0 }
            if a.outputHash != nil { present |= 1 << 1 }
            if a.modelID != nil { present |= 1 << 2 }
            if a.latencyMs != nil { present |= 1 << 3 }
            if a.tools != nil { present |= 1 << 4 }
            if a.dataClass != nil { present |= 1 << 5 }
            if a.requestCommitment != nil { present |= 1 << 6 }
            w.u8(present)
            w.u8(a.flags.rawValue)
            guard ActionFlags.all.isSuperset(of: a.flags) else {
                throw TrailError(.reservedBitsSet, "undefined action flag bits")
            }
            if let h = a.inputHash { w.bytes32(h) }
            if let h = a.outputHash { w.bytes32(h) }
            if let m = a.modelID {
                try checkString(m, "model_id", min: 1, max: EntryLimits.modelID)
                w.string(m)
            }
            if let l = a.latencyMs { w.u32(l) }
            if let t = a.tools {
                try checkList(t, "tools", min: 1, max: EntryLimits.tools, itemMax: EntryLimits.toolName)
                writeList(t, &w)
            }
            if let d = a.dataClass {
                try checkString(d, "data_class", min: 1, max: EntryLimits.dataClass)
                w.string(d)
            }
            if let r = a.requestCommitment { w.bytes32(r) }
        case .receipt(let r):
            guard r.stages.count <= EntryLimits.stages else {
                throw TrailError(.lengthExceedsLimit, "stages has \(r.stages.count) items, limit \(EntryLimits.stages)")
            }
            w.bytes32(r.requestCommitment)
            w.u8(r.outcome.rawValue)
            w.u64(r.startedMs)
            w.u32(r.totalMs)
            w.bytes32(r.traceCommitment)
            w.u8(UInt8(r.stages.count))
            for s in r.stages {
                try checkString(s.label, "stage label", min: 1, max: EntryLimits.stageLabel)
                w.string(s.label)
                w.u32(s.durationMs)
                w.u8(s.status.rawValue)
            }
        case .registration(let r):
            try checkString(r.label, "label", min: 0, max: EntryLimits.label)
            w.bytes32(r.agent)
            w.string(r.label)
            writeOptional(r.evidenceHash, &w)
            w.raw(r.agentSignature.bytes)
        case .policy(let p):
            guard p.version >= 1 else { throw TrailError(.invalidValue, "policy version must be 1 or more") }
            try checkList(p.allowActions, "allow_actions", min: 0, max: EntryLimits.policyList, itemMax: EntryLimits.policyAction)
            try checkList(p.denyActions, "deny_actions", min: 0, max: EntryLimits.policyList, itemMax: EntryLimits.policyAction)
            try checkList(p.allowTargets, "allow_targets", min: 0, max: EntryLimits.policyList, itemMax: EntryLimits.policyTarget)
            w.bytes32(p.agent)
            w.u32(p.version)
            w.bytes32(p.documentHash)
            writeList(p.allowActions, &w)
            writeList(p.denyActions, &w)
            writeList(p.allowTargets, &w)
            w.u32(p.maxPerMinute)
        case .report(let r):
            guard r.observedToMs >= r.observedFromMs else {
                throw TrailError(.invalidValue, "observed_to_ms is before observed_from_ms")
            }
            try checkString(r.description, "description", min: 0, max: EntryLimits.description)
            w.bytes32(r.subject)
            w.u8(r.category.rawValue)
            w.u8(r.severity.rawValue)
            w.u64(r.observedFromMs)
            w.u64(r.observedToMs)
            writeOptional(r.refEntry, &w)
            w.bytes32(r.evidenceHash)
            w.string(r.description)
        }
    }

    // MARK: Decoding

    /// Strictly decodes one entry. The result keeps `bytes` as its encoding. Does not verify
    /// signatures; see `verify`.
    public static func decode(_ bytes: [UInt8]) throws(TrailError) -> Entry {
        guard bytes.count <= EntryLimits.maxEntrySize else {
            throw TrailError(.entryTooLarge, "entry is \(bytes.count) bytes, limit \(EntryLimits.maxEntrySize)")
        }
        let result = bytes.withUnsafeBytes { raw in Result { () throws(TrailError) in try decodeFields(raw) } }
        let fields = try result.get()
        return Entry(
            signer: fields.0, seq: fields.1, timestampMs: fields.2, prev: fields.3, body: fields.4,
            signature: fields.5, encoded: bytes)
    }

    static func decodeFields(
        _ raw: UnsafeRawBufferPointer
    ) throws(TrailError) -> (PublicKey, UInt64, UInt64, Bytes32, EntryBody, Signature64) {
        var r = ByteReader(raw)
        let version = try r.u8("version")
        guard version == Entry.version else { throw TrailError(.unsupportedVersion, "version \(version) is not 1") }
        let kindRaw = try r.u8("kind")
        guard let kind = EntryKind(rawValue: kindRaw) else { throw TrailError(.unknownKind, "kind \(kindRaw) is not 1..5") }
        let signer = try r.bytes32("signer")
        let seq = try r.u64("seq")
        let timestamp = try r.u64("timestamp_ms")
        let prev = try r.bytes32("prev")
        if seq == 0 && !prev.isZero { throw TrailError(.invalidPrev, "seq 0 requires an all-zero prev") }
        if seq > 0 && prev.isZero { throw TrailError(.invalidPrev, "seq \(seq) has an all-zero prev") }
        let bodyLen = Int(try r.u32("body_len"))
        guard bodyLen <= r.remaining else {
            throw TrailError(.truncated, "body_len \(bodyLen) exceeds the \(r.remaining) bytes that remain")
        }
        let bodyRaw = try r.skip(bodyLen, "body")
        var br = ByteReader(bodyRaw)
        let body = try decodeBody(kind, &br)
        guard br.remaining == 0 else { throw TrailError(.trailingBytes, "\(br.remaining) bytes after the \(kind.name) body") }
        let sigLen = try r.u16("sig_len")
        guard sigLen == 64 else { throw TrailError(.badSignatureLength, "sig_len is \(sigLen), must be 64") }
        let sigRaw = try r.skip(64, "signature")
        let signature = Signature64(sigRaw)!
        guard r.remaining == 0 else { throw TrailError(.trailingBytes, "\(r.remaining) bytes after the signature") }
        return (signer, seq, timestamp, prev, body, signature)
    }

    static func readOptional(_ r: inout ByteReader, _ what: StaticString) throws(TrailError) -> Bytes32? {
        let tag = try r.u8(what)
        switch tag {
        case 0: return nil
        case 1: return try r.bytes32(what)
        default: throw TrailError(.invalidValue, "\(what) tag is \(tag), must be 0 or 1")
        }
    }

    static func readList(_ r: inout ByteReader, _ what: StaticString, max: Int, itemMax: Int) throws(TrailError) -> [String] {
        let n = try r.count(what, min: 0, max: max)
        var out = [String]()
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try r.string(what, min: 1, max: itemMax)) }
        return out
    }

    static func decodeBody(_ kind: EntryKind, _ r: inout ByteReader) throws(TrailError) -> EntryBody {
        switch kind {
        case .action:
            let actionType = try r.string("action_type", min: 1, max: EntryLimits.actionType)
            let target = try r.string("target", min: 0, max: EntryLimits.target)
            let content = try r.bytes32("content_hash")
            let present = try r.u8("present")
            guard present & 0x80 == 0 else { throw TrailError(.reservedBitsSet, "present bit 7 is reserved") }
            let flagBits = try r.u8("flags")
            guard flagBits & 0xf0 == 0 else { throw TrailError(.reservedBitsSet, "flags bits 4..7 are reserved") }
            var a = ActionBody(actionType: actionType, target: target, contentHash: content, flags: ActionFlags(rawValue: flagBits))
            if present & 1 << 0 != 0 { a.inputHash = try r.bytes32("input_hash") }
            if present & 1 << 1 != 0 { a.outputHash = try r.bytes32("output_hash") }
            if present & 1 << 2 != 0 { a.modelID = try r.string("model_id", min: 1, max: EntryLimits.modelID) }
            if present & 1 << 3 != 0 { a.latencyMs = try r.u32("latency_ms") }
            if present & 1 << 4 != 0 {
                let n = try r.count("tools", min: 1, max: EntryLimits.tools)
                var tools = [String]()
                tools.reserveCapacity(n)
                for _ in 0..<n { tools.append(try r.string("tool name", min: 1, max: EntryLimits.toolName)) }
                a.tools = tools
            }
            if present & 1 << 5 != 0 { a.dataClass = try r.string("data_class", min: 1, max: EntryLimits.dataClass) }
            if present & 1 << 6 != 0 { a.requestCommitment = try r.bytes32("request_commitment") }
            return .action(a)
        case .receipt:
            let request = try r.bytes32("request_commitment")
            let o = try r.u8("outcome")
            guard let outcome = RunOutcome(rawValue: o) else { throw TrailError(.invalidEnum, "outcome \(o) is not 0..3") }
            let started = try r.u64("started_ms")
            let total = try r.u32("total_ms")
            let trace = try r.bytes32("trace_commitment")
            let n = try r.count("stages", min: 0, max: EntryLimits.stages)
            var stages = [Stage]()
            stages.reserveCapacity(n)
            for _ in 0..<n {
                let label = try r.string("stage label", min: 1, max: EntryLimits.stageLabel)
                let d = try r.u32("stage duration_ms")
                let s = try r.u8("stage status")
                guard let status = StageStatus(rawValue: s) else { throw TrailError(.invalidEnum, "stage status \(s) is not 0..2") }
                stages.append(Stage(label: label, durationMs: d, status: status))
            }
            return .receipt(
                ReceiptBody(
                    requestCommitment: request, outcome: outcome, startedMs: started, totalMs: total,
                    traceCommitment: trace, stages: stages))
        case .registration:
            let agent = try r.bytes32("agent")
            let label = try r.string("label", min: 0, max: EntryLimits.label)
            let evidence = try readOptional(&r, "evidence_tag")
            let sig = Signature64(try r.skip(64, "agent_signature"))!
            return .registration(RegistrationBody(agent: agent, label: label, evidenceHash: evidence, agentSignature: sig))
        case .policy:
            let agent = try r.bytes32("agent")
            let version = try r.u32("version")
            guard version >= 1 else { throw TrailError(.invalidValue, "policy version must be 1 or more") }
            let doc = try r.bytes32("document_hash")
            let allow = try readList(&r, "allow_actions", max: EntryLimits.policyList, itemMax: EntryLimits.policyAction)
            let deny = try readList(&r, "deny_actions", max: EntryLimits.policyList, itemMax: EntryLimits.policyAction)
            let targets = try readList(&r, "allow_targets", max: EntryLimits.policyList, itemMax: EntryLimits.policyTarget)
            let rate = try r.u32("max_per_minute")
            return .policy(
                PolicyBody(
                    agent: agent, version: version, documentHash: doc, allowActions: allow, denyActions: deny,
                    allowTargets: targets, maxPerMinute: rate))
        case .report:
            let subject = try r.bytes32("subject")
            let c = try r.u8("category")
            guard let category = ReportCategory(rawValue: c) else { throw TrailError(.invalidEnum, "category \(c) is not 0..4") }
            let s = try r.u8("severity")
            guard let severity = Severity(rawValue: s) else { throw TrailError(.invalidEnum, "severity \(s) is not 0..3") }
            let from = try r.u64("observed_from_ms")
            let to = try r.u64("observed_to_ms")
            guard to >= from else { throw TrailError(.invalidValue, "observed_to_ms is before observed_from_ms") }
            let ref = try readOptional(&r, "ref_tag")
            let evidence = try r.bytes32("evidence_hash")
            let description = try r.string("description", min: 0, max: EntryLimits.description)
            return .report(
                ReportBody(
                    subject: subject, category: category, severity: severity, observedFromMs: from, observedToMs: to,
                    refEntry: ref, evidenceHash: evidence, description: description))
        }
    }

    // MARK: Verification

    /// Checks the entry signature over the exact received bytes, and for a registration the
    /// agent's proof of possession.
    public static func verify(_ entry: Entry) throws(TrailError) {
        let result = entry.encoded.withUnsafeBytes { raw in
            Result { () throws(TrailError) in try verify(encoded: raw, signer: entry.signer, signature: entry.signature, body: entry.body) }
        }
        try result.get()
    }

    /// `verify` over an entry's encoding and its decoded fields, without an `Entry`.
    static func verify(encoded raw: UnsafeRawBufferPointer, signer: PublicKey, signature: Signature64, body: EntryBody) throws(TrailError) {
        let ok = Ed25519.verify(
            signature: signature, prefix: signingDomain,
            message: UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - EntryLimits.signatureTrailer)]), publicKey: signer)
        guard ok else { throw TrailError(.badSignature, "signature does not verify for \(DIDKey.encode(signer))") }
        if case .registration(let r) = body {
            let message = RegistrationBody.possessionMessage(owner: signer, agent: r.agent)
            let pop = message.withUnsafeBytes {
                Ed25519.verify(signature: r.agentSignature, message: $0, publicKey: r.agent)
            }
            guard pop else {
                throw TrailError(.badProofOfPossession, "the agent's proof of possession does not verify")
            }
        }
    }

    /// Decodes and verifies.
    public static func decodeVerified(_ bytes: [UInt8]) throws(TrailError) -> Entry {
        let e = try decode(bytes)
        try verify(e)
        return e
    }
}
