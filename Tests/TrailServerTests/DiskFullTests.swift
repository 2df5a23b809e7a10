import AgentTrail
import Foundation
import Testing
import TrailStore

/// Whether this process may mount a size-limited tmpfs (root, and a kernel that lets it).
let canMountTmpfs: Bool = {
    let dir = NSTemporaryDirectory() + "agenttrail-mount-probe-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    guard let r = try? run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], in: "/"), r.status == 0 else { return false }
    _ = try? run("/bin/umount", [dir], in: "/")
    return true
}()

/// A small filesystem mounted on a fresh folder for the duration of `body`, then unmounted:
/// a size-limited tmpfs, or an ext4 image on a loop device.
func withSmallFilesystem<R>(_ kind: String, megabytes: Int, _ body: (String) async throws -> R) async throws -> R {
    try await withTemporaryDirectory { dir in
        let mnt = dir + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let r: TrailRun
        if kind == "ext4" {
            let image = dir + "/fs.img"
            _ = try run("/usr/bin/truncate", ["-s", "\(megabytes)M", image], in: "/")
            let mk = try run("/usr/sbin/mkfs.ext4", ["-q", image], in: "/")
            try #require(mk.status == 0, "mkfs.ext4 failed: \(mk.stderr)")
            r = try run("/bin/mount", ["-o", "loop", image, mnt], in: "/")
        } else {
            r = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mnt], in: "/")
        }
        try #require(r.status == 0, "mounting a \(kind) failed: \(r.stderr)")
        defer { _ = try? run("/bin/umount", [mnt], in: "/") }
        return try await body(mnt)
    }
}

/// Writes zeros to `path` until the filesystem refuses (ENOSPC); returns the bytes written.
func fillFilesystem(_ path: String) -> Int {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    let chunk = [UInt8](repeating: 0, count: 64 * 1024)
    var total = 0
    while true {
        let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        total += n
    }
    return total
}

@Suite("Faults: a full disk")
struct DiskFullTests {
    /// One APPEND on `s`: the statuses, or the ERROR code that ended the connection.
    func appendOrError(_ s: RawSocket, _ entries: [Entry], id: UInt64) throws -> Result<[AppendStatus], TrailError> {
        s.send(.append(requestID: id, entries: entries.map(\.encoded)))
        switch try s.read() {
        case .ack(let rid, let statuses) where rid == id: return .success(statuses)
        case .error(let code, let message): return .failure(TrailError(code, message))
        case let other: throw TrailError(.malformedFrame, "unexpected \(other)")
        }
    }

    /// The data folder on a 24 MiB filesystem (tmpfs, or ext4 on a loop device) that fills up: commits fail with ERROR 201 and no ack,
    /// the server stays up and answers reads, writes resume once space is freed, and nothing
    /// acknowledged is lost.
    @Test(
        .enabled(if: canMountTmpfs, "needs root to mount a size-limited filesystem"), .timeLimit(.minutes(2)),
        arguments: ["tmpfs", "ext4"])
    func commitsFailCleanlyAndResumeWhenSpaceReturns(filesystem: String) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: trailExecutable()), "build the trail executable first")
        try await withSmallFilesystem(filesystem, megabytes: 24) { mnt in
            let data = mnt + "/data"
            let server = try ServeProcess(data: data, http: true)
            defer { server.stop() }
            let http = server.httpPort!
            var agent = TestAgent("disk-full")
            var acked: [(hash: Bytes32, index: UInt64)] = []
            var s = try RawSocket(port: server.port)
            try s.hello()
            var id: UInt64 = 0
            // Some entries while there is room.
            for _ in 0..<5 {
                id += 1
                let batch = (0..<50).map { _ in agent.next() }
                let statuses = try appendOrError(s, batch, id: id).get()
                for (e, st) in zip(batch, statuses) { acked.append((e.hash, try #require(st.index))) }
            }
            let filler = mnt + "/filler"
            #expect(fillFilesystem(filler) > 0)

            // Keep writing until a commit fails: LMDB may first reuse free pages of its file.
            var storageError: TrailError?
            for _ in 0..<400 where storageError == nil {
                id += 1
                let batch = (0..<50).map { _ in agent.next() }
                switch try appendOrError(s, batch, id: id) {
                case .success(let statuses):
                    for (e, st) in zip(batch, statuses) { acked.append((e.hash, try #require(st.index, "\(st)"))) }
                case .failure(let e):
                    storageError = e
                }
            }
            let error = try #require(storageError, "the disk never filled up")
            #expect(error.code == .storage, "\(error)")
            #expect(s.isClosedByPeer())
            #expect(server.process.isRunning)

            // Reads keep working while the disk is full.
            #expect(try httpGet(port: http, "/v1/checkpoint").status == 200)
            for a in acked.suffix(20) { #expect(try httpGet(port: http, "/v1/entries/\(a.hash.hex)").status == 200) }

            // Still full: a new connection is served, and a write fails again without an ack.
            s = try RawSocket(port: server.port)
            try s.hello()
            s.send(.headQuery(requestID: 1, signer: agent.key.publicKey))
            guard case .head(_, let head) = try s.read() else {
                Issue.record("expected HEAD")
                return
            }
            #expect(head.nextSeq == UInt64(acked.count))
            agent.head = head

            // Space returns: writes resume on the same server process.
            try FileManager.default.removeItem(atPath: filler)
            var resumed = false
            for attempt in 0..<50 where !resumed {
                let batch = (0..<50).map { _ in agent.next() }
                switch try appendOrError(s, batch, id: 1000 + UInt64(attempt)) {
                case .success(let statuses):
                    for (e, st) in zip(batch, statuses) { acked.append((e.hash, try #require(st.index, "\(st)"))) }
                    resumed = true
                case .failure(let e):
                    // A commit that failed before the space returned: reconnect and resync.
                    #expect(e.code == .storage)
                    try await Task.sleep(for: .milliseconds(100))
                    s = try RawSocket(port: server.port)
                    try s.hello()
                    s.send(.headQuery(requestID: 1, signer: agent.key.publicKey))
                    if case .head(_, let h) = try s.read() { agent.head = h }
                }
            }
            #expect(resumed, "writes did not resume after the filler was deleted")
            #expect(server.process.isRunning)
            server.stop()

            // Nothing acknowledged was lost, and the chain verifies.
            let store = try ChainStore(directory: data)
            for a in acked {
                #expect(try store.index(ofHash: a.hash) == a.index)
            }
            #expect(try verifyStoredChain(store, agent.key.publicKey) == acked.count)
            #expect(try store.logSize() == UInt64(acked.count))
        }
    }
}
