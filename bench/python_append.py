#!/usr/bin/env python3
"""Append rate of the Python client from one process: AgentLog.append_many of N actions
(signed, pipelined, acknowledged as durable) against a running collector.

    python3 bench/python_append.py --server 127.0.0.1:7411 --count 100000 [--batch 256] [--window 8]

Prints one JSON line: entries/s for the whole append (signing included), the client's CPU
time per entry, the rate of building the bodies (timed separately), the statuses seen and
the machine's load average at the end. Uses a fresh key unless --key is given.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "protocol", "python"))
from agenttrail import AgentLog, SigningKey, action  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="127.0.0.1:7411")
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--key", help="a trail keys file (default: a new key)")
    args = ap.parse_args()

    key = SigningKey.load(args.key) if args.key else SigningKey.generate()
    t0 = time.perf_counter()
    bodies = [action("post_reply", target="forum.example.com", content=b"reply %d" % i)
              for i in range(args.count)]
    t1 = time.perf_counter()
    c1 = time.process_time()
    log = AgentLog(key, args.server, max_batch=args.batch, window=args.window)
    results = log.append_many(bodies)
    t2 = time.perf_counter()
    c2 = time.process_time()
    log.close()
    bad = [r for r in results if not r.succeeded]
    print(json.dumps({
        "entries": args.count, "batch": args.batch, "window": args.window,
        "entries_per_sec": round(args.count / (t2 - t1)), "seconds": round(t2 - t1, 3),
        "client_cpu_us_per_entry": round((c2 - c1) * 1e6 / args.count, 1),
        "bodies_per_sec": round(args.count / (t1 - t0)),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "statuses": dict(log.seen), "failed": len(bad), "signer": key.did}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
