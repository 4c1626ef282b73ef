"""A wsfast endpoint in a process of its own, for tests that measure what a
hostile peer can make it allocate (tests/test_hostile.py).

    python tests/memory_probe.py server BACKEND [options]
    python tests/memory_probe.py client BACKEND --port P [options]

The server listens on 127.0.0.1 (its port is the first line on stdout,
``PORT n``); the client connects to ``--port``, after a ``mark`` of its own
(its first line is ``MARK n``). Either way the application
reads, and each text message it receives is a command, answered on stdout
(never over the WebSocket, so that the peer need not read):

* ``mark``: reset the peak of the resident set (``/proc/self/clear_refs``)
  and print ``MARK <resident bytes>``;
* ``peak``: print ``PEAK <peak resident bytes since the mark> <bytes in this
  connection's write buffer> <messages sent by "send"> <connections>``
  (connections: those the server holds, handshake or not; 1 for a client);
* ``send <size>``: start sending messages of *size* bytes with ``await
  send()`` until the connection ends (the application of a peer that does
  not read).

The commands arrive after whatever the peer sent before them, so ``peak``
is answered once everything sent before it has been processed. When a
connection ends, or a client's opening handshake fails, the probe prints
``CLOSED <close code received> <close code sent> <peak resident bytes>``
(codes as -1 when there was none).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

import wsfast
from wsfast.errors import ConnectionClosed, InvalidHandshake

_server = None


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} is not in /proc/self/status")


def _mark() -> None:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset the peak resident set size (VmHWM)
    print("MARK", _status("VmRSS"), flush=True)


class _Obeyer:
    def __init__(self, websocket) -> None:
        self.websocket = websocket
        self.sent = 0
        self.sender = None

    async def run(self) -> None:
        try:
            async for message in self.websocket:
                self.answer(message)
        except ConnectionClosed:
            pass
        finally:
            if self.sender is not None:
                self.sender.cancel()
            connection = self.websocket.connection
            rcvd = connection.close_rcvd[0] if connection.close_rcvd else -1
            sent = connection.close_sent[0] if connection.close_sent else -1
            print("CLOSED", rcvd, sent, _status("VmHWM"), flush=True)

    def answer(self, command: str) -> None:
        words = command.split()
        if words[0] == "mark":
            _mark()
        elif words[0] == "peak":
            buffered = self.websocket.protocol.transport.get_write_buffer_size()
            connections = len(_server.websockets) if _server is not None else 1
            print("PEAK", _status("VmHWM"), buffered, self.sent, connections, flush=True)
        elif words[0] == "send":
            self.sender = asyncio.ensure_future(self.send_forever(int(words[1])))
        else:
            print("UNKNOWN", command, flush=True)

    async def send_forever(self, size: int) -> None:
        message = b"x" * size
        try:
            while True:
                await self.websocket.send(message)
                self.sent += 1
        except ConnectionClosed:
            pass


async def _obey(websocket) -> None:
    await _Obeyer(websocket).run()


async def main() -> None:
    global _server
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("backend", choices=["cython", "python"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--write-limit", type=int, default=65536)
    parser.add_argument("--max-size", type=int, default=2**20)
    parser.add_argument("--compression", action="store_true")
    parser.add_argument("--open-timeout", type=float, default=10)
    args = parser.parse_args()
    options = dict(backend=args.backend, write_limit=args.write_limit,
                   compression="deflate" if args.compression else None,
                   ping_interval=None, max_size=args.max_size, open_timeout=args.open_timeout)
    if args.role == "server":
        async with wsfast.serve(_obey, "127.0.0.1", args.port, **options) as server:
            _server = server
            print("PORT", server.sockets[0].getsockname()[1], flush=True)
            await server.serve_forever()
    else:
        _mark()  # the client's attack may come before any command can
        try:
            websocket = await wsfast.connect(f"ws://127.0.0.1:{args.port}/", **options)
        except (InvalidHandshake, OSError) as exc:
            print("CLOSED", -1, -1, _status("VmHWM"), type(exc).__name__, flush=True)
            return
        try:
            await _obey(websocket)
        finally:
            await websocket.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
