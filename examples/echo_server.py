#!/usr/bin/env python
"""The classic echo server, modern style (``async with serve``), on wsfast."""

import asyncio

from wsfast.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    async with serve(echo, "localhost", 8765) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
