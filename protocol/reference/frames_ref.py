"""The frame codec (SPEC 2): an alias of agenttrail.frames from protocol/python, kept so that
`import frames_ref` goes on working. There is one codec; this file holds none of it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tree  # noqa: E402,F401

from agenttrail import frames as _module  # noqa: E402

sys.modules[__name__] = _module
