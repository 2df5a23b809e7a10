"""AgentTrail for Python: keys, entries of every kind, the binary protocol, an AgentLog that
appends to a collector, and offline proof-bundle verification (protocol/SPEC.md).

    from agenttrail import SigningKey, AgentLog
    log = AgentLog(SigningKey.load("agent.key"), "127.0.0.1:7411")
    r = log.append_action("post_reply", target="forum.example.com", content=b"hello")
    print(r.status, r.index, r.entry_hash)

`AsyncAgentLog` is the same for asyncio. Modules: `codec` (entries, SPEC 1), `frames` (SPEC 2), `notes` (SPEC 3), `bundle`
(SPEC 4) are the reference codec that protocol/reference/check_vectors.py checks against
the vectors; `keys`, `entries`, `connection` and `log` are the client built on them.
"""

from .aio import AsyncAgentLog
from .bundle import verify_bundle
from .codec import commitment, did_key, entry_hash, parse_did_key
from .connection import Connection, Head, ServerLimits, Status
from .entries import (Body, Entry, action, commit, now_ms, policy, receipt, registration, report,
                      sign_entry)
from .errors import ERRORS, FrameError, TrailError
from .keys import SigningKey
from .log import AgentLog, AppendResult

__version__ = "1.0.0"

__all__ = [
    "AgentLog", "AppendResult", "AsyncAgentLog", "Body", "Connection", "ERRORS", "Entry", "FrameError", "Head",
    "ServerLimits", "SigningKey", "Status", "TrailError", "action", "commit", "commitment",
    "did_key", "entry_hash", "now_ms", "parse_did_key", "policy", "receipt", "registration",
    "report", "sign_entry", "verify_bundle",
]
