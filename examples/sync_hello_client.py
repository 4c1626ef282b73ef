#!/usr/bin/env python3
"""Client on the threading API: websockets' sync quickstart, with wsfast."""

from wsfast.sync.client import connect


def hello():
    with connect("ws://localhost:8765") as websocket:
        websocket.send("Hello world!")
        message = websocket.recv()
        print(f"Received: {message}")


if __name__ == "__main__":
    hello()
