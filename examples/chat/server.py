"""A chat with rooms on wsfast's hub: one page, one WebSocket per tab.

One process, rooms in memory::

    python examples/chat/server.py                 # http://localhost:8000/

Several processes sharing the port, rooms through Redis::

    python examples/chat/server.py --redis redis://localhost:6379 --workers 4

Open http://localhost:8000/?room=lobby in two tabs and type. The page
(index.html beside this file) is plain HTML and JavaScript, served by the
same port: a request without an upgrade gets the page, ``/ws?room=R&name=N``
upgrades and joins room R.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import sys
from urllib.parse import parse_qs, urlsplit

from wsfast.asyncio import serve
from wsfast.hub import Hub, RedisBackend
from wsfast.workers import run_workers

HERE = pathlib.Path(__file__).resolve().parent
PAGE = (HERE / "index.html").read_text()
MAX_TEXT = 1000


def page(connection, request):
    """Answer plain HTTP requests with the page; let /ws upgrade."""
    if urlsplit(request.path).path == "/ws":
        return None
    response = connection.respond(200, PAGE)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def chat(hub: Hub):
    async def handler(websocket):
        query = parse_qs(urlsplit(websocket.request.path).query)
        room = query.get("room", ["lobby"])[0][:50] or "lobby"
        name = query.get("name", ["anonymous"])[0][:30] or "anonymous"
        await hub.join(room, websocket)
        try:
            await hub.publish(room, json.dumps({"event": "joined", "name": name,
                                                "pid": os.getpid()}))
            async for text in websocket:
                if isinstance(text, str) and text.strip():
                    await hub.publish(room, json.dumps({"event": "message", "name": name,
                                                        "text": text[:MAX_TEXT]}))
        finally:
            hub.leave_all(websocket)
    return handler


async def make_app():
    """Called once in each worker: its own hub, connected to Redis."""
    hub = Hub(RedisBackend(os.environ["CHAT_REDIS_URL"], prefix="chat:"))
    await hub.start()
    return {"handler": chat(hub), "process_request": page}


async def single_process(host: str, port: int) -> None:
    async with Hub() as hub, serve(chat(hub), host, port, process_request=page) as server:
        print(f"chat on http://{host}:{port}/ (one process, rooms in memory)",
              file=sys.stderr, flush=True)
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--redis", metavar="URL",
                        help="rooms through Redis pub/sub (needed with --workers > 1)")
    parser.add_argument("--workers", type=int, default=1, metavar="N")
    args = parser.parse_args()
    if args.redis is None:
        if args.workers > 1:
            parser.error("--workers > 1 needs --redis: rooms must span the processes")
        try:
            asyncio.run(single_process(args.host, args.port))
        except KeyboardInterrupt:
            pass
        return 0
    os.environ["CHAT_REDIS_URL"] = args.redis  # the workers inherit it
    return run_workers("server:make_app", args.host, args.port, workers=args.workers,
                       factory=True, app_dir=str(HERE), compression=None)


if __name__ == "__main__":
    sys.exit(main())
