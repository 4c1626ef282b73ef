#!/usr/bin/env python
"""The classic websockets "hello" client, old style, running on wsfast."""

import asyncio
import sys

import wsfast as websockets


async def hello():
    uri = "ws://localhost:8765"
    async with websockets.connect(uri) as websocket:
        name = sys.argv[1] if len(sys.argv) > 1 else input("What's your name? ")

        await websocket.send(name)
        print(f">>> {name}")

        greeting = await websocket.recv()
        print(f"<<< {greeting}")


asyncio.get_event_loop().run_until_complete(hello())
