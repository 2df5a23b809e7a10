"""Entries of every kind (SPEC 1.4), built from Python values and signed.

A `Body` is a kind and its JSON-form fields (SPEC 1.7), checked against every rule of the
SPEC when it is made, so that signing it later cannot fail. The builders `action`,
`receipt`, `registration`, `policy` and `report` take bytes or hex for hashes and keys,
SigningKeys, public keys or did:keys for parties, and content to hash where the SPEC
stores a hash. `sign_entry` turns a body into a signed `Entry` at a seq and prev.
"""

import hashlib
import secrets
import struct
import time

from . import codec
from .errors import TrailError
from .keys import SigningKey, public_key_bytes

__all__ = [
    "Body", "Entry", "action", "receipt", "registration", "policy", "report", "sign_entry",
    "commit", "now_ms", "ZERO_HASH", "MAX_BODY",
]

ZERO_HASH = bytes(32)
MAX_BODY = codec.MAX_ENTRY_SIZE - codec.HEADER_SIZE - 2 - codec.SIGNATURE_SIZE


def now_ms():
    """The local clock in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def _hash32(value, what):
    """32 bytes from bytes or 64 hex digits."""
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError("%s must be 32 bytes or 64 hex digits" % what) from None
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    else:
        raise TypeError("%s must be 32 bytes or 64 hex digits" % what)
    if len(raw) != 32:
        raise ValueError("%s must be 32 bytes, not %d" % (what, len(raw)))
    return raw


def _content_hash(content, given, what):
    """SHA-256 of `content` (bytes or UTF-8 text), or `given` (a hash) when content is None."""
    if content is not None and given is not None:
        raise ValueError("give %s or %s_hash, not both" % (what, what))
    if content is not None:
        if isinstance(content, str):
            content = content.encode("utf-8")
        return hashlib.sha256(bytes(content)).digest()
    if given is not None:
        return _hash32(given, what + "_hash")
    return None


def commit(value, salt=None):
    """A salted commitment (SPEC 1.11) to `value` (bytes or text): returns
    (commitment, salt), with a fresh 32-byte salt from the secure generator unless given.
    Keep the salt (secret) to disclose the value later."""
    salt = secrets.token_bytes(32) if salt is None else bytes(salt)
    return codec.commitment(salt, value), salt


class Body:
    """A checked entry body: `kind` ("action", ...), `fields` (JSON form), `encoded` (bytes)."""

    __slots__ = ("kind", "fields", "encoded")

    def __init__(self, kind, fields):
        if kind not in codec.KIND_CODES:
            raise ValueError("unknown kind %r" % (kind,))
        encoded = codec.encode_body(kind, fields)
        if len(encoded) > MAX_BODY:
            raise TrailError.named("entry_too_large", "a %s body of %d bytes makes an entry "
                                   "larger than %d bytes" % (kind, len(encoded),
                                                             codec.MAX_ENTRY_SIZE))
        decoded = codec.decode_body(kind, encoded)   # every limit of SPEC 1.4
        if decoded != fields:
            raise ValueError("the %s body has no canonical encoding" % kind)
        self.kind = kind
        self.fields = decoded
        self.encoded = encoded

    def __repr__(self):
        return "Body(%r, %r)" % (self.kind, self.fields)

    def __eq__(self, other):
        return isinstance(other, Body) and (self.kind, self.encoded) == (other.kind, other.encoded)

    def __hash__(self):
        return hash((self.kind, self.encoded))


def action(action_type, target="", *, content=None, content_hash=None, input=None,
           input_hash=None, output=None, output_hash=None, model_id=None, latency_ms=None,
           tools=None, data_class=None, request_commitment=None, flags=()):
    """An action body (kind 1). `content`, `input` and `output` are hashed (SHA-256); or give
    their hashes. Without content or content_hash the content is empty. `flags` names any of
    human_review, a2a_delegated, error, incomplete."""
    ch = _content_hash(content, content_hash, "content")
    fields = {"action_type": action_type, "target": target,
              "content_hash": (ch if ch is not None else hashlib.sha256(b"").digest()).hex()}
    ih = _content_hash(input, input_hash, "input")
    if ih is not None:
        fields["input_hash"] = ih.hex()
    oh = _content_hash(output, output_hash, "output")
    if oh is not None:
        fields["output_hash"] = oh.hex()
    if model_id is not None:
        fields["model_id"] = model_id
    if latency_ms is not None:
        fields["latency_ms"] = latency_ms
    if tools is not None:
        fields["tools"] = list(tools)
    if data_class is not None:
        fields["data_class"] = data_class
    if request_commitment is not None:
        fields["request_commitment"] = _hash32(request_commitment, "request_commitment").hex()
    flags = list(flags)
    unknown = [f for f in flags if f not in codec.ACTION_FLAGS]
    if unknown:
        raise ValueError("unknown action flags %s (known: %s)" % (unknown, codec.ACTION_FLAGS))
    fields["flags"] = [f for f in codec.ACTION_FLAGS if f in flags]
    return Body("action", fields)


def receipt(request_commitment, outcome="ok", *, started_ms, total_ms, trace_commitment=None,
            stages=()):
    """A run receipt (kind 2). `outcome`: ok, error, denied or checkpoint. `stages`: (label,
    duration_ms, status) tuples or dicts, status ok, error or skipped. Without
    `trace_commitment`, a commitment to an empty trace with a fresh salt."""
    if trace_commitment is None:
        trace_commitment = commit(b"")[0]
    out_stages = []
    for s in stages:
        if isinstance(s, dict):
            out_stages.append(dict(s))
        else:
            label, duration_ms, status = s
            out_stages.append({"label": label, "duration_ms": duration_ms, "status": status})
    return Body("receipt", {
        "request_commitment": _hash32(request_commitment, "request_commitment").hex(),
        "outcome": outcome, "started_ms": started_ms, "total_ms": total_ms,
        "trace_commitment": _hash32(trace_commitment, "trace_commitment").hex(),
        "stages": out_stages})


def registration(agent, owner, label="", *, evidence=None, evidence_hash=None):
    """A registration (kind 3) for the owner's chain: the owner vouches for `agent`. `agent`
    is the agent's SigningKey, which signs the proof of possession over the owner's public
    key (`owner`: a SigningKey, public key or did:key; the entry's signer)."""
    if not isinstance(agent, SigningKey):
        raise TypeError("agent must be the agent's SigningKey (it signs the proof of possession)")
    owner_key = public_key_bytes(owner)
    proof = agent.sign(codec.REGISTRATION_DOMAIN + owner_key + agent.public_key)
    fields = {"agent": agent.public_key.hex(), "label": label}
    eh = _content_hash(evidence, evidence_hash, "evidence")
    if eh is not None:
        fields["evidence_hash"] = eh.hex()
    fields["agent_signature"] = proof.hex()
    return Body("registration", fields)


def policy(agent, version, *, document=None, document_hash=None, allow_actions=(),
           deny_actions=(), allow_targets=(), max_per_minute=0):
    """A policy (kind 4) for the owner's chain. `document` (the policy text) is hashed, or
    give its hash. Empty allow lists allow anything; `*` in a target matches any run."""
    dh = _content_hash(document, document_hash, "document")
    if dh is None:
        raise ValueError("give document or document_hash")
    return Body("policy", {
        "agent": public_key_bytes(agent).hex(), "version": version, "document_hash": dh.hex(),
        "allow_actions": list(allow_actions), "deny_actions": list(deny_actions),
        "allow_targets": list(allow_targets), "max_per_minute": max_per_minute})


def report(subject, category, *, severity="low", observed_from_ms=None, observed_to_ms=None,
           evidence=None, evidence_hash=None, ref_entry=None, description=""):
    """A report (kind 5) about `subject` (SigningKey, public key or did:key). `category`:
    unlogged_action, policy_violation, harmful_output, misrepresentation or other; the
    observed window defaults to now (a single instant when only the start is given)."""
    if observed_from_ms is None:
        observed_from_ms = now_ms() if observed_to_ms is None else observed_to_ms
    if observed_to_ms is None:
        observed_to_ms = observed_from_ms
    eh = _content_hash(evidence, evidence_hash, "evidence")
    fields = {"subject": public_key_bytes(subject).hex(), "category": category,
              "severity": severity, "observed_from_ms": observed_from_ms,
              "observed_to_ms": observed_to_ms,
              "evidence_hash": (eh if eh is not None else hashlib.sha256(b"").digest()).hex(),
              "description": description}
    if ref_entry is not None:
        fields["ref_entry"] = _hash32(ref_entry, "ref_entry").hex()
    return Body("report", fields)


_HEADER = struct.Struct(">BB32sQQ32sI")


class Entry:
    """One encoded entry: `encoded` (the exact bytes), `hash` (entry hash, 32 bytes), `seq`,
    `prev`, `signer` (32 bytes), `kind`, `timestamp_ms`; `json()` gives the JSON form."""

    __slots__ = ("encoded", "hash", "seq", "prev", "signer", "kind", "timestamp_ms", "_json")

    def __init__(self, encoded, _checked=False):
        encoded = bytes(encoded)
        if not _checked:
            codec.decode(encoded)
        _, kind, signer, seq, ts, prev, _ = _HEADER.unpack_from(encoded)
        self.encoded = encoded
        self.hash = codec.entry_hash(encoded)
        self.seq = seq
        self.prev = prev
        self.signer = signer
        self.kind = codec.KINDS[kind]
        self.timestamp_ms = ts
        self._json = None

    @classmethod
    def decode(cls, data, verify=True):
        """Strictly decodes `data` (TrailError 1-13) and, unless verify=False, checks its
        signature and a registration's proof of possession (20, 21)."""
        data = bytes(data)
        (codec.verify if verify else codec.decode)(data)
        return cls(data, _checked=True)

    @property
    def hash_hex(self):
        return self.hash.hex()

    @property
    def did(self):
        return codec.did_key(self.signer)

    @property
    def body(self):
        return self.json()["body"]

    def json(self):
        if self._json is None:
            self._json = codec.decode(self.encoded)
        return self._json

    def __len__(self):
        return len(self.encoded)

    def __repr__(self):
        return "Entry(%s seq %d by %s, %s)" % (self.kind, self.seq, self.did, self.hash.hex())

    def __eq__(self, other):
        return isinstance(other, Entry) and other.encoded == self.encoded

    def __hash__(self):
        return hash(self.hash)


def sign_entry(key, body, seq, prev=ZERO_HASH, timestamp_ms=None):
    """Signs `body` at `seq` after `prev` (the entry hash of seq - 1; zeros at seq 0) with
    `key`, at `timestamp_ms` (default now). Ed25519 is deterministic: the same arguments
    always give the same bytes."""
    if not isinstance(body, Body):
        raise TypeError("body must be a Body (see agenttrail.action, receipt, ...)")
    prev = _hash32(prev, "prev")
    if (seq == 0) != (prev == ZERO_HASH):
        raise TrailError.named("invalid_prev", "seq %d with %s prev" % (
            seq, "a non-zero" if seq == 0 else "an all-zero"))
    if timestamp_ms is None:
        timestamp_ms = now_ms()
    if not 0 <= seq < 1 << 64 or not 0 <= timestamp_ms < 1 << 64:
        raise ValueError("seq and timestamp_ms must be u64")
    unsigned = _HEADER.pack(codec.VERSION, codec.KIND_CODES[body.kind], key.public_key, seq,
                            timestamp_ms, prev, len(body.encoded)) + body.encoded
    signature = key.sign(codec.ENTRY_DOMAIN + unsigned)
    return Entry(unsigned + b"\x00\x40" + signature, _checked=True)
