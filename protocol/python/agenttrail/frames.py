"""The AgentTrail TCP frame codec (protocol/SPEC.md section 2).

Written from the SPEC alone (no Swift code); standard library only. Public API:

    decode_frame(data, direction, max_frame=MAX_FRAME, max_batch=MAX_BATCH) -> dict
        `data` is one whole frame including its 4-byte length prefix; `direction` is
        "client" (frames a client sends, decoded by a server) or "server".
    decode_payload(type_byte, payload, direction, max_batch=MAX_BATCH) -> dict
    encode_frame(message, direction, max_frame=MAX_FRAME, max_batch=MAX_BATCH) -> bytes

Messages use the JSON form of SPEC 2.3. Every rejection of bytes raises
FrameError(code, name, message) with the codes of SPEC 2.2; the encoder raises the
same FrameError for a limit the decoder would reject, and ValueError for a message
that is not of the JSON form at all.

The codec covers the frame layer only. Entries inside an APPEND are opaque byte
strings here (a malformed entry gets its own status, not a frame error), and session
rules (HELLO first, one HELLO, protocol version 1) are not frame-decoding errors.
"""

import struct

from .errors import ERRORS as _ALL_ERRORS
from .errors import PROTOCOL_ERRORS, FrameError
from .reader import Reader

__all__ = [
    "FrameError", "ERRORS", "CODES", "MAX_FRAME", "MAX_BATCH", "FRAME_TYPES",
    "STATUSES", "decode_frame", "decode_payload", "encode_frame", "encode_payload",
]

MAX_FRAME = 1048576
MAX_BATCH = 1024
MAX_CLIENT_NAME = 64
MAX_ERROR_MESSAGE = 1024

# SPEC 2.2 codes (a subset of agenttrail.errors.ERRORS).
ERRORS = {code: _ALL_ERRORS[code] for code in sorted(PROTOCOL_ERRORS)}
CODES = {name: code for code, name in ERRORS.items()}

# type byte -> (JSON name, direction)
FRAME_TYPES = {
    0x01: ("hello", "client"),
    0x02: ("hello_ok", "server"),
    0x03: ("append", "client"),
    0x04: ("ack", "server"),
    0x05: ("head_query", "client"),
    0x06: ("head", "server"),
    0x07: ("ping", "client"),
    0x08: ("pong", "server"),
    0x7F: ("error", "server"),
}
TYPE_CODES = {name: (code, direction) for code, (name, direction) in FRAME_TYPES.items()}

# status byte -> (JSON name, payload shape)
STATUSES = {
    0: ("accepted", "index"),
    1: ("duplicate", "index"),
    2: ("conflict", "head"),
    3: ("gap", "head"),
    4: ("bad_signature", "reason"),
    5: ("malformed", "reason"),
    6: ("overloaded", "retry"),
    7: ("equivocation", "head"),
    8: ("noted", "noted"),
    9: ("rejected", "reason"),
}
# bit -> name, in bit order (SPEC 2.1)
VIOLATIONS = ["action_not_allowed", "action_denied", "target_not_allowed", "rate_exceeded"]
TRUST_FLAGS = ["retried", "hedged", "incomplete", "high_latency", "error", "human_review",
               "a2a_delegated", "speed_anomaly", "clock_regressed", "clock_skew"]
STATUS_CODES = {name: (code, shape) for code, (name, shape) in STATUSES.items()}
STATUS_KEYS = {
    "index": ["index"],
    "head": ["next_seq", "head_hash"],
    "reason": ["reason"],
    "retry": ["retry_after_ms"],
    "noted": ["index", "violations", "flags"],
}


def _bits_to_names(value, names, what):
    if value >> len(names):
        _fail("malformed_frame", "%s has undefined bits set (0x%x)" % (what, value))
    return [n for b, n in enumerate(names) if value & (1 << b)]


def _names_to_bits(values, names, what):
    if not isinstance(values, list) or any(v not in names for v in values) or len(set(values)) != len(values):
        raise ValueError("%s must be a list of distinct names among %s" % (what, names))
    if [n for n in names if n in values] != values:
        raise ValueError("%s must be in bit order" % what)
    return sum(1 << names.index(v) for v in values)


def _fail(name, message):
    raise FrameError(CODES[name], name, message)


def _check_direction(direction):
    if direction not in ("client", "server"):
        raise ValueError("direction must be 'client' or 'server', not %r" % (direction,))


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

class _Reader(Reader):
    """Cursor over one payload; running out of bytes is malformed_frame."""

    __slots__ = ()

    def short_read(self, what):
        _fail("malformed_frame", "payload ends inside %s" % what)

    def text(self, what, limit):
        n = self.u16(what + " length")
        if n > limit:       # bound before reading
            _fail("malformed_frame", "%s has %d bytes, limit %d" % (what, n, limit))
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8", "strict")
        except UnicodeDecodeError as e:
            _fail("malformed_frame", "%s is not UTF-8: %s" % (what, e))

    def finish(self):
        if self.pos != self.end:
            _fail("malformed_frame", "%d trailing payload bytes" % (self.end - self.pos))


def _decode_status(r, i):
    code = r.u8("status %d" % i)
    if code not in STATUSES:
        _fail("malformed_frame", "status %d has unknown kind %d" % (i, code))
    name, shape = STATUSES[code]
    out = {"status": name}
    if shape == "index":
        out["index"] = r.u64("index")
    elif shape == "head":
        out["next_seq"] = r.u64("next_seq")
        out["head_hash"] = r.hash32("head_hash")
    elif shape == "reason":
        out["reason"] = r.u16("reason")
    elif shape == "noted":
        out["index"] = r.u64("index")
        out["violations"] = _bits_to_names(r.u8("violations"), VIOLATIONS, "violations")
        out["flags"] = _bits_to_names(r.u16("flags"), TRUST_FLAGS, "flags")
        if not out["violations"] and not out["flags"]:
            _fail("malformed_frame", "noted status %d notes nothing" % i)
    else:
        out["retry_after_ms"] = r.u32("retry_after_ms")
    return out


def decode_payload(type_byte, payload, direction, max_batch=MAX_BATCH):
    """Decode the payload of a frame of type `type_byte` sent in `direction`."""
    _check_direction(direction)
    known = FRAME_TYPES.get(type_byte)
    if known is None or known[1] != direction:
        _fail("unknown_frame_type", "type 0x%02x is not a %s frame type" % (type_byte, direction))
    name = known[0]
    r = _Reader(bytes(payload))
    msg = {"type": name}
    if name == "hello":
        msg["protocol_version"] = r.u16("protocol_version")
        msg["client_name"] = r.text("client_name", MAX_CLIENT_NAME)
    elif name == "hello_ok":
        msg["protocol_version"] = r.u16("protocol_version")
        msg["max_frame"] = r.u32("max_frame")
        msg["max_batch"] = r.u32("max_batch")
        msg["max_inflight"] = r.u32("max_inflight")
        msg["node_key"] = r.hash32("node_key")
    elif name == "append":
        msg["request_id"] = r.u64("request_id")
        count = r.u16("count")
        if count == 0:
            _fail("malformed_frame", "APPEND with no entries")
        if count > max_batch:       # before reading any entry
            _fail("batch_too_large", "APPEND count %d exceeds max_batch %d" % (count, max_batch))
        entries = []
        for i in range(count):
            n = r.u32("entry %d length" % i)
            entries.append(r.take(n, "entry %d" % i).hex())   # past the frame: malformed
        msg["entries"] = entries
    elif name == "ack":
        msg["request_id"] = r.u64("request_id")
        count = r.u16("count")
        msg["statuses"] = [_decode_status(r, i) for i in range(count)]
    elif name == "head_query":
        msg["request_id"] = r.u64("request_id")
        msg["signer"] = r.hash32("signer")
    elif name == "head":
        msg["request_id"] = r.u64("request_id")
        msg["next_seq"] = r.u64("next_seq")
        msg["head_hash"] = r.hash32("head_hash")
    elif name in ("ping", "pong"):
        msg["nonce"] = r.u64("nonce")
    else:  # error
        msg["code"] = r.u16("code")
        msg["message"] = r.text("message", MAX_ERROR_MESSAGE)
    r.finish()
    return msg


def decode_frame(data, direction, max_frame=MAX_FRAME, max_batch=MAX_BATCH):
    """Decode one whole frame (length prefix included, nothing after it)."""
    _check_direction(direction)
    data = bytes(data)
    if len(data) < 4:
        _fail("malformed_frame", "input ends inside the length prefix")
    (length,) = struct.unpack(">I", data[:4])
    if length == 0:
        _fail("malformed_frame", "length 0")
    if length > max_frame:      # before reading the payload
        _fail("frame_too_large", "length %d exceeds max_frame %d" % (length, max_frame))
    if len(data) - 4 < length:
        _fail("malformed_frame", "input ends inside the frame (%d of %d bytes)"
              % (len(data) - 4, length))
    if len(data) - 4 > length:
        _fail("malformed_frame", "%d bytes after the frame" % (len(data) - 4 - length))
    return decode_payload(data[4], data[5:], direction, max_batch)


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

def _keys(d, required, what):
    if not isinstance(d, dict):
        raise ValueError("%s must be an object" % what)
    if sorted(d) != sorted(required):
        raise ValueError("%s keys %s, expected %s" % (what, sorted(d), sorted(required)))


def _uint(value, bits, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError("%s must be a u%d, not %r" % (what, bits, value))
    return value


def _hex(value, n, what):
    if not isinstance(value, str) or value != value.lower():
        raise ValueError("%s must be lowercase hex" % what)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError("%s is not hex" % what) from None
    if n is not None and len(raw) != n:
        raise ValueError("%s must be %d bytes" % (what, n))
    if raw.hex() != value:
        raise ValueError("%s is not canonical hex" % what)
    return raw


def _text(value, limit, what):
    if not isinstance(value, str):
        raise ValueError("%s must be a string" % what)
    try:
        raw = value.encode("utf-8", "strict")
    except UnicodeEncodeError:
        raise ValueError("%s is not encodable as UTF-8" % what) from None
    if len(raw) > limit:
        _fail("malformed_frame", "%s has %d bytes, limit %d" % (what, len(raw), limit))
    return struct.pack(">H", len(raw)) + raw


def _encode_status(s, i):
    what = "status %d" % i
    if not isinstance(s, dict) or s.get("status") not in STATUS_CODES:
        raise ValueError("%s has no known status name" % what)
    code, shape = STATUS_CODES[s["status"]]
    _keys(s, ["status"] + STATUS_KEYS[shape], what)
    out = bytes([code])
    if shape == "index":
        out += struct.pack(">Q", _uint(s["index"], 64, "index"))
    elif shape == "head":
        out += struct.pack(">Q", _uint(s["next_seq"], 64, "next_seq"))
        out += _hex(s["head_hash"], 32, "head_hash")
    elif shape == "reason":
        out += struct.pack(">H", _uint(s["reason"], 16, "reason"))
    elif shape == "noted":
        out += struct.pack(">QBH", _uint(s["index"], 64, "index"),
                           _names_to_bits(s["violations"], VIOLATIONS, "violations"),
                           _names_to_bits(s["flags"], TRUST_FLAGS, "flags"))
    else:
        out += struct.pack(">I", _uint(s["retry_after_ms"], 32, "retry_after_ms"))
    return out


_FIELDS = {
    "hello": ["protocol_version", "client_name"],
    "hello_ok": ["protocol_version", "max_frame", "max_batch", "max_inflight", "node_key"],
    "append": ["request_id", "entries"],
    "ack": ["request_id", "statuses"],
    "head_query": ["request_id", "signer"],
    "head": ["request_id", "next_seq", "head_hash"],
    "ping": ["nonce"],
    "pong": ["nonce"],
    "error": ["code", "message"],
}


def encode_payload(message, direction, max_batch=MAX_BATCH):
    """(type byte, payload bytes) of a message in JSON form."""
    _check_direction(direction)
    if not isinstance(message, dict) or message.get("type") not in TYPE_CODES:
        raise ValueError("message has no known type")
    name = message["type"]
    code, frame_direction = TYPE_CODES[name]
    if frame_direction != direction:
        raise ValueError("%s is a %s frame, not %s" % (name, frame_direction, direction))
    _keys(message, ["type"] + _FIELDS[name], name)
    m = message
    if name == "hello":
        p = struct.pack(">H", _uint(m["protocol_version"], 16, "protocol_version"))
        p += _text(m["client_name"], MAX_CLIENT_NAME, "client_name")
    elif name == "hello_ok":
        p = struct.pack(">HIII", _uint(m["protocol_version"], 16, "protocol_version"),
                        _uint(m["max_frame"], 32, "max_frame"),
                        _uint(m["max_batch"], 32, "max_batch"),
                        _uint(m["max_inflight"], 32, "max_inflight"))
        p += _hex(m["node_key"], 32, "node_key")
    elif name == "append":
        entries = m["entries"]
        if not isinstance(entries, list):
            raise ValueError("entries must be an array")
        if not entries:
            _fail("malformed_frame", "APPEND with no entries")
        if len(entries) > max_batch:
            _fail("batch_too_large", "%d entries exceed max_batch %d" % (len(entries), max_batch))
        if len(entries) > 0xFFFF:
            raise ValueError("more than 65535 entries")
        p = struct.pack(">QH", _uint(m["request_id"], 64, "request_id"), len(entries))
        for i, e in enumerate(entries):
            raw = _hex(e, None, "entry %d" % i)
            p += struct.pack(">I", len(raw)) + raw
    elif name == "ack":
        statuses = m["statuses"]
        if not isinstance(statuses, list) or len(statuses) > 0xFFFF:
            raise ValueError("statuses must be an array of at most 65535 items")
        p = struct.pack(">QH", _uint(m["request_id"], 64, "request_id"), len(statuses))
        p += b"".join(_encode_status(s, i) for i, s in enumerate(statuses))
    elif name == "head_query":
        p = struct.pack(">Q", _uint(m["request_id"], 64, "request_id"))
        p += _hex(m["signer"], 32, "signer")
    elif name == "head":
        p = struct.pack(">QQ", _uint(m["request_id"], 64, "request_id"),
                        _uint(m["next_seq"], 64, "next_seq"))
        p += _hex(m["head_hash"], 32, "head_hash")
    elif name in ("ping", "pong"):
        p = struct.pack(">Q", _uint(m["nonce"], 64, "nonce"))
    else:  # error
        p = struct.pack(">H", _uint(m["code"], 16, "code"))
        p += _text(m["message"], MAX_ERROR_MESSAGE, "message")
    return code, p


def encode_frame(message, direction, max_frame=MAX_FRAME, max_batch=MAX_BATCH):
    """The whole frame (length prefix included) of a message in JSON form."""
    code, payload = encode_payload(message, direction, max_batch)
    length = 1 + len(payload)
    if length > max_frame:
        _fail("frame_too_large", "frame of %d bytes exceeds max_frame %d" % (length, max_frame))
    return struct.pack(">IB", length, code) + payload
