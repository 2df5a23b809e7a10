"""The entry codec (SPEC 1): an alias of agenttrail.codec from protocol/python, kept so that
`import agenttrail_ref` goes on working. There is one codec; this file holds none of it."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _tree  # noqa: E402,F401

from agenttrail import codec as _module  # noqa: E402

sys.modules[__name__] = _module
