#!/usr/bin/env python3
"""Proof bundles (SPEC 4): an alias of agenttrail.bundle from protocol/python when
imported, and its command line when run:

    python3 protocol/reference/bundle_ref.py verify FILE --log-key KEY

prints `valid: ...` and exits 0, or `invalid: <name> (<code>): <message>` and exits 1
(2 for a malformed --log-key or an unreadable file; FILE `-` reads standard input)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tree  # noqa: E402,F401

from agenttrail import bundle as _module  # noqa: E402

if __name__ == "__main__":
    sys.exit(_module.main(prog="bundle_ref.py"))
sys.modules[__name__] = _module
