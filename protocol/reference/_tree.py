"""Puts this tree's protocol/python first on sys.path, so that the reference scripts use
the agenttrail package next to them (not another installed copy)."""

import os
import sys

PACKAGE_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "..", "python"))
if sys.path[:1] != [PACKAGE_ROOT]:
    sys.path.insert(0, PACKAGE_ROOT)
