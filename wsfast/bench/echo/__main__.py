"""``python -m wsfast.bench.echo``: the echo group alone, or (``serve``, internal)
one library's echo server in the child process the benchmark starts."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from . import stop_all
from .placement import PLACEMENTS
from .servers import SERVERS, serve_main


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsfast.bench.echo",
        description="The asyncio loopback echo benchmark (the 'echo' group of "
                    "python -m wsfast bench), or one of its echo servers.")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="(internal) run one library's echo server")
    serve.add_argument("library", choices=list(SERVERS))
    serve.add_argument("--loop", choices=["uvloop", "asyncio"], default="asyncio")
    serve.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    parser.add_argument("--quick", action="store_true", help="shorter rounds, 3 rounds")
    parser.add_argument("--loop", choices=["auto", "uvloop", "asyncio"], default=None,
                        help="event loop of servers and clients (default: uvloop if installed)")
    parser.add_argument("--json", metavar="PATH", dest="json_path")
    parser.add_argument("--no-peers", action="store_false", dest="peers")
    parser.add_argument("--rounds", type=int, metavar="N")
    parser.add_argument("--placement", choices=PLACEMENTS,
                        help="same: all on one CPU (default); split: servers and client "
                             "on two CPUs; 0: not pinned (WSFAST_BENCH_PIN)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_main(args.library, args.loop, args.cpu)
    if args.loop:
        os.environ["WSFAST_BENCH_LOOP"] = args.loop
    if args.placement:
        os.environ["WSFAST_BENCH_PIN"] = args.placement
    from ..runner import run_cli

    try:
        return run_cli(quick=args.quick, json_path=args.json_path, groups=["echo"],
                       peers=args.peers, rounds=args.rounds)
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
