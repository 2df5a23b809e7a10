"""Test support: real `trail serve` processes on 127.0.0.1, started and stopped by pid.

The `trail` binary is `.build/debug/trail` under the repository root (`make build` makes
it), or the path in the environment variable TRAIL_BIN.
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PACKAGE_ROOT))
if sys.path[:1] != [PACKAGE_ROOT]:
    sys.path.insert(0, PACKAGE_ROOT)   # this tree's agenttrail, not an installed copy

START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 120.0


_TEMP_DIRS = []


def tmpdir():
    """A new temporary folder, removed when the test process exits."""
    path = tempfile.mkdtemp(prefix="agenttrail-py-")
    _TEMP_DIRS.append(path)
    return path


@atexit.register
def _remove_temp_dirs():
    for path in _TEMP_DIRS:
        shutil.rmtree(path, ignore_errors=True)


def trail_bin():
    path = os.environ.get("TRAIL_BIN") or os.path.join(REPO, ".build", "debug", "trail")
    if not os.access(path, os.X_OK):
        raise RuntimeError("no trail binary at %s: run `make build` or set TRAIL_BIN" % path)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trail(*args, cwd=None, check=True):
    """Runs `trail args...`; returns the CompletedProcess (text)."""
    p = subprocess.run([trail_bin()] + [str(a) for a in args], cwd=cwd, capture_output=True,
                       text=True, timeout=COMMAND_TIMEOUT)
    if check and p.returncode != 0:
        raise AssertionError("trail %s exited %d: %s%s" % (" ".join(map(str, args)), p.returncode,
                                                           p.stdout, p.stderr))
    return p


class Collector:
    """One `trail serve` node with its data in a folder; the same folder and ports survive
    kill() and start()."""

    def __init__(self, data=None, args=()):
        self._tmp = None
        if data is None:
            self._tmp = tempfile.mkdtemp(prefix="agenttrail-py-")
            data = os.path.join(self._tmp, "data")
        self.data = data
        self.args = list(args)
        self.port = free_port()
        self.http_port = free_port()
        self.proc = None
        self.log_path = data.rstrip("/") + ".log"

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def http(self):
        return "http://127.0.0.1:%d" % self.http_port

    def start(self):
        assert self.proc is None
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [trail_bin(), "serve", "--data", self.data, "--listen", self.address,
             "--http", "127.0.0.1:%d" % self.http_port] + [str(a) for a in self.args],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.port, self.http_port):
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError("trail serve exited %d: %s" % (self.proc.returncode,
                                                                        self.log()))
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.kill()
                        raise AssertionError("trail serve did not accept on %d within %.0f s"
                                             % (port, START_TIMEOUT))
                    time.sleep(0.02)
        return self

    def kill(self):
        """kill -9, by pid."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self):
        """SIGTERM by pid (the node drains and stops), SIGKILL if it has not within 20 s."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def cleanup(self):
        self.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def get_json(self, path):
        with urllib.request.urlopen(self.http + path, timeout=30) as r:
            return json.loads(r.read())

    def log_key(self):
        return trail("node", "key", "--data", self.data).stdout.strip()
