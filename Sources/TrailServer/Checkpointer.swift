import Synchronization
import TrailCore

/// Signs C2SP checkpoints of the committed log with the node key; the key name is the origin.
/// A checkpoint is re-signed only when the tree has grown.
public final class Checkpointer: Sendable {
    public let key: SigningKey
    public let origin: String
    private let cache = Mutex<(TreeHead, String)?>(nil)

    public init(key: SigningKey) {
        self.key = key
        self.origin = Self.origin(for: key.publicKey)
    }

    /// A node's origin (and note key name): `agenttrail.local/` + the first 16 hex digits of
    /// its node key, so that `trail node key` can name it from the data folder alone.
    public static func origin(for nodeKey: PublicKey) -> String {
        "agenttrail.local/" + nodeKey.hex.prefix(16)
    }

    /// The verifier key in signed-note form, for stock signed-note verifiers.
    public var verifierKey: String {
        (try? NoteVerifierKey(name: origin, publicKey: key.publicKey).description) ?? ""
    }

    /// The signed note for `tree`, signing it if it is newer than the last one.
    public func note(for tree: TreeHead) -> String {
        if let (head, note) = cache.withLock({ $0 }), head == tree { return note }
        // The origin is a valid key name by construction, so this cannot fail.
        let note = try! Checkpoint(origin: origin, size: tree.size, root: tree.root).signedNote(signer: key)
        cache.withLock { c in
            if c == nil || c!.0.size <= tree.size { c = (tree, note) }
        }
        return note
    }
}
