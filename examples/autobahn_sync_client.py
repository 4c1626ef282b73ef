#!/usr/bin/env python3
"""wsfast threading echo client for Autobahn|Testsuite's fuzzingserver
(``wstest -m fuzzingserver``): the same steps as ``autobahn_client.py``, with
:mod:`wsfast.sync.client` instead of asyncio.

1. ``URL/getCaseCount``: the server sends the number of cases N and closes;
2. for case 1..N: ``URL/runCase?case=<i>&agent=<AGENT>``: echo every message
   until the server closes the connection;
3. ``URL/updateReports?agent=<AGENT>``: the server writes its reports.

``tests/autobahn/conformance.py --role sync-client`` runs it for you.
"""

import argparse
import json
import os
import sys
import time
import urllib.parse

import wsfast
from wsfast.errors import WebSocketError
from wsfast.sync.client import connect as sync_connect


def connect(url, args, **options):
    return sync_connect(url, backend=args.backend, ping_interval=None,
                        close_timeout=args.close_timeout,
                        compression=None if args.no_compression else "deflate", **options)


def run_case(url, args):
    """Echo until the server closes. The cases provoke errors on purpose:
    wsfast fails the connection and ``recv``/``send`` raise ConnectionClosed,
    which ends the case."""
    deadline = time.monotonic() + args.case_timeout
    try:
        with connect(url, args, max_size=args.max_size) as websocket:
            while True:
                websocket.send(websocket.recv(timeout=max(0.0, deadline - time.monotonic())))
    except TimeoutError:
        print(f"{url}: gave up after {args.case_timeout:.0f} s", file=sys.stderr)
    except (WebSocketError, OSError) as exc:
        if args.verbose:
            print(f"{url}: {type(exc).__name__}: {exc}", file=sys.stderr)


def main(args):
    base = args.url.rstrip("/")
    agent = urllib.parse.quote(args.agent, safe="")

    with connect(base + "/getCaseCount", args) as websocket:
        count = json.loads(websocket.recv())
    print(f"wsfast {wsfast.__version__} ({args.backend or wsfast.IMPLEMENTATION}) sync client: "
          f"{count} cases, agent {args.agent!r}", flush=True)

    start = time.monotonic()
    for case in range(1, count + 1):
        run_case(f"{base}/runCase?case={case}&agent={agent}", args)
        if case % 50 == 0 or case == count:
            print(f"  {case}/{count} cases done ({time.monotonic() - start:.0f} s)", flush=True)

    with connect(f"{base}/updateReports?agent={agent}", args) as websocket:
        for _ in websocket:  # the server closes once the reports are written
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
    main(parse_args())
