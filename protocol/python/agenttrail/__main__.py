"""python3 -m agenttrail verify FILE --log-key KEY: verify a proof bundle offline (SPEC 4)."""

import sys

from .bundle import main

sys.exit(main(prog="python3 -m agenttrail"))
