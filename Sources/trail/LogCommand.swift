import AgentTrail
import ArgumentParser
import Foundation

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Append one action to an agent's chain on a collector.",
        discussion: """
            Sequence and prev are fetched from the server. Prints the status, log index and entry hash. \
            With --vault, the content, input and output files and the accepted entry are kept in that \
            folder, and --request-id commits to the run's request id with a salt kept there, so that \
            `trail disclose` can reveal any of them later.
            """)

    @Option(help: "The agent's key file.") var key: String
    @Option(help: "Collector address.") var server = "127.0.0.1:7411"
    @Option(help: "Action type, e.g. post_reply.") var action: String
    @Option(help: "Action target.") var target = ""
    @Option(help: "File whose SHA-256 is the content hash.") var content: String
    @Option(help: "File whose SHA-256 is the input hash.") var input: String?
    @Option(help: "File whose SHA-256 is the output hash.") var output: String?
    @Option(help: "Model id.") var model: String?
    @Option(help: "Latency in ms.") var latencyMs: UInt32?
    @Option(help: "A tool name (repeatable).") var tool: [String] = []
    @Option(help: "Data class.") var dataClass: String?
    @Option(help: "human_review, a2a_delegated, error or incomplete (repeatable).") var flag: [String] = []
    @Option(help: "Vault folder that keeps the content, input and output files, salts and the entry (for trail disclose).")
    var vault: String?
    @Option(help: "The run's request id: its salted commitment becomes the request_commitment (needs --vault).")
    var requestId: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        do {
            let signingKey = try loadKey(key)
            var flags = ActionFlags()
            for name in flag {
                guard let f = ActionFlags.named.first(where: { $0.0 == name }) else {
                    throw TrailError(.invalidArgument, "unknown flag \(name)")
                }
                flags.insert(f.1)
            }
            guard requestId == nil || vault != nil else {
                throw TrailError(.invalidArgument, "--request-id needs --vault: the commitment's salt must be kept to disclose it")
            }
            guard requestId != "" else { throw TrailError(.invalidArgument, "--request-id must not be empty") }
            let contentBytes = try readFile(content)
            let inputBytes = try input.map(readFile)
            let outputBytes = try output.map(readFile)
            func body(_ requestCommitment: Bytes32?) -> EntryBody {
                .action(ActionBody(
                    actionType: action, target: target, contentHash: SHA256.hash(contentBytes),
                    inputHash: inputBytes.map(SHA256.hash), outputHash: outputBytes.map(SHA256.hash), modelID: model,
                    latencyMs: latencyMs, tools: tool.isEmpty ? nil : tool, dataClass: dataClass,
                    requestCommitment: requestCommitment, flags: flags))
            }
            try checkBody(body(requestId == nil ? nil : .zero), key: signingKey)

            let vault = try self.vault.map { try Vault(directory: $0) }
            var requestCommitment: Bytes32?
            if let vault {
                for bytes in [contentBytes, inputBytes, outputBytes].compactMap({ $0 }) { try vault.storeContent(bytes) }
                requestCommitment = try requestId.map { try vault.requestCommitment($0) }
            }
            let (r, entry) = try await appendRebuilding(body(requestCommitment), key: signingKey, server: server, rebuild: vault != nil)
            if let vault { try keep(entry, of: r, in: vault) }
            printAppend(r, json: json, extra: requestCommitment.map { [("request_commitment", $0.hex)] } ?? [])
            if !r.succeeded { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch { fail(error) }
    }
}
