"""Instructions per echoed 32-byte message, counted by callgrind.

Usage::

    python benchmarks/callgrind_echo.py [--backend cython] [--api await|callback|both]
                                        [--role client|server|both] [--loop asyncio|uvloop]
                                        [--n1 2000] [--n2 6000] [--json PATH]

What it measures: one wsfast echo server process and one wsfast client
process; the client does *N* sequential round trips of a 32-byte text message
(``str``), i.e. sends one and waits for its echo before sending the next.
One of the two processes (the *role*) runs under ``valgrind --tool=callgrind``,
the other one natively. The APIs are those of the ``echo`` benchmark group
(``wsfast/bench/echo/servers.py`` and ``clients.py``):

* ``await``: client ``await ws.send(m); m = await ws.recv()``; server
  ``async for m in ws: await ws.send(m)``;
* ``callback``: ``ws.on_message`` + ``ws.send_nowait`` on both sides (the
  server sets ``on_message = send_nowait``; the client's ``on_message`` sends
  the next message).

Method: the measured side runs twice, with ``--n1`` and ``--n2`` round trips,
and the result is ``(I2 - I1) / (N2 - N1)``, where ``I`` is the total of
instructions (``Ir``) in the callgrind output (its ``summary:`` line). Start-up,
imports, the handshake, the first (specializing) round trips and the closing
handshake are the same in both runs and cancel out, so no
``--toggle-collect`` is needed. Each figure is therefore *everything one
process executes per round trip*: wsfast, the event loop, the harness' own
loop (a few lines, identical in every version, which is why this script does
not import its client and server from ``wsfast.bench``, whose code may change
between the commits compared) and the kernel-call wrappers in libc.

Event loop (``--loop``, the same on both sides): plain asyncio by default,
so that the figures depend on no package outside the standard library;
``--loop uvloop`` for uvloop. The difference method works the same with
either; what changes is the share of the figure that is not wsfast's.
asyncio's selector loop is Python code and is counted with the rest: on
b5b4b90 a round trip costs about 2.4x (await) and 3.5-3.9x (callbacks) what
it costs on uvloop. It is the same code whichever wsfast version runs
on it, so comparisons between commits stay meaningful, but a +3 % change of
an asyncio figure is a much larger change of wsfast's own share: for a
budget on wsfast's cost, use the uvloop figures (same uvloop version on both
sides of the comparison).

Determinism: fixed payloads (1000 distinct 32-byte ASCII strings, cycled),
``PYTHONHASHSEED=0``, the same N values each time, one message in flight (so
every read is exactly one frame), no pings, no compression. A native
warm-up exchange runs first, which checks the echoes and writes any missing
``.pyc`` files (otherwise the first measured run would compile them and the
second would not). Run it on an otherwise idle machine only for speed; the
counts do not depend on load.

To measure a given commit, run this script with the interpreter of an
environment where that commit's wsfast is installed (e.g. a worktree's
``.venv/bin/python benchmarks/callgrind_echo.py``): the child processes use
the same interpreter, and the report prints the ``wsfast.__file__`` they
imported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence

APIS = ("await", "callback")
ROLES = ("client", "server")
HOST = "127.0.0.1"
SIZE = 32
N1, N2 = 2000, 6000
#: Generous: callgrind runs Python 50-100x slower than natively.
TIMEOUT = 1800.0


def payloads(count: int = 1000, size: int = SIZE) -> List[str]:
    """*count* distinct ASCII ``str`` of *size* characters (the echo group's)."""
    return [(f"echo {i:06d} " + "x" * size)[:size] for i in range(count)]


# -- child processes -------------------------------------------------------------------


def _run(main: Any, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        event_loop = uvloop.new_event_loop()
    else:
        event_loop = asyncio.new_event_loop()
    try:
        event_loop.run_until_complete(main)
    finally:
        event_loop.close()


async def _serve(api: str, backend: str) -> None:
    """Serve one connection, then return. Prints ``PORT <n>`` once listening."""
    from wsfast.asyncio import serve

    done = asyncio.get_running_loop().create_future()

    async def echo_await(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)
        done.set_result(None)

    async def echo_callback(ws: Any) -> None:
        ws.on_message = ws.send_nowait
        await ws.wait_closed()
        done.set_result(None)

    server = await serve(echo_await if api == "await" else echo_callback, HOST, 0,
                         compression=None, ping_interval=None, backend=backend)
    sys.stdout.write(f"PORT {server.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    await done
    server.close()
    await server.wait_closed()


async def _client(api: str, backend: str, port: int, n: int) -> None:
    """*n* round trips; checks the count and the last echo; prints what ran."""
    import wsfast
    from wsfast.asyncio import connect

    sent = payloads()
    count = len(sent)
    ws = await connect(f"ws://{HOST}:{port}/", compression=None, ping_interval=None,
                       backend=backend)
    last: Any = None
    if api == "await":
        send, recv = ws.send, ws.recv
        for i in range(n):
            await send(sent[i % count])
            last = await recv()
        received = n
    else:
        done = asyncio.get_running_loop().create_future()
        send_nowait = ws.send_nowait
        received = 0

        def on_message(message: Any) -> None:
            nonlocal received
            received += 1
            if received >= n:
                done.set_result(message)
            else:
                send_nowait(sent[received % count])

        ws.on_message = on_message
        send_nowait(sent[0])
        last = await done
    await ws.close()
    want = sent[(n - 1) % count]
    if received != n or last != want:
        raise SystemExit(f"wrong echo: {received} of {n}, last {last!r} instead of {want!r}")
    loop = type(asyncio.get_running_loop())
    sys.stdout.write(json.dumps({"wsfast": wsfast.__file__, "backend": backend,
                                 "loop": f"{loop.__module__}.{loop.__qualname__}"}) + "\n")


# -- the measuring parent ------------------------------------------------------------------


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    for name in ("PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONMALLOC", "PYTHONTRACEMALLOC",
                 "WSFAST_NO_EXTENSIONS"):
        env.pop(name, None)
    return env


def _valgrind(out_file: str) -> List[str]:
    return ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out_file}"]


def _start_server(api: str, backend: str, loop: str,
                  prefix: Sequence[str]) -> "tuple[subprocess.Popen, int]":
    process = subprocess.Popen(
        [*prefix, sys.executable, __file__, "_serve", api, backend, loop],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=_env())
    assert process.stdout is not None
    deadline = time.monotonic() + TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([process.stdout], [], [], remaining)[0]:
            process.kill()
            raise RuntimeError("the echo server did not start in time")
        chunk = os.read(process.stdout.fileno(), 256)
        if not chunk:
            raise RuntimeError(f"the echo server exited with {process.wait()}")
        line += chunk
    return process, int(line.split()[1])


def _run_client(api: str, backend: str, loop: str, port: int, n: int,
                prefix: Sequence[str]) -> dict:
    result = subprocess.run(
        [*prefix, sys.executable, __file__, "_client", api, backend, loop, str(port), str(n)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=_env(), timeout=TIMEOUT,
        check=True)
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def _total(out_file: str) -> int:
    """The ``Ir`` total of a callgrind output file."""
    with open(out_file) as f:
        text = f.read()
    match = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary line in {out_file}")
    return int(match.group(1))


def exchange(api: str, backend: str, loop: str, n: int, measured: Optional[str],
             workdir: str) -> dict:
    """One server, one client doing *n* round trips; the *measured* role (or
    none) under callgrind. Returns the client's report and ``instructions``."""
    out_file = os.path.join(workdir, f"callgrind.{loop}.{api}.{measured}.{n}.out")
    server_prefix = _valgrind(out_file) if measured == "server" else []
    client_prefix = _valgrind(out_file) if measured == "client" else []
    server, port = _start_server(api, backend, loop, server_prefix)
    try:
        report = _run_client(api, backend, loop, port, n, client_prefix)
        if server.wait(TIMEOUT) != 0:
            raise RuntimeError(f"the echo server exited with {server.returncode}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    if measured is not None:
        report["instructions"] = _total(out_file)
    return report


def measure(api: str, role: str, backend: str, loop: str, n1: int, n2: int,
            workdir: str) -> dict:
    first = exchange(api, backend, loop, n1, role, workdir)
    second = exchange(api, backend, loop, n2, role, workdir)
    i1, i2 = first["instructions"], second["instructions"]
    return {"api": api, "role": role, "backend": backend, "loop": loop, "n1": n1, "n2": n2,
            "i1": i1,
            "i2": i2, "per_round_trip": (i2 - i1) / (n2 - n1), "wsfast": first["wsfast"]}


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "_serve":
        _run(_serve(argv[1], argv[2]), argv[3])
        return 0
    if argv and argv[0] == "_client":
        _run(_client(argv[1], argv[2], int(argv[4]), int(argv[5])), argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["cython", "python"], default="cython")
    parser.add_argument("--api", choices=[*APIS, "both"], default="both")
    parser.add_argument("--role", choices=[*ROLES, "both"], default="both")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--n1", type=int, default=N1)
    parser.add_argument("--n2", type=int, default=N2)
    parser.add_argument("--json", metavar="PATH", dest="json_path")
    parser.add_argument("--keep", metavar="DIR", help="keep the callgrind files in DIR")
    args = parser.parse_args(argv)
    if not 0 < args.n1 < args.n2:
        parser.error("need 0 < --n1 < --n2")
    apis = APIS if args.api == "both" else (args.api,)
    roles = ROLES if args.role == "both" else (args.role,)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for api in apis:  # natively first: checks the echoes, writes any missing .pyc
            warm = exchange(api, args.backend, args.loop, 100, None, workdir)
        print(f"wsfast: {warm['wsfast']}  backend: {args.backend}  python: {sys.executable}  "
              f"loop: {warm['loop']}  N1={args.n1} N2={args.n2}", flush=True)
        for api in apis:
            for role in roles:
                result = measure(api, role, args.backend, args.loop, args.n1, args.n2, workdir)
                results.append(result)
                print(f"  {api:8} {role:6} I1={result['i1']:,} I2={result['i2']:,} "
                      f"-> {result['per_round_trip']:,.0f} instructions/round trip", flush=True)

    print()
    print(f"| api | {' | '.join(roles)} |")
    print(f"|---|{'---:|' * len(roles)}")
    for api in apis:
        cells = [next(r for r in results if r["api"] == api and r["role"] == role)
                 for role in roles]
        figures = " | ".join(f"{c['per_round_trip']:,.0f}" for c in cells)
        print(f"| {api} | {figures} |")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"python": sys.version, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
