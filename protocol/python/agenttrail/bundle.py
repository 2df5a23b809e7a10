"""AgentTrail proof bundles (protocol/SPEC.md section 4): layout, chain statements and
the offline verifier, written from the SPEC alone (no Swift code). Public API:

    parse_bundle(data) -> Bundle                  strict layout (4.1); 50
    encode_bundle(log_key, checkpoint, statement, records, check=True) -> bytes
    parse_statement_text(text) -> Statement       chain statement text (4.2); 51
    format_statement(signer, tree_size, from_seq, through_seq, head_seq, head_hash) -> bytes
    open_statement(note, key) -> Statement        open the note (34, 40, 34, 41), then 51
    record_tlog_proof(bundle, i) -> bytes         record i with the checkpoint as a tlog-proof@v1
    verify_bundle(path_or_bytes, trusted_key) -> dict   SPEC 4.3 steps 1-9, first failure raised

Records are Record(index, entry, proof) with `proof` a list of 32-byte hashes. Every
rejection raises agenttrail.TrailError with the codes of SPEC 1.6, 3.4 and 4.3; the
message names the record position and seq. A malformed `trusted_key` raises
invalid_verifier_key (38) before the bundle is read.

Command line (also protocol/reference/bundle_ref.py):
    python3 -m agenttrail verify FILE --log-key KEY
prints `valid: ...` and exits 0, or `invalid: <name> (<code>): <message>` and exits 1
(2 for a malformed --log-key or an unreadable file; FILE `-` reads standard input).
"""

import argparse
import base64
import os
import struct
import sys
from collections import namedtuple

from . import codec as at
from . import notes as nr
from .errors import TrailError

__all__ = [
    "Bundle", "Record", "Statement", "MAGIC", "parse_bundle", "encode_bundle",
    "parse_statement_text", "format_statement", "open_statement", "record_tlog_proof",
    "verify_bundle", "main",
]

MAGIC = b"ATBUNDL1"
MAX_LOG_KEY = 1024
MAX_NOTE = 65536
MIN_ENTRY = 152                       # 86-byte header, empty body, 2 + 64 signature
MAX_ENTRY = at.MAX_ENTRY_SIZE         # 16384
MAX_PROOF = 64
MIN_RECORD = 8 + 4 + MIN_ENTRY + 1    # 165
STATEMENT_HEADER = "agenttrail/chain/v1"
SEQ_OFFSET = 34                       # version, kind, signer

Record = namedtuple("Record", "index entry proof")
Bundle = namedtuple("Bundle", "log_key checkpoint statement records")
Statement = namedtuple("Statement", "signer did tree_size from_seq through_seq head_seq head_hash")


def _fail(name, message):
    raise TrailError(at.CODES[name], name, message)


def _claimed_seq(entry):
    """The seq field of an entry (present in anything of MIN_ENTRY bytes or more)."""
    return struct.unpack(">Q", entry[SEQ_OFFSET:SEQ_OFFSET + 8])[0]


def _where(i, entry):
    if entry is not None and len(entry) >= SEQ_OFFSET + 8:
        return "record %d (seq %d)" % (i, _claimed_seq(entry))
    return "record %d" % i


# --------------------------------------------------------------------------
# Layout (SPEC 4.1)
# --------------------------------------------------------------------------

class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n, what):
        if n > self.remaining():
            _fail("malformed_bundle", "input ends inside %s (%d bytes needed, %d left)"
                  % (what, n, self.remaining()))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, size, what):
        return int.from_bytes(self.take(size, what), "big")


def parse_bundle(data):
    """Parse the layout of SPEC 4.1; every length is bounded before it is read.
    Any defect is malformed_bundle (50)."""
    r = _Cursor(bytes(data))
    if r.take(len(MAGIC), "magic") != MAGIC:
        _fail("malformed_bundle", "magic is not ATBUNDL1")
    n = r.uint(2, "log_key length")
    if not 1 <= n <= MAX_LOG_KEY:
        _fail("malformed_bundle", "log_key length %d outside 1..%d" % (n, MAX_LOG_KEY))
    try:
        log_key = r.take(n, "log_key").decode("utf-8", "strict")
    except UnicodeDecodeError:
        _fail("malformed_bundle", "log_key is not UTF-8")
    notes = []
    for what in ("checkpoint", "statement"):
        n = r.uint(4, what + "_len")
        if not 1 <= n <= MAX_NOTE:
            _fail("malformed_bundle", "%s_len %d outside 1..%d" % (what, n, MAX_NOTE))
        notes.append(r.take(n, what))
    count = r.uint(8, "count")
    if count > r.remaining() // MIN_RECORD:
        _fail("malformed_bundle", "count %d exceeds the %d remaining bytes / %d"
              % (count, r.remaining(), MIN_RECORD))
    records = []
    for i in range(count):
        index = r.uint(8, "record %d index" % i)
        n = r.uint(4, "record %d entry_len" % i)
        if not MIN_ENTRY <= n <= MAX_ENTRY:
            _fail("malformed_bundle", "record %d: entry_len %d outside %d..%d"
                  % (i, n, MIN_ENTRY, MAX_ENTRY))
        entry = r.take(n, "record %d entry" % i)
        where = _where(i, entry)
        k = r.uint(1, where + " proof_count")
        if k > MAX_PROOF:
            _fail("malformed_bundle", "%s: proof_count %d exceeds %d" % (where, k, MAX_PROOF))
        proof = [r.take(32, "%s proof hash %d" % (where, j)) for j in range(k)]
        records.append(Record(index, entry, proof))
    if r.remaining():
        _fail("malformed_bundle", "%d bytes after the last record" % r.remaining())
    return Bundle(log_key, notes[0], notes[1], records)


def encode_bundle(log_key, checkpoint, statement, records, check=True):
    """Serialize a bundle. `records` are Record or (index, entry, proof) tuples. With
    check=False only the field widths are enforced, so tests can build bundles that
    break the SPEC 4.1 limits."""
    key = log_key.encode("utf-8") if isinstance(log_key, str) else bytes(log_key)
    checkpoint, statement = bytes(checkpoint), bytes(statement)
    if check:
        if not 1 <= len(key) <= MAX_LOG_KEY:
            raise ValueError("log_key must be 1..%d bytes" % MAX_LOG_KEY)
        for what, note in (("checkpoint", checkpoint), ("statement", statement)):
            if not 1 <= len(note) <= MAX_NOTE:
                raise ValueError("%s must be 1..%d bytes" % (what, MAX_NOTE))
    out = [MAGIC, struct.pack(">H", len(key)), key,
           struct.pack(">I", len(checkpoint)), checkpoint,
           struct.pack(">I", len(statement)), statement,
           struct.pack(">Q", len(records))]
    for index, entry, proof in records:
        entry = bytes(entry)
        if check:
            if not MIN_ENTRY <= len(entry) <= MAX_ENTRY:
                raise ValueError("entry must be %d..%d bytes" % (MIN_ENTRY, MAX_ENTRY))
            if len(proof) > MAX_PROOF or any(len(h) != 32 for h in proof):
                raise ValueError("proof must be at most %d hashes of 32 bytes" % MAX_PROOF)
        out += [struct.pack(">QI", index, len(entry)), entry, struct.pack(">B", len(proof))]
        out += [bytes(h) for h in proof]
    return b"".join(out)


def record_tlog_proof(bundle, i):
    """Record i of a parsed bundle with its checkpoint, as a C2SP tlog-proof@v1 text."""
    rec = bundle.records[i]
    return nr.format_tlog_proof(rec.index, rec.proof, bundle.checkpoint)


# --------------------------------------------------------------------------
# Chain statement (SPEC 4.2)
# --------------------------------------------------------------------------

def format_statement(signer, tree_size, from_seq, through_seq, head_seq, head_hash):
    """The statement text; `signer` is a 32-byte public key or its did:key."""
    did = signer if isinstance(signer, str) else at.did_key(signer)
    return ("%s\n%s\n%d\n%d %d\n%d %s\n" % (
        STATEMENT_HEADER, did, tree_size, from_seq, through_seq, head_seq,
        base64.b64encode(bytes(head_hash)).decode("ascii"))).encode("utf-8")


def parse_statement_text(text):
    """Parse the five lines of SPEC 4.2; any defect, including a range that is not
    from <= through <= head seq, is malformed_statement (51)."""
    try:
        s = bytes(text).decode("utf-8", "strict")
    except UnicodeDecodeError:
        _fail("malformed_statement", "statement text is not UTF-8")
    if not s.endswith("\n"):
        _fail("malformed_statement", "statement text does not end in a newline")
    lines = s[:-1].split("\n")
    if len(lines) != 5:
        _fail("malformed_statement", "%d lines, expected exactly 5" % len(lines))
    if lines[0] != STATEMENT_HEADER:
        _fail("malformed_statement", "first line is not %s" % STATEMENT_HEADER)
    did = lines[1]
    try:
        signer = at.parse_did_key(did)
    except ValueError as e:
        _fail("malformed_statement", "signer %r: %s" % (did, e))
    if at.did_key(signer) != did:
        _fail("malformed_statement", "signer %r is not a canonical did:key" % did)
    tree_size = nr.parse_decimal_u64(lines[2])
    if tree_size is None:
        _fail("malformed_statement", "tree size %r is not canonical u64 decimal" % lines[2])
    range_parts = lines[3].split(" ")
    bounds = [nr.parse_decimal_u64(p) for p in range_parts]
    if len(bounds) != 2 or None in bounds:
        _fail("malformed_statement", "range line %r is not '<from> <through>'" % lines[3])
    head_parts = lines[4].split(" ")
    if len(head_parts) != 2:
        _fail("malformed_statement", "head line %r is not '<head seq> <hash>'" % lines[4])
    head_seq = nr.parse_decimal_u64(head_parts[0])
    if head_seq is None:
        _fail("malformed_statement", "head seq %r is not canonical u64 decimal" % head_parts[0])
    head_hash = nr.b64decode_canonical(head_parts[1])
    if head_hash is None or len(head_hash) != 32:
        _fail("malformed_statement", "head hash is not canonical base64 of 32 bytes")
    from_seq, through_seq = bounds
    if not from_seq <= through_seq <= head_seq:
        _fail("malformed_statement", "range %d..%d with head seq %d is not from <= through "
              "<= head seq" % (from_seq, through_seq, head_seq))
    return Statement(signer, did, tree_size, from_seq, through_seq, head_seq, head_hash)


def open_statement(note, key):
    return parse_statement_text(nr.open_note(note, key))


# --------------------------------------------------------------------------
# Verification (SPEC 4.3)
# --------------------------------------------------------------------------

def _at(where, err):
    """Re-raise a TrailError with the record named in its message."""
    return TrailError(err.code, err.name, "%s: %s" % (where, err.message))


def verify_bundle(data, trusted_key):
    """Verify a bundle against a trusted verifier key (text, as `trail node key` prints it,
    or a notes.VerifierKey). `data` is the bundle's bytes, or a path (str or os.PathLike) of
    a bundle file. Runs SPEC 4.3 steps 1-9 in order and raises the first failure as a
    TrailError; returns a summary (signer did:key, from, through, head_seq, tree_size,
    root, origin, entries)."""
    trusted = nr.parse_verifier_key(trusted_key)
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            data = f.read()

    # 1. Layout.
    bundle = parse_bundle(data)
    records = bundle.records

    # 2. The bundle's log key parses and is the trusted key.
    log_key = nr.parse_verifier_key(bundle.log_key)
    if log_key.name != trusted.name or log_key.public != trusted.public:
        _fail("log_key_mismatch", "bundle names log key %s, trusted key is %s"
              % (log_key.text, trusted.text))

    # 3. Checkpoint.
    checkpoint = nr.open_checkpoint(bundle.checkpoint, trusted)

    # 4. Statement.
    statement = open_statement(bundle.statement, trusted)
    if statement.tree_size != checkpoint.size:
        _fail("statement_mismatch", "statement tree size %d, checkpoint size %d"
              % (statement.tree_size, checkpoint.size))

    # 5. Each entry decodes, is by the statement's signer, and verifies.
    entries = []
    for i, rec in enumerate(records):
        where = _where(i, rec.entry)
        try:
            entry = at.decode(rec.entry)
        except TrailError as e:
            raise _at(where, e) from None
        signer = bytes.fromhex(entry["signer"])
        if signer != statement.signer:
            _fail("wrong_signer", "%s: signed by %s, not the statement's signer %s"
                  % (where, at.did_key(signer), statement.did))
        try:
            at.verify(rec.entry)
        except TrailError as e:
            raise _at(where, e) from None
        entries.append(entry)

    # 6. Sequence: from, from + 1, ..., through.
    seqs = [e["seq"] for e in entries]
    lo, hi = statement.from_seq, statement.through_seq
    expected = lo
    for i, s in enumerate(seqs):
        where = "record %d (seq %d)" % (i, s)
        if not lo <= s <= hi:
            _fail("statement_mismatch", "%s: outside the statement's range %d..%d" % (where, lo, hi))
        if s == expected:
            expected += 1
        elif s < expected:
            _fail("duplicate_entry", "%s: seq %d appears again (expected %d)" % (where, s, expected))
        elif expected in seqs[i + 1:]:
            _fail("entries_out_of_order", "%s: expected seq %d, which comes later"
                  % (where, expected))
        else:
            _fail("missing_entry", "%s: seq %d is missing" % (where, expected))
    if expected <= hi:
        _fail("chain_truncated", "records end after %d records (at seq %s); the statement "
              "goes through seq %d" % (len(records), expected - 1 if records else "none", hi))

    # 7. Links.
    for i in range(1, len(records)):
        want = at.entry_hash(records[i - 1].entry).hex()
        if entries[i]["prev"] != want:
            _fail("broken_link", "record %d (seq %d): prev %s is not the hash %s of record %d"
                  % (i, seqs[i], entries[i]["prev"], want, i - 1))

    # 8. Head.
    last_hash = at.entry_hash(records[-1].entry)
    if hi == statement.head_seq and last_hash != statement.head_hash:
        _fail("head_mismatch", "record %d (seq %d): hash %s is not the statement's head hash %s"
              % (len(records) - 1, seqs[-1], last_hash.hex(), statement.head_hash.hex()))

    # 9. Inclusion of every entry in the checkpoint's tree.
    for i, rec in enumerate(records):
        try:
            nr.verify_inclusion(at.entry_hash(rec.entry), rec.index, checkpoint.size,
                                rec.proof, checkpoint.root)
        except TrailError as e:
            raise _at("record %d (seq %d, index %d)" % (i, seqs[i], rec.index), e) from None

    return {
        "signer": statement.did,
        "signer_key": statement.signer.hex(),
        "from": lo,
        "through": hi,
        "head_seq": statement.head_seq,
        "head_hash": statement.head_hash.hex(),
        "tree_size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "origin": checkpoint.origin,
        "entries": len(records),
    }


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def main(argv=None, prog="python3 -m agenttrail"):
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Verify AgentTrail proof bundles (SPEC 4).")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify a bundle against the log's verifier key")
    v.add_argument("file", help="bundle file, or - for standard input")
    v.add_argument("--log-key", required=True, help="trusted verifier key name+hex8+base64")
    args = parser.parse_args(argv)

    try:
        nr.parse_verifier_key(args.log_key)
    except TrailError as e:
        print("error: --log-key: %s" % e.message, file=sys.stderr)
        return 2
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                data = f.read()
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    try:
        s = verify_bundle(data, args.log_key)
    except TrailError as e:
        print("invalid: %s (%d): %s" % (e.name, e.code, e.message))
        return 1
    head = " (the head)" if s["through"] == s["head_seq"] else ", head seq %d" % s["head_seq"]
    print("valid: %s seqs %d..%d%s, %d entries, included in %s at tree size %d"
          % (s["signer"], s["from"], s["through"], head, s["entries"], s["origin"],
             s["tree_size"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
