import ArgumentParser
import Foundation
import TrailCore

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create and show Ed25519 keys.", subcommands: [New.self, Show.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a new Ed25519 key file (mode 0600).")
        @Option(help: "Where to write the key file.") var out: String
        @Flag(help: "Overwrite an existing file.") var force = false

        func run() throws {
            if !force && FileManager.default.fileExists(atPath: out) {
                fail(TrailError(.io, "\(out) exists; pass --force to overwrite"))
            }
            let key = SigningKey.generate()
            do { try writeFile(out, Array(KeyFile.encode(key).utf8), mode: 0o600) } catch { fail(error) }
            print(key.did)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a key file's did:key and public key.")
        @Argument(help: "A key file.") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            do {
                let key = try loadKey(file)
                if json {
                    printJSON(["did": key.did, "public_key": key.publicKey.hex])
                } else {
                    print("did:        \(key.did)")
                    print("public key: \(key.publicKey.hex)")
                }
            } catch { fail(error) }
        }
    }
}
