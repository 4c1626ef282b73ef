#!/usr/bin/env python
"""The classic websockets "hello" server, old style, running on wsfast.

Only the import differs from code written for the websockets library:
``run_until_complete(serve(...))`` and the ``(websocket, path)`` handler work.
"""

import asyncio

import wsfast as websockets


async def hello(websocket, path):
    name = await websocket.recv()
    print(f"<<< {name}")

    greeting = f"Hello {name}!"

    await websocket.send(greeting)
    print(f">>> {greeting}")


start_server = websockets.serve(hello, "localhost", 8765)

asyncio.get_event_loop().run_until_complete(start_server)
asyncio.get_event_loop().run_forever()
