"""The AgentTrail entry codec (protocol/SPEC.md section 1), in the JSON form of SPEC 1.7.

Written from the SPEC alone (no Swift code), so that it cross-checks the Swift codec on
the vectors. Standard library plus the `cryptography` package (Ed25519). Public API:

    decode(data) -> dict                  strict decoder, JSON form (SPEC 1.7)
    decode_body(kind, body) -> dict       the same checks for a body alone
    encode(entry, seed=None, agent_seed=None) -> bytes
    encode_unsigned(entry) -> bytes       version through body: the bytes to sign
    verify(data) -> dict                  decode + entry signature + proof of possession
    entry_hash(data) -> bytes             SHA-256(0x00 || entry)
    did_key(public_key) -> str            did:key:z6Mk... (SPEC 1.8)
    public_key(seed) -> bytes
    registration_proof(agent_seed, owner_key) -> bytes
    commitment(salt, value) -> bytes      SHA-256 commitment of SPEC 1.11

Every rejection raises TrailError(code, name, message) with the codes of SPEC 1.6
(ENTRY_ERRORS); ERRORS is the package's whole code table (agenttrail.errors).
"""

import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import CODES, ENTRY_ERRORS, ERRORS, TrailError
from .reader import Reader

__all__ = [
    "TrailError", "ERRORS", "ENTRY_ERRORS", "decode", "encode", "encode_body", "verify",
    "verify_signature", "entry_hash", "did_key", "parse_did_key", "public_key",
    "registration_proof", "b58encode", "b58decode", "MAX_ENTRY_SIZE", "encode_unsigned",
    "seal", "commitment", "decode_body", "ENTRY_DOMAIN", "REGISTRATION_DOMAIN", "KINDS", "KIND_CODES",
]

VERSION = 1
MAX_ENTRY_SIZE = 16384
HEADER_SIZE = 86
SIGNATURE_SIZE = 64
ENTRY_DOMAIN = b"AgentTrail/entry/v1\x00"
REGISTRATION_DOMAIN = b"AgentTrail/registration/v1\x00"
ZERO32 = bytes(32)


KINDS = {1: "action", 2: "receipt", 3: "registration", 4: "policy", 5: "report"}
KIND_CODES = {name: code for code, name in KINDS.items()}

ACTION_FLAGS = ["human_review", "a2a_delegated", "error", "incomplete"]
OUTCOMES = ["ok", "error", "denied", "checkpoint"]
STAGE_STATUSES = ["ok", "error", "skipped"]
CATEGORIES = ["unlogged_action", "policy_violation", "harmful_output",
              "misrepresentation", "other"]
SEVERITIES = ["low", "medium", "high", "critical"]

# Action optional fields in bit order: (JSON key, bit, kind of field).
ACTION_OPTIONALS = [
    ("input_hash", 0, "hash"),
    ("output_hash", 1, "hash"),
    ("model_id", 2, "str"),
    ("latency_ms", 3, "u32"),
    ("tools", 4, "tools"),
    ("data_class", 5, "str"),
    ("request_commitment", 6, "hash"),
]

# Limits (min, max) in bytes for strings, items for lists.
LIM_ACTION_TYPE = (1, 64)
LIM_TARGET = (0, 512)
LIM_MODEL_ID = (1, 128)
LIM_TOOLS = (1, 32)
LIM_TOOL = (1, 64)
LIM_DATA_CLASS = (1, 32)
LIM_STAGES = (0, 64)
LIM_STAGE_LABEL = (1, 64)
LIM_REG_LABEL = (0, 128)
LIM_POLICY_LIST = (0, 64)
LIM_POLICY_ACTION = (1, 64)
LIM_POLICY_TARGET = (1, 256)
LIM_DESCRIPTION = (0, 1024)


def _fail(name, message):
    raise TrailError(CODES[name], name, message)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

class _Reader(Reader):
    """Bounded cursor over data[pos:end]; running out of bytes is `truncated`."""

    __slots__ = ()

    def short_read(self, what):
        _fail("truncated", "input ends inside %s" % what)

    @staticmethod
    def _check_len(n, limits, what, unit):
        lo, hi = limits
        if n > hi:
            _fail("length_exceeds_limit", "%s has %d %s, limit %d" % (what, n, unit, hi))
        if n < lo:
            _fail("empty_field", "%s is empty" % what)

    def text(self, what, limits):
        n = self.u16(what + " length")
        self._check_len(n, limits, what, "bytes")   # bound before reading
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8", "strict")
        except UnicodeDecodeError as e:
            _fail("invalid_utf8", "%s: %s" % (what, e))

    def count(self, what, limits):
        n = self.u8(what + " count")
        self._check_len(n, limits, what, "items")
        return n

    def text_list(self, what, limits, item_limits):
        n = self.count(what, limits)
        return [self.text("%s[%d]" % (what, i), item_limits) for i in range(n)]

    def enum(self, what, names):
        v = self.u8(what)
        if v >= len(names):
            _fail("invalid_enum", "%s %d out of range" % (what, v))
        return names[v]

    def tag(self, what):
        v = self.u8(what)
        if v > 1:
            _fail("invalid_value", "%s %d is not 0 or 1" % (what, v))
        return v


def _decode_action(r):
    b = {}
    b["action_type"] = r.text("action_type", LIM_ACTION_TYPE)
    b["target"] = r.text("target", LIM_TARGET)
    b["content_hash"] = r.hash32("content_hash")
    present = r.u8("present")
    if present & 0x80:
        _fail("reserved_bits_set", "present bit 7 set (0x%02x)" % present)
    flags = r.u8("flags")
    if flags & 0xF0:
        _fail("reserved_bits_set", "flags bits 4..7 set (0x%02x)" % flags)
    for key, bit, typ in ACTION_OPTIONALS:
        if not present & (1 << bit):
            continue
        if typ == "hash":
            b[key] = r.hash32(key)
        elif typ == "u32":
            b[key] = r.u32(key)
        elif typ == "tools":
            b[key] = r.text_list("tools", LIM_TOOLS, LIM_TOOL)
        elif key == "model_id":
            b[key] = r.text(key, LIM_MODEL_ID)
        else:  # data_class
            b[key] = r.text(key, LIM_DATA_CLASS)
    b["flags"] = [name for i, name in enumerate(ACTION_FLAGS) if flags & (1 << i)]
    return b


def _decode_receipt(r):
    b = {}
    b["request_commitment"] = r.hash32("request_commitment")
    b["outcome"] = r.enum("outcome", OUTCOMES)
    b["started_ms"] = r.u64("started_ms")
    b["total_ms"] = r.u32("total_ms")
    b["trace_commitment"] = r.hash32("trace_commitment")
    n = r.count("stages", LIM_STAGES)
    stages = []
    for i in range(n):
        label = r.text("stages[%d].label" % i, LIM_STAGE_LABEL)
        duration = r.u32("stages[%d].duration_ms" % i)
        status = r.enum("stages[%d].status" % i, STAGE_STATUSES)
        stages.append({"label": label, "duration_ms": duration, "status": status})
    b["stages"] = stages
    return b


def _decode_registration(r):
    b = {}
    b["agent"] = r.hash32("agent")
    b["label"] = r.text("label", LIM_REG_LABEL)
    if r.tag("evidence_tag"):
        b["evidence_hash"] = r.hash32("evidence_hash")
    b["agent_signature"] = r.take(64, "agent_signature").hex()
    return b


def _decode_policy(r):
    b = {}
    b["agent"] = r.hash32("agent")
    version = r.u32("version")
    if version == 0:
        _fail("invalid_value", "policy version 0")
    b["version"] = version
    b["document_hash"] = r.hash32("document_hash")
    b["allow_actions"] = r.text_list("allow_actions", LIM_POLICY_LIST, LIM_POLICY_ACTION)
    b["deny_actions"] = r.text_list("deny_actions", LIM_POLICY_LIST, LIM_POLICY_ACTION)
    b["allow_targets"] = r.text_list("allow_targets", LIM_POLICY_LIST, LIM_POLICY_TARGET)
    b["max_per_minute"] = r.u32("max_per_minute")
    return b


def _decode_report(r):
    b = {}
    b["subject"] = r.hash32("subject")
    b["category"] = r.enum("category", CATEGORIES)
    b["severity"] = r.enum("severity", SEVERITIES)
    b["observed_from_ms"] = r.u64("observed_from_ms")
    b["observed_to_ms"] = r.u64("observed_to_ms")
    if b["observed_to_ms"] < b["observed_from_ms"]:
        _fail("invalid_value", "observed_to_ms < observed_from_ms")
    if r.tag("ref_tag"):
        b["ref_entry"] = r.hash32("ref_entry")
    b["evidence_hash"] = r.hash32("evidence_hash")
    b["description"] = r.text("description", LIM_DESCRIPTION)
    return b


_BODY_DECODERS = {
    1: _decode_action,
    2: _decode_receipt,
    3: _decode_registration,
    4: _decode_policy,
    5: _decode_report,
}


def decode_body(kind, body):
    """Strictly decode a body of `kind` (a name or 1..5) into its JSON form: exactly the
    checks decode() applies to it. Raises TrailError."""
    code = KIND_CODES.get(kind, kind)
    if code not in KINDS:
        _fail("unknown_kind", "kind %r" % (kind,))
    body = bytes(body)
    r = _Reader(body, 0, len(body))
    out = _BODY_DECODERS[code](r)
    if r.remaining():
        _fail("trailing_bytes", "%d bytes left in body" % r.remaining())
    return out


def decode(data):
    """Strictly decode one entry (bytes) into its JSON form. Raises TrailError 1..13."""
    data = bytes(data)
    if len(data) > MAX_ENTRY_SIZE:
        _fail("entry_too_large", "%d bytes, limit %d" % (len(data), MAX_ENTRY_SIZE))
    r = _Reader(data, 0, len(data))
    version = r.u8("version")
    if version != VERSION:
        _fail("unsupported_version", "version %d" % version)
    kind = r.u8("kind")
    if kind not in KINDS:
        _fail("unknown_kind", "kind %d" % kind)
    signer = r.take(32, "signer")
    seq = r.u64("seq")
    timestamp_ms = r.u64("timestamp_ms")
    prev = r.take(32, "prev")
    if seq == 0 and prev != ZERO32:
        _fail("invalid_prev", "seq 0 with non-zero prev")
    if seq > 0 and prev == ZERO32:
        _fail("invalid_prev", "seq %d with all-zero prev" % seq)
    body_len = r.u32("body_len")
    if body_len > r.remaining():
        _fail("truncated", "body_len %d exceeds the %d remaining bytes" % (body_len, r.remaining()))
    body_reader = _Reader(data, r.pos, r.pos + body_len)
    body = _BODY_DECODERS[kind](body_reader)
    if body_reader.remaining():
        _fail("trailing_bytes", "%d bytes left in body" % body_reader.remaining())
    r.pos += body_len
    sig_len = r.u16("sig_len")
    if sig_len != SIGNATURE_SIZE:
        _fail("bad_signature_length", "sig_len %d" % sig_len)
    signature = r.take(SIGNATURE_SIZE, "signature")
    if r.remaining():
        _fail("trailing_bytes", "%d bytes after signature" % r.remaining())
    return {
        "version": version,
        "kind": KINDS[kind],
        "signer": signer.hex(),
        "seq": seq,
        "timestamp_ms": timestamp_ms,
        "prev": prev.hex(),
        "body": body,
        "signature": signature.hex(),
    }


# --------------------------------------------------------------------------
# Verification and hashing
# --------------------------------------------------------------------------

def _ed25519_ok(public, signature, message):
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def verify_signature(data):
    """True if the entry signature over the exact received bytes verifies.

    `data` must already have decoded successfully (fixed layout is assumed)."""
    data = bytes(data)
    signer = data[2:34]
    unsigned = data[:-(2 + SIGNATURE_SIZE)]
    signature = data[-SIGNATURE_SIZE:]
    return _ed25519_ok(signer, signature, ENTRY_DOMAIN + unsigned)


def verify(data):
    """Decode, then check the entry signature (20) and, for registrations, the
    agent's proof of possession (21). Returns the decoded JSON form."""
    data = bytes(data)
    entry = decode(data)
    if not verify_signature(data):
        _fail("bad_signature", "entry signature does not verify")
    if entry["kind"] == "registration":
        owner = bytes.fromhex(entry["signer"])
        agent = bytes.fromhex(entry["body"]["agent"])
        proof = bytes.fromhex(entry["body"]["agent_signature"])
        if not _ed25519_ok(agent, proof, REGISTRATION_DOMAIN + owner + agent):
            _fail("bad_proof_of_possession", "agent signature does not verify")
    return entry


def entry_hash(data):
    """SHA-256(0x00 || entry): the RFC 9162 leaf hash, 32 bytes."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def raw_public_key(private_key):
    """The 32 raw bytes of an Ed25519PrivateKey's public key (any cryptography >= 2.6)."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key(seed):
    seed = bytes(seed)
    if len(seed) != 32:
        raise ValueError("seed must be 32 bytes")
    return raw_public_key(Ed25519PrivateKey.from_private_bytes(seed))


def registration_proof(agent_seed, owner_key):
    """agent_signature for a registration of agent_seed's key in owner_key's chain."""
    agent_seed = bytes(agent_seed)
    owner_key = bytes(owner_key)
    if len(owner_key) != 32:
        raise ValueError("owner key must be 32 bytes")
    agent = public_key(agent_seed)
    return Ed25519PrivateKey.from_private_bytes(agent_seed).sign(
        REGISTRATION_DOMAIN + owner_key + agent)


# --------------------------------------------------------------------------
# Encoding (JSON form -> bytes)
# --------------------------------------------------------------------------

def _keys(d, required, optional, what):
    if not isinstance(d, dict):
        raise ValueError("%s must be an object" % what)
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError("%s: missing %s" % (what, ", ".join(missing)))
    extra = [k for k in d if k not in required and k not in optional]
    if extra:
        raise ValueError("%s: unknown %s" % (what, ", ".join(sorted(extra))))


def _hex(value, n, what):
    if (not isinstance(value, str) or len(value) != 2 * n
            or any(c not in "0123456789abcdef" for c in value)):
        raise ValueError("%s must be %d bytes of lowercase hex" % (what, n))
    return bytes.fromhex(value)


def _uint(value, bits, what):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise ValueError("%s must be an integer in u%d range" % (what, bits))
    return value


def _u8(v):
    return struct.pack(">B", v)


def _u16(v):
    return struct.pack(">H", v)


def _u32(v, what="value"):
    return struct.pack(">I", _uint(v, 32, what))


def _u64(v, what="value"):
    return struct.pack(">Q", _uint(v, 64, what))


def _str(value, what):
    if not isinstance(value, str):
        raise ValueError("%s must be a string" % what)
    try:
        raw = value.encode("utf-8", "strict")
    except UnicodeEncodeError:
        raise ValueError("%s is not encodable as UTF-8" % what)
    if len(raw) > 0xFFFF:
        _fail("length_exceeds_limit", "%s longer than a u16 length" % what)
    return _u16(len(raw)) + raw


def _list(values, what):
    if not isinstance(values, list):
        raise ValueError("%s must be an array" % what)
    if len(values) > 0xFF:
        _fail("length_exceeds_limit", "%s longer than a u8 count" % what)
    return _u8(len(values)) + b"".join(
        _str(v, "%s[%d]" % (what, i)) for i, v in enumerate(values))


def _enum(value, names, what):
    if value not in names:
        raise ValueError("%s must be one of %s" % (what, "/".join(names)))
    return _u8(names.index(value))


def _encode_action(b):
    optional = [k for k, _, _ in ACTION_OPTIONALS]
    _keys(b, ["action_type", "target", "content_hash", "flags"], optional, "action body")
    flags = b["flags"]
    if not isinstance(flags, list) or any(f not in ACTION_FLAGS for f in flags):
        raise ValueError("flags must be an array of %s" % "/".join(ACTION_FLAGS))
    idx = [ACTION_FLAGS.index(f) for f in flags]
    if idx != sorted(set(idx)):
        raise ValueError("flags must be distinct and in bit order")
    flag_byte = sum(1 << i for i in idx)
    present = 0
    tail = b""
    for key, bit, typ in ACTION_OPTIONALS:
        if key not in b:
            continue
        present |= 1 << bit
        v = b[key]
        if typ == "hash":
            tail += _hex(v, 32, key)
        elif typ == "u32":
            tail += _u32(v, key)
        elif typ == "tools":
            tail += _list(v, key)
        else:
            tail += _str(v, key)
    return (_str(b["action_type"], "action_type") + _str(b["target"], "target")
            + _hex(b["content_hash"], 32, "content_hash")
            + _u8(present) + _u8(flag_byte) + tail)


def _encode_receipt(b):
    _keys(b, ["request_commitment", "outcome", "started_ms", "total_ms",
              "trace_commitment", "stages"], [], "receipt body")
    stages = b["stages"]
    if not isinstance(stages, list):
        raise ValueError("stages must be an array")
    if len(stages) > 0xFF:
        _fail("length_exceeds_limit", "stages longer than a u8 count")
    out = (_hex(b["request_commitment"], 32, "request_commitment")
           + _enum(b["outcome"], OUTCOMES, "outcome")
           + _u64(b["started_ms"], "started_ms")
           + _u32(b["total_ms"], "total_ms")
           + _hex(b["trace_commitment"], 32, "trace_commitment")
           + _u8(len(stages)))
    for i, s in enumerate(stages):
        what = "stages[%d]" % i
        _keys(s, ["label", "duration_ms", "status"], [], what)
        out += (_str(s["label"], what + ".label") + _u32(s["duration_ms"], what + ".duration_ms")
                + _enum(s["status"], STAGE_STATUSES, what + ".status"))
    return out


def _encode_registration(b):
    _keys(b, ["agent", "label", "agent_signature"], ["evidence_hash"], "registration body")
    out = _hex(b["agent"], 32, "agent") + _str(b["label"], "label")
    if "evidence_hash" in b:
        out += _u8(1) + _hex(b["evidence_hash"], 32, "evidence_hash")
    else:
        out += _u8(0)
    return out + _hex(b["agent_signature"], 64, "agent_signature")


def _encode_policy(b):
    _keys(b, ["agent", "version", "document_hash", "allow_actions", "deny_actions",
              "allow_targets", "max_per_minute"], [], "policy body")
    return (_hex(b["agent"], 32, "agent") + _u32(b["version"], "version")
            + _hex(b["document_hash"], 32, "document_hash")
            + _list(b["allow_actions"], "allow_actions")
            + _list(b["deny_actions"], "deny_actions")
            + _list(b["allow_targets"], "allow_targets")
            + _u32(b["max_per_minute"], "max_per_minute"))


def _encode_report(b):
    _keys(b, ["subject", "category", "severity", "observed_from_ms", "observed_to_ms",
              "evidence_hash", "description"], ["ref_entry"], "report body")
    out = (_hex(b["subject"], 32, "subject")
           + _enum(b["category"], CATEGORIES, "category")
           + _enum(b["severity"], SEVERITIES, "severity")
           + _u64(b["observed_from_ms"], "observed_from_ms")
           + _u64(b["observed_to_ms"], "observed_to_ms"))
    if "ref_entry" in b:
        out += _u8(1) + _hex(b["ref_entry"], 32, "ref_entry")
    else:
        out += _u8(0)
    return (out + _hex(b["evidence_hash"], 32, "evidence_hash")
            + _str(b["description"], "description"))


_BODY_ENCODERS = {
    "action": _encode_action,
    "receipt": _encode_receipt,
    "registration": _encode_registration,
    "policy": _encode_policy,
    "report": _encode_report,
}


def encode_body(kind, body):
    """Serialize a JSON-form body. Checks JSON shape only, not SPEC limits
    (encode() validates the finished entry by decoding it)."""
    if kind not in _BODY_ENCODERS:
        raise ValueError("unknown kind %r" % (kind,))
    return _BODY_ENCODERS[kind](body)


def _unsigned(entry, require_signature):
    """(unsigned bytes, the body with any agent_signature filled in) of a JSON-form entry."""
    required = ["version", "kind", "signer", "seq", "timestamp_ms", "prev", "body"]
    _keys(entry, required + ["signature"] if require_signature else required,
          ["signature"], "entry")
    version = _uint(entry["version"], 8, "version")
    kind = entry["kind"]
    if kind not in KIND_CODES:
        raise ValueError("unknown kind %r" % (kind,))
    signer = _hex(entry["signer"], 32, "signer")
    body_bytes = encode_body(kind, entry["body"])
    return (_u8(version) + _u8(KIND_CODES[kind]) + signer
            + _u64(entry["seq"], "seq") + _u64(entry["timestamp_ms"], "timestamp_ms")
            + _hex(entry["prev"], 32, "prev") + _u32(len(body_bytes)) + body_bytes)


def encode_unsigned(entry):
    """Version through body of a JSON-form entry (any "signature" is ignored): what the
    entry signature covers, after the domain of SPEC 1.2. Checks JSON shape only."""
    return _unsigned(entry, False)


def seal(unsigned, signature):
    """The whole entry from its unsigned bytes and a 64-byte signature, validated by
    decode() (limit violations raise TrailError)."""
    signature = bytes(signature)
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("signature must be 64 bytes")
    data = bytes(unsigned) + _u16(SIGNATURE_SIZE) + signature
    decode(data)
    return data


def encode(entry, seed=None, agent_seed=None):
    """Encode a JSON-form entry into bytes.

    With `seed` (32 bytes), the entry is signed with that key (which must be the
    signer) and any "signature" in `entry` is ignored; without it, `entry` must
    carry "signature". With `agent_seed` (registrations only), agent_signature is
    computed from that key and may be absent from the body. The result is
    validated with decode(); limit violations raise TrailError."""
    if not isinstance(entry, dict):
        raise ValueError("entry must be an object")
    body = entry.get("body")
    if agent_seed is not None:
        if entry.get("kind") != "registration":
            raise ValueError("agent_seed is only for registrations")
        body = dict(body)
        agent = public_key(agent_seed)
        if "agent" in body and _hex(body["agent"], 32, "agent") != agent:
            raise ValueError("agent_seed does not match body.agent")
        body["agent"] = agent.hex()
        body["agent_signature"] = registration_proof(
            agent_seed, _hex(entry.get("signer"), 32, "signer")).hex()
        entry = dict(entry, body=body)
    unsigned = _unsigned(entry, seed is None)
    if seed is not None:
        key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
        if raw_public_key(key) != unsigned[2:34]:
            raise ValueError("seed does not belong to signer")
        signature = key.sign(ENTRY_DOMAIN + unsigned)
    else:
        signature = _hex(entry["signature"], 64, "signature")
    data = unsigned + _u16(SIGNATURE_SIZE) + signature
    decoded = decode(data)
    expect = dict(entry, body=body, signature=signature.hex())
    if decoded != expect:  # JSON form that does not round-trip (should not happen)
        raise ValueError("entry does not have a canonical encoding")
    return data


# --------------------------------------------------------------------------
# Commitments (SPEC 1.11)
# --------------------------------------------------------------------------

COMMITMENT_DOMAIN = b"AgentTrail/commitment/v1\x00"


def commitment(salt, value):
    """SHA-256("AgentTrail/commitment/v1" || 0x00 || salt || value), 32 bytes; `salt` is
    32 bytes, `value` bytes or text (UTF-8)."""
    salt = bytes(salt)
    if len(salt) != 32:
        raise ValueError("salt must be 32 bytes")
    if isinstance(value, str):
        value = value.encode("utf-8")
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + bytes(value)).digest()


# --------------------------------------------------------------------------
# Identities (SPEC 1.8)
# --------------------------------------------------------------------------

B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ED25519_PUB_MULTICODEC = b"\xed\x01"


def b58encode(data):
    data = bytes(data)
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, rem = divmod(n, 58)
        out.append(B58_ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text):
    n = 0
    for c in text:
        i = B58_ALPHABET.find(c)
        if i < 0:
            raise ValueError("invalid base58 character %r" % c)
        n = n * 58 + i
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * zeros + body


def did_key(public):
    public = bytes(public)
    if len(public) != 32:
        raise ValueError("public key must be 32 bytes")
    return "did:key:z" + b58encode(ED25519_PUB_MULTICODEC + public)


def parse_did_key(did):
    if not did.startswith("did:key:z"):
        raise ValueError("not a base58btc did:key")
    raw = b58decode(did[len("did:key:z"):])
    if len(raw) != 34 or raw[:2] != ED25519_PUB_MULTICODEC:
        raise ValueError("not an ed25519 did:key")
    return raw[2:]
