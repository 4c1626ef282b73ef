"""Command line: ``python -m wsfast bench | echo | serve``.

* ``bench``: the benchmark tables (wsfast compiled and pure, baselines and the
  installed peers, measured in one run) and the evaluation of the project's
  speed targets; see :mod:`wsfast.bench.runner` for the method.
* ``echo``: an echo server on the asyncio layer, with every size limit and the
  compression settings on the command line (the conformance tests run it).
* ``serve``: a user's handler (``module:attribute``), in ``--workers N``
  processes sharing the port; see :mod:`wsfast.workers`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional

from .defaults import (CLOSE_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, MAX_QUEUE, OPEN_TIMEOUT,
                       PING_INTERVAL, PING_TIMEOUT, WRITE_LIMIT)


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
                       help="run only group G (repeatable): mask, utf8, parse, receive, send, "
                            "echo, deflate, sync, uvicorn, fanout, hub")
    bench.add_argument("--no-peers", action="store_false", dest="peers",
                       help="measure wsfast and the baselines only")
    bench.add_argument("--echo", action="store_true",
                       help="add the asyncio loopback echo groups: plain (against picows, "
                            "aiohttp, websockets, plain TCP) and compressed (against websockets)")
    bench.add_argument("--memory", action="store_true",
                       help="also measure memory per server connection against websockets")
    bench.add_argument("--rounds", type=int, metavar="N",
                       help="rounds per contender (default 7, --quick 3)")
    bench.add_argument("--round-ms", type=float, metavar="MS", dest="target_ms",
                       help="target duration of one round (default 20, --quick 8)")

    echo = commands.add_parser(
        "echo",
        help="run an echo server until interrupted",
        description="Serve WebSocket connections that send every message back, "
                    "until Ctrl-C or SIGTERM, then close them with 1001. Messages are "
                    "echoed with the type they arrived with.",
    )
    _add_server_options(echo)
    echo.add_argument("-v", "--verbose", action="store_true",
                      help="log every connection's opening and closing, and refused upgrades")

    serve = commands.add_parser(
        "serve",
        help="serve a handler, in several processes with --workers",
        description="Serve WebSocket connections with HANDLER, an 'async def "
                    "handler(websocket)' named as module:attribute (the current directory "
                    "is on the import path). With --workers N, N processes share the port "
                    "through SO_REUSEPORT; a worker that dies is started again; Ctrl-C or "
                    "SIGTERM closes every connection with 1001 and exits 0.",
    )
    serve.add_argument("handler", metavar="HANDLER", help="module:attribute of the handler")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="number of processes (1)")
    serve.add_argument("--factory", action="store_true",
                       help="HANDLER is a function (or coroutine function) returning the "
                            "handler, called once in each worker")
    _add_server_options(serve)
    serve.add_argument("--ping-timeout", type=float, default=PING_TIMEOUT, metavar="S",
                       help=f"keepalive pong deadline in seconds, 0 to disable ({PING_TIMEOUT})")
    serve.add_argument("--open-timeout", type=float, default=OPEN_TIMEOUT, metavar="S",
                       help=f"time allowed for the opening handshake ({OPEN_TIMEOUT})")
    serve.add_argument("--write-limit", type=int, default=WRITE_LIMIT, metavar="N",
                       help=f"write buffer high-water mark in bytes ({WRITE_LIMIT})")
    serve.add_argument("--max-connections", type=int, default=None, metavar="N",
                       help="per worker: refuse more open connections with HTTP 503")
    serve.add_argument("--subprotocol", action="append", dest="subprotocols", metavar="NAME",
                       help="a supported subprotocol, in order of preference (repeatable)")
    serve.add_argument("--origin", action="append", dest="origins", metavar="ORIGIN",
                       help="an acceptable Origin (repeatable; default: any)")
    serve.add_argument("--server-header", default=None, metavar="TEXT",
                       help="value of the Server header (default: wsfast's)")
    serve.add_argument("--broadcast-policy", choices=["skip", "wait", "close"], default=None,
                       help="what broadcast() does with a connection that does not read "
                            "(serve's broadcast_policy; default: nothing is bounded)")
    serve.add_argument("--broadcast-limit", type=int, default=None, metavar="N",
                       help="unsent bytes above which a connection is slow (default: its "
                            "write buffer's high-water mark)")
    serve.add_argument("--broadcast-timeout", type=float, default=1.0, metavar="S",
                       help="with 'wait': how long to wait for a slow connection (1.0)")
    serve.add_argument("--broadcast-close-code", type=int, choices=[1008, 1013], default=1008,
                       help="with 'close': the close code (1008)")
    serve.add_argument("-v", "--verbose", action="store_true",
                       help="log every connection's opening and closing")
    return parser


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    """The serve() options that echo and serve share."""
    parser.add_argument("--host", default="localhost", help="address to listen on (localhost)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (8765)")
    parser.add_argument("--max-size", type=_size, default=DEFAULT_MAX_MESSAGE_SIZE, metavar="N",
                        help="largest message in bytes, 0 for no limit (1 MiB)")
    parser.add_argument("--max-frame-size", type=_size, default=None, metavar="N",
                        help="largest frame in bytes (default: --max-size)")
    parser.add_argument("--max-fragments", type=_size, default=None, metavar="N",
                        help="largest number of frames in a message (default: bounded by "
                             "the per-fragment charge only)")
    parser.add_argument("--max-queue", type=int, default=MAX_QUEUE, metavar="N",
                        help=f"messages queued before reading pauses ({MAX_QUEUE})")
    compression = parser.add_mutually_exclusive_group()
    compression.add_argument("--compression", dest="compression", action="store_true",
                             default=True, help="negotiate permessage-deflate (default)")
    compression.add_argument("--no-compression", dest="compression", action="store_false",
                             help="do not negotiate permessage-deflate")
    parser.add_argument("--ping-interval", type=float, default=PING_INTERVAL, metavar="S",
                        help=f"keepalive ping interval in seconds, 0 to disable ({PING_INTERVAL})")
    parser.add_argument("--close-timeout", type=float, default=CLOSE_TIMEOUT, metavar="S",
                        help=f"time allowed for each closing step ({CLOSE_TIMEOUT})")
    parser.add_argument("--backend", choices=["cython", "python"], default=None,
                        help="kernels to use (default: the process default)")
    parser.add_argument("--uvloop", action="store_true",
                        help="run on uvloop (asyncio's own loop, with a warning, if uvloop "
                             "is not installed)")


def _size(text: str) -> Optional[int]:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value or None


def _echo(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from . import IMPLEMENTATION
    from .asyncio import serve

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    async def main() -> None:
        async with serve(
            echo, args.host, args.port,
            max_size=args.max_size, max_frame_size=args.max_frame_size,
            max_fragments=args.max_fragments, max_queue=args.max_queue,
            compression="deflate" if args.compression else None,
            ping_interval=args.ping_interval or None, close_timeout=args.close_timeout,
            backend=args.backend,
        ) as server:
            names = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
            _stop_on_signals(server, asyncio.current_task())
            print(f"wsfast echo server ({args.backend or IMPLEMENTATION}) on {names}; "
                  "Ctrl-C to stop", file=sys.stderr, flush=True)
            try:
                await server.serve_forever()
            except asyncio.CancelledError:
                print("wsfast echo server: shutting down (again to abort the connections)",
                      file=sys.stderr, flush=True)

    runner = asyncio.run
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            logging.getLogger(__name__).warning("uvloop is not installed; using asyncio's loop")
        else:
            runner = getattr(uvloop, "run", None) or asyncio.run
            if runner is asyncio.run:
                uvloop.install()
    try:
        runner(main())
    except KeyboardInterrupt:
        pass
    return 0


def _serve(args: argparse.Namespace) -> int:
    import logging

    from .workers import run_workers

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options = dict(
        max_size=args.max_size, max_frame_size=args.max_frame_size,
        max_fragments=args.max_fragments, max_queue=args.max_queue,
        compression="deflate" if args.compression else None,
        ping_interval=args.ping_interval or None, ping_timeout=args.ping_timeout or None,
        open_timeout=args.open_timeout, close_timeout=args.close_timeout,
        write_limit=args.write_limit, max_connections=args.max_connections,
        subprotocols=args.subprotocols, origins=args.origins, backend=args.backend,
    )
    if args.server_header is not None:
        options["server_header"] = args.server_header
    try:
        if args.broadcast_policy is not None:
            from .fanout import SlowConsumerPolicy

            options["broadcast_policy"] = SlowConsumerPolicy(
                args.broadcast_policy, limit=args.broadcast_limit,
                timeout=args.broadcast_timeout, close_code=args.broadcast_close_code)
        elif args.broadcast_limit is not None:
            raise ValueError("--broadcast-limit needs --broadcast-policy")
        return run_workers(args.handler, args.host, args.port, workers=args.workers,
                           factory=args.factory, uvloop=args.uvloop, **options)
    except ValueError as exc:
        print(f"python -m wsfast serve: {exc}", file=sys.stderr)
        return 2


def _stop_on_signals(server: Any, serving: Any) -> None:
    """SIGINT (Ctrl-C) and SIGTERM (docker stop, systemd) shut down the same
    way on every Python version: the first cancels ``serving``, so that every
    connection gets 1001 and up to --close-timeout for its closing handshake;
    a second one aborts the connections still closing."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    received = []

    def on_signal() -> None:
        received.append(True)
        if len(received) == 1:
            serving.cancel()
        else:
            server._abort_connections()

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, on_signal)
        except (NotImplementedError, RuntimeError):  # not on this platform / thread
            pass


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench.runner import run_cli

        return run_cli(quick=args.quick, json_path=args.json_path, groups=args.groups,
                       peers=args.peers, echo=args.echo, memory=args.memory, rounds=args.rounds,
                       target_ms=args.target_ms)
    if args.command == "echo":
        return _echo(args)
    if args.command == "serve":
        return _serve(args)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
