"""Command line: ``python -m wsfast bench | echo``.

* ``bench``: the benchmark tables (wsfast compiled and pure, baselines and the
  installed peers, measured in one run) and the evaluation of the project's
  speed targets; see :mod:`wsfast.bench.runner` for the method.
* ``echo``: an echo server on the asyncio layer (not implemented yet).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wsfast",
        description="wsfast: a Cython-accelerated WebSocket library (RFC 6455 / 7692).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    bench = commands.add_parser(
        "bench",
        help="run the benchmarks and print the tables",
        description=(
            "Measure wsfast (compiled and pure Python) against a plain copy, CPython's "
            "UTF-8 decoder and the installed peers (websockets, aiohttp, wsaccel, wsproto), "
            "all in one run; print markdown tables of medians and ratios, then the "
            "project's speed targets as PASS/FAIL. Progress goes to stderr."
        ),
    )
    bench.add_argument("--quick", action="store_true",
                       help="fewer sizes, 3 rounds of ~8 ms (well under 20 s)")
    bench.add_argument("--json", metavar="PATH", dest="json_path",
                       help="also write every result and the run's metadata as JSON")
    bench.add_argument("--group", metavar="G", action="append", dest="groups",
                       help="run only group G (repeatable): mask, utf8, parse, receive, send"
                            " (echo with --echo, when implemented)")
    bench.add_argument("--no-peers", action="store_false", dest="peers",
                       help="measure wsfast and the baselines only")
    bench.add_argument("--echo", action="store_true",
                       help="add the asyncio loopback echo group (when implemented)")
    bench.add_argument("--rounds", type=int, metavar="N",
                       help="rounds per contender (default 7, --quick 3)")
    bench.add_argument("--round-ms", type=float, metavar="MS", dest="target_ms",
                       help="target duration of one round (default 20, --quick 8)")

    echo = commands.add_parser("echo", help="run an echo server (not implemented yet)")
    echo.add_argument("--host", default="localhost")
    echo.add_argument("--port", type=int, default=8765)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench.runner import run_cli

        return run_cli(quick=args.quick, json_path=args.json_path, groups=args.groups,
                       peers=args.peers, echo=args.echo, rounds=args.rounds,
                       target_ms=args.target_ms)
    if args.command == "echo":
        print("python -m wsfast echo: not implemented yet", file=sys.stderr)
        return 2
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
