"""A wsfast endpoint in a process of its own, for tests that measure what a
hostile peer can make it allocate (tests/test_hostile.py).

    python tests/memory_probe.py server BACKEND [--write-limit N]
    python tests/memory_probe.py client BACKEND --port P [--write-limit N]

The server listens on 127.0.0.1 (its port is the first line on stdout,
``PORT n``); the client connects to ``--port``. Either way the application
only reads: each text message it receives is a command from the peer,
answered on stdout (never over the WebSocket, so that the peer need not read):

* ``mark``: reset the peak of the resident set (``/proc/self/clear_refs``)
  and print ``MARK <resident bytes>``;
* ``peak``: print ``PEAK <peak resident bytes since the mark> <bytes in the
  transport's write buffer>``.

The commands arrive after whatever the peer sent before them, so ``peak``
is answered once everything sent before it has been processed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

import wsfast


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} is not in /proc/self/status")


def _answer(command: str, websocket) -> None:
    if command == "mark":
        gc.collect()
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # reset the peak resident set size (VmHWM)
        print("MARK", _status("VmRSS"), flush=True)
    elif command == "peak":
        buffered = websocket.protocol.transport.get_write_buffer_size()
        print("PEAK", _status("VmHWM"), buffered, flush=True)
    else:
        print("UNKNOWN", command, flush=True)


async def _obey(websocket) -> None:
    async for message in websocket:
        _answer(message, websocket)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("backend", choices=["cython", "python"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--write-limit", type=int, default=65536)
    args = parser.parse_args()
    options = dict(backend=args.backend, write_limit=args.write_limit, compression=None,
                   ping_interval=None, max_size=2**20)
    if args.role == "server":
        async with wsfast.serve(_obey, "127.0.0.1", args.port, **options) as server:
            print("PORT", server.sockets[0].getsockname()[1], flush=True)
            await server.serve_forever()
    else:
        async with wsfast.connect(f"ws://127.0.0.1:{args.port}/", **options) as websocket:
            await _obey(websocket)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
