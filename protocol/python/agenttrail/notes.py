"""AgentTrail's Merkle log proofs, signed notes, checkpoints and tlog-proofs
(protocol/SPEC.md section 3).

Built from protocol/SPEC.md alone (no Swift code); standard library plus the
`cryptography` package (Ed25519). Public API:

  Verifier keys (SPEC 3.1)
    key_id(name, public) -> bytes                 SHA-256(name || 0x0A || 0x01 || pub)[:4]
    verifier_key(name, public) -> str             "name+<hex8>+base64(0x01 || pub)"
    parse_verifier_key(text) -> VerifierKey       (name, key_id, public, text); 38
  Signed notes (SPEC 3.2)
    signature_line(text, name, seed) -> bytes     "— name base64(key_id || sig)\\n"
    sign_note(text, name, seed) -> bytes          text || "\\n" || signature_line
    open_note(note, key) -> bytes                 the verified note text; 34, 40, 34, 41
  Checkpoints (SPEC 3.2)
    format_checkpoint(origin, size, root) -> bytes
    parse_checkpoint_text(text, key_name=None) -> Checkpoint   35, 36, 37, 39
    open_checkpoint(note, key) -> Checkpoint      open_note, then the body
  Merkle trees (SPEC 3, RFC 9162 2.1; leaves are 32-byte leaf hashes)
    leaf_hash(data), node_hash(left, right), EMPTY_ROOT
    merkle_root(leaves), inclusion_proof(leaves, index), consistency_proof(leaves, old_size)
    inclusion_proof_length(index, size), consistency_proof_length(old_size, new_size)
    verify_inclusion(leaf, index, size, proof, root)                  30, 32, 33
    verify_consistency(old_size, new_size, old_root, new_root, proof) 31, 32, 33
  tlog-proof@v1 (SPEC 3.3)
    format_tlog_proof(index, proof, checkpoint, extra=None) -> bytes
    parse_tlog_proof(data) -> TlogProof          (extra, index, proof, checkpoint); 42
    verify_tlog_proof(data, leaf, key) -> (TlogProof, Checkpoint)

`key` arguments accept a VerifierKey or verifier key text. Every rejection raises
agenttrail.TrailError(code, name, message) with the codes of SPEC 3.4.

Strictness choices where SPEC 3 leaves room (see README.md):
  - "control character" is Unicode general category Cc (U+0000-U+001F, U+007F-U+009F);
    "Unicode space" is the Unicode White_Space property.
  - every base64 string (verifier key, signature lines, root, proof hashes, extra) must
    be canonical padded standard base64 (RFC 4648 section 4, zero padding bits); the
    key ID in a verifier key must be 8 lowercase hex digits.
  - a signature line of any key must decode to at least 5 bytes (key ID and a
    non-empty signature), else 34; a signature by the verifier's key that is not 64
    bytes long fails verification (41).
  - the note text is everything up to the last blank line (C2SP signed-note).
"""

import base64
import binascii
import hashlib
import unicodedata
from collections import namedtuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from . import codec as at
from .errors import TrailError

__all__ = [
    "VerifierKey", "Checkpoint", "TlogProof", "MAX_NOTE_SIZE", "MAX_NOTE_SIGNATURES",
    "MAX_PROOF_HASHES", "EMPTY_ROOT", "key_id", "verifier_key", "parse_verifier_key",
    "valid_key_name", "signature_line", "sign_note", "open_note", "format_checkpoint",
    "parse_checkpoint_text", "open_checkpoint", "leaf_hash", "node_hash", "merkle_root",
    "inclusion_proof", "consistency_proof", "inclusion_proof_length",
    "consistency_proof_length", "verify_inclusion", "verify_consistency",
    "format_tlog_proof", "parse_tlog_proof", "verify_tlog_proof", "b64decode_canonical",
    "parse_decimal_u64",
]

MAX_NOTE_SIZE = 65536
MAX_NOTE_SIGNATURES = 64
MAX_PROOF_HASHES = 64
ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 ".encode("utf-8")  # em dash, space
TLOG_PROOF_HEADER = b"c2sp.org/tlog-proof@v1\n"
U64_MAX = (1 << 64) - 1

VerifierKey = namedtuple("VerifierKey", "name key_id public text")
Checkpoint = namedtuple("Checkpoint", "origin size root text")
TlogProof = namedtuple("TlogProof", "extra index proof checkpoint")


def _fail(name, message):
    raise TrailError(at.CODES[name], name, message)


# --------------------------------------------------------------------------
# Small strict parsers
# --------------------------------------------------------------------------

# Unicode White_Space property.
_WHITE_SPACE = frozenset(
    [chr(c) for c in range(0x09, 0x0E)] + [" ", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"])


def _is_control(ch):
    return unicodedata.category(ch) == "Cc"


def valid_key_name(name):
    """SPEC 3.1: non-empty, no Unicode space, '+' or control character."""
    return (isinstance(name, str) and name != ""
            and not any(c == "+" or c in _WHITE_SPACE or _is_control(c) for c in name))


def b64decode_canonical(text):
    """Decode canonical padded standard base64 (str or bytes); None if it is not."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            return None
    text = bytes(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw) != text:
        return None
    return raw


def parse_decimal_u64(text):
    """ASCII decimal without leading zeros, at most 2^64-1 (str or bytes); else None."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not text or len(text) > 20 or any(c not in "0123456789" for c in text):
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    value = int(text)
    return value if value <= U64_MAX else None


def _hash32(text):
    raw = b64decode_canonical(text)
    return raw if raw is not None and len(raw) == 32 else None


def _b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


# --------------------------------------------------------------------------
# Verifier keys (SPEC 3.1)
# --------------------------------------------------------------------------

def key_id(name, public):
    public = bytes(public)
    if len(public) != 32:
        raise ValueError("public key must be 32 bytes")
    return hashlib.sha256(name.encode("utf-8") + b"\n" + ED25519_TYPE + public).digest()[:4]


def verifier_key(name, public):
    """The verifier key text for an Ed25519 public key under `name`."""
    if not valid_key_name(name):
        raise ValueError("invalid key name %r" % (name,))
    return "%s+%s+%s" % (name, key_id(name, public).hex(), _b64(ED25519_TYPE + bytes(public)))


def parse_verifier_key(text):
    """Parse `name+<hex8>+base64(0x01 || pub)`; any defect is invalid_verifier_key (38)."""
    if isinstance(text, VerifierKey):
        return text
    if not isinstance(text, str):
        _fail("invalid_verifier_key", "verifier key must be text")
    # The name has no '+'; the base64 key may contain '+'.
    parts = text.split("+", 2)
    if len(parts) != 3:
        _fail("invalid_verifier_key", "expected name+keyid+key")
    name, hex_id, b64 = parts
    if not valid_key_name(name):
        _fail("invalid_verifier_key", "invalid key name %r" % name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        _fail("invalid_verifier_key", "key ID %r is not 8 lowercase hex digits" % hex_id)
    raw = b64decode_canonical(b64)
    if raw is None:
        _fail("invalid_verifier_key", "key is not canonical base64")
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        _fail("invalid_verifier_key", "key is not 0x01 || 32-byte Ed25519 public key")
    public = raw[1:]
    kid = key_id(name, public)
    if kid.hex() != hex_id:
        _fail("invalid_verifier_key", "key ID %s does not match the key (%s)" % (hex_id, kid.hex()))
    return VerifierKey(name, kid, public, text)


# --------------------------------------------------------------------------
# Signed notes (SPEC 3.2)
# --------------------------------------------------------------------------

def signature_line(text, name, seed):
    text = _text_bytes(text)
    key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
    public = at.raw_public_key(key)
    sig = key.sign(text)
    return SIGNATURE_PREFIX + name.encode("utf-8") + b" " + \
        _b64(key_id(name, public) + sig).encode("ascii") + b"\n"


def sign_note(text, name, seed):
    """A note with one signature by the Ed25519 key `seed` under `name`."""
    text = _text_bytes(text)
    if not text.endswith(b"\n"):
        raise ValueError("note text must end in a newline")
    return text + b"\n" + signature_line(text, name, seed)


def _text_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def open_note(note, key):
    """Verify a signed note with one verifier key and return its text (bytes).

    Order (SPEC 3.2): envelope (34), a signature by the key exists (40), exactly
    once (34), it verifies (41). Signatures by other (name, key ID) are ignored."""
    key = parse_verifier_key(key)
    note = bytes(note)
    if len(note) > MAX_NOTE_SIZE:
        _fail("malformed_note", "note is %d bytes, limit %d" % (len(note), MAX_NOTE_SIZE))
    try:
        decoded = note.decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        _fail("malformed_note", "not UTF-8: %s" % e)
    for i, ch in enumerate(decoded):
        if ch != "\n" and _is_control(ch):
            _fail("malformed_note", "control character U+%04X at character %d" % (ord(ch), i))
    split = note.rfind(b"\n\n")
    if split < 0:
        _fail("malformed_note", "no blank line before the signatures")
    text, sigs = note[:split + 1], note[split + 2:]
    if not sigs or not sigs.endswith(b"\n"):
        _fail("malformed_note", "no signature lines, or the last one does not end in a newline")
    lines = sigs[:-1].split(b"\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        _fail("malformed_note", "%d signature lines, limit %d" % (len(lines), MAX_NOTE_SIGNATURES))
    mine = []
    for n, line in enumerate(lines):
        if not line.startswith(SIGNATURE_PREFIX):
            _fail("malformed_note", "signature line %d does not start with U+2014 and a space" % n)
        name, sep, b64 = line[len(SIGNATURE_PREFIX):].decode("utf-8").partition(" ")
        if not sep or not valid_key_name(name):
            _fail("malformed_note", "signature line %d: invalid key name %r" % (n, name))
        raw = b64decode_canonical(b64)
        if raw is None or len(raw) < 5:
            _fail("malformed_note", "signature line %d: not canonical base64 of a key ID "
                  "and a signature" % n)
        if name == key.name and raw[:4] == key.key_id:
            mine.append(raw[4:])
    if not mine:
        _fail("unknown_key", "no signature by %s (key ID %s)" % (key.name, key.key_id.hex()))
    if len(mine) > 1:
        _fail("malformed_note", "%d signatures by %s (key ID %s)"
              % (len(mine), key.name, key.key_id.hex()))
    try:
        if len(mine[0]) != 64:
            raise InvalidSignature()
        Ed25519PublicKey.from_public_bytes(key.public).verify(mine[0], text)
    except (InvalidSignature, ValueError):
        _fail("bad_note_signature", "the signature by %s does not verify" % key.name)
    return text


# --------------------------------------------------------------------------
# Checkpoints (SPEC 3.2)
# --------------------------------------------------------------------------

def format_checkpoint(origin, size, root):
    return ("%s\n%d\n%s\n" % (origin, size, _b64(root))).encode("utf-8")


def parse_checkpoint_text(text, key_name=None):
    """Parse a checkpoint body: lines (35), size (36), root (37), then origin ==
    key_name (39) when key_name is given."""
    try:
        s = bytes(text).decode("utf-8", "strict")
    except UnicodeDecodeError:
        _fail("malformed_checkpoint", "checkpoint text is not UTF-8")
    if not s.endswith("\n"):
        _fail("malformed_checkpoint", "checkpoint text does not end in a newline")
    lines = s[:-1].split("\n")
    if len(lines) != 3:
        _fail("malformed_checkpoint", "%d lines, expected exactly 3 (no extension lines)"
              % len(lines))
    origin, size_text, root_text = lines
    if not valid_key_name(origin):
        _fail("malformed_checkpoint", "invalid origin %r" % origin)
    size = parse_decimal_u64(size_text)
    if size is None:
        _fail("invalid_tree_size", "tree size %r is not canonical u64 decimal" % size_text)
    root = _hash32(root_text)
    if root is None:
        _fail("invalid_hash", "root %r is not canonical base64 of 32 bytes" % root_text)
    if key_name is not None and origin != key_name:
        _fail("origin_mismatch", "origin %r is not the key name %r" % (origin, key_name))
    return Checkpoint(origin, size, root, bytes(text))


def open_checkpoint(note, key):
    key = parse_verifier_key(key)
    return parse_checkpoint_text(open_note(note, key), key.name)


# --------------------------------------------------------------------------
# Merkle trees (RFC 9162 2.1). Leaves are leaf hashes (entry hashes, SPEC 1.3).
# --------------------------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    """Largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves):
    """MTH over a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return bytes(leaves[0])
    k = _split(n)
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_proof(leaves, index):
    """RFC 9162 PATH(index, D[n]), the leaf's sibling first."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("index %d outside a tree of %d leaves" % (index, n))
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(leaves[:k], index) + [merkle_root(leaves[k:])]
    return inclusion_proof(leaves[k:], index - k) + [merkle_root(leaves[:k])]


def consistency_proof(leaves, old_size):
    """RFC 9162 PROOF(old_size, D[n]) for 0 < old_size <= n."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ValueError("old size %d outside 1..%d" % (old_size, n))

    def sub(m, d, complete):
        if m == len(d):
            return [] if complete else [merkle_root(d)]
        k = _split(len(d))
        if m <= k:
            return sub(m, d[:k], complete) + [merkle_root(d[k:])]
        return sub(m - k, d[k:], False) + [merkle_root(d[:k])]

    return sub(old_size, list(leaves), True)


def inclusion_proof_length(index, size):
    """Number of hashes in an inclusion proof for index < size."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + bin(index >> inner).count("1")


def consistency_proof_length(old_size, new_size):
    """Number of hashes in a consistency proof for 0 < old_size <= new_size."""
    if old_size == new_size:
        return 0
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = bin((old_size - 1) >> inner).count("1")
    shift = (old_size & -old_size).bit_length() - 1
    start = 0 if old_size == 1 << shift else 1
    return start + inner - shift + border


def _check_hashes(hashes):
    """Caller errors (not SPEC rejections): every hash must be 32 bytes."""
    for h in hashes:
        if len(h) != 32:
            raise ValueError("hashes must be 32 bytes, got %d" % len(h))


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 2.1.3.2. index < size (30), proof length (32), root (33)."""
    proof = [bytes(h) for h in proof]
    _check_hashes(proof + [bytes(leaf), bytes(root)])
    if index >= size:
        _fail("index_out_of_range", "leaf index %d is not below the tree size %d" % (index, size))
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        _fail("wrong_proof_length", "inclusion proof for index %d in a tree of %d has %d hashes, "
              "expected %d" % (index, size, len(proof), want))
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:  # cannot happen once the length is right
            _fail("wrong_proof_length", "inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        _fail("wrong_proof_length", "inclusion proof is too short")
    if r != bytes(root):
        _fail("root_mismatch", "inclusion proof for index %d leads to %s, not the root %s"
              % (index, r.hex(), bytes(root).hex()))


def verify_consistency(old_size, new_size, old_root, new_root, proof):
    """RFC 9162 2.1.4.2 with 0 < old_size <= new_size (31); proof length (32); roots (33)."""
    proof = [bytes(h) for h in proof]
    old_root, new_root = bytes(old_root), bytes(new_root)
    _check_hashes(proof + [old_root, new_root])
    if old_size == 0 or old_size > new_size:
        _fail("invalid_tree_range", "old size %d, new size %d" % (old_size, new_size))
    want = consistency_proof_length(old_size, new_size)
    if len(proof) != want:
        _fail("wrong_proof_length", "consistency proof %d -> %d has %d hashes, expected %d"
              % (old_size, new_size, len(proof), want))
    if old_size == new_size:
        if old_root != new_root:
            _fail("root_mismatch", "equal sizes with different roots")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            _fail("wrong_proof_length", "consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        _fail("wrong_proof_length", "consistency proof is too short")
    if fr != old_root:
        _fail("root_mismatch", "consistency proof leads to old root %s, not %s"
              % (fr.hex(), old_root.hex()))
    if sr != new_root:
        _fail("root_mismatch", "consistency proof leads to new root %s, not %s"
              % (sr.hex(), new_root.hex()))


# --------------------------------------------------------------------------
# tlog-proof@v1 (SPEC 3.3)
# --------------------------------------------------------------------------

def format_tlog_proof(index, proof, checkpoint, extra=None):
    out = TLOG_PROOF_HEADER
    if extra is not None:
        if not extra:
            raise ValueError("extra must be non-empty")
        out += b"extra " + _b64(extra).encode("ascii") + b"\n"
    out += b"index %d\n" % index
    for h in proof:
        out += _b64(h).encode("ascii") + b"\n"
    return out + b"\n" + bytes(checkpoint)


def parse_tlog_proof(data):
    """Parse a tlog-proof@v1 text; the checkpoint note is returned verbatim (not opened).
    A proof line that is not base64 of 32 bytes is invalid_hash (37), more than 64 proof
    lines wrong_proof_length (32); any other defect before the checkpoint is
    malformed_tlog_proof (42)."""
    data = bytes(data)
    if not data.startswith(TLOG_PROOF_HEADER):
        _fail("malformed_tlog_proof", "does not start with c2sp.org/tlog-proof@v1")
    pos = len(TLOG_PROOF_HEADER)

    def next_line(what):
        nonlocal pos
        nl = data.find(b"\n", pos)
        if nl < 0:
            _fail("malformed_tlog_proof", "input ends inside %s" % what)
        line, pos = data[pos:nl], nl + 1
        return line

    line = next_line("the index line")
    extra = None
    if line.startswith(b"extra "):
        extra = b64decode_canonical(line[len(b"extra "):])
        if not extra:
            _fail("malformed_tlog_proof", "extra is not non-empty canonical base64")
        line = next_line("the index line")
    if not line.startswith(b"index "):
        _fail("malformed_tlog_proof", "missing index line")
    index = parse_decimal_u64(line[len(b"index "):])
    if index is None:
        _fail("malformed_tlog_proof", "index is not canonical u64 decimal")
    proof = []
    while True:
        line = next_line("the proof")
        if line == b"":
            break
        if len(proof) == MAX_PROOF_HASHES:
            _fail("wrong_proof_length", "more than %d proof hashes" % MAX_PROOF_HASHES)
        h = _hash32(line)
        if h is None:
            _fail("invalid_hash", "proof line %d is not canonical base64 of 32 bytes"
                  % len(proof))
        proof.append(h)
    return TlogProof(extra, index, proof, data[pos:])


def verify_tlog_proof(data, leaf, key):
    """Parse (42), open the checkpoint with `key` (34-41), then check inclusion of
    the 32-byte leaf hash at the proof's index (30, 32, 33)."""
    proof = parse_tlog_proof(data)
    checkpoint = open_checkpoint(proof.checkpoint, key)
    verify_inclusion(leaf, proof.index, checkpoint.size, proof.proof, checkpoint.root)
    return proof, checkpoint

