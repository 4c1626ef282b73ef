#!/usr/bin/env python3
"""Echo server on the threading API: websockets' sync quickstart, with wsfast."""

from wsfast.sync.server import serve


def echo(websocket):
    for message in websocket:
        websocket.send(message)


def main():
    with serve(echo, "localhost", 8765) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
