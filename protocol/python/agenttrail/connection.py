"""One TCP connection to a collector (SPEC section 2): HELLO, pipelined APPENDs, HEAD_QUERY
and PING, on a blocking socket.

`send_append` writes an APPEND and returns its request id at once; `wait(request_id)`
reads until that ACK has come. Many APPENDs may be outstanding; the connection never has
more unacknowledged APPEND bytes on the wire than the server's `max_inflight`, so the
server never stops reading it. Not thread-safe: use one connection per thread.
"""

import socket
import struct
import time
from collections import namedtuple

from . import frames
from .errors import PROTOCOL_ERRORS, FrameError, TrailError

__all__ = ["Connection", "Status", "Head", "ServerLimits", "parse_address"]

PROTOCOL_VERSION = 1
MAX_SERVER_FRAME = 16 << 20    # an ACK of 65535 statuses is under 3 MiB

Head = namedtuple("Head", "next_seq head_hash")
Head.__doc__ = "A chain's head on the server: the next seq and the entry hash at next_seq - 1."
ServerLimits = namedtuple("ServerLimits", "protocol_version max_frame max_batch max_inflight node_key")

_APPEND_HEADER = struct.Struct(">IBQH")
_U32 = struct.Struct(">I")


def parse_address(address):
    """(host, port) from "HOST:PORT", "[v6]:PORT" or a (host, port) tuple."""
    if isinstance(address, tuple):
        host, port = address
        return host, int(port)
    host, sep, port = str(address).rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise TrailError.named("invalid_argument", "expected HOST:PORT, got %r" % (address,))
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "127.0.0.1", int(port)


class Status:
    """The server's answer for one entry of an APPEND (SPEC 2.1). `status` is its name;
    `index` (accepted, duplicate, noted), `next_seq` and `head_hash` (conflict, gap,
    equivocation), `reason` (bad_signature, malformed, rejected: a SPEC code),
    `retry_after_ms` (overloaded), `violations` and `flags` (noted: names) are set when
    the status carries them, else None / []."""

    __slots__ = ("status", "index", "next_seq", "head_hash", "reason", "retry_after_ms",
                 "violations", "flags")

    STORED = frozenset(["accepted", "duplicate", "noted"])

    def __init__(self, d):
        self.status = d["status"]
        self.index = d.get("index")
        self.next_seq = d.get("next_seq")
        h = d.get("head_hash")
        self.head_hash = bytes.fromhex(h) if h is not None else None
        self.reason = d.get("reason")
        self.retry_after_ms = d.get("retry_after_ms")
        self.violations = d.get("violations", [])
        self.flags = d.get("flags", [])

    @property
    def stored(self):
        """The entry is durable in the log at `index` (accepted, duplicate or noted)."""
        return self.status in self.STORED

    def __repr__(self):
        extra = {k: getattr(self, k) for k in ("index", "next_seq", "reason", "retry_after_ms")
                 if getattr(self, k) is not None}
        if self.head_hash is not None:
            extra["head_hash"] = self.head_hash.hex()
        if self.violations or self.flags:
            extra["violations"], extra["flags"] = self.violations, self.flags
        return "Status(%s%s)" % (self.status, "".join(", %s=%r" % kv for kv in extra.items()))


def _connection_error(message):
    return TrailError.named("connection", message)


class Connection:
    """A connection after the HELLO handshake; `limits` holds the server's HELLO_OK."""

    def __init__(self, address="127.0.0.1:7411", *, client_name="agenttrail-python",
                 timeout=30.0, connect_timeout=5.0):
        self.address = parse_address(address)
        self.timeout = timeout
        self._buf = bytearray()
        self._next_id = 1
        self._outstanding = {}     # request id -> (unacknowledged APPEND bytes, entries)
        self._inflight = 0
        self._replies = {}         # request id -> decoded reply not yet waited for
        self._asked = set()        # HEAD_QUERY and PING ids without their answer yet
        self._closed_error = None
        try:
            self._sock = socket.create_connection(self.address, timeout=connect_timeout)
        except OSError as e:
            raise _connection_error("cannot connect to %s:%d: %s" % (
                self.address[0], self.address[1], e.strerror or e)) from None
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock.settimeout(timeout)
            name = client_name.encode("utf-8")
            self._send(struct.pack(">IBHH", 1 + 2 + 2 + len(name), 0x01, PROTOCOL_VERSION,
                                   len(name)) + name)
            reply = self._read_frame()
            if reply["type"] != "hello_ok":
                raise FrameError.named("malformed_frame", "expected HELLO_OK, got %s" % reply["type"])
            if reply["protocol_version"] != PROTOCOL_VERSION:
                raise FrameError.named("unsupported_protocol", "server speaks protocol %d"
                                       % reply["protocol_version"])
        except BaseException:
            self._sock.close()
            raise
        self.limits = ServerLimits(reply["protocol_version"], reply["max_frame"],
                                   reply["max_batch"], reply["max_inflight"],
                                   bytes.fromhex(reply["node_key"]))

    # ------------------------------------------------------------------ requests

    def _request_id(self):
        rid = self._next_id
        self._next_id += 1
        return rid

    def send_append(self, entries):
        """Writes one APPEND of encoded entries (bytes or Entry) and returns its request id;
        does not wait for the ACK. Raises FrameError batch_too_large / frame_too_large for a
        batch the server announced it would refuse (nothing is sent)."""
        raw = [e.encoded if hasattr(e, "encoded") else bytes(e) for e in entries]
        if not raw:
            raise ValueError("an APPEND needs at least one entry")
        if len(raw) > self.limits.max_batch or len(raw) > 0xFFFF:
            raise FrameError.named("batch_too_large", "%d entries, the server takes %d"
                                   % (len(raw), self.limits.max_batch))
        parts = []
        for e in raw:
            parts.append(_U32.pack(len(e)))
            parts.append(e)
        payload = b"".join(parts)
        length = 1 + 8 + 2 + len(payload)
        if length > self.limits.max_frame:
            raise FrameError.named("frame_too_large", "APPEND of %d bytes, the server takes %d"
                                   % (length, self.limits.max_frame))
        # Keep what is unacknowledged within the server's max_inflight (one frame may
        # exceed it alone: the server then reads it and waits).
        while self._outstanding and self._inflight + length > self.limits.max_inflight:
            self._read_one()
        rid = self._request_id()
        self._send(_APPEND_HEADER.pack(length, 0x03, rid, len(raw)) + payload)
        self._outstanding[rid] = (length, len(raw))
        self._inflight += length
        return rid

    def wait(self, request_id):
        """The statuses (list of Status, in the order of the entries) of an APPEND sent with
        send_append, reading from the server until its ACK arrives."""
        while request_id not in self._replies:
            if request_id not in self._outstanding:
                raise ValueError("request %d is not an outstanding APPEND" % request_id)
            self._read_one()
        reply = self._replies.pop(request_id)
        return [Status(s) for s in reply["statuses"]]

    def append(self, entries):
        """Sends one APPEND and waits for its statuses."""
        return self.wait(self.send_append(entries))

    def head(self, signer):
        """The head of a signer's chain (`signer`: 32-byte public key)."""
        signer = bytes(signer)
        if len(signer) != 32:
            raise ValueError("signer must be a 32-byte public key")
        rid = self._request_id()
        self._asked.add(rid)
        self._send(struct.pack(">IBQ", 1 + 8 + 32, 0x05, rid) + signer)
        reply = self._wait_reply(rid, "head")
        return Head(reply["next_seq"], bytes.fromhex(reply["head_hash"]))

    def ping(self):
        """A round trip; returns its time in seconds."""
        rid = self._request_id()
        self._asked.add(rid)
        start = time.monotonic()
        self._send(struct.pack(">IBQ", 1 + 8, 0x07, rid))
        self._wait_reply(rid, "pong")
        return time.monotonic() - start

    @property
    def outstanding(self):
        """APPENDs sent and not yet acknowledged."""
        return len(self._outstanding)

    @property
    def closed(self):
        return self._closed_error is not None

    def close(self):
        if self._closed_error is None:
            self._closed_error = _connection_error("the connection was closed")
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ I/O

    def _wait_reply(self, rid, kind):
        while rid not in self._replies:
            self._read_one()
        reply = self._replies.pop(rid)
        if reply["type"] != kind:
            raise FrameError.named("malformed_frame", "expected %s, got %s" % (kind, reply["type"]))
        return reply

    def _fail(self, error):
        """Marks the connection unusable with `error` and raises it."""
        if self._closed_error is None:
            self._closed_error = error
        try:
            self._sock.close()
        except OSError:
            pass
        raise error

    def _send(self, data):
        if self._closed_error is not None:
            raise self._closed_error
        try:
            self._sock.sendall(data)
        except socket.timeout:
            self._fail(_connection_error("timed out after %.1f s writing to the server"
                                         % self.timeout))
        except OSError as e:
            self._fail(_connection_error("write failed: %s" % (e.strerror or e)))

    def _recv_exact(self, n):
        buf = self._buf
        while len(buf) < n:
            try:
                chunk = self._sock.recv(max(65536, n - len(buf)))
            except socket.timeout:
                self._fail(_connection_error("no answer from the server within %.1f s"
                                             % self.timeout))
            except OSError as e:
                self._fail(_connection_error("read failed: %s" % (e.strerror or e)))
            if not chunk:
                self._fail(_connection_error("connection closed by the server"))
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _read_frame(self):
        if self._closed_error is not None:
            raise self._closed_error
        (length,) = _U32.unpack(self._recv_exact(4))
        if length == 0 or length > MAX_SERVER_FRAME:
            self._fail(FrameError.named("malformed_frame" if length == 0 else "frame_too_large",
                                        "server frame of length %d" % length))
        body = self._recv_exact(length)
        try:
            msg = frames.decode_payload(body[0], body[1:], "server", max_batch=0xFFFF)
        except FrameError as e:
            self._fail(e)
        if msg["type"] == "error":
            code, text = msg["code"], msg["message"]
            err = (FrameError(code, None, text) if code in PROTOCOL_ERRORS
                   else TrailError(code, None, text))
            self._fail(err)
        return msg

    def _read_one(self):
        """Reads one frame and files it under its request id."""
        msg = self._read_frame()
        t = msg["type"]
        if t == "ack":
            rid = msg["request_id"]
            if rid not in self._outstanding:
                self._fail(FrameError.named("malformed_frame", "ACK for unknown request %d" % rid))
            length, count = self._outstanding.pop(rid)
            self._inflight -= length
            if len(msg["statuses"]) != count:
                self._fail(FrameError.named("malformed_frame", "ACK of %d statuses for an APPEND "
                                            "of %d entries" % (len(msg["statuses"]), count)))
        elif t in ("head", "pong"):
            rid = msg["request_id"] if t == "head" else msg["nonce"]
            if rid not in self._asked:
                self._fail(FrameError.named("malformed_frame", "%s for unknown request %d" % (t, rid)))
            self._asked.discard(rid)
        else:
            self._fail(FrameError.named("malformed_frame", "unexpected %s frame" % t))
        self._replies[rid] = msg
