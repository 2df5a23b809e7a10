import Foundation

/// The JSON form of entries and bodies (protocol/SPEC.md section 1.7), used by the CLI, the
/// HTTP API and the vectors.
public enum EntryJSON {
    // MARK: Entry -> JSON object

    public static func object(_ e: Entry) -> [String: Any] {
        var o = object(e.unsigned)
        o["signature"] = e.signature.hex
        return o
    }

    public static func object(_ e: UnsignedEntry) -> [String: Any] {
        [
            "version": Int(Entry.version), "kind": e.body.kind.name, "signer": e.signer.hex,
            "seq": e.seq, "timestamp_ms": e.timestampMs, "prev": e.prev.hex, "body": bodyObject(e.body),
        ]
    }

    public static func bodyObject(_ body: EntryBody) -> [String: Any] {
        var o: [String: Any] = [:]
        switch body {
        case .action(let a):
            o["action_type"] = a.actionType
            o["target"] = a.target
            o["content_hash"] = a.contentHash.hex
            if let v = a.inputHash { o["input_hash"] = v.hex }
            if let v = a.outputHash { o["output_hash"] = v.hex }
            if let v = a.modelID { o["model_id"] = v }
            if let v = a.latencyMs { o["latency_ms"] = Int(v) }
            if let v = a.tools { o["tools"] = v }
            if let v = a.dataClass { o["data_class"] = v }
            if let v = a.requestCommitment { o["request_commitment"] = v.hex }
            o["flags"] = a.flags.names
        case .receipt(let r):
            o["request_commitment"] = r.requestCommitment.hex
            o["outcome"] = r.outcome.name
            o["started_ms"] = r.startedMs
            o["total_ms"] = Int(r.totalMs)
            o["trace_commitment"] = r.traceCommitment.hex
            o["stages"] = r.stages.map { ["label": $0.label, "duration_ms": Int($0.durationMs), "status": $0.status.name] as [String: Any] }
        case .registration(let r):
            o["agent"] = r.agent.hex
            o["label"] = r.label
            if let v = r.evidenceHash { o["evidence_hash"] = v.hex }
            o["agent_signature"] = r.agentSignature.hex
        case .policy(let p):
            o["agent"] = p.agent.hex
            o["version"] = Int(p.version)
            o["document_hash"] = p.documentHash.hex
            o["allow_actions"] = p.allowActions
            o["deny_actions"] = p.denyActions
            o["allow_targets"] = p.allowTargets
            o["max_per_minute"] = Int(p.maxPerMinute)
        case .report(let r):
            o["subject"] = r.subject.hex
            o["category"] = r.category.name
            o["severity"] = r.severity.name
            o["observed_from_ms"] = r.observedFromMs
            o["observed_to_ms"] = r.observedToMs
            if let v = r.refEntry { o["ref_entry"] = v.hex }
            o["evidence_hash"] = r.evidenceHash.hex
            o["description"] = r.description
        }
        return o
    }

    /// Serialises a JSON object with sorted keys (stable output).
    public static func serialize(_ o: Any, pretty: Bool = true) -> String {
        var opts: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { opts.insert(.prettyPrinted) }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: opts)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: JSON -> values

    public static func parseObject(_ data: [UInt8]) throws(TrailError) -> [String: Any] {
        guard let o = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
            throw TrailError(.invalidJSON, "not a JSON object")
        }
        return o
    }

    /// Parses the JSON form of a whole entry (signature optional: absent means unsigned).
    public static func unsignedEntry(_ o: [String: Any]) throws(TrailError) -> (UnsignedEntry, Signature64?) {
        let f = Fields(o, "entry")
        let version = try f.uint("version", max: 255)
        guard version == 1 else { throw TrailError(.unsupportedVersion, "version \(version) is not 1") }
        let kindName = try f.string("kind")
        guard let kind = EntryKind(name: kindName) else { throw TrailError(.unknownKind, "unknown kind \(kindName)") }
        let signer = try f.bytes32("signer")
        let seq = try f.uint("seq")
        let ts = try f.uint("timestamp_ms")
        let prev = try f.bytes32("prev")
        guard let bodyObject = o["body"] as? [String: Any] else { throw TrailError(.invalidJSON, "entry.body must be an object") }
        let body = try self.body(kind, bodyObject)
        var sig: Signature64?
        if let s = o["signature"] {
            guard let s = s as? String, let b = Hex.decode(s), let v = Signature64(b) else {
                throw TrailError(.invalidJSON, "entry.signature must be 128 hex digits")
            }
            sig = v
        }
        return (UnsignedEntry(signer: signer, seq: seq, timestampMs: ts, prev: prev, body: body), sig)
    }

    /// Parses a body of the given kind from its JSON form.
    public static func body(_ kind: EntryKind, _ o: [String: Any]) throws(TrailError) -> EntryBody {
        let f = Fields(o, kind.name)
        switch kind {
        case .action:
            var flags = ActionFlags()
            for name in try f.stringList("flags", optional: true) ?? [] {
                guard let flag = ActionFlags.named.first(where: { $0.0 == name }) else {
                    throw TrailError(.invalidJSON, "unknown action flag \(name)")
                }
                flags.insert(flag.1)
            }
            let latency = try f.optionalUInt("latency_ms", max: UInt64(UInt32.max))
            return .action(
                ActionBody(
                    actionType: try f.string("action_type"), target: try f.string("target"),
                    contentHash: try f.bytes32("content_hash"), inputHash: try f.optionalBytes32("input_hash"),
                    outputHash: try f.optionalBytes32("output_hash"), modelID: try f.optionalString("model_id"),
                    latencyMs: latency.map { UInt32($0) }, tools: try f.stringList("tools", optional: true),
                    dataClass: try f.optionalString("data_class"),
                    requestCommitment: try f.optionalBytes32("request_commitment"), flags: flags))
        case .receipt:
            let outcomeName = try f.string("outcome")
            guard let outcome = RunOutcome.names.firstIndex(of: outcomeName) else {
                throw TrailError(.invalidEnum, "unknown outcome \(outcomeName)")
            }
            guard let stagesRaw = o["stages"] as? [[String: Any]] else {
                throw TrailError(.invalidJSON, "receipt.stages must be an array of objects")
            }
            var stages: [Stage] = []
            for s in stagesRaw {
                let sf = Fields(s, "stage")
                let statusName = try sf.string("status")
                guard let status = StageStatus.names.firstIndex(of: statusName) else {
                    throw TrailError(.invalidEnum, "unknown stage status \(statusName)")
                }
                stages.append(
                    Stage(
                        label: try sf.string("label"), durationMs: UInt32(try sf.uint("duration_ms", max: UInt64(UInt32.max))),
                        status: StageStatus(rawValue: UInt8(status))!))
            }
            return .receipt(
                ReceiptBody(
                    requestCommitment: try f.bytes32("request_commitment"), outcome: RunOutcome(rawValue: UInt8(outcome))!,
                    startedMs: try f.uint("started_ms"), totalMs: UInt32(try f.uint("total_ms", max: UInt64(UInt32.max))),
                    traceCommitment: try f.bytes32("trace_commitment"), stages: stages))
        case .registration:
            guard let s = o["agent_signature"] as? String, let b = Hex.decode(s), let sig = Signature64(b) else {
                throw TrailError(.invalidJSON, "registration.agent_signature must be 128 hex digits")
            }
            return .registration(
                RegistrationBody(
                    agent: try f.bytes32("agent"), label: try f.string("label"),
                    evidenceHash: try f.optionalBytes32("evidence_hash"), agentSignature: sig))
        case .policy:
            return .policy(
                PolicyBody(
                    agent: try f.bytes32("agent"), version: UInt32(try f.uint("version", max: UInt64(UInt32.max))),
                    documentHash: try f.bytes32("document_hash"),
                    allowActions: try f.stringList("allow_actions", optional: false) ?? [],
                    denyActions: try f.stringList("deny_actions", optional: false) ?? [],
                    allowTargets: try f.stringList("allow_targets", optional: false) ?? [],
                    maxPerMinute: UInt32(try f.uint("max_per_minute", max: UInt64(UInt32.max)))))
        case .report:
            let categoryName = try f.string("category")
            guard let category = ReportCategory.names.firstIndex(of: categoryName) else {
                throw TrailError(.invalidEnum, "unknown category \(categoryName)")
            }
            let severityName = try f.string("severity")
            guard let severity = Severity.names.firstIndex(of: severityName) else {
                throw TrailError(.invalidEnum, "unknown severity \(severityName)")
            }
            return .report(
                ReportBody(
                    subject: try f.bytes32("subject"), category: ReportCategory(rawValue: UInt8(category))!,
                    severity: Severity(rawValue: UInt8(severity))!, observedFromMs: try f.uint("observed_from_ms"),
                    observedToMs: try f.uint("observed_to_ms"), refEntry: try f.optionalBytes32("ref_entry"),
                    evidenceHash: try f.bytes32("evidence_hash"), description: try f.string("description")))
        }
    }

    /// Typed access to a JSON object's fields with precise errors.
    struct Fields {
        let o: [String: Any]
        let context: String
        init(_ o: [String: Any], _ context: String) {
            self.o = o
            self.context = context
        }

        func missing(_ k: String) -> TrailError { TrailError(.invalidJSON, "\(context).\(k) is missing") }
        func wrong(_ k: String, _ what: String) -> TrailError { TrailError(.invalidJSON, "\(context).\(k) must be \(what)") }

        func string(_ k: String) throws(TrailError) -> String {
            guard let v = o[k] else { throw missing(k) }
            guard let s = v as? String else { throw wrong(k, "a string") }
            return s
        }
        func optionalString(_ k: String) throws(TrailError) -> String? {
            guard o[k] != nil else { return nil }
            return try string(k)
        }
        func uint(_ k: String, max: UInt64 = UInt64.max) throws(TrailError) -> UInt64 {
            guard let v = o[k] else { throw missing(k) }
            guard let n = v as? NSNumber, !Self.isBoolean(n) else { throw wrong(k, "a number") }
            // Exact: nil for negatives, fractions and anything above UInt64.max (which the parser keeps
            // as a decimal). Going through Double would round every integer above 2^53.
            guard let u = UInt64(exactly: n), u <= max else { throw wrong(k, "an integer in 0...\(max)") }
            return u
        }
        /// JSON `true`/`false` parse to NSNumbers whose storage type is `c`; numbers never do. (`is Bool`
        /// cannot tell them apart: on Linux the numbers 0 and 1 also pass it.)
        static func isBoolean(_ n: NSNumber) -> Bool { n.objCType.pointee == CChar(UInt8(ascii: "c")) }
        func optionalUInt(_ k: String, max: UInt64) throws(TrailError) -> UInt64? {
            guard o[k] != nil else { return nil }
            return try uint(k, max: max)
        }
        func bytes32(_ k: String) throws(TrailError) -> Bytes32 {
            guard let s = o[k] as? String else { throw o[k] == nil ? missing(k) : wrong(k, "64 hex digits") }
            guard let v = Bytes32(hex: s) else { throw wrong(k, "64 hex digits") }
            return v
        }
        func optionalBytes32(_ k: String) throws(TrailError) -> Bytes32? {
            guard o[k] != nil else { return nil }
            return try bytes32(k)
        }
        func stringList(_ k: String, optional: Bool) throws(TrailError) -> [String]? {
            guard let v = o[k] else {
                if optional { return nil }
                throw missing(k)
            }
            guard let l = v as? [String] else { throw wrong(k, "an array of strings") }
            return l
        }
    }
}
