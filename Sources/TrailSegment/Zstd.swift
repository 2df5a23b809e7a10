internal import CZstd
import TrailCore

/// One zstd compression context, owned by exactly one Swift value and freed with it. Not
/// copyable and not shared between threads: make one per writer.
struct ZstdCompressor: ~Copyable {
    private let context: OpaquePointer

    /// A context that writes frames with their content size and an XXH64 content checksum.
    init(level: Int) throws(TrailError) {
        guard let c = ZSTD_createCCtx() else { throw TrailError(.io, "zstd: cannot allocate a compression context") }
        do throws(TrailError) {
            try Self.check(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, Int32(level)), "compression level \(level)")
            try Self.check(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1), "checksum flag")
            try Self.check(ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1), "content size flag")
        } catch {
            ZSTD_freeCCtx(c)
            throw error
        }
        context = c
    }

    deinit { ZSTD_freeCCtx(context) }

    /// Compresses `source` into one complete zstd frame appended to `out`.
    func compressFrame(_ source: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) throws(TrailError) {
        let bound = ZSTD_compressBound(source.count)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: bound, alignment: 8)
        defer { scratch.deallocate() }
        let written = ZSTD_compress2(context, scratch.baseAddress, bound, source.baseAddress, source.count)
        guard ZSTD_isError(written) == 0 else {
            throw TrailError(.io, "zstd: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<written]))
    }

    private static func check(_ result: Int, _ what: String) throws(TrailError) {
        guard ZSTD_isError(result) == 0 else {
            throw TrailError(.invalidArgument, "zstd \(what): \(String(cString: ZSTD_getErrorName(result)))")
        }
    }
}

/// One zstd decompression context, owned by exactly one Swift value. Not copyable and not shared
/// between threads.
struct ZstdDecompressor: ~Copyable {
    private let context: OpaquePointer

    init() throws(TrailError) {
        guard let c = ZSTD_createDCtx() else { throw TrailError(.io, "zstd: cannot allocate a decompression context") }
        context = c
    }

    deinit { ZSTD_freeDCtx(context) }

    /// The length of the zstd frame that starts `source`, or nil if it is not one whole frame.
    static func frameLength(_ source: UnsafeRawBufferPointer) -> Int? {
        let n = ZSTD_findFrameCompressedSize(source.baseAddress, source.count)
        return ZSTD_isError(n) == 0 ? n : nil
    }

    /// Decompresses the single frame `source` into exactly `capacity` bytes (its checksum is
    /// verified by libzstd); returns the number of bytes written or the library's reason.
    func decompress(_ source: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Result<Int, ZstdFailure> {
        let n = ZSTD_decompressDCtx(context, out.baseAddress, out.count, source.baseAddress, source.count)
        guard ZSTD_isError(n) == 0 else { return .failure(ZstdFailure(reason: String(cString: ZSTD_getErrorName(n)))) }
        return .success(n)
    }
}

struct ZstdFailure: Error {
    let reason: String
}
