import ArgumentParser
import Foundation
import TrailCore

struct EntryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "entry", abstract: "Build, sign and inspect single entries.", subcommands: [New.self, Inspect.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build and sign one entry.",
            discussion: """
                An action is described by flags (--action, --target, --content, ...). Any kind, \
                actions included, can be given as the JSON form of its body with --body-json \
                (protocol/SPEC.md section 1.7).
                """)
        @Option(help: "The signer's key file.") var key: String
        @Option(help: "action, receipt, registration, policy or report.") var kind: String = "action"
        @Option(help: "Sequence number in the signer's chain.") var seq: UInt64
        @Option(help: "Hash of the previous entry (hex), or 'zero' at seq 0.") var prev: String = "zero"
        @Option(help: "Signer timestamp in ms since the epoch (default: now).") var timestampMs: UInt64?
        @Option(help: "The body as JSON (SPEC 1.7).") var bodyJson: String?
        @Option(help: "Action type, e.g. post_reply.") var action: String?
        @Option(help: "Action target, e.g. forum.example.com.") var target: String?
        @Option(help: "File whose SHA-256 is the content hash.") var content: String?
        @Option(help: "File whose SHA-256 is the input hash.") var input: String?
        @Option(help: "File whose SHA-256 is the output hash.") var output: String?
        @Option(help: "Model id.") var model: String?
        @Option(help: "Latency in ms.") var latencyMs: UInt32?
        @Option(help: "A tool name (repeatable).") var tool: [String] = []
        @Option(help: "Data class, e.g. pii.") var dataClass: String?
        @Option(help: "A flag: human_review, a2a_delegated, error, incomplete (repeatable).") var flag: [String] = []
        @Option(help: "Where to write the encoded entry.") var out: String

        func run() throws {
            do {
                let signingKey = try loadKey(key)
                guard let kind = EntryKind(name: kind) else {
                    throw TrailError(.invalidArgument, "unknown kind \(self.kind)")
                }
                let prevHash: Bytes32
                if prev == "zero" {
                    prevHash = .zero
                } else if let h = Bytes32(hex: prev) {
                    prevHash = h
                } else {
                    throw TrailError(.invalidArgument, "--prev must be 64 hex digits or 'zero'")
                }
                let body: EntryBody
                if let bodyJson {
                    body = try EntryJSON.body(kind, try EntryJSON.parseObject(try readFile(bodyJson)))
                } else {
                    guard kind == .action else {
                        throw TrailError(.invalidArgument, "--kind \(kind.name) needs --body-json")
                    }
                    body = .action(try actionFromFlags())
                }
                let unsigned = UnsignedEntry(
                    signer: signingKey.publicKey, seq: seq, timestampMs: timestampMs ?? nowMs(), prev: prevHash, body: body)
                let entry = try EntryCodec.sign(unsigned, with: signingKey)
                try writeFile(out, entry.encoded)
                print(entry.hash.hex)
            } catch { fail(error) }
        }

        func actionFromFlags() throws -> ActionBody {
            guard let action else { throw TrailError(.invalidArgument, "--action is required") }
            guard let content else { throw TrailError(.invalidArgument, "--content is required") }
            var flags = ActionFlags()
            for name in flag {
                guard let f = ActionFlags.named.first(where: { $0.0 == name }) else {
                    throw TrailError(.invalidArgument, "unknown flag \(name)")
                }
                flags.insert(f.1)
            }
            return ActionBody(
                actionType: action, target: target ?? "", contentHash: SHA256.hash(try readFile(content)),
                inputHash: try input.map { SHA256.hash(try readFile($0)) },
                outputHash: try output.map { SHA256.hash(try readFile($0)) }, modelID: model, latencyMs: latencyMs,
                tools: tool.isEmpty ? nil : tool, dataClass: dataClass, flags: flags)
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an encoded entry as JSON with its hash and whether its signature verifies.",
            discussion: "Exit status: 0 valid, 1 the signature does not verify, 2 the file is not a well-formed entry.")
        @Argument(help: "An encoded entry.") var file: String

        func run() throws {
            let bytes: [UInt8]
            do { bytes = try readFile(file) } catch { fail(error, status: 2) }
            let entry: Entry
            do { entry = try EntryCodec.decode(bytes) } catch { fail(error, status: 2) }
            var o = EntryJSON.object(entry)
            o["entry_hash"] = entry.hash.hex
            o["signer_did"] = DIDKey.encode(entry.signer)
            var verified = true
            do { try EntryCodec.verify(entry) } catch {
                verified = false
                o["verify_error"] = ["code": Int(error.code.rawValue), "name": error.code.name, "message": error.reason]
            }
            o["signature_valid"] = verified
            printJSON(o)
            if !verified { throw ExitCode(1) }
        }
    }
}
