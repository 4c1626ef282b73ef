#!/usr/bin/env python
"""The classic echo server, modern style (``async with serve``), on wsfast.

Only the import differs from code written for the websockets library. With
websockets 14 and later the same names come from ``websockets.asyncio.server``;
``from wsfast.asyncio.server import serve`` is the equivalent here.
"""

import asyncio

import wsfast as websockets


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    async with websockets.serve(echo, "localhost", 8765) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
