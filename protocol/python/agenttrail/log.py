"""AgentLog: appends to one signer's chain on a collector, with the promises of the Swift
`AgentLog` (Sources/AgentTrail/AgentLog.swift)."""

import threading
import time
from collections import Counter, deque

from . import entries as _e
from .connection import Connection, Head, parse_address
from .errors import TrailError
from .keys import SigningKey

__all__ = ["AgentLog", "AppendResult"]

_FINAL = frozenset(["bad_signature", "malformed", "rejected"])


class AppendResult:
    """The final outcome of one appended entry: `status` (accepted, duplicate or noted when
    `succeeded`; bad_signature, malformed or rejected otherwise, with `reason` the SPEC code),
    `index` in the log, `seq`, `entry_hash` (hex), the `entry` itself (its exact bytes in
    `entry.encoded`), and for `noted` the `violations` and `flags` it raised."""

    __slots__ = ("status", "index", "seq", "entry_hash", "entry", "violations", "flags", "reason")

    def __init__(self, status, entry):
        self.status = status.status
        self.index = status.index
        self.reason = status.reason
        self.violations = status.violations
        self.flags = status.flags
        self.entry = entry
        self.seq = entry.seq
        self.entry_hash = entry.hash.hex()

    @property
    def succeeded(self):
        return self.index is not None

    def __repr__(self):
        tail = ", reason=%d" % self.reason if self.reason is not None else ""
        if self.violations or self.flags:
            tail += ", violations=%r, flags=%r" % (self.violations, self.flags)
        return "AppendResult(%s, seq=%d, index=%s, entry_hash=%s%s)" % (
            self.status, self.seq, self.index, self.entry_hash, tail)


class _Item:
    __slots__ = ("body", "ts", "entry", "result")

    def __init__(self, body, ts):
        self.body = body
        self.ts = ts
        self.entry = None
        self.result = None


class AgentLog:
    """Appends to the chain of `key` on the collector at `address` ("HOST:PORT").

    It tracks seq and prev itself (from the server's head at first use), batches and
    pipelines entries (`window` APPENDs of up to `max_batch` entries in flight), and:

    - resyncs from the server's head on `conflict`, `gap` and `equivocation` (another writer
      used the key: the entry is signed again at the server's head and `equivocations` counts
      it), and re-signs the entries that came after a refused one;
    - waits out `overloaded` for the server's retry hint, halving its batch size (and growing
      it back as batches go through), and sends the same bytes again;
    - reconnects after a dropped connection (for up to `reconnect_timeout` seconds) and sends
      the very same bytes again, so an entry whose ack was lost is answered `duplicate` with
      its index, never stored twice;
    - treats `noted` as success (stored; the rules it broke and the flags it raised are in
      the result) and `bad_signature`, `malformed` and `rejected` as final for that entry.

    After `max_attempts` recoveries in a row without progress it raises TrailError
    `connection` (205) with `results` (None for entries without an outcome). Entries are
    signed when first sent and signed again only at positions the server has not taken
    (Ed25519 is deterministic: unchanged fields give identical bytes). Calls are serialized
    by a lock; use one AgentLog per key.
    """

    def __init__(self, key, address="127.0.0.1:7411", *, max_batch=256, window=8,
                 max_attempts=20, reconnect_timeout=30.0, timeout=30.0,
                 client_name="agenttrail-python"):
        if not isinstance(key, SigningKey):
            raise TypeError("key must be a SigningKey")
        if max_batch < 1 or window < 1 or max_attempts < 1:
            raise ValueError("max_batch, window and max_attempts must be at least 1")
        self.key = key
        self.address = parse_address(address)
        self.max_batch = max_batch
        self.window = window
        self.max_attempts = max_attempts
        self.reconnect_timeout = reconnect_timeout
        self.timeout = timeout
        self.client_name = client_name
        #: Entries the server answered `equivocation` (another writer used this key).
        self.equivocations = 0
        #: Times the log reread the server's head (first use included).
        self.resyncs = 0
        #: Connections opened (first one included).
        self.connections = 0
        #: APPENDs the server answered `overloaded`.
        self.overloaded = 0
        #: Every status the server answered, by name, intermediate ones included.
        self.seen = Counter()
        self._conn = None
        self._head = None
        self._batch = max_batch
        self._retry_after_ms = 0
        self._failed = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public API

    @property
    def head(self):
        """The (next_seq, head_hash) the next entry will be signed at, once known."""
        return self._head

    def append(self, body, timestamp_ms=None):
        """Appends one Body and returns its AppendResult."""
        return self.append_many([body], None if timestamp_ms is None else [timestamp_ms])[0]

    def append_many(self, bodies, timestamps_ms=None):
        """Appends Bodies in this order, pipelined, and returns their AppendResults in the same
        order."""
        bodies = list(bodies)
        for i, b in enumerate(bodies):
            if not isinstance(b, _e.Body):
                raise TypeError("item %d is not a Body (see agenttrail.action, receipt, ...)" % i)
        if timestamps_ms is None:
            now = _e.now_ms()
            timestamps_ms = [now] * len(bodies)
        elif len(timestamps_ms) != len(bodies):
            raise ValueError("one timestamp per body")
        items = [_Item(b, ts) for b, ts in zip(bodies, timestamps_ms)]
        with self._lock:
            self._run(items)
        return [it.result for it in items]

    def append_action(self, action_type, target="", **fields):
        """append(action(action_type, target, **fields)): see agenttrail.action."""
        return self.append(_e.action(action_type, target, **fields))

    def append_receipt(self, request_commitment, outcome="ok", **fields):
        """append(receipt(...)): see agenttrail.receipt."""
        return self.append(_e.receipt(request_commitment, outcome, **fields))

    def append_registration(self, agent, label="", **fields):
        """Registers `agent` (its SigningKey signs the proof of possession) in this log's
        chain, this log's key being the owner."""
        return self.append(_e.registration(agent, self.key, label, **fields))

    def append_policy(self, agent, version, **fields):
        """append(policy(agent, version, ...)): see agenttrail.policy."""
        return self.append(_e.policy(agent, version, **fields))

    def append_report(self, subject, category, **fields):
        """append(report(subject, category, ...)): see agenttrail.report."""
        return self.append(_e.report(subject, category, **fields))

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ the loop

    def _run(self, items):
        need_recovery = self._head is None
        while True:
            todo = [it for it in items if it.result is None]
            if not todo:
                return
            if need_recovery or self._conn is None or self._conn.closed:
                self._recover(todo, items)
            need_recovery = self._round(todo)

    def _sign(self, item):
        h = self._head
        item.entry = _e.sign_entry(self.key, item.body, h.next_seq, h.head_hash, item.ts)
        self._head = Head(h.next_seq + 1, item.entry.hash)

    def _round(self, todo):
        """Sends `todo` in pipelined batches until done or something needs a recovery; reads
        every ack that is due. Returns True if a recovery is needed."""
        conn = self._conn
        limit = max(1, min(self._batch, conn.limits.max_batch))
        inflight = deque()
        i = 0
        stop = False
        while (not stop and i < len(todo)) or inflight:
            while not stop and i < len(todo) and len(inflight) < self.window:
                batch = todo[i:i + limit]
                for it in batch:
                    if it.entry is None:
                        self._sign(it)
                try:
                    rid = conn.send_append([it.entry for it in batch])
                except TrailError:
                    return True      # the connection is gone; every outstanding ack with it
                inflight.append((rid, batch))
                i += len(batch)
            if not inflight:
                break
            rid, batch = inflight.popleft()
            try:
                statuses = conn.wait(rid)
            except TrailError:
                return True
            if self._handle(statuses, batch):
                stop = True
        return stop

    def _handle(self, statuses, batch):
        """Applies one ACK; True if a recovery is needed."""
        recover = False
        progressed = False
        overloaded = False
        for st, it in zip(statuses, batch):
            s = st.status
            self.seen[s] += 1
            if st.index is not None:                 # accepted, duplicate, noted
                it.result = AppendResult(st, it.entry)
                progressed = True
            elif s in _FINAL:
                # Final for this entry; those after it chained on it and are signed again.
                it.result = AppendResult(st, it.entry)
                progressed = True
                recover = True
            elif s == "equivocation":
                # Another writer holds this position (kept as evidence by the server): this
                # content is still to be logged, at the server's head.
                it.entry = None
                self.equivocations += 1
                recover = True
            elif s == "overloaded":
                self._retry_after_ms = max(self._retry_after_ms, st.retry_after_ms or 0)
                overloaded = True
                recover = True
            else:                                    # conflict, gap
                recover = True
        if overloaded:
            self.overloaded += 1
            self._batch = max(1, self._batch // 2)
        elif progressed and not recover and self._batch < self.max_batch:
            self._batch = min(self.max_batch, self._batch * 2)
        if progressed:
            self._failed = 0
        return recover

    # ------------------------------------------------------------------ recovery

    def _recover(self, todo, items):
        """Waits out an overload hint, (re)connects, rereads the server's head and resyncs:
        entries below it keep their bytes (resent, they are `duplicate`), the rest are
        signed again from it."""
        while True:
            if self._retry_after_ms:
                time.sleep(self._retry_after_ms / 1000.0)
                self._retry_after_ms = 0
            self._failed += 1
            if self._failed > self.max_attempts:
                self._failed = 0
                err = TrailError.named("connection", "no progress after %d attempts"
                                       % self.max_attempts)
                err.results = [it.result for it in items]
                raise err
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = None
                    try:
                        self._conn = self._connect()
                    except TrailError as e:
                        # Unreachable for reconnect_timeout, or refused outright: give up.
                        self._failed = 0
                        e.results = [it.result for it in items]
                        raise
                head = self._conn.head(self.key.public_key)
            except TrailError as e:
                if hasattr(e, "results"):
                    raise
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                time.sleep(min(1.0, 0.05 * self._failed))
                continue
            self._head = head
            self.resyncs += 1
            keep = True    # a prefix of the chain keeps its bytes; all after it is re-signed
            for it in todo:
                keep = keep and it.entry is not None and it.entry.seq < head.next_seq
                if not keep:
                    it.entry = None
            return

    def _connect(self):
        deadline = time.monotonic() + self.reconnect_timeout
        delay = 0.05
        while True:
            try:
                conn = Connection(self.address, client_name=self.client_name,
                                  timeout=self.timeout)
                self.connections += 1
                return conn
            except TrailError as e:
                # Keep trying while the server is down, restarting (108) or full (106).
                if (e.name not in ("connection", "shutting_down", "too_many_connections")
                        or time.monotonic() + delay > deadline):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
