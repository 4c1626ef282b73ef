"""wsfast.adapters.uvicorn: real uvicorn on loopback, real clients.

Every test runs uvicorn in this process with ``ws=`` a subclass of
``WSFastProtocol`` pinned to one back-end (the ``backend`` fixture), except
the command-line test, which runs ``python -m uvicorn --ws
wsfast.adapters.uvicorn:WSFastProtocol`` with the pure kernels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import types

import aiohttp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import wsfast.adapters.uvicorn as adapter
from wsfast.adapters.uvicorn import WSFastProtocol

KiB, MiB = 1024, 1024 * 1024
SIZES = (0, 1, 125, 126, 65535, 65536, MiB)


def protocol_for(backend):
    return type(f"WSFastProtocol_{backend.name}", (WSFastProtocol,), {"backend": backend.name})


@contextlib.asynccontextmanager
async def running(app, protocol, **options):
    """uvicorn serving *app* on a free loopback port with *protocol*."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options.setdefault("log_level", "warning")
    config = uvicorn.Config(app, ws=protocol, lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        yield server, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def echo_app(log=None):
    """A raw ASGI echo app; it records what it receives in *log*."""
    async def app(scope, receive, send):
        assert scope["type"] == "websocket"
        if log is not None:
            log.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        offered = scope["subprotocols"]
        await send({"type": "websocket.accept", "subprotocol": offered[-1] if offered else None,
                    "headers": [(b"x-echo", b"yes")]})
        while True:
            message = await receive()
            if log is not None:
                log.append(message)
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text", "").startswith("close "):
                _, code, reason = message["text"].split(" ", 2)
                await send({"type": "websocket.close", "code": int(code), "reason": reason})
                return
            reply = {"type": "websocket.send"}
            reply.update((k, v) for k, v in message.items() if k in ("text", "bytes"))
            await send(reply)
    return app


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


# -- the connection, with websockets' client and aiohttp's ---------------------------


def test_websockets_client_exchanges_text_bytes_pings(backend):
    log = []

    async def main():
        async with running(echo_app(log), protocol_for(backend)) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/root%20x?q=1", subprotocols=["a", "b"],
                               max_size=2 * MiB) as ws:
                assert ws.subprotocol == "b"
                headers = ws.response.headers
                assert headers["x-echo"] == "yes"
                assert headers["server"] == "uvicorn" and "date" in headers
                for size in SIZES:
                    await ws.send("é" * (size // 2))
                    assert await ws.recv() == "é" * (size // 2)
                    payload = os.urandom(size)
                    await ws.send(payload)
                    assert await ws.recv() == payload
                latency = await (await ws.ping(b"1234"))
                assert latency >= 0
        scope = log[0]
        assert scope["path"] == "/root x" and scope["raw_path"] == b"/root%20x"
        assert scope["query_string"] == b"q=1" and scope["subprotocols"] == ["a", "b"]
        assert (b"host", f"127.0.0.1:{port}".encode()) in scope["headers"]
        assert scope["extensions"] == {"websocket.http.response": {}}
        assert log[-1] == {"type": "websocket.disconnect", "code": 1000, "reason": ""}

    run(main())


def test_aiohttp_client_exchanges_text_bytes_pings(backend):
    async def main():
        async with running(echo_app(), protocol_for(backend)) as (_, port):
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/", protocols=["chat"],
                                              max_msg_size=2 * MiB, autoping=False) as ws:
                    assert ws.protocol == "chat"
                    for size in SIZES:
                        await ws.send_str("x" * size)
                        assert (await ws.receive()).data == "x" * size
                        payload = os.urandom(size)
                        await ws.send_bytes(payload)
                        assert (await ws.receive()).data == payload
                    await ws.ping(b"p")
                    message = await ws.receive()
                    assert message.type is aiohttp.WSMsgType.PONG and message.data == b"p"

    run(main())


def test_permessage_deflate_is_negotiated_and_works(backend):
    async def main():
        async with running(echo_app(), protocol_for(backend)) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
                assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
                await ws.send("compress me " * 1000)
                assert await ws.recv() == "compress me " * 1000
        async with running(echo_app(), protocol_for(backend),
                           ws_per_message_deflate=False) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
                await ws.send("plain")
                assert await ws.recv() == "plain"

    run(main())


def test_close_code_and_reason_both_ways(backend):
    log = []

    async def main():
        async with running(echo_app(log), protocol_for(backend)) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send("close 4001 server says bye")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 4001
                assert info.value.rcvd.reason == "server says bye"
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.close(4002, "client says bye")
            for _ in range(100):
                if log[-1]["type"] == "websocket.disconnect":
                    break
                await asyncio.sleep(0.01)
        assert log[-1] == {"type": "websocket.disconnect", "code": 4002,
                           "reason": "client says bye"}

    run(main())


def test_aiohttp_close_code_reaches_app(backend):
    log = []

    async def main():
        async with running(echo_app(log), protocol_for(backend)) as (_, port):
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/") as ws:
                    await ws.send_str("hi")
                    assert (await ws.receive()).data == "hi"
                    await ws.close(code=4003, message=b"done")
            for _ in range(100):
                if log[-1]["type"] == "websocket.disconnect":
                    break
                await asyncio.sleep(0.01)
        assert log[-1] == {"type": "websocket.disconnect", "code": 4003, "reason": "done"}

    run(main())


# -- Starlette ------------------------------------------------------------------------


def starlette_app():
    async def echo(websocket: StarletteWebSocket) -> None:
        await websocket.accept(subprotocol="json" if "json" in websocket.scope["subprotocols"]
                               else None)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if "text" in message and message["text"] is not None:
                    await websocket.send_text("starlette:" + message["text"])
                else:
                    await websocket.send_bytes(message["bytes"])
        except WebSocketDisconnect:
            pass

    async def deny(websocket: StarletteWebSocket) -> None:
        from starlette.responses import PlainTextResponse

        await websocket.send_denial_response(PlainTextResponse("go away", status_code=401,
                                                               headers={"x-why": "token"}))

    return Starlette(routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/deny", deny)])


def test_starlette_app(backend):
    async def main():
        async with running(starlette_app(), protocol_for(backend)) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["json"]) as ws:
                assert ws.subprotocol == "json"
                await ws.send("hello")
                assert await ws.recv() == "starlette:hello"
                await ws.send(b"\x00\xff")
                assert await ws.recv() == b"\x00\xff"
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/deny"):
                    pass
            response = info.value.response
            assert response.status_code == 401
            assert response.headers["x-why"] == "token"
            assert response.body == b"go away"

    run(main())


def test_root_path_headers_settings_and_uvicorn_logger(backend, caplog):
    log = []

    async def main():
        async with running(echo_app(log), protocol_for(backend), root_path="/api",
                           server_header=False, date_header=False, log_level="info",
                           headers=[("x-site", "one")]) as (_, port):
            # uvicorn configures its loggers when the server is created (and
            # stops propagation at "uvicorn"): listen on its error logger now.
            logger = logging.getLogger("uvicorn.error")
            logger.addHandler(caplog.handler)
            try:
                async with connect(f"ws://127.0.0.1:{port}/chat?room=1") as ws:
                    assert "server" not in ws.response.headers
                    assert "date" not in ws.response.headers
                    assert ws.response.headers["x-site"] == "one"
                    await ws.send("hi")
                    assert await ws.recv() == "hi"
            finally:
                logger.removeHandler(caplog.handler)

    run(main())
    scope = log[0]
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/chat" and scope["raw_path"] == b"/api/chat"
    accepted = [r for r in caplog.records
                if r.name == "uvicorn.error" and "[accepted]" in r.getMessage()]
    assert len(accepted) == 1
    assert '"WebSocket /api/chat?room=1" [accepted]' in accepted[0].getMessage()


# -- refusals --------------------------------------------------------------------------


def test_denial_response_extension_reaches_client(backend):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.http.response.start", "status": 418,
                    "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")]})
        await send({"type": "websocket.http.response.body", "body": b"I'm ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"a teapot"})

    async def main():
        async with running(app, protocol_for(backend)) as (_, port):
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/"):
                    pass
        response = info.value.response
        assert (response.status_code, response.body) == (418, b"I'm a teapot")
        assert response.headers["x-a"] == "1"
        assert response.headers["content-length"] == "12"
        assert response.headers["server"] == "uvicorn"

    run(main())


def test_close_before_accept_is_403(backend):
    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.close"})

    async def main():
        async with running(app, protocol_for(backend)) as (_, port):
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/"):
                    pass
        assert info.value.response.status_code == 403

    run(main())


def test_app_failing_before_accept_gives_500_and_after_accept_1011(backend):
    async def app(scope, receive, send):
        await receive()
        if scope["path"] == "/late":
            await send({"type": "websocket.accept"})
            await receive()
        raise RuntimeError("boom")

    async def main():
        async with running(app, protocol_for(backend), log_level="critical") as (_, port):
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/early"):
                    pass
            assert info.value.response.status_code == 500
            async with connect(f"ws://127.0.0.1:{port}/late") as ws:
                await ws.send("x")
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
            assert closed.value.rcvd.code == 1011

    run(main())


def test_invalid_upgrade_request_gets_4xx_and_app_never_runs(backend):
    calls = []

    async def app(scope, receive, send):  # pragma: no cover - must not run
        calls.append(scope)

    async def main():
        async with running(app, protocol_for(backend)) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            answer = await reader.read()
            writer.close()
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert calls == []

    run(main())


# -- limits and flow control ----------------------------------------------------------


def test_ws_max_size_gives_1009(backend):
    async def main():
        async with running(echo_app(), protocol_for(backend), ws_max_size=1000) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                await ws.send(b"x" * 1000)
                assert await ws.recv() == b"x" * 1000
                await ws.send(b"x" * 1001)
                with pytest.raises(ConnectionClosed) as info:
                    await ws.recv()
        assert info.value.rcvd.code == 1009

    run(main())


def test_slow_reader_app_pauses_reading_at_ws_max_queue(backend):
    """The application does not receive: reading stops once ws_max_queue
    messages wait, and resumes when it drains them; nothing is lost."""
    gate = asyncio.Event
    state = types.SimpleNamespace(protocol=None, gate=None, got=[])
    payloads = [os.urandom(16000) for _ in range(200)]

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await state.gate.wait()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            state.got.append(message["bytes"])
            if len(state.got) == 200:
                await send({"type": "websocket.send", "text": "done"})

    async def main():
        state.gate = gate()
        async with running(app, protocol_for(backend), ws_max_queue=8) as (server, port):
            # Uncompressed, incompressible: a read then completes a few
            # messages, not all of them (compressed, one read can hold 200).
            async with connect(f"ws://127.0.0.1:{port}/", write_limit=1024,
                               compression=None) as ws:
                for payload in payloads:
                    await ws.send(payload)
                await asyncio.sleep(0.2)
                (protocol,) = server.server_state.connections
                assert protocol.read_paused
                assert 8 <= len(protocol.queue) < 32  # ws_max_queue + one read (256 KiB)
                state.gate.set()
                assert await ws.recv() == "done"
        assert state.got == payloads

    run(main())


def test_a_read_of_compressed_messages_does_not_flood_the_queue(backend):
    """64 messages of 1 MiB that compress to a few KiB arrive in one or two
    reads: the kernel stops after 64 KiB of output, and the rest is parsed
    only as the application drains the queue (ws_max_queue=1)."""
    state = types.SimpleNamespace(gate=None, got=0)
    message = b"\x00" * MiB

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        await state.gate.wait()
        while state.got < 64:
            received = await receive()
            assert received["bytes"] == message
            state.got += 1
        await send({"type": "websocket.send", "text": "done"})
        await receive()

    async def main():
        state.gate = asyncio.Event()
        async with running(app, protocol_for(backend), ws_max_queue=1,
                           ws_max_size=2 * MiB) as (server, port):
            async with connect(f"ws://127.0.0.1:{port}/", compression="deflate") as ws:
                for _ in range(64):
                    await ws.send(message)
                await asyncio.sleep(0.3)
                (protocol,) = server.server_state.connections
                assert protocol.held_input  # the reader holds the rest back
                assert len(protocol.queue) <= 2  # not 64 MiB
                state.gate.set()
                assert await ws.recv() == "done"
        assert state.got == 64

    run(main())


def test_slow_client_applies_backpressure_to_app_send(backend):
    """A client that does not read: the application's send() waits once
    the transport's buffer is full instead of buffering without limit."""
    state = types.SimpleNamespace(sent=0, done=None)
    chunk = b"z" * (64 * KiB)

    async def app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(256):  # 16 MiB
            await send({"type": "websocket.send", "bytes": chunk})
            state.sent += 1
        state.done.set()

    async def main():
        state.done = asyncio.Event()
        async with running(app, protocol_for(backend)) as (server, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KiB)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            writer.transport.pause_reading()
            await asyncio.sleep(0.3)
            (protocol,) = server.server_state.connections
            stalled_at = state.sent
            assert not state.done.is_set()
            assert stalled_at < 128  # far less than 16 MiB went into buffers
            assert protocol.transport.get_write_buffer_size() < 8 * MiB
            writer.transport.resume_reading()
            total = 0
            expected = 256 * (len(chunk) + 10) + 129  # frames + the 101 head, roughly
            while not state.done.is_set() or total < 256 * len(chunk):
                data = await reader.read(1 << 20)
                if not data:
                    break
                total += len(data)
            assert state.sent == 256
            assert total >= 256 * len(chunk) and total <= expected + 1024
            writer.close()

    run(main())


# -- keepalive, shutdown, early data ----------------------------------------------------


def test_keepalive_ping_timeout_closes_with_1011(backend):
    async def main():
        async with running(echo_app(), protocol_for(backend), ws_ping_interval=0.05,
                           ws_ping_timeout=0.1) as (_, port):
            # A raw client that never answers pings.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        head, _, frames = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert frames[0] == 0x89  # a ping first
        assert frames[1] == 4
        assert frames[6:10] == b"\x88\x18\x03\xf3"  # then close 1011, reason 22 bytes
        assert frames[10:] == b"keepalive ping timeout"

    run(main())


def test_keepalive_pings_answered_keep_connection_open(backend):
    async def main():
        async with running(echo_app(), protocol_for(backend), ws_ping_interval=0.02,
                           ws_ping_timeout=0.5) as (_, port):
            async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
                await asyncio.sleep(0.2)
                await ws.send("still here")
                assert await ws.recv() == "still here"

    run(main())


def test_shutdown_closes_connections_with_1012(backend):
    log = []

    async def main():
        async with running(echo_app(log), protocol_for(backend)) as (server, port):
            ws = await connect(f"ws://127.0.0.1:{port}/")
            await ws.send("hi")
            assert await ws.recv() == "hi"
            server.should_exit = True
            started = time.monotonic()
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert time.monotonic() - started < 2
            await ws.wait_closed()
        assert info.value.rcvd.code == 1012
        assert info.value.sent.code == 1012  # the closing handshake completed
        assert log[-1]["type"] == "websocket.disconnect" and log[-1]["code"] == 1012

    run(main())


def test_frame_sent_before_the_accept_is_not_lost(backend):
    """A client that does not wait for the 101 (RFC 6455 §4.1 says it
    should): a frame that reaches the protocol while the application is
    still deciding is kept and delivered after the accept.

    (A frame in the same TCP segment as the request never reaches the
    protocol: uvicorn's HTTP protocol replays only the request head.)"""
    async def slow_accept(scope, receive, send):
        await receive()
        await asyncio.sleep(0.15)
        await echo_app()(scope, _replay_connect(receive), send)

    def _replay_connect(receive):
        replayed = []

        async def wrapped():
            if not replayed:
                replayed.append(True)
                return {"type": "websocket.connect"}
            return await receive()
        return wrapped

    async def main():
        async with running(slow_accept, protocol_for(backend)) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            mask = b"\x01\x02\x03\x04"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"early"))
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            await asyncio.sleep(0.05)
            writer.write(b"\x81\x85" + mask + payload)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 ")
            frame = await asyncio.wait_for(reader.readexactly(7), 5)
            writer.close()
        assert frame == b"\x81\x05early"

    run(main())


# -- how uvicorn finds the class ---------------------------------------------------------


def test_config_accepts_the_import_string():
    config = uvicorn.Config(echo_app(), ws="wsfast.adapters.uvicorn:WSFastProtocol",
                            lifespan="off")
    config.load()
    assert config.ws_protocol_class is WSFastProtocol


def test_command_line_ws_option_with_pure_kernels(tmp_path):
    (tmp_path / "echo_asgi.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'websocket.accept'})\n"
        "    import wsfast\n"
        "    m = await receive()\n"
        "    await send({'type': 'websocket.send', 'text': m['text'] + wsfast.IMPLEMENTATION})\n")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, WSFAST_NO_EXTENSIONS="1", PYTHONPATH=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "echo_asgi:app", "--port", str(port),
         "--ws", "wsfast.adapters.uvicorn:WSFastProtocol", "--lifespan", "off"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def main():
        for _ in range(300):
            try:
                async with connect(f"ws://127.0.0.1:{port}/") as ws:
                    await ws.send("hello ")
                    return await ws.recv()
            except OSError:
                await asyncio.sleep(0.02)
        raise AssertionError("uvicorn did not start")

    try:
        assert run(main()) == "hello python"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()


def test_host_check_names_what_is_missing():
    class OldConfig:
        def __init__(self, app, ws="auto", root_path=""):
            pass

    fake_utils = types.SimpleNamespace()
    with pytest.raises(ImportError) as info:
        adapter._check_host(types.SimpleNamespace(__version__="0.20.0"), OldConfig,
                            types.SimpleNamespace, fake_utils)
    message = str(info.value)
    assert "uvicorn 0.20.0 is older than 0.30" in message
    assert "'ws_max_queue'" in message
    assert "ServerState has no 'default_headers'" in message
    assert "ClientDisconnected" in message
    adapter._check_host(uvicorn, uvicorn.config.Config, uvicorn.server.ServerState,
                        uvicorn.protocols.utils)
