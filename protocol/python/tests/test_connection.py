"""The binary protocol against a real collector: every status of SPEC 2.1 through
Connection, pipelined APPENDs, HEAD and PING."""

import hashlib
import socket
import threading
import unittest

import support  # noqa: F401  (puts this tree's agenttrail first)
from support import Collector

from agenttrail import (Connection, FrameError, SigningKey, action, policy,
                        sign_entry)
from agenttrail.entries import ZERO_HASH


def chain(key, n, tag="c", start=0, prev=ZERO_HASH):
    """n signed actions of `key` from `start`."""
    out = []
    for i in range(start, start + n):
        e = sign_entry(key, action("step", content=b"%s-%d" % (tag.encode(), i)), i, prev, 1000 + i)
        out.append(e)
        prev = e.hash
    return out


class ConnectionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Collector().start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def setUp(self):
        self.conn = Connection(self.node.address, client_name="python-tests")
        self.addCleanup(self.conn.close)

    def test_hello_limits_and_ping(self):
        lim = self.conn.limits
        self.assertEqual(lim.protocol_version, 1)
        self.assertEqual((lim.max_frame, lim.max_batch, lim.max_inflight), (1 << 20, 1024, 8 << 20))
        self.assertEqual(len(lim.node_key), 32)
        self.assertGreater(self.conn.ping(), 0)

    def test_chain_statuses(self):
        key = SigningKey.generate()
        self.assertEqual(tuple(self.conn.head(key.public_key)), (0, ZERO_HASH))
        e0, e1 = chain(key, 2)
        [s] = self.conn.append([e0])
        self.assertEqual(s.status, "accepted")
        self.assertTrue(s.stored)
        index = s.index
        # The very same bytes again: duplicate, at the same index.
        [s] = self.conn.append([e0])
        self.assertEqual((s.status, s.index), ("duplicate", index))
        # seq 1 after the wrong prev: conflict, with the head to resync from.
        wrong = sign_entry(key, action("step", content=b"x"), 1, hashlib.sha256(b"no").digest(), 5)
        [s] = self.conn.append([wrong])
        self.assertEqual((s.status, s.next_seq, s.head_hash), ("conflict", 1, e0.hash))
        # seq past the next: gap.
        far = sign_entry(key, action("step", content=b"far"), 7, e0.hash, 5)
        [s] = self.conn.append([far])
        self.assertEqual((s.status, s.next_seq, s.head_hash), ("gap", 1, e0.hash))
        # Another validly signed entry at seq 0: equivocation, kept as evidence.
        other = sign_entry(key, action("step", content=b"other"), 0, ZERO_HASH, 2)
        [s] = self.conn.append([other])
        self.assertEqual((s.status, s.next_seq, s.head_hash), ("equivocation", 1, e0.hash))
        profile = self.node.get_json("/v1/agents/" + key.did)
        self.assertEqual(profile["equivocations"], 1)
        # A flipped signature bit: bad_signature (20); cut bytes: malformed (truncated, 1).
        bad = bytearray(e1.encoded)
        bad[-1] ^= 1
        [s] = self.conn.append([bytes(bad)])
        self.assertEqual((s.status, s.reason), ("bad_signature", 20))
        [s] = self.conn.append([e1.encoded[:-10]])
        self.assertEqual((s.status, s.reason), ("malformed", 1))
        self.assertEqual(tuple(self.conn.head(key.public_key)), (1, e0.hash))
        [s] = self.conn.append([e1])
        self.assertEqual(s.status, "accepted")
        self.assertGreater(s.index, index)
        self.assertEqual(tuple(self.conn.head(key.public_key)), (2, e1.hash))

    def test_noted_and_rejected(self):
        key = SigningKey.generate()
        # The action's own human_review flag is a trust flag: stored, and noted.
        e = sign_entry(key, action("post", content=b"hi", flags=["human_review"]), 0)
        [s] = self.conn.append([e])
        self.assertEqual((s.status, s.violations, s.flags), ("noted", [], ["human_review"]))
        self.assertIsNotNone(s.index)
        self.assertTrue(s.stored)
        # A policy for an agent nobody registered: rejected (72), and the head stays.
        owner = SigningKey.generate()
        p = sign_entry(owner, policy(key, 1, document=b"rules"), 0)
        [s] = self.conn.append([p])
        self.assertEqual((s.status, s.reason), ("rejected", 72))
        self.assertFalse(s.stored)
        self.assertEqual(self.conn.head(owner.public_key).next_seq, 0)

    def test_one_append_mixed_statuses(self):
        key = SigningKey.generate()
        e0, e1, e2 = chain(key, 3, "mixed")
        statuses = self.conn.append([e0, e1, e1, e2.encoded[:100]])
        self.assertEqual([s.status for s in statuses], ["accepted", "accepted", "duplicate", "malformed"])
        self.assertEqual(statuses[1].index, statuses[2].index)

    def test_pipelined_appends(self):
        key = SigningKey.generate()
        entries = chain(key, 1000, "pipe")
        ids = [self.conn.send_append(entries[i:i + 50]) for i in range(0, 1000, 50)]
        self.assertEqual(self.conn.outstanding, 20, "every APPEND was written before any ack was read")
        statuses = [s for rid in ids for s in self.conn.wait(rid)]
        self.assertEqual({s.status for s in statuses}, {"accepted"})
        indexes = [s.index for s in statuses]
        self.assertEqual(indexes, sorted(indexes))
        self.assertEqual(len(set(indexes)), 1000)
        self.assertEqual(tuple(self.conn.head(key.public_key)), (1000, entries[-1].hash))

    def test_limits_checked_before_sending(self):
        key = SigningKey.generate()
        [e] = chain(key, 1, "lim")
        with self.assertRaises(FrameError) as cm:
            self.conn.send_append([e] * 1025)
        self.assertEqual(cm.exception.code, 105)
        self.assertEqual(self.conn.outstanding, 0)
        # The connection is still usable.
        self.assertEqual(self.conn.append([e])[0].status, "accepted")


class OverloadTests(unittest.TestCase):
    """A node with a small pipeline (--max-pending) and a small --max-inflight."""

    @classmethod
    def setUpClass(cls):
        cls.node = Collector(args=["--max-batch", "8", "--max-pending", "8",
                                   "--max-inflight", "4096"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()

    def test_overloaded_with_retry_hint(self):
        key = SigningKey.generate()
        entries = chain(key, 240, "ovl")
        with Connection(self.node.address) as conn:
            self.assertEqual(conn.limits.max_batch, 8)
            ids = [conn.send_append(entries[i:i + 8]) for i in range(0, 240, 8)]
            statuses = [s for rid in ids for s in conn.wait(rid)]
        over = [s for s in statuses if s.status == "overloaded"]
        self.assertTrue(over, "30 pipelined batches of 8 into a pipeline of 8 overload it")
        self.assertTrue(all(s.retry_after_ms >= 10 for s in over))
        # Not stored: the server's head is where the first overloaded entry would have gone.
        stored = [s for s in statuses if s.stored]
        with Connection(self.node.address) as conn:
            self.assertLessEqual(conn.head(key.public_key).next_seq, len(stored))

    def test_inflight_bound_keeps_the_stream_moving(self):
        # 200 batches of 4 entries (~1 KB a frame) against --max-inflight 4096: the
        # connection reads acks as it goes and never has more than 4 KiB unacknowledged.
        key = SigningKey.generate()
        entries = chain(key, 800, "inflight")
        with Connection(self.node.address) as conn:
            self.assertEqual(conn.limits.max_inflight, 4096)
            done = []
            for i in range(0, 800, 4):
                for _ in range(100):      # bounded: a lone batch of 4 fits a pipeline of 8
                    statuses = conn.append(entries[i:i + 4])
                    if statuses[0].status != "overloaded":
                        break
                done += statuses
            self.assertEqual({s.status for s in done}, {"accepted"})
            ids = [conn.send_append(entries[i:i + 4]) for i in range(0, 800, 4)]
            self.assertLessEqual(conn.outstanding, 4096 // 1000 + 1)
            again = [s for rid in ids for s in conn.wait(rid)]
            self.assertEqual({s.status for s in again} - {"overloaded"}, {"duplicate"})



class BadServerTests(unittest.TestCase):
    """What a client does with a server that breaks the protocol: a precise error, never a
    hang or an unbounded read. The server is a socket in this test that sends chosen bytes."""

    HELLO_OK = bytes.fromhex("0000002f02") + (1).to_bytes(2, "big") + (1 << 20).to_bytes(4, "big") \
        + (8).to_bytes(4, "big") + (1 << 20).to_bytes(4, "big") + bytes(32)

    def serve(self, reply):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.addCleanup(srv.close)

        def run():
            c, _ = srv.accept()
            with c:
                c.recv(4096)                     # HELLO
                c.sendall(reply)
                try:
                    c.recv(4096)
                except OSError:
                    pass

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return "127.0.0.1:%d" % srv.getsockname()[1]

    def code(self, reply, then=None):
        with self.assertRaises(FrameError) as cm:
            conn = Connection(self.serve(reply), timeout=5)
            if then:
                then(conn)
        return cm.exception.code

    def test_error_frame_in_handshake(self):
        msg = b"full"
        frame = (1 + 2 + 2 + len(msg)).to_bytes(4, "big") + b"\x7f" + (106).to_bytes(2, "big") \
            + len(msg).to_bytes(2, "big") + msg
        self.assertEqual(self.code(frame), 106)

    def test_huge_length_prefix(self):
        self.assertEqual(self.code((1 << 31).to_bytes(4, "big")), 100)

    def test_ack_for_unknown_request(self):
        ack = (1 + 8 + 2 + 9).to_bytes(4, "big") + b"\x04" + (99).to_bytes(8, "big") \
            + (1).to_bytes(2, "big") + b"\x00" + bytes(8)
        key = SigningKey.generate()
        [e] = chain(key, 1, "bad")
        self.assertEqual(self.code(self.HELLO_OK + ack, lambda c: c.append([e])), 102)

    def test_unknown_frame_type(self):
        self.assertEqual(self.code(self.HELLO_OK + b"\x00\x00\x00\x01\x09", lambda c: c.ping()), 101)


if __name__ == "__main__":
    unittest.main()
