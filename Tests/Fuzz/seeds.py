#!/usr/bin/env python3
"""Writes the fuzz corpora's seeds into OUT/<harness>/ (default .build-fuzz/corpus): every valid
and invalid case of protocol/vectors (entries.json, frames.json, bundles.json) in the form its
harness reads, plus signed notes, tlog-proof texts and disclosure documents built from them with
the reference codec (protocol/reference). Deterministic: the same vectors give the same files."""

import base64
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "protocol", "reference"))
import agenttrail_ref as at  # noqa: E402
import bundle_ref as br  # noqa: E402
import notes_ref as nr  # noqa: E402

# The fuzz log key (Tests/Fuzz/Support.swift: fuzzLogKey).
FUZZ_LOG_SEED = bytes([0x42]) * 32
FUZZ_LOG_NAME = "fuzz.example/log"
KINDS = ["action", "receipt", "registration", "policy", "report"]  # EntryKind.allCases order


def load(name):
    with open(os.path.join(ROOT, "protocol", "vectors", name)) as f:
        return json.load(f)


class Corpus:
    def __init__(self, out):
        self.out = out
        self.count = {}

    def add(self, harness, name, data):
        d = os.path.join(self.out, harness)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(bytes(data))
        self.count[harness] = self.count.get(harness, 0) + 1


def commitment(salt, value):
    return hashlib.sha256(b"AgentTrail/commitment/v1\x00" + salt + value).digest()


def single_leaf_proof(entry, extra=None):
    """A tlog-proof of `entry` as the only leaf of a tree signed with the fuzz log key."""
    leaf = at.entry_hash(entry)
    note = nr.sign_note(nr.format_checkpoint(FUZZ_LOG_NAME, 1, leaf), FUZZ_LOG_NAME, FUZZ_LOG_SEED)
    return nr.format_tlog_proof(0, [], note, extra)


def disclosure(entry, items, proof=None):
    """The document as Disclosure.encode writes it."""
    o = {"version": 1, "entry": base64.b64encode(entry).decode(), "entry_hash": at.entry_hash(entry).hex(),
         "disclosed": items}
    if proof is not None:
        o["proof"] = proof.decode()
    return (json.dumps(o, indent=2) + "\n").encode()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build-fuzz", "corpus")
    c = Corpus(out)
    entries = load("entries.json")
    frames = load("frames.json")
    bundles = load("bundles.json")

    # entry: every encoded entry, valid or not.
    for v in entries["valid"] + entries["invalid"]:
        c.add("entry", v["name"], bytes.fromhex(v["encoded"]))

    # frames: each frame alone, and all valid ones as one stream.
    stream = b""
    for v in frames["valid"] + frames["invalid"]:
        c.add("frames", v["name"], bytes.fromhex(v["hex"]))
    for v in frames["valid"]:
        stream += bytes.fromhex(v["hex"])
    c.add("frames", "all_valid_stream", stream)

    # json: each valid entry's JSON form, as a body (selector = kind) and as a whole entry (0x80).
    for v in entries["valid"]:
        e = v["entry"]
        k = KINDS.index(e["kind"])
        c.add("json", v["name"] + "-body", bytes([k]) + json.dumps(e["body"], sort_keys=True).encode())
        c.add("json", v["name"] + "-entry", bytes([0x80 | k]) + json.dumps(e, sort_keys=True).encode())

    # bundle, note, tlog-proof: the bundles, their checkpoints and statements, each record's proof
    # (extra = the record's leaf hash, which the tlog-proof harness proves).
    key = bundles["log_key"]
    c.add("note", "log_key", key.encode() + b"\n")
    for v in bundles["valid"] + bundles["invalid"]:
        data = bytes.fromhex(v["hex"])
        c.add("bundle", v["name"], data)
        try:
            b = br.parse_bundle(data)
        except at.TrailError:
            continue
        c.add("note", v["name"] + "-checkpoint", b.checkpoint)
        c.add("note", v["name"] + "-statement", b.statement)
        for i, rec in enumerate(b.records[:3]):
            text = nr.format_tlog_proof(rec.index, rec.proof, b.checkpoint, at.entry_hash(rec.entry))
            c.add("tlog-proof", "%s-%d" % (v["name"], i), text)
    # One proof without extra data, and one with a proof of several hashes that does not verify.
    b = br.parse_bundle(bytes.fromhex(bundles["valid"][0]["hex"]))
    c.add("tlog-proof", "no_extra", br.record_tlog_proof(b, 0))

    # disclosure: documents over entries built here (content, input and output hashes of known
    # contents, a request commitment with a known salt), with and without a proof.
    seed = bytes.fromhex(entries["valid"][0]["seed"])
    signer = at.public_key(seed)
    content, inp, outp = b"hello, world\n", b"question", b"answer"
    salt, value = bytes(range(32)), b"run-42"
    action = {"version": 1, "kind": "action", "signer": signer.hex(), "seq": 0, "timestamp_ms": 1763900000000,
              "prev": "00" * 32,
              "body": {"action_type": "post_reply", "target": "forum.example.com",
                       "content_hash": hashlib.sha256(content).hexdigest(),
                       "input_hash": hashlib.sha256(inp).hexdigest(),
                       "output_hash": hashlib.sha256(outp).hexdigest(),
                       "request_commitment": commitment(salt, value).hex(), "flags": []}}
    a = at.encode(action, seed=seed)
    b64 = lambda x: base64.b64encode(x).decode()  # noqa: E731
    items = [{"field": "content_hash", "content": b64(content)},
             {"field": "input_hash", "content": b64(inp)},
             {"field": "output_hash", "content": b64(outp)},
             {"field": "request_commitment", "salt": salt.hex(), "value": b64(value)}]
    c.add("disclosure", "action_all_fields_proof", disclosure(a, items, single_leaf_proof(a)))
    c.add("disclosure", "action_all_fields", disclosure(a, items))
    c.add("disclosure", "action_content_only", disclosure(a, items[:1], single_leaf_proof(a)))
    c.add("disclosure", "action_nothing", disclosure(a, []))
    trace = b'{"steps": 3}'
    receipt = {"version": 1, "kind": "receipt", "signer": signer.hex(), "seq": 1, "timestamp_ms": 1763900001000,
               "prev": at.entry_hash(a).hex(),
               "body": {"request_commitment": commitment(salt, value).hex(), "outcome": "ok",
                        "started_ms": 1763900000000, "total_ms": 1200,
                        "trace_commitment": commitment(salt[::-1], trace).hex(),
                        "stages": [{"label": "plan", "duration_ms": 200, "status": "ok"}]}}
    r = at.encode(receipt, seed=seed)
    ritems = [{"field": "request_commitment", "salt": salt.hex(), "value": b64(value)},
              {"field": "trace_commitment", "salt": salt[::-1].hex(), "value": b64(trace)}]
    c.add("disclosure", "receipt_proof", disclosure(r, ritems, single_leaf_proof(r)))
    c.add("tlog-proof", "fuzz_key_action", single_leaf_proof(a, at.entry_hash(a)))
    c.add("tlog-proof", "fuzz_key_receipt", single_leaf_proof(r, at.entry_hash(r)))
    c.add("note", "fuzz_key_checkpoint", single_leaf_proof(a).split(b"\n\n", 1)[1])
    c.add("entry", "fuzz_action", a)
    c.add("entry", "fuzz_receipt", r)

    print(" ".join("%s: %d" % kv for kv in sorted(c.count.items())))


if __name__ == "__main__":
    main()
