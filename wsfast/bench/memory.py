"""Memory per server connection: wsfast against websockets, compression on and off.

``python -m wsfast.bench.memory [--connections N]`` (also ``python -m wsfast bench
--memory``). For each library and setting, an echo server runs in a child
process with tracing enabled; the benchmark opens N connections to it with the
same library's client, sends one 1 KiB compressible text message on each and
waits for the echo (so that compression state exists on both sides), then asks
the server for its memory: Python allocations traced by ``tracemalloc`` (zlib
allocates through CPython's raw allocator, so its state is included) and the
resident set size. Per connection = (after - before) / N, server side only.

Equal settings: both libraries with permessage-deflate as websockets enables it
by default (12-bit windows, memory level 5, context takeover), or with
compression off; keepalive off; their default queue sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence

HOST = "127.0.0.1"
MESSAGE = ('{"event": "tick", "symbol": "ABC", "price": 101.25, "size": 300} ' * 16)[:1024]
LIBRARIES = ("wsfast", "websockets")


def _memory() -> Dict[str, int]:
    import tracemalloc

    gc.collect()
    with open("/proc/self/statm") as statm:
        rss_pages = int(statm.read().split()[1])
    return {"traced": tracemalloc.get_traced_memory()[0],
            "rss": rss_pages * os.sysconf("SC_PAGE_SIZE")}


async def _serve(library: str, compression: bool) -> Any:
    async def echo(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    if library == "wsfast":
        from ..asyncio import serve

        server = await serve(echo, HOST, 0, compression="deflate" if compression else None,
                             ping_interval=None)
    else:
        from websockets.asyncio.server import serve as ws_serve

        server = await ws_serve(echo, HOST, 0, compression="deflate" if compression else None,
                                ping_interval=None)
    return server


def server_main(library: str, compression: bool) -> int:
    """Child process: serve, print the port, answer 'mem' lines with JSON."""
    import tracemalloc  # here, not at the top: see main()

    tracemalloc.start()

    async def main() -> None:
        server = await _serve(library, compression)
        print(server.sockets[0].getsockname()[1], flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line:
                return
            print(json.dumps(_memory()), flush=True)

    asyncio.run(main())
    return 0


async def _open_clients(library: str, compression: bool, port: int, count: int) -> List[Any]:
    uri = f"ws://{HOST}:{port}/"
    clients = []
    for _ in range(count):
        if library == "wsfast":
            from ..asyncio import connect

            ws: Any = await connect(uri, compression="deflate" if compression else None,
                                    ping_interval=None)
        else:
            from websockets.asyncio.client import connect as ws_connect

            ws = await ws_connect(uri, compression="deflate" if compression else None,
                                  ping_interval=None)
        await ws.send(MESSAGE)
        if await ws.recv() != MESSAGE:
            raise AssertionError(f"{library}: wrong echo")
        clients.append(ws)
    return clients


def measure(library: str, compression: bool, count: int) -> Dict[str, float]:
    """Server-side bytes per connection for *library* (traced, rss)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wsfast.bench.memory", "serve", library]
        + (["--compression"] if compression else []),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    # Both pipes exist: PIPE was asked for.
    stdin, stdout = process.stdin, process.stdout
    assert stdin is not None and stdout is not None
    try:
        port = int(stdout.readline())

        def ask() -> Dict[str, int]:
            stdin.write("mem\n")
            stdin.flush()
            answer: Dict[str, int] = json.loads(stdout.readline())
            return answer

        async def run() -> Dict[str, float]:
            warm = await _open_clients(library, compression, port, 5)  # import, first use
            before = ask()
            clients = await _open_clients(library, compression, port, count)
            await asyncio.sleep(0.2)
            after = ask()
            for ws in clients + warm:
                await ws.close()
            return {key: (after[key] - before[key]) / count for key in ("traced", "rss")}

        return asyncio.run(run())
    finally:
        stdin.close()
        process.wait(timeout=30)


def run(connections: int = 200, libraries: Sequence[str] = LIBRARIES) -> List[Dict[str, Any]]:
    rows = []
    for compression in (True, False):
        for library in libraries:
            try:
                result = measure(library, compression, connections)
            except ImportError as exc:
                print(f"{library}: not available ({exc})", file=sys.stderr)
                continue
            rows.append({"library": library, "compression": compression, **result})
            print(f"  measured {library} compression={'on' if compression else 'off'}",
                  file=sys.stderr, flush=True)
    return rows


def table(rows: List[Dict[str, Any]], connections: int) -> str:
    lines = [f"## memory per server connection ({connections} open connections, one 1 KiB "
             "message each way; server process only)", "",
             "| library | compression | traced allocations | resident (RSS) |",
             "|---|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['library']} | {'on' if row['compression'] else 'off'} | "
                     f"{row['traced'] / 1024:.1f} KiB | {row['rss'] / 1024:.1f} KiB |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wsfast.bench.memory",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="(internal) run a server that reports memory")
    serve.add_argument("library", choices=LIBRARIES)
    serve.add_argument("--compression", action="store_true")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--json", metavar="PATH", dest="json_path")
    args = parser.parse_args(argv)
    try:
        import tracemalloc  # noqa: F401
    except ImportError:
        # PyPy has no tracemalloc: the module still imports (python -m wsfast
        # lists it), and running it says why it cannot measure.
        parser.exit(2, f"{parser.prog}: needs tracemalloc, which "
                       f"{sys.implementation.name} does not have\n")
    if args.command == "serve":
        return server_main(args.library, args.compression)
    rows = run(args.connections)
    print(table(rows, args.connections))
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
