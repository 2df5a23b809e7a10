"""Keys and entries against the `trail` command: key files both ways, entries of every kind
signed in Python and checked by `trail entry inspect`, and proof bundles exported by
`trail export` verified in Python."""

import json
import os
import stat
import unittest

import support  # noqa: F401  (puts this tree's agenttrail first)
from support import Collector, tmpdir, trail

from agenttrail import (AgentLog, Entry, SigningKey, TrailError, action, commit, did_key,
                        policy, receipt, registration, report, sign_entry, verify_bundle)
from agenttrail.entries import ZERO_HASH


class KeyFileTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tmpdir()

    def test_trail_key_loads_in_python(self):
        path = os.path.join(self.tmp, "t.key")
        did = trail("keys", "new", "--out", path).stdout.strip()
        key = SigningKey.load(path)
        self.assertEqual(key.did, did)
        shown = json.loads(trail("keys", "show", path, "--json").stdout)
        self.assertEqual(key.public_key.hex(), shown["public_key"])

    def test_python_key_works_with_trail(self):
        key = SigningKey.generate()
        path = os.path.join(self.tmp, "p.key")
        key.save(path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        shown = json.loads(trail("keys", "show", path, "--json").stdout)
        self.assertEqual((shown["did"], shown["public_key"]), (key.did, key.public_key.hex()))
        self.assertEqual(SigningKey.load(path), key)
        # trail signs with it: the entry's signer is this key.
        out = os.path.join(self.tmp, "e.bin")
        content = os.path.join(self.tmp, "reply.txt")
        with open(content, "wb") as f:
            f.write(b"hello")
        trail("entry", "new", "--key", path, "--kind", "action", "--seq", "0", "--prev", "zero",
              "--action", "post_reply", "--content", content, "--out", out)
        with open(out, "rb") as f:
            e = Entry.decode(f.read())
        self.assertEqual(e.signer, key.public_key)
        self.assertEqual(e.body["content_hash"], action("x", content=b"hello").fields["content_hash"])

    def test_save_refuses_to_overwrite(self):
        path = os.path.join(self.tmp, "k.key")
        SigningKey.generate().save(path)
        with self.assertRaises(TrailError) as cm:
            SigningKey.generate().save(path)
        self.assertEqual(cm.exception.name, "io")
        key = SigningKey.generate()
        key.save(path, overwrite=True)
        self.assertEqual(SigningKey.load(path), key)
        self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith(".tmp")], [])

    def test_bad_key_files(self):
        good = json.loads(SigningKey.generate().key_file())
        other = SigningKey.generate()
        cases = [b"", b"[]", b"not json", json.dumps(dict(good, type="rsa")).encode(),
                 json.dumps(dict(good, seed="00" * 31)).encode(),
                 json.dumps(dict(good, seed="zz" * 32)).encode(),
                 json.dumps(dict(good, public_key=other.public_key.hex())).encode(),
                 b"{" * 5000]
        for i, data in enumerate(cases):
            path = os.path.join(self.tmp, "bad%d.key" % i)
            with open(path, "wb") as f:
                f.write(data)
            with self.assertRaises(TrailError, msg=data[:40]) as cm:
                SigningKey.load(path)
            self.assertEqual(cm.exception.code, 203, data[:40])
        with self.assertRaises(TrailError) as cm:
            SigningKey.load(os.path.join(self.tmp, "missing.key"))
        self.assertEqual(cm.exception.name, "io")


class EntryInspectTests(unittest.TestCase):
    """Entries of every kind signed here are well-formed and authentic for the Swift codec."""

    def test_every_kind(self):
        tmp = tmpdir()
        owner, agent = SigningKey.generate(), SigningKey.generate()
        req, _ = commit("req-1")
        bodies = [
            (agent, action("tool.call", "https://api.example.com", content="out", input=b"in",
                           output=b"o", model_id="m-1", latency_ms=42, tools=["search", "fetch"],
                           data_class="pii", request_commitment=req,
                           flags=["incomplete", "human_review"])),
            (agent, receipt(req, "error", started_ms=10, total_ms=20,
                            stages=[("plan", 5, "ok"), {"label": "act", "duration_ms": 15,
                                                        "status": "error"}])),
            (owner, registration(agent, owner, "bot", evidence=b"attestation")),
            (owner, policy(agent.did, 2, document_hash="11" * 32, allow_actions=["a"],
                           deny_actions=["b"], allow_targets=["*.x"], max_per_minute=9)),
            (owner, report(agent.public_key, "unlogged_action", severity="critical",
                           observed_from_ms=5, observed_to_ms=9, ref_entry=bytes(32),
                           description="Grüße ✓")),
        ]
        prev = {}
        for i, (key, body) in enumerate(bodies):
            seq, p = prev.get(key.public_key, (0, ZERO_HASH))
            e = sign_entry(key, body, seq, p, 1763900000000 + i)
            prev[key.public_key] = (seq + 1, e.hash)
            path = os.path.join(tmp, "e%d.bin" % i)
            with open(path, "wb") as f:
                f.write(e.encoded)
            shown = json.loads(trail("entry", "inspect", path).stdout)
            self.assertTrue(shown["signature_valid"], body.kind)
            self.assertEqual(shown["entry_hash"], e.hash.hex())
            self.assertEqual(shown["kind"], body.kind)
            self.assertEqual(shown["body"], e.body)
            self.assertEqual(Entry.decode(e.encoded), e)
        self.assertEqual(e.json()["body"]["description"], "Grüße ✓")
        self.assertEqual(did_key(agent.public_key), agent.did)

    def test_signing_is_deterministic(self):
        key = SigningKey.from_seed(bytes(range(32)))
        body = action("x", content=b"c")
        self.assertEqual(sign_entry(key, body, 0, ZERO_HASH, 5), sign_entry(key, body, 0, ZERO_HASH, 5))
        with self.assertRaises(TrailError) as cm:
            sign_entry(key, body, 1, ZERO_HASH, 5)
        self.assertEqual(cm.exception.name, "invalid_prev")


class BundleTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Collector().start()
        cls.tmp = tmpdir()
        cls.key = SigningKey.generate()
        with AgentLog(cls.key, cls.node.address) as log:
            log.append_many([action("post", content=b"%d" % i) for i in range(40)])
        cls.path = os.path.join(cls.tmp, "chain.bundle")
        trail("export", cls.key.did, "--out", cls.path, "--http", cls.node.http)
        cls.log_key = cls.node.log_key()
        with open(cls.path, "rb") as f:
            cls.data = f.read()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def code(self, data, key=None):
        with self.assertRaises(TrailError) as cm:
            verify_bundle(data, key or self.log_key)
        return cm.exception.code

    def test_exported_bundle_verifies(self):
        for source in (self.path, self.data):
            s = verify_bundle(source, self.log_key)
            self.assertEqual((s["signer"], s["from"], s["through"], s["head_seq"], s["entries"]),
                             (self.key.did, 0, 39, 39, 40))
        # Agrees with the Swift verifier.
        out = os.path.join(self.tmp, "log.pub")
        with open(out, "w") as f:
            f.write(self.log_key)
        self.assertIn("valid", trail("verify", "bundle", self.path, "--log-key", out).stdout)

    def test_tampering_is_named(self):
        self.assertEqual(self.code(self.data[:-1]), 50)              # malformed_bundle
        other = SigningKey.generate()
        from agenttrail import notes
        wrong = notes.verifier_key(self.log_key.split("+")[0], other.public_key)
        self.assertEqual(self.code(self.data, wrong), 52)            # log_key_mismatch
        self.assertEqual(self.code(self.data, "not a key"), 38)      # invalid_verifier_key
        # A bit of the last entry's signature: bad_signature (20), named by seq.
        from agenttrail import bundle
        b = bundle.parse_bundle(self.data)
        last = b.records[-1]
        at = self.data.rindex(last.entry) + len(last.entry) - 1
        flipped = bytearray(self.data)
        flipped[at] ^= 1
        with self.assertRaises(TrailError) as cm:
            verify_bundle(bytes(flipped), self.log_key)
        self.assertEqual(cm.exception.code, 20)
        self.assertIn("seq 39", cm.exception.message)
        # A record dropped from the middle: missing_entry (55).
        recs = b.records[:10] + b.records[11:]
        self.assertEqual(self.code(bundle.encode_bundle(b.log_key, b.checkpoint, b.statement, recs)), 55)


if __name__ == "__main__":
    unittest.main()
