import ArgumentParser
import Foundation
import Logging
import NIOCore
import TrailCore
import TrailServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run a collector node with its data in a local folder.")

    @Option(help: "Data folder (LMDB environment and node key).") var data = "./data"
    @Option(help: "TCP address for the binary protocol.") var listen = "127.0.0.1:7411"
    @Option(help: "HTTP read API address, or 'off'.") var http = "127.0.0.1:7412"
    @Option(help: "Largest frame accepted, bytes.") var maxFrame: UInt32 = 1 << 20
    @Option(help: "Most entries in one APPEND batch (1-65535: APPEND's count is a u16).") var maxBatch: UInt32 = 1024
    @Option(help: "Unacknowledged bytes per connection before the server stops reading it.") var maxInflight: UInt32 = 8 << 20
    @Option(help: "Most concurrent connections.") var maxConnections = 1024
    @Option(help: "Seconds without traffic before a connection is closed (a partial frame is not traffic).")
    var idleTimeout: Double = 300
    @Option(help: "Seconds a new connection has to send HELLO.") var helloTimeout: Double = 5
    @Option(help: "Seconds a started frame has to arrive in full.") var frameTimeout: Double = 10
    @Option(help: "Entries waiting in the pipeline before batches are answered 'overloaded'.") var maxPending = 200_000
    @Option(help: "Entries per verification work item (batches are split across all cores).") var verifyChunk = 32
    @Option(help: ArgumentHelp("Entries per hash-index run (storage layout).", visibility: .hidden)) var hashRun = 65_536
    @Option(help: ArgumentHelp("Chain positions per chain block (storage layout).", visibility: .hidden)) var chainBlock = 64
    @Option(help: ArgumentHelp("Log entries after which a signer's positions are written (storage layout).", visibility: .hidden))
    var chainHorizon = 262_144
    @Flag(help: "Relaxed durability: do not fsync on commit (acknowledged entries may be lost on power failure).")
    var relaxed = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return h
        }
        let logger = Logger(label: "trail.serve")
        var c = Collector.Configuration()
        c.dataDirectory = data
        do {
            (c.host, c.port) = try parseAddress(listen)
            if http == "off" {
                c.httpHost = nil
            } else {
                let (h, p) = try parseAddress(http)
                c.httpHost = h
                c.httpPort = p
            }
        } catch { fail(error) }
        guard maxFrame >= ServerLimits.minimumFrame else {
            fail(TrailError(.invalidArgument, "--max-frame must be at least \(ServerLimits.minimumFrame)"))
        }
        guard (1...65535).contains(maxBatch) else {
            fail(TrailError(.invalidArgument, "--max-batch must be 1...65535 (APPEND's count is a u16)"))
        }
        c.limits = ServerLimits(maxFrame: maxFrame, maxBatch: maxBatch, maxInFlightBytes: maxInflight)
        c.maxConnections = maxConnections
        for (name, value) in [("--idle-timeout", idleTimeout), ("--hello-timeout", helloTimeout), ("--frame-timeout", frameTimeout)] {
            guard value > 0, value <= 86_400 else { fail(TrailError(.invalidArgument, "\(name) must be above 0 and at most 86400 seconds")) }
        }
        c.timeouts.idle = .nanoseconds(Int64(idleTimeout * 1e9))
        c.timeouts.hello = .nanoseconds(Int64(helloTimeout * 1e9))
        c.timeouts.frame = .nanoseconds(Int64(frameTimeout * 1e9))
        c.durable = !relaxed
        c.pipeline.maxPendingEntries = maxPending
        guard verifyChunk >= 1, hashRun >= 1, chainBlock >= 1, chainHorizon >= 1 else {
            fail(TrailError(.invalidArgument, "--verify-chunk, --hash-run, --chain-block and --chain-horizon must be at least 1"))
        }
        c.pipeline.verifyChunk = verifyChunk
        c.layout.hashRun = hashRun
        c.layout.chainBlock = chainBlock
        c.layout.chainHorizon = chainHorizon
        let collector: Collector
        do {
            collector = try Collector(configuration: c, logger: logger)
            try await collector.start()
        } catch { fail(error) }
        if relaxed { logger.warning("relaxed durability: commits are not fsync'd") }
        FileHandle.standardOutput.write(
            Data("trail: serving \(listen) (HTTP \(http)) with data in \(data); log key \(collector.checkpointer.verifierKey)\n".utf8))
        // Run until SIGINT/SIGTERM, then drain and stop.
        let signals = AsyncStream<Int32> { continuation in
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { continuation.yield(sig) }
                source.resume()
                SignalSources.keep(source)
            }
        }
        for await _ in signals { break }
        logger.info("shutting down")
        try await collector.shutdown()
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
    static func keep(_ s: DispatchSourceSignal) { sources.append(s) }
}

func parseAddress(_ s: String) throws -> (String, Int) {
    guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else {
        throw TrailError(.invalidArgument, "expected HOST:PORT, got \(s)")
    }
    return (String(s[..<colon]), port)
}
