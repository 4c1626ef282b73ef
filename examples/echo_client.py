#!/usr/bin/env python
"""The classic echo client, modern style (``async with connect``), on wsfast.

Only the import differs from code written for the websockets library
(``from wsfast.asyncio.client import connect`` mirrors websockets 14's
``websockets.asyncio.client``).
"""

import asyncio

import wsfast as websockets


async def hello():
    async with websockets.connect("ws://localhost:8765") as websocket:
        await websocket.send("Hello world!")
        message = await websocket.recv()
        print(message)


if __name__ == "__main__":
    asyncio.run(hello())
