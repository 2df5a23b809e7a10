#!/usr/bin/env python3
"""Deterministically generate protocol/vectors/frames.json (SPEC 2.3).

Valid frames are built from their JSON messages with the reference encoder
(frames_ref.py); APPEND entries are real encoded entries taken from
protocol/vectors/entries.json. Invalid frames are assembled byte by byte.
Standard library only.
"""

import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _tree  # noqa: E402,F401  (this tree's protocol/python first)

from agenttrail import frames as fr  # noqa: E402

OUT = os.path.join(HERE, "..", "vectors", "frames.json")
ENTRIES = os.path.join(HERE, "..", "vectors", "entries.json")


def hx(label):
    """A fixed 32-byte value (hex) standing in for a key or hash."""
    return hashlib.sha256(b"agenttrail-frame-vector-" + label.encode()).hexdigest()


with open(ENTRIES, encoding="utf-8") as f:
    ENTRY = {v["name"]: v["encoded"] for v in json.load(f)["valid"]}


def frame(type_byte, payload):
    """Raw frame with a consistent length prefix."""
    return struct.pack(">IB", 1 + len(payload), type_byte) + payload


def s(raw):
    return struct.pack(">H", len(raw)) + raw


# ---------------------------------------------------------------- valid vectors

valid = []


def add_valid(name, direction, message):
    data = fr.encode_frame(message, direction)
    decoded = fr.decode_frame(data, direction)
    assert decoded == message, (name, decoded, message)
    valid.append({"name": name, "direction": direction, "hex": data.hex(), "message": decoded})


add_valid("hello", "client",
          {"type": "hello", "protocol_version": 1, "client_name": "agenttrail-python/1.0"})
add_valid("hello_empty_name", "client", {"type": "hello", "protocol_version": 1, "client_name": ""})
add_valid("hello_name_64_bytes_utf8", "client",
          {"type": "hello", "protocol_version": 1, "client_name": "\u00e9" * 30 + "agen"})
add_valid("hello_ok", "server",
          {"type": "hello_ok", "protocol_version": 1, "max_frame": fr.MAX_FRAME,
           "max_batch": fr.MAX_BATCH, "max_inflight": 8388608, "node_key": hx("node_key")})
add_valid("append_one_entry", "client",
          {"type": "append", "request_id": 1, "entries": [ENTRY["action_minimal"]]})
add_valid("append_three_entries", "client",
          {"type": "append", "request_id": 4822678189205111,
           "entries": [ENTRY["action_chain_seq0"], ENTRY["action_chain_seq1"],
                       ENTRY["receipt_three_stages"]]})
add_valid("ack_one_accepted", "server",
          {"type": "ack", "request_id": 1, "statuses": [{"status": "accepted", "index": 0}]})
add_valid("ack_every_status", "server",
          {"type": "ack", "request_id": 7, "statuses": [
              {"status": "accepted", "index": 5},
              {"status": "duplicate", "index": 4294967296},
              {"status": "conflict", "next_seq": 3, "head_hash": hx("conflict_head")},
              {"status": "gap", "next_seq": 2, "head_hash": hx("gap_head")},
              {"status": "bad_signature", "reason": 21},
              {"status": "malformed", "reason": 1},
              {"status": "overloaded", "retry_after_ms": 50},
              {"status": "equivocation", "next_seq": 9, "head_hash": hx("equivocation_head")},
              {"status": "noted", "index": 11, "violations": ["action_denied", "rate_exceeded"], "flags": ["retried"]},
              {"status": "noted", "index": 12, "violations": [], "flags": ["high_latency", "speed_anomaly"]},
              {"status": "rejected", "reason": 70},
          ]})
# SPEC 2.4 "Clocks": the clock flags, bits 8 and 9 of the u16 (the highest defined bits).
add_valid("ack_noted_clock_flags", "server",
          {"type": "ack", "request_id": 8, "statuses": [
              {"status": "noted", "index": 13, "violations": ["rate_exceeded"], "flags": ["clock_regressed"]},
              {"status": "noted", "index": 14, "violations": [], "flags": ["retried", "clock_regressed", "clock_skew"]},
          ]})
add_valid("head_query", "client",
          {"type": "head_query", "request_id": 2, "signer": hx("signer")})
add_valid("head_empty_chain", "server",
          {"type": "head", "request_id": 2, "next_seq": 0, "head_hash": "00" * 32})
add_valid("head_non_empty", "server",
          {"type": "head", "request_id": 3, "next_seq": 3, "head_hash": hx("head")})
add_valid("ping", "client", {"type": "ping", "nonce": 4822678189205111})
add_valid("pong", "server", {"type": "pong", "nonce": 4822678189205111})
add_valid("error", "server",
          {"type": "error", "code": 101, "message": "unknown frame type 0x09"})
add_valid("error_empty_message", "server", {"type": "error", "code": 108, "message": ""})
# The ERROR frames that end a session (SPEC 2, 2.2): named error_<code name>.
add_valid("error_too_many_connections", "server",
          {"type": "error", "code": 106, "message": "connection limit 1024 reached"})
add_valid("error_idle_timeout", "server",
          {"type": "error", "code": 107, "message": "no traffic within the idle timeout"})
add_valid("error_hello_timeout", "server",
          {"type": "error", "code": 109, "message": "no HELLO within 5 s of connecting"})
add_valid("error_frame_timeout", "server",
          {"type": "error", "code": 110, "message": "a frame was not completed within 10 s"})
add_valid("error_storage", "server",
          {"type": "error", "code": 201, "message": "mdb_txn_commit: No space left on device"})
# max_batch is a u32 but APPEND's count a u16: the largest useful announcement is 65535.
add_valid("hello_ok_max_batch_65535", "server",
          {"type": "hello_ok", "protocol_version": 1, "max_frame": fr.MAX_FRAME,
           "max_batch": 65535, "max_inflight": 8388608, "node_key": hx("node_key")})
for v in valid:
    if v["name"].startswith("error_") and v["name"][6:] in fr.CODES:
        assert fr.CODES[v["name"][6:]] == v["message"]["code"], v["name"]

assert len(valid[2]["message"]["client_name"].encode("utf-8")) == 64


# ---------------------------------------------------------------- invalid vectors

invalid = []


def add_invalid(name, direction, data, error):
    code = fr.CODES[error]
    try:
        fr.decode_frame(data, direction)
    except fr.FrameError as e:
        assert e.code == code, (name, e)
    else:
        raise AssertionError("%s decodes" % name)
    invalid.append({"name": name, "direction": direction, "hex": data.hex(),
                    "error": error, "code": code})


E100, E101, E102, E105 = "frame_too_large", "unknown_frame_type", "malformed_frame", "batch_too_large"
one = bytes.fromhex(ENTRY["action_minimal"])
nonce = struct.pack(">Q", 4822678189205111)

# Length prefix (checked by the framing layer before the payload is read).
add_invalid("length_prefix_zero", "client", bytes(4), E102)
add_invalid("length_prefix_above_max_frame", "client", struct.pack(">I", fr.MAX_FRAME + 1), E100)
add_invalid("length_prefix_max_u32", "client", struct.pack(">I", 0xFFFFFFFF), E100)

# Type byte.
add_invalid("unknown_type_0x09", "client", frame(0x09, b""), E101)
add_invalid("unknown_type_0x00", "client", frame(0x00, nonce), E101)
add_invalid("server_type_from_client", "client", frame(0x08, nonce), E101)
add_invalid("client_type_from_server", "server", frame(0x07, nonce), E101)

# Truncated / trailing payloads.
add_invalid("ping_truncated_nonce", "client", frame(0x07, nonce[:7]), E102)
add_invalid("ping_trailing_byte", "client", frame(0x07, nonce + b"\x00"), E102)
add_invalid("hello_truncated_name", "client", frame(0x01, b"\x00\x01\x00\x05abc"), E102)
add_invalid("hello_trailing_byte", "client", frame(0x01, b"\x00\x01" + s(b"abc") + b"\x00"), E102)
add_invalid("head_query_truncated_signer", "client",
            frame(0x05, struct.pack(">Q", 2) + bytes(31)), E102)
add_invalid("hello_ok_trailing_byte", "server",
            frame(0x02, struct.pack(">HIII", 1, fr.MAX_FRAME, fr.MAX_BATCH, 8388608)
                  + bytes.fromhex(hx("node_key")) + b"\x00"), E102)
add_invalid("ack_truncated_status", "server",
            frame(0x04, struct.pack(">QHB", 1, 1, 0) + bytes(7)), E102)
add_invalid("ack_missing_status", "server",
            frame(0x04, struct.pack(">QHB", 1, 2, 0) + bytes(8)), E102)
add_invalid("ack_unknown_status", "server", frame(0x04, struct.pack(">QHBQ", 1, 1, 10, 0)), E102)
add_invalid("ack_noted_undefined_violation", "server", frame(0x04, struct.pack(">QHBQBH", 1, 1, 8, 0, 0x10, 0)), E102)
add_invalid("ack_noted_undefined_flag", "server", frame(0x04, struct.pack(">QHBQBH", 1, 1, 8, 0, 0, 0x400)), E102)
add_invalid("ack_noted_nothing", "server", frame(0x04, struct.pack(">QHBQBH", 1, 1, 8, 0, 0, 0)), E102)
add_invalid("ack_noted_truncated", "server", frame(0x04, struct.pack(">QHBQB", 1, 1, 8, 0, 1)), E102)

# APPEND.
add_invalid("append_count_zero", "client", frame(0x03, struct.pack(">QH", 1, 0)), E102)
add_invalid("append_count_above_max_batch", "client",
            frame(0x03, struct.pack(">QH", 1, fr.MAX_BATCH + 1)), E105)
add_invalid("append_count_above_max_batch_with_entries", "client",
            frame(0x03, struct.pack(">QH", 1, fr.MAX_BATCH + 1)
                  + struct.pack(">I", len(one)) + one), E105)
add_invalid("append_entry_length_past_frame", "client",
            frame(0x03, struct.pack(">QHI", 1, 1, len(one) + 1) + one), E102)
add_invalid("append_entry_length_max_u32", "client",
            frame(0x03, struct.pack(">QHI", 1, 1, 0xFFFFFFFF) + one), E102)
add_invalid("append_fewer_entries_than_count", "client",
            frame(0x03, struct.pack(">QHI", 1, 2, len(one)) + one), E102)
add_invalid("append_trailing_byte", "client",
            frame(0x03, struct.pack(">QHI", 1, 1, len(one)) + one + b"\x00"), E102)

# Text fields.
add_invalid("hello_name_65_bytes", "client", frame(0x01, b"\x00\x01" + s(b"a" * 65)), E102)
add_invalid("hello_name_invalid_utf8", "client", frame(0x01, b"\x00\x01" + s(b"agent\xff")), E102)
add_invalid("hello_name_overlong_utf8", "client", frame(0x01, b"\x00\x01" + s(b"\xc0\xaf")), E102)
add_invalid("hello_name_surrogate", "client", frame(0x01, b"\x00\x01" + s(b"\xed\xa0\x80")), E102)
add_invalid("error_message_1025_bytes", "server",
            frame(0x7F, struct.pack(">H", 102) + s(b"m" * 1025)), E102)


def main():
    names = [v["name"] for v in valid] + [v["name"] for v in invalid]
    assert len(names) == len(set(names)), "duplicate vector names"
    doc = {"max_frame": fr.MAX_FRAME, "max_batch": fr.MAX_BATCH,
           "valid": valid, "invalid": invalid}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %s: %d valid, %d invalid" % (os.path.normpath(OUT), len(valid), len(invalid)))


if __name__ == "__main__":
    main()
