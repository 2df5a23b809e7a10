#!/usr/bin/env python3
"""Independent reference reader for AgentTrail sealed segments (protocol/SPEC.md section 5).

Written from the specification alone. Standard library only, plus the `zstd` command-line
tool (decompression, and compression for the vector generator) and, for checkpoints, the
other reference modules (notes_ref, which needs `cryptography`). Public API:

    parse_header(data, file_size=None, expected=None) -> Header    SPEC 5.4 steps 1-14
    read_segment(data, expected=None) -> Segment                   every step (1-16)
    record(data, header, r) -> bytes                               one record, one frame decompressed
    zstd_frame_length(frame) -> (content_size, length)             RFC 8878 frame walk (step 15)
    encode_segment(segment, k, entries, max_frame_records, level)  a writer (for the vectors)
    segment_inclusion_proof(leaves, k, segment)                    SPEC 5.5 (a)
    verify_segment_inclusion(root, k, segment, size, proof, tree_root)
    verify_segment_prefix(roots, k, size, proof, tree_root)        SPEC 5.5 (b): RFC 9162 consistency
    check_vectors(path, check) -> (valid, invalid)                 protocol/vectors/segments.json

Rejections raise SegmentError(code, name, message) with the codes of SPEC 5.6; proofs and
checkpoints raise agenttrail_ref.TrailError (SPEC 3.4).

    python3 segment_ref.py verify FILE [--segment N] [--bits K] [--root HEX]
                           [--checkpoint NOTE --log-key KEY --proof HEX,HEX,...]
    python3 segment_ref.py gen-vectors        # rewrites protocol/vectors/segments.json
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

VECTORS = os.path.join(HERE, "..", "vectors", "segments.json")

HEADER_FRAME_MAGIC = 0x184D2A5A
ZSTD_MAGIC = 0xFD2FB528
MAGIC = b"ATSEGMNT"
VERSION = 1
MAX_SEGMENT_BITS = 24
MAX_FRAME_CONTENT = 16 << 20
MIN_RECORD = 152
MAX_RECORD = 16384
FIXED_HEADER = 66
TABLE_ENTRY = 56
DIGEST = 32
MIN_PAYLOAD = FIXED_HEADER + TABLE_ENTRY + DIGEST
MAX_PAYLOAD = FIXED_HEADER + TABLE_ENTRY * (1 << MAX_SEGMENT_BITS) + DIGEST
ZSTD_TIMEOUT = 120

SEGMENT_ERRORS = {
    90: "malformed_segment",
    91: "segment_truncated",
    92: "not_a_segment",
    93: "unsupported_segment_version",
    94: "segment_header_corrupt",
    95: "segment_frame_corrupt",
    96: "segment_count_mismatch",
    97: "segment_limit_exceeded",
    98: "segment_root_mismatch",
    99: "unexpected_segment",
}
CODES = {v: k for k, v in SEGMENT_ERRORS.items()}

Frame = namedtuple("Frame", "offset compressed_size first_record record_count content_size digest")
Header = namedtuple("Header", "segment_bits segment record_count file_size root frames header_size")
Segment = namedtuple("Segment", "header records")


class SegmentError(Exception):
    """A rejection with one code of SPEC 5.6."""

    def __init__(self, name, message=""):
        self.code = CODES[name]
        self.name = name
        self.message = message
        super().__init__("%s (%d): %s" % (name, self.code, message))


def _fail(name, message):
    raise SegmentError(name, message)


def _le32(data, at):
    return struct.unpack_from("<I", data, at)[0]


def leaf_hash(entry):
    return hashlib.sha256(b"\x00" + bytes(entry)).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    """RFC 9162 MTH over leaf hashes (a local copy, so the reader needs no other module)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return bytes(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


# --------------------------------------------------------------------------
# Header (SPEC 5.2, 5.4 steps 1-14)
# --------------------------------------------------------------------------

def parse_header(data, file_size=None, expected=None):
    """Validate the header frame at the start of `data` for a file of `file_size` bytes
    (default len(data)). `expected` may hold `segment`, `segment_bits`, `root` (bytes)."""
    data = memoryview(bytes(data)) if not isinstance(data, memoryview) else data
    size = len(data) if file_size is None else file_size
    # 1-3: the skippable frame around the header.
    if size < 8 or len(data) < 8:
        _fail("segment_truncated", "%d bytes, shorter than a header frame's 8-byte prefix" % size)
    magic = _le32(data, 0)
    if magic != HEADER_FRAME_MAGIC:
        _fail("not_a_segment", "first frame magic 0x%08x, not 0x184d2a5a" % magic)
    payload_size = _le32(data, 4)
    if payload_size < MIN_PAYLOAD:
        _fail("malformed_segment", "header payload of %d bytes, at least %d" % (payload_size, MIN_PAYLOAD))
    if payload_size > MAX_PAYLOAD:
        _fail("segment_limit_exceeded", "header payload of %d bytes, limit %d" % (payload_size, MAX_PAYLOAD))
    header_size = 8 + payload_size
    if header_size > size or header_size > len(data):
        _fail("segment_truncated", "file of %d bytes ends inside its %d-byte header frame"
              % (size, header_size))
    payload = bytes(data[8:header_size])
    # 4-6: magic, version, digest.
    if payload[:8] != MAGIC:
        _fail("not_a_segment", "header magic %r is not ATSEGMNT" % payload[:8])
    if payload[8] != VERSION:
        _fail("unsupported_segment_version", "format version %d, only 1 is known" % payload[8])
    if hashlib.sha256(payload[:-DIGEST]).digest() != payload[-DIGEST:]:
        _fail("segment_header_corrupt", "header digest does not match")
    # 7-13: the fields.
    k = payload[9]
    segment, count, declared, root, frame_count = struct.unpack_from(">QIQ32sI", payload, 10)
    if k > MAX_SEGMENT_BITS:
        _fail("segment_limit_exceeded", "segment bits %d, limit %d" % (k, MAX_SEGMENT_BITS))
    records = 1 << k
    if count != records:
        _fail("segment_count_mismatch", "%d records declared, k = %d needs %d" % (count, k, records))
    if (segment + 1) << k > 1 << 64:
        _fail("malformed_segment", "segment %d of 2^%d entries is past the end of a 64-bit log"
              % (segment, k))
    if not 1 <= frame_count <= records:
        _fail("malformed_segment", "%d frames for %d records" % (frame_count, records))
    if payload_size != FIXED_HEADER + TABLE_ENTRY * frame_count + DIGEST:
        _fail("malformed_segment", "header payload of %d bytes for %d frames" % (payload_size, frame_count))
    if declared > size:
        _fail("segment_truncated", "file of %d bytes, header declares %d" % (size, declared))
    if declared != size:
        _fail("malformed_segment", "file of %d bytes, header declares %d" % (size, declared))
    frames = []
    offset, first = header_size, 0
    for j in range(frame_count):
        f = Frame(*struct.unpack_from(">QIIII32s", payload, FIXED_HEADER + TABLE_ENTRY * j))
        if f.content_size > MAX_FRAME_CONTENT:
            _fail("segment_limit_exceeded", "frame %d declares %d bytes, limit %d"
                  % (j, f.content_size, MAX_FRAME_CONTENT))
        if f.compressed_size > f.content_size + (f.content_size >> 7) + 1024:
            _fail("segment_limit_exceeded", "frame %d declares %d compressed bytes for %d"
                  % (j, f.compressed_size, f.content_size))
        if f.record_count < 1:
            _fail("malformed_segment", "frame %d holds no records" % j)
        if f.offset != offset:
            _fail("malformed_segment", "frame %d at offset %d, expected %d" % (j, f.offset, offset))
        if f.first_record != first:
            _fail("malformed_segment", "frame %d starts at record %d, expected %d" % (j, f.first_record, first))
        if not 1 <= f.compressed_size <= size - offset:
            _fail("malformed_segment", "frame %d of %d bytes does not fit" % (j, f.compressed_size))
        if first + f.record_count > records:
            _fail("segment_count_mismatch", "frames hold more than %d records" % records)
        if not f.record_count * (4 + MIN_RECORD) <= f.content_size <= f.record_count * (4 + MAX_RECORD):
            _fail("malformed_segment", "frame %d: %d bytes for %d records" % (j, f.content_size, f.record_count))
        frames.append(f)
        offset += f.compressed_size
        first += f.record_count
    if first != records:
        _fail("segment_count_mismatch", "frames hold %d records, the segment %d" % (first, records))
    if offset != size:
        _fail("malformed_segment", "frames end at %d, the file at %d" % (offset, size))
    header = Header(k, segment, records, size, root, frames, header_size)
    # 14: what the caller knows.
    expected = expected or {}
    if expected.get("segment") is not None and expected["segment"] != segment:
        _fail("unexpected_segment", "segment %d, expected %d" % (segment, expected["segment"]))
    if expected.get("segment_bits") is not None and expected["segment_bits"] != k:
        _fail("unexpected_segment", "k = %d, expected %d" % (k, expected["segment_bits"]))
    if expected.get("root") is not None and bytes(expected["root"]) != root:
        _fail("unexpected_segment", "root %s, expected %s" % (root.hex(), bytes(expected["root"]).hex()))
    return header


# --------------------------------------------------------------------------
# Data frames (SPEC 5.3, 5.4 step 15)
# --------------------------------------------------------------------------

def zstd_frame_length(frame):
    """Walk one zstd frame (RFC 8878 3.1.1): header fields, blocks, checksum. Returns
    (content_size, length, window_size); raises 95 unless the frame has a content size, a
    checksum and no dictionary."""
    frame = bytes(frame)

    def bad(why):
        _fail("segment_frame_corrupt", why)

    if len(frame) < 6 or _le32(frame, 0) != ZSTD_MAGIC:
        bad("not a zstd frame")
    fhd = frame[4]
    fcs_flag, single = fhd >> 6, bool(fhd & 0x20)
    if fhd & 0x08:
        bad("reserved frame header bit set")
    if not fhd & 0x04:
        bad("no content checksum")
    if fhd & 0x03:
        bad("uses a dictionary")
    at = 5
    window = 0
    if not single:
        wd = frame[at]
        at += 1
        base = 1 << (10 + (wd >> 3))
        window = base + (base // 8) * (wd & 7)
    fcs_size = [1 if single else 0, 2, 4, 8][fcs_flag]
    if fcs_size == 0:
        bad("no content size")
    if len(frame) < at + fcs_size:
        bad("frame header cut short")
    fcs = int.from_bytes(frame[at:at + fcs_size], "little") + (256 if fcs_size == 2 else 0)
    at += fcs_size
    if single:
        window = fcs
    while True:
        if len(frame) < at + 3:
            bad("frame ends inside a block header")
        b = int.from_bytes(frame[at:at + 3], "little")
        at += 3
        last, btype, bsize = b & 1, (b >> 1) & 3, b >> 3
        if btype == 3:
            bad("reserved block type")
        at += 1 if btype == 1 else bsize
        if at > len(frame):
            bad("frame ends inside a block")
        if last:
            break
    at += 4
    if at > len(frame):
        bad("frame ends inside its checksum")
    return fcs, at, window


def _zstd():
    path = shutil.which("zstd")
    if path is None:
        raise RuntimeError("the zstd command-line tool is required (apt-get install -y zstd)")
    return path


def zstd_decompress(data):
    """`zstd -d` of `data` (frames, skippable ones ignored), or None if zstd refuses it."""
    p = subprocess.run([_zstd(), "-d", "-q", "-c"], input=bytes(data), capture_output=True,
                       timeout=ZSTD_TIMEOUT)
    return p.stdout if p.returncode == 0 else None


def zstd_compress(content, level):
    """One zstd frame with content size and checksum, made by the zstd tool."""
    p = subprocess.run([_zstd(), "-q", "-c", "-%d" % level, "--check",
                        "--stream-size=%d" % len(content)],
                       input=bytes(content), capture_output=True, timeout=ZSTD_TIMEOUT, check=True)
    return p.stdout


def _check_frame(data, f, j):
    raw = data[f.offset:f.offset + f.compressed_size]
    if hashlib.sha256(raw).digest() != f.digest:
        _fail("segment_frame_corrupt", "frame %d: SHA-256 differs from the offset table's" % j)
    fcs, length, window = zstd_frame_length(raw)
    if fcs != f.content_size:
        _fail("segment_frame_corrupt", "frame %d content size %d, table %d" % (j, fcs, f.content_size))
    if window > MAX_FRAME_CONTENT:
        _fail("segment_frame_corrupt", "frame %d window of %d bytes" % (j, window))
    if length != f.compressed_size:
        _fail("segment_frame_corrupt", "frame %d is %d bytes, table %d" % (j, length, f.compressed_size))


def _records(content, f, j):
    out = []
    at = 0
    while at < len(content):
        if len(content) - at < 4:
            _fail("malformed_segment", "frame %d ends inside a record length" % j)
        n = struct.unpack_from(">I", content, at)[0]
        at += 4
        if n > MAX_RECORD:
            _fail("segment_limit_exceeded", "record %d is %d bytes" % (f.first_record + len(out), n))
        if n < MIN_RECORD:
            _fail("malformed_segment", "record %d is %d bytes" % (f.first_record + len(out), n))
        if len(content) - at < n:
            _fail("malformed_segment", "frame %d ends inside record %d" % (j, f.first_record + len(out)))
        out.append(bytes(content[at:at + n]))
        at += n
    if len(out) != f.record_count:
        _fail("segment_count_mismatch", "frame %d holds %d records, table %d" % (j, len(out), f.record_count))
    return out


def _frame_content(data, f, j):
    _check_frame(data, f, j)
    content = zstd_decompress(data[f.offset:f.offset + f.compressed_size])
    if content is None:
        _fail("segment_frame_corrupt", "frame %d does not decompress (zstd -d failed)" % j)
    if len(content) != f.content_size:
        _fail("segment_frame_corrupt", "frame %d decompresses to %d bytes" % (j, len(content)))
    return content


def read_segment(data, expected=None):
    """Every step of SPEC 5.4: header, frames in order, records, root. One `zstd -d` over
    the whole file when it succeeds; otherwise frame by frame, to report the first failure
    in order."""
    data = bytes(data)
    header = parse_header(data, expected=expected)
    whole = zstd_decompress(data)
    records = []
    at = 0
    for j, f in enumerate(header.frames):
        if whole is not None and len(whole) == sum(x.content_size for x in header.frames):
            _check_frame(data, f, j)
            content = whole[at:at + f.content_size]
            at += f.content_size
        else:
            content = _frame_content(data, f, j)
        records.extend(_records(content, f, j))
    root = mth([leaf_hash(r) for r in records])
    if root != header.root:
        _fail("segment_root_mismatch", "records give root %s, header %s" % (root.hex(), header.root.hex()))
    return Segment(header, records)


def frame_of(header, r):
    for j, f in enumerate(header.frames):
        if f.first_record <= r < f.first_record + f.record_count:
            return j
    raise IndexError("record %d outside the segment" % r)


def record(data, header, r):
    """Record r, decompressing only the frame that holds it."""
    j = frame_of(header, r)
    f = header.frames[j]
    return _records(_frame_content(bytes(data), f, j), f, j)[r - f.first_record]


# --------------------------------------------------------------------------
# Writer (SPEC 5.1-5.3), used to make the vectors
# --------------------------------------------------------------------------

def _header_bytes(k, segment, count, file_size, root, frames, version=VERSION, magic=MAGIC,
                  digest=None, frame_magic=HEADER_FRAME_MAGIC, payload_size=None):
    body = magic + bytes([version, k]) + struct.pack(">QIQ32sI", segment, count, file_size, root, len(frames))
    for f in frames:
        body += struct.pack(">QIIII32s", *f)
    payload = body + (hashlib.sha256(body).digest() if digest is None else digest)
    size = len(payload) if payload_size is None else payload_size
    return struct.pack("<II", frame_magic, size) + payload


def encode_segment(segment, k, entries, max_frame_records=1024, level=9, contents=None):
    """A segment of the 2^k `entries`; frames of at most `max_frame_records` records.
    `contents` may replace the decompressed content of each frame (for invalid vectors)."""
    if len(entries) != 1 << k:
        raise ValueError("a segment of k = %d holds %d entries" % (k, 1 << k))
    groups = [entries[i:i + max_frame_records] for i in range(0, len(entries), max_frame_records)]
    if contents is None:
        contents = [b"".join(struct.pack(">I", len(e)) + e for e in g) for g in groups]
    blobs = [zstd_compress(c, level) for c in contents]
    header_size = 8 + FIXED_HEADER + TABLE_ENTRY * len(blobs) + DIGEST
    frames, offset, first = [], header_size, 0
    for g, c, b in zip(groups, contents, blobs):
        frames.append(Frame(offset, len(b), first, len(g), len(c), hashlib.sha256(b).digest()))
        offset += len(b)
        first += len(g)
    root = mth([leaf_hash(e) for e in entries])
    return _header_bytes(k, segment, 1 << k, offset, root, frames) + b"".join(blobs)


# --------------------------------------------------------------------------
# Checking a segment against a checkpoint (SPEC 5.5)
# --------------------------------------------------------------------------

def segment_inclusion_proof(leaves, k, segment):
    """(a): PATH(segment, D') over the level-k nodes D' of the tree of len(leaves) leaves."""
    import notes_ref as nr
    span = 1 << k
    nodes = [mth(leaves[i:i + span]) for i in range(0, len(leaves), span)]
    return nr.inclusion_proof(nodes, segment)


def verify_segment_inclusion(seg_root, k, segment, size, proof, tree_root):
    """(a): the segment's root is node (k, segment) of the tree of `size` leaves with root
    `tree_root`, by RFC 9162 2.1.3.2 over ceil(size / 2^k) level-k nodes."""
    import notes_ref as nr
    import agenttrail_ref as at
    if (segment + 1) << k > size:
        raise at.TrailError(30, "index_out_of_range", "segment %d of 2^%d entries is not complete in a "
                            "tree of %d" % (segment, k, size))
    nr.verify_inclusion(seg_root, segment, (size + (1 << k) - 1) >> k, proof, tree_root)


def verify_segment_prefix(roots, k, size, proof, tree_root):
    """(b): `roots` are the roots of segments 0..i; their MTH is the root of the log's first
    (i+1) * 2^k entries, which an RFC 9162 consistency proof ties to the tree of `size`."""
    import agenttrail_ref as at
    import notes_ref as nr
    m = len(roots) << k
    if not roots or m > size:
        raise at.TrailError(30, "index_out_of_range", "%d segments of 2^%d entries are not complete in a "
                            "tree of %d" % (len(roots), k, size))
    nr.verify_consistency(m, size, mth(list(roots)), tree_root, proof)


# --------------------------------------------------------------------------
# Vectors (SPEC 5.7)
# --------------------------------------------------------------------------

def _vector_log():
    """The log of the vectors: the valid entries of entries.json, then freshly signed
    actions by one agent, 37 entries in all."""
    import agenttrail_ref as at
    with open(os.path.join(HERE, "..", "vectors", "entries.json"), encoding="utf-8") as f:
        entries = [bytes.fromhex(v["encoded"]) for v in json.load(f)["valid"]]
    seed = hashlib.sha256(b"agenttrail-segment-vector-agent").digest()
    prev = bytes(32)
    for seq in range(37 - len(entries)):
        e = {"version": 1, "kind": "action", "signer": at.public_key(seed).hex(), "seq": seq,
             "timestamp_ms": 1763900000000 + 1000 * seq, "prev": prev.hex(),
             "body": {"action_type": "post_reply", "target": "forum.example.com/t/%d" % seq,
                      "content_hash": hashlib.sha256(b"segment-vector-%d" % seq).hexdigest(),
                      "model_id": "model-a", "latency_ms": 200 + seq, "flags": []}}
        data = at.encode(e, seed)
        entries.append(data)
        prev = at.entry_hash(data)
    return entries


NODE_SEED = hashlib.sha256(b"agenttrail-segment-vector-node").digest()
ORIGIN = "agenttrail.local/segment-vectors"


def gen_vectors(path=VECTORS):
    import notes_ref as nr
    log = _vector_log()
    leaves = [leaf_hash(e) for e in log]
    size = len(log)
    root = mth(leaves)
    checkpoint = nr.sign_note(nr.format_checkpoint(ORIGIN, size, root), ORIGIN, NODE_SEED)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    public = Ed25519PrivateKey.from_private_bytes(NODE_SEED).public_key().public_bytes_raw()
    doc = {"log": {"size": size, "root": root.hex(), "checkpoint": checkpoint.decode("utf-8"),
                   "log_key": nr.verifier_key(ORIGIN, public),
                   "entry_hashes": [h.hex() for h in leaves]},
           "valid": [], "invalid": []}

    def valid(name, k, segment, max_frame_records):
        entries = log[segment << k:(segment + 1) << k]
        data = encode_segment(segment, k, entries, max_frame_records)
        h = parse_header(data)
        m = (segment + 1) << k
        doc["valid"].append({
            "name": name, "hex": data.hex(), "segment_bits": k, "segment": segment,
            "root": h.root.hex(), "first_index": segment << k,
            "frames": [[f.first_record, f.record_count] for f in h.frames],
            "inclusion_proof": [x.hex() for x in segment_inclusion_proof(leaves, k, segment)],
            "consistency_proof": [x.hex() for x in nr.consistency_proof(leaves, m)] if m < size else [],
        })
        return data, entries

    for i in range(9):
        valid("k2_segment_%d" % i, 2, i, [2, 4, 1, 3, 2, 4, 4, 4, 1][i])
    base, entries = valid("k4_segment_0", 4, 0, 5)
    valid("k4_segment_1", 4, 1, 1024)
    valid("k0_segment_36", 0, 36, 1)
    k4 = parse_header(base)

    def invalid(name, data, code, expected=None):
        v = {"name": name, "hex": bytes(data).hex(), "error": SEGMENT_ERRORS[code], "code": code}
        if expected:
            v["expected"] = expected
        doc["invalid"].append(v)

    def reheader(**changes):
        """k4_segment_0 with header fields changed and the digest recomputed."""
        fields = dict(k=4, segment=0, count=16, file_size=len(base), root=k4.root, frames=k4.frames)
        fields.update(changes)
        raw = _header_bytes(fields.pop("k"), fields.pop("segment"), fields.pop("count"),
                            fields.pop("file_size"), fields.pop("root"), fields.pop("frames"), **fields)
        return raw + base[k4.header_size:]

    hs = k4.header_size
    f0 = k4.frames[0]
    invalid("empty_file", b"", 91)
    invalid("cut_in_header_prefix", base[:5], 91)
    invalid("cut_in_header", base[:hs - 1], 91)
    invalid("header_only", base[:hs], 91)
    invalid("cut_in_first_frame", base[:f0.offset + f0.compressed_size // 2], 91)
    invalid("cut_before_last_byte", base[:-1], 91)
    invalid("trailing_byte", base + b"\x00", 90)
    invalid("plain_zstd_stream", zstd_compress(b"".join(struct.pack(">I", len(e)) + e for e in entries), 3), 92)
    invalid("other_skippable_magic", struct.pack("<I", 0x184D2A50) + base[4:], 92)
    invalid("bad_magic", reheader(magic=b"ATSEGMNX"), 92)
    invalid("version_2", reheader(version=2), 93)
    flipped = bytearray(base)
    flipped[8 + 20] ^= 0x01
    invalid("flipped_byte_in_header_root", flipped, 94)
    flipped = bytearray(base)
    flipped[8 + FIXED_HEADER + 3] ^= 0x40
    invalid("flipped_byte_in_offset_table", flipped, 94)
    flipped = bytearray(base)
    flipped[hs - 1] ^= 0x80
    invalid("flipped_byte_in_digest", flipped, 94)
    invalid("header_payload_too_small", struct.pack("<II", HEADER_FRAME_MAGIC, MIN_PAYLOAD - 1) + base[8:], 90)
    invalid("header_payload_oversized", struct.pack("<II", HEADER_FRAME_MAGIC, MAX_PAYLOAD + 1) + base[8:], 97)
    invalid("header_payload_past_file", struct.pack("<II", HEADER_FRAME_MAGIC, len(base)) + base[8:], 91)
    invalid("segment_bits_25", reheader(k=25), 97)
    invalid("wrong_record_count", reheader(count=15), 96)
    invalid("segment_past_64_bits", reheader(segment=1 << 60), 90)
    invalid("no_frames", reheader(frames=[]), 90)
    invalid("declared_size_larger", reheader(file_size=len(base) + 1), 91)
    invalid("declared_size_smaller", reheader(file_size=len(base) - 1), 90)
    fr = list(k4.frames)
    invalid("frame_content_oversized", reheader(frames=[fr[0]._replace(content_size=MAX_FRAME_CONTENT + 1)] + fr[1:]), 97)
    invalid("frame_compressed_oversized", reheader(frames=[fr[0]._replace(
        compressed_size=fr[0].content_size + (fr[0].content_size >> 7) + 1025)] + fr[1:]), 97)
    invalid("frame_without_records", reheader(frames=[fr[0]._replace(record_count=0)] + fr[1:]), 90)
    invalid("frame_offset_gap", reheader(frames=[fr[0], fr[1]._replace(offset=fr[1].offset + 1)] + fr[2:]), 90)
    invalid("frame_first_record_wrong", reheader(frames=[fr[0], fr[1]._replace(first_record=4)] + fr[2:]), 90)
    invalid("frames_hold_too_many_records", reheader(frames=fr[:-1] + [fr[-1]._replace(record_count=2)]), 96)
    moved = [fr[0]._replace(record_count=4), fr[1]._replace(first_record=4, record_count=6)] + fr[2:]
    invalid("frame_record_count_shifted", reheader(frames=moved), 96)
    invalid("frame_content_size_differs", reheader(frames=[fr[0]._replace(content_size=fr[0].content_size + 1)] + fr[1:]), 95)
    invalid("wrong_root", reheader(root=bytes.fromhex(doc["valid"][-2]["root"])), 98)
    flipped = bytearray(base)
    flipped[f0.offset + f0.compressed_size // 2] ^= 0x10
    invalid("flipped_byte_in_first_frame", flipped, 95)
    flipped = bytearray(base)
    flipped[-2] ^= 0x01
    invalid("flipped_byte_in_last_checksum", flipped, 95)
    flipped = bytearray(base)
    flipped[f0.offset] ^= 0x01
    invalid("flipped_zstd_magic", flipped, 95)
    # The same flips with the table's digest made to match: zstd itself must catch them.
    for what, pos in (("block", f0.offset + f0.compressed_size // 2), ("checksum", f0.offset + f0.compressed_size - 2)):
        flipped = bytearray(base)
        flipped[pos] ^= 0x10
        blob = bytes(flipped[f0.offset:f0.offset + f0.compressed_size])
        forged = [fr[0]._replace(digest=hashlib.sha256(blob).digest())] + fr[1:]
        invalid("flipped_%s_byte_digest_forged" % what, reheader(frames=forged)[:hs] + bytes(flipped[hs:]), 95)

    def recontent(frame_contents, records_per_frame=None):
        """k4_segment_0's header over other frame contents (digest recomputed)."""
        counts = records_per_frame or [f.record_count for f in k4.frames]
        blobs = [zstd_compress(c, 9) for c in frame_contents]
        offset, first, frames = 8 + FIXED_HEADER + TABLE_ENTRY * len(blobs) + DIGEST, 0, []
        for n, c, b in zip(counts, frame_contents, blobs):
            frames.append(Frame(offset, len(b), first, n, len(c), hashlib.sha256(b).digest()))
            offset += len(b)
            first += n
        return _header_bytes(4, 0, 16, offset, k4.root, frames) + b"".join(blobs)

    groups = [entries[f.first_record:f.first_record + f.record_count] for f in k4.frames]
    contents = [b"".join(struct.pack(">I", len(e)) + e for e in g) for g in groups]
    altered = bytearray(contents[1])
    altered[4 + 40] ^= 0x01
    invalid("frames_hold_too_few_records",
            recontent(contents[:-1], [f.record_count for f in k4.frames[:-1]]), 96)
    invalid("altered_entry_recompressed", recontent([contents[0], bytes(altered)] + contents[2:]), 98)
    short = contents[:1] + [struct.pack(">I", 151) + bytes(151) + contents[1][4 + len(groups[1][0]):]] + contents[2:]
    invalid("record_shorter_than_an_entry", recontent(short), 90)
    big = contents[:1] + [struct.pack(">I", MAX_RECORD + 1) + contents[1][4:]] + contents[2:]
    invalid("record_longer_than_limit", recontent(big), 97)
    invalid("record_crosses_frame_end", recontent([contents[0] + b"\x00\x00\x01\x00"] + contents[1:]), 90)
    nocheck = subprocess.run([_zstd(), "-q", "-c", "-9", "--no-check", "--stream-size=%d" % len(contents[0])],
                             input=contents[0], capture_output=True, check=True).stdout
    blobs = [nocheck] + [zstd_compress(c, 9) for c in contents[1:]]
    offset, frames = hs, []
    for f, b in zip(k4.frames, blobs):
        frames.append(f._replace(offset=offset, compressed_size=len(b), digest=hashlib.sha256(b).digest()))
        offset += len(b)
    invalid("frame_without_checksum", _header_bytes(4, 0, 16, offset, k4.root, frames) + b"".join(blobs), 95)
    invalid("expected_other_root", base, 99, {"root": doc["valid"][-2]["root"]})
    invalid("expected_other_segment", base, 99, {"segment": 1})
    invalid("expected_other_bits", base, 99, {"segment_bits": 2})
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    return doc


def _expected(v):
    e = v.get("expected") or {}
    out = dict(e)
    if "root" in out:
        out["root"] = bytes.fromhex(out["root"])
    return out


def check_vectors(path, check):
    """Check protocol/vectors/segments.json with `check(name, cond, detail="")`; returns
    (valid, invalid) counts."""
    import agenttrail_ref as at
    import notes_ref as nr
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    log = doc["log"]
    cp = nr.open_checkpoint(log["checkpoint"].encode("utf-8"), log["log_key"])
    check("segments/checkpoint", cp.size == log["size"] and cp.root.hex() == log["root"])
    leaves = [bytes.fromhex(x) for x in log["entry_hashes"]]
    check("segments/log root", mth(leaves) == cp.root)
    roots_by_k = {}
    for v in doc["valid"]:
        name = "segments/valid/" + v["name"]
        data = bytes.fromhex(v["hex"])
        k, i = v["segment_bits"], v["segment"]
        try:
            seg = read_segment(data, {"segment": i, "segment_bits": k, "root": bytes.fromhex(v["root"])})
        except SegmentError as e:
            check(name + " reads", False, str(e))
            continue
        h = seg.header
        first = v["first_index"]
        check(name + " header", h.segment_bits == k and h.segment == i and first == i << k
              and h.root.hex() == v["root"])
        check(name + " records are the log's entries",
              [leaf_hash(r) for r in seg.records] == leaves[first:first + (1 << k)])
        check(name + " records decode", all(at.decode(r) is not None for r in seg.records))
        check(name + " frames", [[f.first_record, f.record_count] for f in h.frames] == v["frames"])
        whole = zstd_decompress(data)
        check(name + " zstd -d prints the records",
              whole == b"".join(struct.pack(">I", len(r)) + r for r in seg.records))
        check(name + " seek", all(record(data, h, r) == seg.records[r] for r in range(h.record_count)))
        proof = [bytes.fromhex(x) for x in v["inclusion_proof"]]
        verify_segment_inclusion(h.root, k, i, cp.size, proof, cp.root)
        check(name + " inclusion in checkpoint", True)
        check(name + " inclusion proof = leaf path without its first k hashes",
              nr.inclusion_proof(leaves, first)[k:] == proof)
        roots_by_k.setdefault(k, {})[i] = h.root
        roots = roots_by_k[k]
        if all(j in roots for j in range(i + 1)) and (i + 1) << k <= cp.size:
            cproof = [bytes.fromhex(x) for x in v["consistency_proof"]]
            verify_segment_prefix([roots[j] for j in range(i + 1)], k, cp.size, cproof, cp.root)
            check(name + " consistency with checkpoint", True)
        # Tampering the proofs is caught.
        if proof:
            bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1])] + proof[1:]
            try:
                verify_segment_inclusion(h.root, k, i, cp.size, bad, cp.root)
                check(name + " bad inclusion proof rejected", False)
            except at.TrailError as e:
                check(name + " bad inclusion proof rejected", e.code == 33)
        # Every cut and single-byte flip is rejected (sampled).
        n = len(data)
        cuts = range(n) if n <= 600 else sorted(set(range(0, n, max(1, n // 150))) | {n - 1})
        got = set()
        for c in cuts:
            try:
                read_segment(data[:c])
                got.add("accepted")
            except SegmentError as e:
                got.add(e.code)
        check(name + " every cut is truncated", got == {91}, "got %s" % got)
        step = max(1, n // 60)
        accepted = []
        for pos in range(0, n, step):
            m = bytearray(data)
            m[pos] ^= 0x20
            try:
                read_segment(bytes(m))
                accepted.append(pos)
            except SegmentError:
                pass
        check(name + " byte flips rejected", not accepted, "accepted at %s" % accepted[:5])
    for v in doc["invalid"]:
        name = "segments/invalid/" + v["name"]
        check(name + " code/name", SEGMENT_ERRORS.get(v["code"]) == v["error"])
        try:
            read_segment(bytes.fromhex(v["hex"]), _expected(v))
            check(name, False, "accepted")
        except SegmentError as e:
            check(name, e.code == v["code"], "expected %d, got %s" % (v["code"], e))
    codes = {v["code"] for v in doc["invalid"]}
    check("segments/coverage codes", codes == set(SEGMENT_ERRORS), "missing %s" % (set(SEGMENT_ERRORS) - codes))
    return len(doc["valid"]), len(doc["invalid"])


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="validate a segment file")
    v.add_argument("file")
    v.add_argument("--segment", type=int)
    v.add_argument("--bits", type=int)
    v.add_argument("--root")
    v.add_argument("--checkpoint", help="a checkpoint note file")
    v.add_argument("--log-key")
    v.add_argument("--proof", default="", help="SPEC 5.5 (a) inclusion proof: hex hashes, comma-separated")
    sub.add_parser("gen-vectors", help="rewrite protocol/vectors/segments.json")
    a = p.parse_args(argv)
    if a.cmd == "gen-vectors":
        doc = gen_vectors()
        print("%d valid, %d invalid segment vectors" % (len(doc["valid"]), len(doc["invalid"])))
        return 0
    try:
        with open(a.file, "rb") as f:
            data = f.read()
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    expected = {"segment": a.segment, "segment_bits": a.bits,
                "root": bytes.fromhex(a.root) if a.root else None}
    try:
        seg = read_segment(data, expected)
        h = seg.header
        summary = {"segment": h.segment, "segment_bits": h.segment_bits, "root": h.root.hex(),
                   "first_index": h.segment << h.segment_bits, "records": len(seg.records),
                   "frames": len(h.frames), "bytes": len(data),
                   "content_bytes": sum(f.content_size for f in h.frames),
                   "entry_hashes_sha256": hashlib.sha256(b"".join(leaf_hash(r) for r in seg.records)).hexdigest()}
        if a.checkpoint:
            import notes_ref as nr
            with open(a.checkpoint, "rb") as f:
                cp = nr.open_checkpoint(f.read(), a.log_key)
            proof = [bytes.fromhex(x) for x in a.proof.split(",") if x]
            verify_segment_inclusion(h.root, h.segment_bits, h.segment, cp.size, proof, cp.root)
            summary["checkpoint_size"] = cp.size
    except SegmentError as e:
        print("invalid: %s (%d): %s" % (e.name, e.code, e.message))
        return 1
    except Exception as e:  # noqa: BLE001 (proof and checkpoint errors)
        if hasattr(e, "code") and hasattr(e, "name"):
            print("invalid: %s (%d): %s" % (e.name, e.code, getattr(e, "message", "")))
            return 1
        raise
    print("valid: " + json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
