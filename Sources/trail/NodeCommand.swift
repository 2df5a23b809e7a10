import ArgumentParser
import Foundation
import TrailCore
import TrailServer

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node", abstract: "The node's own key.", subcommands: [Key.self])

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the node's checkpoint verifier key in signed-note form (name+keyhash+base64).")
        @Option(help: "The node's data folder.") var data = "./data"

        func run() throws {
            let path = NodeKey.path(directory: data)
            do {
                let key = try KeyFile.decode(try readFile(path))
                print(Checkpointer(key: key).verifierKey)
            } catch { fail(error) }
        }
    }
}
