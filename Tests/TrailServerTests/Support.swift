import Synchronization
import AgentTrail
import Foundation
import Testing
import Logging
import NIOCore
import TrailServer
import TrailStore

/// A fresh temporary directory, removed after `body`.
func withTemporaryDirectory<R>(_ body: (String) async throws -> R) async rethrows -> R {
    let path = NSTemporaryDirectory() + "agenttrail-test-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

let quietLogger: Logger = {
    var l = Logger(label: "test")
    l.logLevel = .critical
    return l
}()

/// Starts a collector on 127.0.0.1 (port 0 unless given) with its data in `directory`.
func startCollector(
    directory: String, port: Int = 0, _ configure: (inout Collector.Configuration) -> Void = { _ in }
) async throws -> Collector {
    var c = Collector.Configuration()
    c.dataDirectory = directory
    c.host = "127.0.0.1"
    c.port = port
    c.httpPort = 0
    configure(&c)
    let collector = try Collector(configuration: c, logger: quietLogger)
    try await collector.start()
    return collector
}

/// A collector in a temporary directory for the duration of `body`.
func withCollector<R>(
    _ configure: (inout Collector.Configuration) -> Void = { _ in },
    _ body: (Collector, Int) async throws -> R
) async throws -> R {
    try await withTemporaryDirectory { dir in
        let collector = try await startCollector(directory: dir, configure)
        do {
            let r = try await body(collector, collector.localAddress!.port!)
            try await collector.shutdown()
            return r
        } catch {
            try? await collector.shutdown()
            throw error
        }
    }
}

/// A chain of signed actions for one key, built locally.
struct TestAgent {
    let key: SigningKey
    var head = ChainHead.empty

    init(_ name: String) {
        key = SigningKey(seed: SHA256.hash(Array("test-agent-\(name)".utf8)))
    }

    static func body(_ i: Int) -> EntryBody {
        .action(ActionBody(actionType: "post_reply", target: "forum.example.com", contentHash: SHA256.hash(Array("content \(i)".utf8))))
    }

    /// Signs the next entry and advances the local head.
    mutating func next(_ body: EntryBody? = nil, timestamp: UInt64 = 1_763_900_000_000) -> Entry {
        let e = try! EntryCodec.sign(
            UnsignedEntry(signer: key.publicKey, seq: head.nextSeq, timestampMs: timestamp + head.nextSeq, prev: head.hash,
                          body: body ?? Self.body(Int(head.nextSeq))),
            with: key)
        head = ChainHead(nextSeq: head.nextSeq + 1, hash: e.hash)
        return e
    }

    /// Signs an entry at an explicit position without moving the head.
    func at(seq: UInt64, prev: Bytes32, body: EntryBody? = nil, timestamp: UInt64 = 1_763_900_000_000) -> Entry {
        try! EntryCodec.sign(
            UnsignedEntry(signer: key.publicKey, seq: seq, timestampMs: timestamp, prev: prev, body: body ?? Self.body(Int(seq) + 1_000_000)),
            with: key)
    }
}

/// A blocking POSIX TCP socket for sending arbitrary bytes, with a receive timeout.
final class RawSocket {
    let fd: Int32

    init(port: Int, timeoutSeconds: Int = 5, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TrailError(.connection, "socket failed") }
        if var size = receiveBuffer {
            // Before connect, so that the window the server sees is small from the start.
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TrailError(.connection, "connect failed")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    func send(_ message: ClientMessage) { send(WireCodec.encode(message)) }

    func hello() throws {
        send(.hello(version: ServerLimits.protocolVersion, client: "test"))
        guard case .helloOK = try read() else { throw TrailError(.malformedFrame, "no HELLO_OK") }
    }

    private func readExactly(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, n - got, 0) }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }

    /// Reads one server frame; throws `.connection` on EOF or timeout.
    func read() throws -> ServerMessage {
        guard let header = readExactly(5) else { throw TrailError(.connection, "closed or timed out") }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard let payload = readExactly(length - 1) else { throw TrailError(.connection, "closed inside a frame") }
        return try payload.withUnsafeBytes { try WireCodec.decodeServer(type: header[4], payload: $0) }
    }

    /// True if the server has closed the connection (EOF) within the timeout.
    func isClosedByPeer() -> Bool {
        var b: UInt8 = 0
        let r = recv(fd, &b, 1, 0)
        // EOF, or a reset when the server closed with our bytes unread; not a timeout.
        return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// Sends an APPEND and waits for its ACK.
    func append(_ entries: [Entry], id: UInt64 = 1) throws -> [AppendStatus] {
        send(.append(requestID: id, entries: entries.map(\.encoded)))
        let reply = try read()
        guard case .ack(let rid, let statuses) = reply, rid == id else {
            throw TrailError(.malformedFrame, "expected ACK, got \(reply)")
        }
        return statuses
    }
}

/// Checks one signer's stored chain: contiguous sequence, prev links, signatures.
func verifyStoredChain(_ store: ChainStore, _ signer: PublicKey) throws -> Int {
    let chain = try store.chain(of: signer, fromSeq: 0, limit: Int.max)
    var prev = Bytes32.zero
    for (i, item) in chain.enumerated() {
        let e = try EntryCodec.decodeVerified(item.entry)
        guard e.seq == UInt64(i), e.prev == prev, e.signer == signer else {
            throw TrailError(.invalidPrev, "chain broken at \(i)")
        }
        prev = e.hash
    }
    return chain.count
}

/// The `trail` executable built next to the tests: in the test binary's own folder, so that
/// `--scratch-path .build-tsan` (make tsan, make asan) runs the sanitized `trail` too; else
/// `.build/debug/trail`.
func trailExecutable() -> String {
    let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let beside = here.appendingPathComponent("trail").path
    if FileManager.default.isExecutableFile(atPath: beside) { return beside }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/trail").path
}

/// One run of the `trail` executable.
struct TrailRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `trail args` in `dir` and waits for it. Stderr goes to a file, so that a full pipe
/// never stalls the child while stdout is read.
func trail(_ args: [String], in dir: String) throws -> TrailRun {
    try run(trailExecutable(), args, in: dir)
}

/// Runs a program in `dir` and waits for it.
func run(_ executable: String, _ args: [String], in dir: String) throws -> TrailRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    let out = Pipe()
    let errPath = NSTemporaryDirectory() + "trail-stderr-" + UUID().uuidString
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    try err.close()
    let e = try Data(contentsOf: URL(fileURLWithPath: errPath))
    return TrailRun(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// The Python reference's bundle verifier, when python3 with `cryptography` is installed (as
/// `make test` installs it).
func pythonBundleVerifier() -> (python: String, script: String)? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let script = root.appendingPathComponent("protocol/reference/bundle_ref.py").path
    for python in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: python) {
        if let r = try? run(python, ["-c", "import cryptography"], in: "/"), r.status == 0 { return (python, script) }
    }
    return nil
}

/// A blocking HTTP/1.1 GET on 127.0.0.1 (Connection: close); returns status and body.
func httpGet(port: Int, _ path: String) throws -> (status: Int, body: [UInt8]) {
    let s = try RawSocket(port: port)
    s.send(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(s.fd, $0.baseAddress, 65536, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    guard let split = response.indices.first(where: { i in i + 3 < response.count && response[i...i + 3].elementsEqual([13, 10, 13, 10]) }) else {
        throw TrailError(.connection, "no HTTP response")
    }
    let head = String(decoding: response[..<split], as: UTF8.self)
    let status = Int(head.split(separator: " ")[1]) ?? 0
    return (status, Array(response[(split + 4)...]))
}

func jsonObject(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

/// A real `trail serve` process on 127.0.0.1, started by a test and stopped by its pid.
final class ServeProcess {
    let process: Process
    let port: Int
    let httpPort: Int?
    let data: String

    /// Starts `trail serve` with its data in `data` on a random free port (and an HTTP port if
    /// `http`), and waits until it accepts connections.
    init(data: String, port: Int? = nil, http: Bool = false, _ extra: [String] = []) throws {
        self.data = data
        self.port = port ?? freePort()
        httpPort = http ? freePort() : nil
        process = Process()
        process.executableURL = URL(fileURLWithPath: trailExecutable())
        process.arguments =
            ["serve", "--data", data, "--listen", "127.0.0.1:\(self.port)", "--http", httpPort.map { "127.0.0.1:\($0)" } ?? "off",
             "--log-level", "error"] + extra
        try process.run()
        try waitUntilListening()
    }

    var pid: Int32 { process.processIdentifier }

    private func waitUntilListening() throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw TrailError(.connection, "trail serve exited with \(process.terminationStatus)") }
            if (try? RawSocket(port: port, timeoutSeconds: 1)) != nil, httpPort.map({ (try? RawSocket(port: $0, timeoutSeconds: 1)) != nil }) ?? true {
                return
            }
            usleep(20_000)
        }
        throw TrailError(.connection, "trail serve did not listen on \(port) within 20 s")
    }

    /// Resident memory of the process in bytes (VmRSS of /proc/<pid>/status).
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1])
        else { throw TrailError(.io, "no VmRSS for \(pid)") }
        return kb * 1024
    }

    func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait (the server drains and exits).
    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { kill9() }
    }

    deinit { if process.isRunning { kill9() } }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            _ = bind(fd, p, len)
            return getsockname(fd, p, &len)
        }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

extension RawSocket {
    /// Sends as much of `bytes` as the peer takes before a send blocks for `timeoutSeconds`;
    /// returns the number of bytes sent.
    func sendUntilBlocked(_ bytes: [UInt8], timeoutSeconds: Int) -> Int {
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            off += n
        }
        return off
    }

    /// Reads one server frame, expecting ERROR; returns its code.
    func readError() throws -> TrailError.Code {
        let m = try read()
        guard case .error(let code, _) = m else { throw TrailError(.malformedFrame, "expected ERROR, got \(m)") }
        return code
    }
}

/// A collector clock a test sets (ms since the epoch), for rules that run on collector time.
final class TestClock: Sendable {
    private let ms: Atomic<UInt64>
    init(_ start: UInt64) { ms = Atomic(start) }
    func set(_ v: UInt64) { ms.store(v, ordering: .relaxed) }
    var reading: @Sendable () -> UInt64 { { [ms = self] in ms.ms.load(ordering: .relaxed) } }
}
