import AgentTrail
import ArgumentParser
import Foundation

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Append one action to an agent's chain on a collector.",
        discussion: "Sequence and prev are fetched from the server. Prints the status, log index and entry hash.")

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
            let body = ActionBody(
                actionType: action, target: target, contentHash: SHA256.hash(try readFile(content)),
                inputHash: try input.map { SHA256.hash(try readFile($0)) },
                outputHash: try output.map { SHA256.hash(try readFile($0)) }, modelID: model, latencyMs: latencyMs,
                tools: tool.isEmpty ? nil : tool, dataClass: dataClass, flags: flags)
            let client = try TrailClient(address: server)
            await client.setReconnectTimeout(.seconds(5))
            let log = AgentLog(key: signingKey, client: client, maxAttempts: 5)
            let r = try await log.append(.action(body))
            await client.close()
            if json {
                var o: [String: Any] = ["status": r.status.name, "seq": r.seq, "entry_hash": r.hash.hex]
                if let i = r.index { o["index"] = i }
                printJSON(o)
            } else {
                print("status:     \(r.status.name)")
                if let i = r.index { print("index:      \(i)") }
                print("seq:        \(r.seq)")
                print("entry hash: \(r.hash.hex)")
            }
            if !r.succeeded { throw ExitCode(1) }
        } catch let e as ExitCode {
            throw e
        } catch { fail(error) }
    }
}
