#!/usr/bin/env python
"""The classic echo client, modern style, on wsfast."""

import asyncio

from wsfast.asyncio.client import connect


async def hello():
    async with connect("ws://localhost:8765") as websocket:
        await websocket.send("Hello world!")
        message = await websocket.recv()
        print(message)


if __name__ == "__main__":
    asyncio.run(hello())
