import AgentTrail
import ArgumentParser
import Foundation
import TrailSegment

/// `trail bench segment`: compression ratio and encode/decode speed of one sealed segment of
/// corpus entries, for a grid of zstd levels and frame sizes (one core).
struct SegmentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment", abstract: "Seal corpus entries into one segment: ratio and speed per zstd level and frame size.")
    @Option(help: "k: the segment holds 2^k entries.") var bits = 16
    @Option(help: "A corpus from `trail bench gen` (default: sign 2^k entries of --agents agents).") var corpus: String?
    @Option(help: "Agents, when signing a corpus here.") var agents = 1000
    @Option(help: "Seed text, when signing a corpus here.") var seed = "agenttrail-bench"
    @Option(help: "zstd levels, comma-separated.") var levels = "1,3,6,9,12,19"
    @Option(help: "Records per frame, comma-separated.") var frameRecords = "4096"
    @Option(help: "Runs per setting (the fastest counts).") var runs = 3
    @Option(help: "Write the last segment here (to try `zstd -d` on it).") var out: String?
    @Flag(help: "One JSON object per setting.") var json = false

    func run() async throws {
        guard bits >= 0 && bits <= SegmentFormat.maxSegmentBits, runs >= 1 else {
            fail(TrailError(.invalidArgument, "need 0 <= bits <= \(SegmentFormat.maxSegmentBits) and runs >= 1"))
        }
        let n = 1 << bits
        var entries: [[UInt8]]
        if let corpus {
            do { entries = try Corpus.read(from: corpus).main.entries } catch { fail(error) }
            guard entries.count >= n else { fail(TrailError(.invalidArgument, "\(corpus) holds \(entries.count) entries, need \(n)")) }
            entries = Array(entries.prefix(n))
        } else {
            var o = CorpusOptions()
            o.agents = min(agents, n)
            o.entries = n
            o.seed = seed
            let bar = ProgressBar(total: n, label: "signed")
            entries = CorpusGenerator.generate(o) { bar.advance(by: $0) }.main.entries
            bar.finish()
        }
        let raw = entries.reduce(0) { $0 + $1.count }
        let parsedLevels = levels.split(separator: ",").compactMap { Int($0) }
        let parsedFrames = frameRecords.split(separator: ",").compactMap { Int($0) }
        guard !parsedLevels.isEmpty, !parsedFrames.isEmpty else { fail(TrailError(.invalidArgument, "no levels or frame sizes")) }
        if !json {
            print("\(n) entries, \(raw) raw bytes (\(String(format: "%.1f", Double(raw) / Double(n))) per entry)")
            print("level  frame  segment bytes  ratio   encode MB/s  open+verify MB/s  seek one record ms")
        }
        let clock = ContinuousClock()
        for frame in parsedFrames {
            for level in parsedLevels {
                let options = SegmentWriteOptions(level: level, maxFrameRecords: frame)
                var bytes: [UInt8] = []
                var encode = Double.infinity
                var decode = Double.infinity
                var seek = Double.infinity
                do {
                    for _ in 0..<runs {
                        let t0 = clock.now
                        bytes = try Segment.encode(segment: 0, segmentBits: bits, entries: entries, options: options)
                        let t1 = clock.now
                        let s = try Segment.open(bytes: bytes)
                        let t2 = clock.now
                        for r in stride(from: 0, to: n, by: max(1, n / 64)) { _ = try s.record(r) }
                        let t3 = clock.now
                        encode = min(encode, (t1 - t0).seconds)
                        decode = min(decode, (t2 - t1).seconds)
                        seek = min(seek, (t3 - t2).seconds / Double((n + max(1, n / 64) - 1) / max(1, n / 64)))
                    }
                } catch { fail(error) }
                let ratio = Double(bytes.count) / Double(raw)
                let mbps = { (s: Double) in Double(raw) / s / 1e6 }
                if json {
                    let o: [String: Any] = [
                        "bits": bits, "level": level, "frame_records": frame, "entries": n, "raw_bytes": raw,
                        "segment_bytes": bytes.count, "ratio": (ratio * 10000).rounded() / 10000,
                        "encode_mb_s": mbps(encode).rounded(), "open_mb_s": mbps(decode).rounded(),
                        "seek_ms": (seek * 1e5).rounded() / 100,
                    ]
                    let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print(String(format: "%5d  %5d  %13d  %.4f  %11.0f  %16.0f  %18.3f", level, frame, bytes.count, ratio, mbps(encode), mbps(decode), seek * 1000))
                }
                if let out { try writeFile(out, bytes) }
            }
        }
    }
}
