#!/usr/bin/env python3
"""Check protocol/vectors/entries.json (SPEC 1.10) and protocol/vectors/frames.json
(SPEC 2.3) against the reference codecs, plus round-trip and mutation tests; known
answers for the Merkle proofs and signed notes of SPEC 3; and, when it exists,
protocol/vectors/bundles.json (SPEC 4.4) against the bundle verifier.
Prints `N passed, M failed`; exits 1 on failure."""

import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _tree  # noqa: E402,F401  (this tree's protocol/python first)

from agenttrail import bundle as br  # noqa: E402
from agenttrail import codec as at  # noqa: E402
from agenttrail import frames as fr  # noqa: E402
from agenttrail import notes as nr  # noqa: E402

VECTORS = os.path.join(HERE, "..", "vectors", "entries.json")
FRAME_VECTORS = os.path.join(HERE, "..", "vectors", "frames.json")
BUNDLE_VECTORS = os.path.join(HERE, "..", "vectors", "bundles.json")

passed = 0
failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail))


def run(name, fn):
    """Run fn(); count an unexpected exception as a failure."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        check(name, False, "raised %r" % e)
        traceback.print_exc()


def error_code(fn, *args):
    """The TrailError code fn raises, or None."""
    try:
        fn(*args)
    except at.TrailError as e:
        if at.ERRORS.get(e.code) != e.name:
            return ("bad name", e.code, e.name)
        return e.code
    return None


# ------------------------------------------------------------------ vectors

def check_valid(v):
    name = "valid/" + v["name"]
    data = bytes.fromhex(v["encoded"])
    entry = v["entry"]
    seed = bytes.fromhex(v["seed"])
    check(name + " decode", at.decode(data) == entry)
    agent_seed = bytes.fromhex(v["agent_seed"]) if "agent_seed" in v else None
    check(name + " encode(seed)", at.encode(entry, seed) == data)
    if agent_seed is not None:
        check(name + " encode(seed, agent_seed)", at.encode(entry, seed, agent_seed) == data)
        check(name + " agent_seed key", at.public_key(agent_seed).hex() == entry["body"]["agent"])
        check(name + " proof", at.registration_proof(
            agent_seed, bytes.fromhex(entry["signer"])).hex() == entry["body"]["agent_signature"])
    else:
        check(name + " agent_seed only for registrations", entry["kind"] != "registration")
    check(name + " encode(signature)", at.encode(entry) == data)
    check(name + " seed is signer", at.public_key(seed).hex() == entry["signer"])
    check(name + " verify", at.verify(data) == entry)
    check(name + " entry_hash", at.entry_hash(data).hex() == v["entry_hash"])
    reparsed = json.loads(json.dumps(entry))
    check(name + " json round trip", at.encode(reparsed) == data)
    did = at.did_key(bytes.fromhex(entry["signer"]))
    check(name + " did:key", did.startswith("did:key:z6Mk")
          and at.parse_did_key(did).hex() == entry["signer"])
    check(name + " size", len(data) <= at.MAX_ENTRY_SIZE)


def check_invalid(v):
    name = "invalid/" + v["name"]
    data = bytes.fromhex(v["encoded"])
    code = v["code"]
    check(name + " code/name", at.ERRORS.get(code) == v["error"])
    got = error_code(at.decode, data)
    if code < 20:
        check(name + " decode", got == code, "expected %s, got %s" % (code, got))
    else:
        check(name + " decodes", got is None, "got %s" % got)
        got = error_code(at.verify, data)
        check(name + " verify", got == code, "expected %s, got %s" % (code, got))


def check_chains(valid):
    by_key = {}
    for v in valid:
        e = v["entry"]
        by_key[(e["signer"], e["seq"])] = v
    for (signer, seq), v in sorted(by_key.items()):
        if seq > 0 and (signer, seq - 1) in by_key:
            check("chain/" + v["name"], v["entry"]["prev"] == by_key[(signer, seq - 1)]["entry_hash"])


# --------------------------------------------------------- mutation tests

def check_mutations(v):
    name = "mutate/" + v["name"]
    data = bytes.fromhex(v["encoded"])
    n = len(data)
    # Every strict prefix is truncated (sampled for very large entries).
    cuts = range(n) if n <= 4096 else sorted(set(list(range(200)) + list(range(n - 200, n))
                                                  + list(range(0, n, 97))))
    bad = [k for k in cuts if error_code(at.decode, data[:k]) != 1]
    check(name + " prefixes truncated", not bad, "cuts %s" % bad[:5])
    # One more byte: trailing_bytes, or entry_too_large at the size limit.
    want = 2 if n < at.MAX_ENTRY_SIZE else 5
    check(name + " extra byte", error_code(at.decode, data + b"\x00") == want)
    # Every single-bit flip is rejected by decode + verify (sampled for large entries).
    positions = range(n) if n <= 1024 else sorted(set(list(range(160)) + list(range(n - 100, n))
                                                       + list(range(0, n, 211))))
    accepted = []
    for i in positions:
        for bit in range(8):
            m = bytearray(data)
            m[i] ^= 1 << bit
            if error_code(at.verify, bytes(m)) is None:
                accepted.append((i, bit))
    check(name + " bit flips rejected", not accepted, "accepted %s" % accepted[:5])


# --------------------------------------------------------------- unit tests

def check_units(valid):
    # Ed25519 backend: RFC 8032 test 1.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    check("unit/rfc8032 public key", at.public_key(seed).hex()
          == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    # did:key: published pair (publicKeyBase58 -> did).
    pk = at.b58decode("HrBXe7XnjMbscM1roSDTSMCcLNraetDQM9wSVjnzDxn3")
    check("unit/did:key known", at.did_key(pk)
          == "did:key:z6MkwJSaEMnE4u6LiqrZV1BJHSkc9x8S4mTm3ArNL1m19BZR")
    check("unit/base58 leading zeros", at.b58encode(b"\x00\x00\x01") == "112"
          and at.b58decode("112") == b"\x00\x00\x01")
    check("unit/did:key zero key", at.parse_did_key(at.did_key(bytes(32))) == bytes(32))

    by_name = {v["name"]: v for v in valid}
    act = by_name["action_all_fields"]
    seed = bytes.fromhex(act["seed"])
    base = act["entry"]

    def with_body(**changes):
        e = json.loads(json.dumps(base))
        for k, val in changes.items():
            if val is None:
                e["body"].pop(k, None)
            else:
                e["body"][k] = val
        return e

    # Encoder applies the same rules as the decoder.
    check("unit/encode empty tools", error_code(at.encode, with_body(tools=[]), seed) == 11)
    check("unit/encode empty action_type", error_code(at.encode, with_body(action_type=""), seed) == 11)
    check("unit/encode long action_type",
          error_code(at.encode, with_body(action_type="a" * 65), seed) == 6)
    check("unit/encode 33 tools", error_code(at.encode, with_body(tools=["t"] * 33), seed) == 6)
    check("unit/encode empty model_id", error_code(at.encode, with_body(model_id=""), seed) == 11)

    def value_error(entry, *args):
        try:
            at.encode(entry, *args)
        except ValueError:
            return True
        except at.TrailError:
            return False
        return False

    check("unit/encode unknown flag", value_error(with_body(flags=["nope"]), seed))
    check("unit/encode flags out of order",
          value_error(with_body(flags=["error", "human_review"]), seed))
    check("unit/encode duplicate flag",
          value_error(with_body(flags=["error", "error"]), seed))
    check("unit/encode uppercase hex",
          value_error(with_body(content_hash=base["body"]["content_hash"].upper()), seed))
    check("unit/encode unknown key", value_error(with_body(extra=1), seed))
    check("unit/encode latency overflow", value_error(with_body(latency_ms=2 ** 32), seed))
    check("unit/encode wrong seed", value_error(base, bytes(32)))
    check("unit/encode missing flags", value_error(with_body(flags=None), seed))
    # Removing optional fields one by one still round-trips.
    for key, _, _ in at.ACTION_OPTIONALS:
        e = with_body(**{key: None})
        data = at.encode(e, seed)
        d = at.decode(data)
        check("unit/drop optional " + key, key not in d["body"] and at.verify(data) == d
              and d["body"] == e["body"])
    # Every flag subset round-trips.
    for mask in range(16):
        flags = [f for i, f in enumerate(at.ACTION_FLAGS) if mask & (1 << i)]
        data = at.encode(with_body(flags=flags), seed)
        check("unit/flags %x" % mask, at.decode(data)["body"]["flags"] == flags)
    # did:key for every vector signer decodes back.
    for v in valid:
        pk = bytes.fromhex(v["entry"]["signer"])
        check("unit/did " + v["name"], at.parse_did_key(at.did_key(pk)) == pk)


# ------------------------------------------------------------ frame vectors

def frame_error_code(fn, *args):
    """The FrameError code fn raises, or None."""
    try:
        fn(*args)
    except fr.FrameError as e:
        if fr.ERRORS.get(e.code) != e.name:
            return ("bad name", e.code, e.name)
        return e.code
    return None


def check_frame_valid(v, max_frame, max_batch):
    name = "frames/valid/" + v["name"]
    data = bytes.fromhex(v["hex"])
    d, msg = v["direction"], v["message"]
    check(name + " hex canonical", data.hex() == v["hex"])
    check(name + " length prefix", int.from_bytes(data[:4], "big") == len(data) - 4)
    check(name + " decode", fr.decode_frame(data, d, max_frame, max_batch) == msg)
    check(name + " encode", fr.encode_frame(msg, d, max_frame, max_batch) == data)
    check(name + " json round trip",
          fr.encode_frame(json.loads(json.dumps(msg)), d, max_frame, max_batch) == data)
    if msg["type"] == "error" and v["name"][6:] in fr.CODES:
        # error_<name> vectors carry the code SPEC 2.2 gives that name.
        check(name + " code matches its name", fr.CODES[v["name"][6:]] == msg["code"])
    other = "server" if d == "client" else "client"
    check(name + " other direction", frame_error_code(fr.decode_frame, data, other) == 101)
    # Every truncation of the payload (prefix kept consistent) and one extra byte
    # are malformed_frame.
    t, payload = data[4], data[5:]
    cuts = range(len(payload)) if len(payload) <= 2048 else \
        sorted(set(list(range(300)) + list(range(len(payload) - 300, len(payload)))))
    bad = [k for k in cuts if frame_error_code(
        fr.decode_frame, (1 + k).to_bytes(4, "big") + bytes([t]) + payload[:k], d) != 102]
    check(name + " payload truncations malformed", not bad, "cuts %s" % bad[:5])
    longer = (len(data) - 3).to_bytes(4, "big") + data[4:] + b"\x00"
    check(name + " extra payload byte malformed", frame_error_code(fr.decode_frame, longer, d) == 102)
    check(name + " byte after frame malformed",
          frame_error_code(fr.decode_frame, data + b"\x00", d) == 102)
    check(name + " cut frame malformed", frame_error_code(fr.decode_frame, data[:-1], d) == 102)


def check_frame_invalid(v, max_frame, max_batch):
    name = "frames/invalid/" + v["name"]
    check(name + " code/name", fr.ERRORS.get(v["code"]) == v["error"])
    got = frame_error_code(fr.decode_frame, bytes.fromhex(v["hex"]), v["direction"],
                           max_frame, max_batch)
    check(name + " decode", got == v["code"], "expected %s, got %s" % (v["code"], got))


def check_frame_units(valid):
    by_name = {v["name"]: v["message"] for v in valid}
    hello = dict(by_name["hello"])
    check("frames/unit/encode name 65 bytes",
          frame_error_code(fr.encode_frame, dict(hello, client_name="a" * 65), "client") == 102)
    append = dict(by_name["append_one_entry"])
    check("frames/unit/encode no entries",
          frame_error_code(fr.encode_frame, dict(append, entries=[]), "client") == 102)
    check("frames/unit/encode 1025 entries", frame_error_code(
        fr.encode_frame, dict(append, entries=["00"] * 1025), "client") == 105)
    check("frames/unit/encode 1024 entries",
          len(fr.encode_frame(dict(append, entries=[""] * 1024), "client")) == 4 + 11 + 4 * 1024)
    check("frames/unit/encode above max_frame", frame_error_code(
        fr.encode_frame, dict(append, entries=["00" * 100]), "client", 100) == 100)
    error = dict(by_name["error"])
    check("frames/unit/encode message 1025 bytes",
          frame_error_code(fr.encode_frame, dict(error, message="m" * 1025), "server") == 102)

    def value_error(fn, *args):
        try:
            fn(*args)
        except ValueError:
            return True
        except fr.FrameError:
            return False
        return False

    check("frames/unit/encode wrong direction", value_error(fr.encode_frame, hello, "server"))
    check("frames/unit/encode unknown key", value_error(fr.encode_frame, dict(hello, x=1), "client"))
    check("frames/unit/encode uppercase hex", value_error(
        fr.encode_frame, dict(append, entries=[append["entries"][0].upper()]), "client"))
    check("frames/unit/encode u16 overflow",
          value_error(fr.encode_frame, dict(hello, protocol_version=65536), "client"))
    check("frames/unit/encode unknown status", value_error(fr.encode_frame, {
        "type": "ack", "request_id": 1, "statuses": [{"status": "nope", "index": 1}]}, "server"))
    check("frames/unit/encode status extra key", value_error(fr.encode_frame, {
        "type": "ack", "request_id": 1,
        "statuses": [{"status": "accepted", "index": 1, "reason": 2}]}, "server"))
    # Smaller limits: a max_batch of 1 rejects the three-entry APPEND before its entries.
    data = fr.encode_frame(by_name["append_three_entries"], "client")
    check("frames/unit/max_batch 2", frame_error_code(fr.decode_frame, data, "client",
                                                       fr.MAX_FRAME, 2) == 105)
    check("frames/unit/max_frame exact", fr.decode_frame(data, "client", len(data) - 4, 3)
          == by_name["append_three_entries"])
    check("frames/unit/max_frame one less", frame_error_code(
        fr.decode_frame, data, "client", len(data) - 5) == 100)


def check_frames():
    with open(FRAME_VECTORS, encoding="utf-8") as f:
        doc = json.load(f)
    check("frames/file/keys", sorted(doc) == ["invalid", "max_batch", "max_frame", "valid"])
    mf, mb = doc["max_frame"], doc["max_batch"]
    check("frames/file/limits", (mf, mb) == (fr.MAX_FRAME, fr.MAX_BATCH))
    valid, invalid = doc["valid"], doc["invalid"]
    names = [v["name"] for v in valid + invalid]
    check("frames/file/unique names", len(names) == len(set(names)))
    for v in valid:
        run("frames/valid/" + v["name"], lambda v=v: check_frame_valid(v, mf, mb))
    for v in invalid:
        run("frames/invalid/" + v["name"], lambda v=v: check_frame_invalid(v, mf, mb))
    run("frames/units", lambda: check_frame_units(valid))
    check("frames/coverage/types", {v["message"]["type"] for v in valid}
          == {n for n, _ in fr.FRAME_TYPES.values()})
    check("frames/coverage/statuses", {s["status"] for v in valid if v["message"]["type"] == "ack"
                                       for s in v["message"]["statuses"]}
          == {n for n, _ in fr.STATUSES.values()})
    check("frames/coverage/codes", {v["code"] for v in invalid} == {100, 101, 102, 105})
    return len(valid), len(invalid)


# ------------------------------------------- SPEC 3: Merkle proofs and notes

# RFC 6962 / certificate-transparency test data: leaves, roots of D[0:n] for n = 1..8,
# and the published consistency proofs.
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             b"\x50\x51\x52\x53\x54\x55\x56\x57", bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_CONSISTENCY = {
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}
# golang.org/x/mod/sumdb/note documentation example (Ed25519 signed note).
GO_NOTE_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"   # base64(0x01 || seed)
GO_NOTE_TEXT = (b"If you think cryptography is the answer to your problem,\n"
                b"then you don't know what your problem is.\n")
GO_NOTE = GO_NOTE_TEXT + b"\n" + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8p" \
    "AcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n".encode("utf-8")


def check_note_units():
    leaves = [nr.leaf_hash(d) for d in CT_LEAVES]
    check("notes/unit/empty root", nr.merkle_root([]).hex() ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    for n in range(1, 9):
        check("notes/unit/ct root %d" % n, nr.merkle_root(leaves[:n]).hex() == CT_ROOTS[n - 1])
    for (m, n), want in sorted(CT_CONSISTENCY.items()):
        proof = nr.consistency_proof(leaves[:n], m)
        check("notes/unit/ct consistency %d-%d" % (m, n), [h.hex() for h in proof] == want)
    # Every inclusion and consistency proof of trees up to 33 leaves verifies; a short,
    # long or altered proof is 32 / 32 / 33, an index at the size 30, old size 0 31.
    bad = []
    for n in range(1, 34):
        hs = [at.entry_hash(b"%d" % i) for i in range(n)]
        root = nr.merkle_root(hs)
        for i in range(n):
            p = nr.inclusion_proof(hs, i)
            cases = [(p, None), (p + [root], 32), (p[:-1], 32 if p else None)]
            if p:
                cases.append(([bytes(32)] + p[1:], 33))
            for proof, want in cases:
                got = error_code(nr.verify_inclusion, hs[i], i, n, proof, root)
                if got != want:
                    bad.append(("inclusion", i, n, want, got))
            if error_code(nr.verify_inclusion, hs[i], n, n, p, root) != 30:
                bad.append(("index", i, n))
        for m in range(1, n + 1):
            p = nr.consistency_proof(hs, m)
            old = nr.merkle_root(hs[:m])
            if error_code(nr.verify_consistency, m, n, old, root, p) is not None:
                bad.append(("consistency", m, n))
            if p and error_code(nr.verify_consistency, m, n, old, root, p[:-1] + [bytes(32)]) != 33:
                bad.append(("consistency altered", m, n))
        if error_code(nr.verify_consistency, 0, n, nr.EMPTY_ROOT, root, []) != 31:
            bad.append(("old size 0", n))
    check("notes/unit/proofs", not bad, bad[:5])
    # Signed note known answer: key ID, verifier key, signature, open.
    key = nr.parse_verifier_key(GO_NOTE_KEY)
    seed = nr.b64decode_canonical(GO_NOTE_SEED)[1:]
    check("notes/unit/go key", key.name == "PeterNeumann" and key.key_id.hex() == "c74f20a3"
          and nr.verifier_key(key.name, at.public_key(seed)) == GO_NOTE_KEY)
    check("notes/unit/go sign", nr.sign_note(GO_NOTE_TEXT, "PeterNeumann", seed) == GO_NOTE)
    check("notes/unit/go open", nr.open_note(GO_NOTE, GO_NOTE_KEY) == GO_NOTE_TEXT)
    check("notes/unit/go tampered", error_code(nr.open_note, GO_NOTE.replace(b"think", b"thinc"),
                                               GO_NOTE_KEY) == 41)
    check("notes/unit/go not a checkpoint",
          error_code(nr.open_checkpoint, GO_NOTE, GO_NOTE_KEY) == 35)
    # A verifier key whose base64 contains '+' (transparency-dev/formats test key).
    plus = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
    check("notes/unit/plus in key", nr.parse_verifier_key(plus).name == "TEST")
    for bad_key in ["", "PeterNeumann", GO_NOTE_KEY.replace("c74f20a3", "c74f20a4"),
                    GO_NOTE_KEY.replace("c74f20a3", "C74F20A3"), GO_NOTE_KEY + "=",
                    GO_NOTE_KEY.replace("+AR", "+Ah"), "Peter Neumann" + GO_NOTE_KEY[12:]]:
        check("notes/unit/bad key %r" % bad_key[:24], error_code(nr.parse_verifier_key, bad_key) == 38)


# --------------------------------------------------------- bundle vectors

BUNDLE_CODES = {c for c in at.ERRORS if c <= 60}   # any code of SPEC 1.6, 3.4, 4.3


def _bundle_regions(data):
    """Byte ranges of a valid bundle that any change must invalidate: magic and log
    key, the two note texts, and the records (witness cosignature lines are not
    covered: a verifier ignores them)."""
    b = br.parse_bundle(data)
    key_len = len(b.log_key.encode("utf-8"))
    cp_start = 8 + 2 + key_len + 4
    st_start = cp_start + len(b.checkpoint) + 4
    rec_start = st_start + len(b.statement) + 8
    return [(0, 10 + key_len),
            (cp_start, cp_start + b.checkpoint.rfind(b"\n\n") + 1),
            (st_start, st_start + b.statement.rfind(b"\n\n") + 1),
            (rec_start, len(data))]


def _sample(lo, hi, k):
    n = hi - lo
    if n <= k:
        return range(lo, hi)
    return sorted({lo + (n - 1) * j // (k - 1) for j in range(k)})


def check_bundle_valid(v, log_key):
    name = "bundles/valid/" + v["name"]
    data = bytes.fromhex(v["hex"])
    summary = br.verify_bundle(data, log_key)
    # `signer` is the did:key (SPEC 1.8) and `entries` the number of records.
    check(name + " signer", v["signer"] == summary["signer"],
          "%s vs %s" % (v["signer"], summary["signer"]))
    check(name + " from/through", (summary["from"], summary["through"]) == (v["from"], v["through"]),
          "%s..%s vs %s..%s" % (summary["from"], summary["through"], v["from"], v["through"]))
    check(name + " entries", v["entries"] == summary["entries"],
          "%s vs %s" % (v["entries"], summary["entries"]))
    bundle = br.parse_bundle(data)
    check(name + " re-encode", br.encode_bundle(*bundle) == data)
    for i, r in enumerate(bundle.records):
        text = br.record_tlog_proof(bundle, i)
        p, cp = nr.verify_tlog_proof(text, at.entry_hash(r.entry), log_key)
        check(name + " tlog-proof %d" % i, p.index == r.index and cp.size == summary["tree_size"])
    n = len(data)
    cuts = range(n) if n <= 4096 else _sample(0, n, 2048)
    bad = [k for k in cuts if error_code(br.verify_bundle, data[:k], log_key) != 50]
    check(name + " prefixes malformed", not bad, "cuts %s" % bad[:5])
    check(name + " extra byte malformed", error_code(br.verify_bundle, data + b"\x00", log_key) == 50)
    per_region = 16 if len(bundle.records) <= 100 else 4
    accepted = []
    for lo, hi in _bundle_regions(data):
        for pos in _sample(lo, hi, per_region):
            m = bytearray(data)
            m[pos] ^= 1 << (pos * 5 % 8)
            if error_code(br.verify_bundle, bytes(m), log_key) is None:
                accepted.append(pos)
    check(name + " bit flips rejected", not accepted, "positions %s" % accepted[:5])


def check_bundle_invalid(v, log_key):
    name = "bundles/invalid/" + v["name"]
    code = v["code"]
    check(name + " code known", code in BUNDLE_CODES, "code %s" % code)
    if "error" in v:
        check(name + " code/name", at.ERRORS.get(code) == v["error"])
    got = error_code(br.verify_bundle, bytes.fromhex(v["hex"]), log_key)
    check(name + " verify", got == code, "expected %s, got %s" % (code, got))


def check_bundles():
    with open(BUNDLE_VECTORS, encoding="utf-8") as f:
        doc = json.load(f)
    check("bundles/file/keys", sorted(doc) == ["invalid", "log_key", "valid"])
    log_key = doc["log_key"]
    check("bundles/file/log_key", error_code(nr.parse_verifier_key, log_key) is None)
    valid, invalid = doc["valid"], doc["invalid"]
    names = [v["name"] for v in valid + invalid]
    check("bundles/file/unique names", len(names) == len(set(names)))
    for v in valid:
        run("bundles/valid/" + v["name"], lambda v=v: check_bundle_valid(v, log_key))
    for v in invalid:
        run("bundles/invalid/" + v["name"], lambda v=v: check_bundle_invalid(v, log_key))
    return len(valid), len(invalid)


def main():
    with open(VECTORS, encoding="utf-8") as f:
        doc = json.load(f)
    check("file/keys", sorted(doc) == ["invalid", "valid"])
    valid, invalid = doc["valid"], doc["invalid"]
    names = [v["name"] for v in valid + invalid]
    check("file/unique names", len(names) == len(set(names)))
    for v in valid:
        run("valid/" + v["name"], lambda v=v: check_valid(v))
    for v in invalid:
        run("invalid/" + v["name"], lambda v=v: check_invalid(v))
    run("chains", lambda: check_chains(valid))
    kinds = {v["entry"]["kind"] for v in valid}
    check("coverage/kinds", kinds == set(at.KIND_CODES))
    check("coverage/codes", {v["code"] for v in invalid} == set(at.ENTRY_ERRORS))
    for v in valid:
        run("mutate/" + v["name"], lambda v=v: check_mutations(v))
    run("units", lambda: check_units(valid))
    print("entries: %d valid vectors, %d invalid vectors" % (len(valid), len(invalid)))
    counts = (0, 0)
    try:
        counts = check_frames()
    except Exception as e:  # noqa: BLE001
        check("frames", False, "raised %r" % e)
        traceback.print_exc()
    print("frames: %d valid vectors, %d invalid vectors" % counts)
    run("notes/units", check_note_units)
    if os.path.exists(BUNDLE_VECTORS):
        counts = (0, 0)
        try:
            counts = check_bundles()
        except Exception as e:  # noqa: BLE001
            check("bundles", False, "raised %r" % e)
            traceback.print_exc()
        print("bundles: %d valid vectors, %d invalid vectors" % counts)
    run("segments", lambda: print("segments: %d valid vectors, %d invalid vectors"
                                  % __import__("segment_ref").check_vectors(
                                      os.path.join(HERE, "..", "vectors", "segments.json"), check)))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
