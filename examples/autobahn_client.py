#!/usr/bin/env python3
"""wsfast echo client for Autobahn|Testsuite's fuzzingserver (``wstest -m fuzzingserver``).

1. ``URL/getCaseCount``: the server sends the number of cases N and closes;
2. for case 1..N: ``URL/runCase?case=<i>&agent=<AGENT>``: echo every message
   until the server closes the connection;
3. ``URL/updateReports?agent=<AGENT>``: the server writes its reports.

URL and AGENT default to $AUTOBAHN_URL and $AUTOBAHN_AGENT.
``tests/autobahn/conformance.py --role client`` runs it for you.
"""

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.parse

import wsfast
from wsfast.errors import WebSocketError


def connect(url, args, **options):
    return wsfast.connect(url, backend=args.backend, ping_interval=None,
                          close_timeout=args.close_timeout,
                          compression=None if args.no_compression else "deflate", **options)


async def run_case(url, args):
    """Echo until the server closes. The cases provoke errors on purpose
    (protocol violations, invalid UTF-8, ...): wsfast fails the connection
    and ``recv``/``send`` raise ConnectionClosed, which ends the case."""
    try:
        async with connect(url, args, max_size=args.max_size) as websocket:
            async for message in websocket:
                await websocket.send(message)
    except (WebSocketError, OSError) as exc:
        if args.verbose:
            print(f"{url}: {type(exc).__name__}: {exc}", file=sys.stderr)


async def main(args):
    base = args.url.rstrip("/")
    agent = urllib.parse.quote(args.agent, safe="")

    async with connect(base + "/getCaseCount", args) as websocket:
        count = json.loads(await websocket.recv())
    print(f"wsfast {wsfast.__version__} ({args.backend or wsfast.IMPLEMENTATION}) client: "
          f"{count} cases, agent {args.agent!r}", flush=True)

    start = time.monotonic()
    for case in range(1, count + 1):
        url = f"{base}/runCase?case={case}&agent={agent}"
        try:
            await asyncio.wait_for(run_case(url, args), args.case_timeout)
        except asyncio.TimeoutError:
            print(f"case {case}: gave up after {args.case_timeout:.0f} s", file=sys.stderr)
        if case % 50 == 0 or case == count:
            print(f"  {case}/{count} cases done ({time.monotonic() - start:.0f} s)", flush=True)

    async with connect(f"{base}/updateReports?agent={agent}", args) as websocket:
        async for _ in websocket:  # the server closes once the reports are written
            pass
    print("reports updated", flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?",
                        default=os.environ.get("AUTOBAHN_URL", "ws://127.0.0.1:9001"))
    parser.add_argument("agent", nargs="?", default=os.environ.get("AUTOBAHN_AGENT", "wsfast"))
    parser.add_argument("--backend", choices=["cython", "python"], default=None,
                        help="wsfast kernels (default: the process default)")
    parser.add_argument("--max-size", type=int, default=2**25,
                        help="largest message in bytes (default 32 MiB; 9.* sends 16 MiB)")
    parser.add_argument("--no-compression", action="store_true",
                        help="do not offer permessage-deflate (12.*/13.* become UNIMPLEMENTED)")
    parser.add_argument("--close-timeout", type=float, default=2.0,
                        help="seconds allowed for each closing step (default 2)")
    parser.add_argument("--case-timeout", type=float, default=120.0,
                        help="give up on one case after this many seconds (default 120)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the exception that ended each case")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
