"""AgentLog against real collectors: entries of every kind, noted as success and rejected as
final, resync on conflict, gap and equivocation, waiting out overloaded, and a kill -9 of
the node in the middle of a stream."""

import asyncio
import hashlib
import os
import threading
import time
import unittest

import support  # noqa: F401  (puts this tree's agenttrail first)
from support import Collector, tmpdir, trail

from agenttrail import (AgentLog, AsyncAgentLog, Connection, Entry, SigningKey, TrailError, action, bundle,
                        commit, policy, registration, sign_entry, verify_bundle)
from agenttrail.entries import ZERO_HASH


def stored_chain(node, key, tmp):
    """The signer's whole chain as the node serves it, checked offline: a bundle exported
    with `trail export` and verified here. Returns its Entry objects in seq order."""
    path = os.path.join(tmp, "chain-%s.bundle" % key.public_key.hex()[:8])
    trail("export", key.did, "--out", path, "--http", node.http)
    summary = verify_bundle(path, node.log_key())
    with open(path, "rb") as f:
        records = bundle.parse_bundle(f.read()).records
    entries = [Entry.decode(r.entry) for r in records]
    assert summary["entries"] == len(entries)
    return entries


class AgentLogTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Collector().start()
        cls.tmp = tmpdir()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def log(self, key=None, **kw):
        log = AgentLog(key or SigningKey.generate(), self.node.address, **kw)
        self.addCleanup(log.close)
        return log

    def test_readme_example(self):
        path = os.path.join(self.tmp, "agent.key")
        did = trail("keys", "new", "--out", path, "--force").stdout.strip()
        log = AgentLog(SigningKey.load(path), self.node.address)
        r = log.append_action("post_reply", target="forum.example.com", content=b"hello")
        self.assertEqual((r.status, r.seq), ("accepted", 0))
        self.assertIsInstance(r.index, int)
        self.assertEqual(len(r.entry_hash), 64)
        log.close()
        entry = self.node.get_json("/v1/entries/" + r.entry_hash)
        self.assertEqual(entry["signer_did"], did)
        self.assertEqual(entry["index"], r.index)
        self.assertEqual(entry["body"]["target"], "forum.example.com")

    def test_every_kind_noted_and_rejected(self):
        owner, agent, observer = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
        olog, alog, rlog = self.log(owner), self.log(agent), self.log(observer)
        r = olog.append_registration(agent, label="support bot")
        self.assertEqual((r.status, r.seq), ("accepted", 0))
        r = olog.append_policy(agent, 1, document=b"be nice", allow_actions=["post_reply", "search"],
                               deny_actions=["delete"], allow_targets=["*.example.com"])
        self.assertEqual((r.status, r.seq), ("accepted", 1))
        # A second registration of the agent by another owner: rejected (70), final; the
        # next entry of that log takes the same seq.
        other = self.log()
        r = other.append_registration(agent)
        self.assertEqual((r.status, r.reason, r.succeeded), ("rejected", 70, False))
        r = other.append_action("search")
        self.assertEqual((r.status, r.seq), ("accepted", 0))
        # A proof of possession made for another owner: bad_signature (21), final.
        forged = registration(agent, SigningKey.generate(), "forged")
        r = other.append(forged)
        self.assertEqual((r.status, r.reason, r.seq), ("bad_signature", 21, 1))
        self.assertEqual(other.append_action("search").seq, 1)

        req, salt = commit("run-1")
        r = alog.append_action("post_reply", target="forum.example.com", content=b"ok",
                               request_commitment=req, model_id="m", latency_ms=12)
        self.assertEqual(r.status, "accepted")
        r = alog.append_action("delete", target="db.internal", content=b"gone")
        self.assertEqual((r.status, r.violations, r.succeeded),
                         ("noted", ["action_not_allowed", "action_denied", "target_not_allowed"], True))
        self.assertEqual(r.seq, 1)
        r = alog.append_receipt(req, "ok", started_ms=1, total_ms=5, stages=[("plan", 2, "ok"), ("act", 3, "ok")])
        self.assertEqual((r.status, r.seq), ("accepted", 2))
        r = rlog.append_report(agent, "policy_violation", severity="high", evidence=b"screenshot",
                               ref_entry=alog.head.head_hash, description="deleted a row")
        self.assertEqual(r.status, "accepted")
        profile = self.node.get_json("/v1/agents/" + agent.did)
        self.assertEqual(profile["owner"]["did"], owner.did)
        self.assertEqual(profile["violations"].get("action_denied"), 1)
        self.assertEqual(profile["reports"]["total"], 1)

    def test_pipelined_many(self):
        key = SigningKey.generate()
        log = self.log(key, max_batch=64, window=4)
        bodies = [action("step", content=b"%d" % i) for i in range(3000)]
        results = log.append_many(bodies)
        self.assertEqual([r.seq for r in results], list(range(3000)))
        self.assertEqual({r.status for r in results}, {"accepted"})
        self.assertEqual(len({r.index for r in results}), 3000)
        self.assertEqual((log.connections, log.resyncs), (1, 1))
        with Connection(self.node.address) as c:
            self.assertEqual(c.head(key.public_key).next_seq, 3000)

    def test_equivocation_and_conflict_resync(self):
        key = SigningKey.generate()
        log = self.log(key)
        log.append_many([action("a", content=b"0"), action("a", content=b"1")])
        # Another writer with the same key takes seq 2.
        with Connection(self.node.address) as c:
            # A timestamp in step with ours (an earlier one would be noted clock_regressed).
            e = sign_entry(key, action("intruder", content=b"2"), 2, log.head.head_hash, int(time.time() * 1000))
            self.assertEqual(c.append([e])[0].status, "accepted")
        # Our seq 2 is an equivocation; our seq 3 (after our seq 2) a conflict. Both
        # contents are signed again from the node's head and stored at 3 and 4.
        results = log.append_many([action("a", content=b"2"), action("a", content=b"3")])
        self.assertEqual([(r.status, r.seq) for r in results], [("accepted", 3), ("accepted", 4)])
        self.assertEqual(results[0].entry.prev, e.hash)
        self.assertEqual((log.equivocations, log.seen["equivocation"], log.seen["conflict"]),
                         (1, 1, 1))
        self.assertEqual(self.node.get_json("/v1/agents/" + key.did)["equivocations"], 1)

    def test_gap_after_a_rejected_entry(self):
        # One pipelined call: the rejected policy is final, the entries after it (signed on
        # it) come back as gaps and are signed again at the seq it left free.
        owner = SigningKey.generate()
        log = self.log(owner)
        results = log.append_many([
            action("a", content=b"0"),
            policy(SigningKey.generate(), 1, document=b"unregistered agent"),
            action("a", content=b"1"),
            action("a", content=b"2")])
        self.assertEqual([(r.status, r.seq) for r in results],
                         [("accepted", 0), ("rejected", 1), ("accepted", 1), ("accepted", 2)])
        self.assertEqual(results[1].reason, 72)
        self.assertEqual(log.seen["gap"], 2)
        self.assertEqual(results[2].entry.prev, results[0].entry.hash)

    def test_asyncio(self):
        key = SigningKey.generate()

        async def main():
            async with AsyncAgentLog(key, self.node.address) as log:
                one = await log.append_action("a", content=b"first")
                many = await asyncio.gather(*[log.append_action("a", content=b"%d" % i)
                                              for i in range(10)])
                batch = await log.append_many([action("b", content=b"%d" % i) for i in range(100)])
                return [one] + list(many) + batch

        results = asyncio.run(main())
        self.assertEqual(sorted(r.seq for r in results), list(range(111)))
        self.assertEqual({r.status for r in results}, {"accepted"})

    def test_invalid_body_fails_before_sending(self):
        with self.assertRaises(TrailError) as cm:
            action("x" * 65)
        self.assertEqual(cm.exception.name, "length_exceeds_limit")
        with self.assertRaises(TrailError) as cm:
            action("")
        self.assertEqual(cm.exception.code, 11)


class ResyncAcrossNodesTests(unittest.TestCase):
    """After a reconnect the log rereads the node's head: a node that lost the chain, or
    holds another one, is followed from its own head."""

    def test_node_swap(self):
        tmp = tmpdir()
        key = SigningKey.generate()
        first = Collector(os.path.join(tmp, "first")).start()
        self.addCleanup(first.cleanup)
        log = AgentLog(key, first.address, reconnect_timeout=30)
        self.addCleanup(log.close)
        log.append_many([action("a", content=b"%d" % i) for i in range(3)])
        first.stop()
        # A fresh node on the same port: the chain is empty there.
        second = Collector(os.path.join(tmp, "second"))
        second.port, second.http_port = first.port, first.http_port
        second.start()
        self.addCleanup(second.cleanup)
        r = log.append_action("a", content=b"on second")
        self.assertEqual((r.status, r.seq, r.entry.prev), ("accepted", 0, ZERO_HASH))
        second.stop()
        # A node where another writer of the key holds seq 0.
        third = Collector(os.path.join(tmp, "third"))
        third.port, third.http_port = first.port, first.http_port
        third.start()
        self.addCleanup(third.cleanup)
        with Connection(third.address) as c:
            e = sign_entry(key, action("other", content=b"other"), 0, ZERO_HASH, 9)
            self.assertEqual(c.append([e])[0].status, "accepted")
        r = log.append_action("a", content=b"on third")
        self.assertEqual((r.status, r.seq, r.entry.prev), ("accepted", 1, e.hash))
        self.assertEqual((log.connections, log.resyncs), (3, 3))


class OverloadedTests(unittest.TestCase):
    def test_waits_out_overloaded(self):
        node = Collector(args=["--max-batch", "8", "--max-pending", "8"]).start()
        self.addCleanup(node.cleanup)
        key = SigningKey.generate()
        log = AgentLog(key, node.address, max_batch=8, window=16)
        self.addCleanup(log.close)
        results = log.append_many([action("a", content=b"%d" % i) for i in range(600)])
        self.assertEqual({r.status for r in results}, {"accepted"})
        self.assertEqual([r.seq for r in results], list(range(600)))
        self.assertGreater(log.overloaded, 0)
        self.assertGreater(log.seen["overloaded"], 0)
        self.assertEqual(len(stored_chain(node, key, tmpdir())), 600)


class RestartTests(unittest.TestCase):
    def test_kill_9_mid_stream_nothing_twice(self):
        tmp = tmpdir()
        node = Collector(os.path.join(tmp, "data")).start()
        self.addCleanup(node.cleanup)
        key = SigningKey.generate()
        n = 12000
        contents = [b"restart-%d" % i for i in range(n)]
        log = AgentLog(key, node.address, max_batch=128, window=8, reconnect_timeout=60)
        self.addCleanup(log.close)
        killed = threading.Event()
        errors = []

        def killer():
            try:
                with Connection(node.address) as c:
                    deadline = time.monotonic() + 60
                    while c.head(key.public_key).next_seq < n // 3:
                        if time.monotonic() > deadline:
                            raise AssertionError("the stream did not start")
                        time.sleep(0.005)
                node.kill()
                killed.set()
                time.sleep(0.3)
                node.start()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=killer)
        t.start()
        results = log.append_many([action("post", content=c) for c in contents])
        t.join(timeout=120)
        self.assertFalse(errors, errors)
        self.assertTrue(killed.is_set())
        self.assertGreaterEqual(log.connections, 2, "the log reconnected")
        self.assertEqual([r.seq for r in results], list(range(n)))
        self.assertTrue(all(r.succeeded for r in results))
        self.assertEqual(len({r.index for r in results}), n)
        # The stored chain holds each content exactly once, in order, and the very bytes
        # the log reported.
        chain = stored_chain(node, key, tmp)
        self.assertEqual(len(chain), n)
        self.assertEqual([e.body["content_hash"] for e in chain],
                         [hashlib.sha256(c).hexdigest() for c in contents])
        self.assertEqual([e.encoded for e in chain], [r.entry.encoded for r in results])
        profile = node.get_json("/v1/agents/" + key.did)
        self.assertEqual((profile["entries"], profile["equivocations"]), (n, 0))
        print("\nkill -9 mid-stream: %d entries, %d connections, %d duplicate acks"
              % (n, log.connections, log.seen["duplicate"]))


if __name__ == "__main__":
    unittest.main()
