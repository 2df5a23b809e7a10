"""Merkle proofs, signed notes and checkpoints (SPEC 3): an alias of agenttrail.notes from protocol/python, kept so that
`import notes_ref` goes on working. There is one codec; this file holds none of it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tree  # noqa: E402,F401

from agenttrail import notes as _module  # noqa: E402

sys.modules[__name__] = _module
