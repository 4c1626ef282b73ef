"""The ``uvicorn`` group: one ASGI echo app under uvicorn, with wsfast's
protocol class against uvicorn's own two (``websockets-sansio``, ``wsproto``).

Run with ``python -m wsfast bench --group uvicorn``.

Method: the echo group's (:mod:`wsfast.bench.echo`): each contender is a
uvicorn server in its own child process (same event loop as the echo group,
uvloop when installed; same CPU placement), started on a free port with
``Config(ws=..., http="h11", lifespan="off", ws_per_message_deflate=False,
ws_ping_interval=None, ws_max_size=16 MiB)``; the server is what changes, the
client is the same for all -- wsfast's own (compiled) client, so that the
server's cost dominates. The app is the same raw ASGI echo for all:
``receive`` a message, ``send`` it back with its type. Workloads: pipelined
32-byte text (window 1000) and pipelined 64 KiB binary (window 16), checked
message by message before and after timing.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence

from . import peers
from .echo.clients import CLIENTS, _WsfastClient
from .echo.placement import HOST, MAX_SIZE, _loop_label, _placement_label, loop_name
from .echo.process import _Session
from .echo.workloads import (PIPELINED, QUICK_ROUND_S, ROUND_S, _binary_payloads, _check_echoes,
                             _check_last, _make_bench, _text_payloads)
from .workloads import Contender, KiB, Options, Workload, register_group

#: Contender -> uvicorn's ``ws`` setting (wsfast's are classes of wsfast.adapters.uvicorn).
UVICORN_LIBRARIES: Dict[str, str] = {
    "uvicorn+wsfast": "wsfast-cython",
    "uvicorn+wsfast-python": "wsfast-python",
    "uvicorn+websockets-sansio": "websockets-sansio",
    "uvicorn+wsproto": "wsproto",
}

BASELINE = "uvicorn+websockets-sansio"


async def echo_app(scope: Dict[str, Any], receive: Callable[[], Awaitable[Dict[str, Any]]],
                   send: Callable[[Dict[str, Any]], Awaitable[None]]) -> None:
    """The ASGI echo app every contender serves."""
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def _ws_setting(ws: str) -> Any:
    if ws.startswith("wsfast-"):
        from ..adapters.uvicorn import WSFastProtocol

        return type("WSFastProtocol", (WSFastProtocol,), {"backend": ws.split("-")[1]})
    return ws


async def serve_uvicorn(ws: str) -> int:
    """Start uvicorn's HTTP protocol (h11) with *ws* on a free port of the
    current loop; return the port. (The server object of uvicorn is left out:
    it installs signal handlers, which the echo group's child process owns.)"""
    import uvicorn
    from uvicorn.server import ServerState

    config = uvicorn.Config(echo_app, ws=_ws_setting(ws), http="h11", lifespan="off",
                            log_level="warning", ws_max_size=MAX_SIZE, ws_ping_interval=None,
                            ws_per_message_deflate=False)
    config.load()
    state = ServerState()
    state.default_headers = list(config.encoded_headers)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        # uvicorn annotates http_protocol_class as type[asyncio.Protocol]; it
        # is its H11Protocol, which takes these keywords.
        lambda: config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=state, app_state={}),
        HOST, 0)
    port: int = server.sockets[0].getsockname()[1]
    return port


def servers() -> Dict[str, Callable[[], Any]]:
    """The server entries of :data:`wsfast.bench.echo.servers.SERVERS`."""
    return {name: functools.partial(serve_uvicorn, ws) for name, ws in UVICORN_LIBRARIES.items()}


def _unavailable(name: str) -> Optional[str]:
    ws = UVICORN_LIBRARIES[name]
    modules = ["uvicorn"] + (["wsproto"] if ws == "wsproto" else [])
    if ws == "websockets-sansio":
        modules.append("websockets.server")
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            return f"not installed ({exc})"
    if ws.startswith("wsfast-"):
        from .. import _backend

        try:
            _backend.get(ws.split("-")[1])
        except ImportError as exc:
            return f"cannot import the {ws.split('-')[1]} back-end: {exc}"
    return None


def _workloads(options: Options) -> List[Workload]:
    loop = loop_name()
    session = _Session(loop)
    names = [n for n in UVICORN_LIBRARIES if not (options.quick and n.endswith("-python"))]
    reasons = {name: _unavailable(name) for name in names}
    for name in names:  # every contender talks to its server with wsfast's client
        CLIENTS.setdefault(name, _WsfastClient)
    round_s = QUICK_ROUND_S if options.quick else ROUND_S
    workloads = []
    for label, size, text, window in PIPELINED:
        half = window // 2
        payloads = _text_payloads(window, size) if text else _binary_payloads(window, size)

        def job(client: Any, n: int, collect: Optional[List[Any]], text: bool = text,
                payloads: Sequence[Any] = payloads, window: int = window) -> Any:
            return client.pipelined(text, payloads, n, window, collect)

        contenders = []
        for name in names:
            kind = "wsfast" if "wsfast" in name else "peer"
            if reasons[name] is not None:
                contenders.append(Contender(name, None, kind=kind, unavailable=reasons[name]))
                continue
            session.expect(name)
            make = (lambda name=name, job=job, half=half, window=window, payloads=payloads:
                    _make_bench(session, name, job, half, 2 * window,
                                lambda got, n: _check_echoes(got, payloads, n),
                                lambda last, n: _check_last(last, payloads, n)))
            contenders.append(Contender(name, make, kind=kind))
        workloads.append(Workload("uvicorn", label, size, contenders, baseline=BASELINE,
                                  unit="message", units=half,
                                  batch=max(1, (512 * KiB if text else 16 * 1024 * KiB)
                                            // (size * half)),
                                  min_round=round_s))
    from .workloads import GROUPS

    GROUPS["uvicorn"].title = (
        f"one ASGI echo app under uvicorn {peers.version('uvicorn')} (h11), WebSocket protocol "
        f"= wsfast's WSFastProtocol or uvicorn's own; wsfast's client; server and client in "
        f"separate processes ({_placement_label()}), event loop {_loop_label(loop)}; "
        f"time/base = vs uvicorn's websockets-sansio")
    return workloads


def register() -> None:
    """Add the ``uvicorn`` group (``default=False``: it runs when named)."""
    register_group("uvicorn", "ASGI echo under uvicorn: WSFastProtocol against uvicorn's own",
                   _workloads, default=False)
