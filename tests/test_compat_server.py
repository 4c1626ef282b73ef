"""websockets 17's server API on wsfast: ``wsfast.asyncio.server`` as a
drop-in for ``websockets.asyncio.server``, with the real websockets client on
the other end, on both back-ends.

The programs here follow websockets' documented examples (health check with
``respond``, broadcast counter, ``unix_serve``, ``basic_auth``); each keyword
option of ``serve`` is exercised once, on the wire where it shows there.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import sys

import pytest
import websockets
import websockets.asyncio.server as ws_server_module
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.client import unix_connect as ws_unix_connect
from websockets.exceptions import ConnectionClosed as WSConnectionClosed
from websockets.exceptions import InvalidStatus

import wsfast.asyncio.server as server_module
from helpers import needs_peer, run
from wsfast.asyncio.server import (Server, ServerConnection, ServerWebSocket, basic_auth,
                                   broadcast, serve, unix_serve)
from wsfast.deflate import PerMessageDeflate
from wsfast.errors import ConcurrencyError


def port_of(server) -> int:
    return server.sockets[0].getsockname()[1]


def uri(server, path="/", userinfo="") -> str:
    return f"ws://{userinfo}127.0.0.1:{port_of(server)}{path}"


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def http_get(port: int, path: str, headers: str = "") -> tuple:
    """A plain HTTP/1.1 GET: (status, headers dict (lower-case names), body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields, body


async def refused_status(url: str, **options) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(url, **options):
            pass
    return info.value


# -- the API's shape ---------------------------------------------------------------


def test_module_has_websockets_names():
    for name in ["serve", "unix_serve", "broadcast", "basic_auth", "Server", "ServerConnection"]:
        assert hasattr(server_module, name), name
    assert ServerWebSocket is ServerConnection  # the wsfast 0.1 name still works


@needs_peer("websockets", (17,), "websockets' current serve() signature")
def test_serve_takes_every_keyword_of_websockets_with_its_defaults():
    theirs = inspect.signature(ws_server_module.serve).parameters
    ours = inspect.signature(serve).parameters
    for name, parameter in theirs.items():
        assert name in ours, name
        assert ours[name].kind == parameter.kind, name
        if name == "server_header":  # each library names itself
            assert ours[name].default.startswith("Python/")
            assert "wsfast/" in ours[name].default
        else:
            assert ours[name].default == parameter.default, name
    their_unix = inspect.signature(ws_server_module.unix_serve).parameters
    our_unix = inspect.signature(unix_serve).parameters
    assert list(their_unix) == list(our_unix)
    for function in ("broadcast", "basic_auth"):
        theirs = [(p.name, p.kind, p.default)
                  for p in inspect.signature(getattr(ws_server_module, function)).parameters.values()]
        ours = [(p.name, p.kind, p.default)
                for p in inspect.signature(getattr(server_module, function)).parameters.values()]
        # websockets' parameters first, as they are; wsfast's own additions
        # (broadcast's slow-consumer policy) only after, keyword-only, optional.
        assert ours[:len(theirs)] == theirs, function
        for name, kind, default in ours[len(theirs):]:
            assert kind is inspect.Parameter.KEYWORD_ONLY and default is None, (function, name)
    their_connection = inspect.signature(ws_server_module.ServerConnection).parameters
    our_connection = inspect.signature(ServerConnection).parameters
    for name, parameter in their_connection.items():
        assert name in our_connection, name
        assert our_connection[name].default == parameter.default, name


@pytest.mark.parametrize("function,args", [(serve, ("127.0.0.1", 0)), (unix_serve, ("/tmp/x",))])
@pytest.mark.parametrize("keyword", ["bogus", "user_agent_header", "host_name"])
def test_unknown_keyword_is_a_type_error_at_the_call(function, args, keyword):
    # No event loop here: the mistake is reported at the call, not when awaited.
    with pytest.raises(TypeError, match=keyword):
        function(echo, *args, **{keyword: 1})


def test_unix_serve_refuses_tcp_keywords_at_the_call():
    with pytest.raises(TypeError, match="reuse_port"):
        unix_serve(echo, "/tmp/x", reuse_port=True)


@pytest.mark.parametrize("options", [dict(max_queue="many"), dict(max_queue=(8, 16)),
                                     dict(max_size="big"), dict(max_size=(1, 2, 3)),
                                     dict(subprotocols="chat"), dict(compression="gzip"),
                                     dict(origins="https://one.example"),
                                     dict(extensions=["permessage-deflate"])])
def test_bad_limits_are_refused_at_the_call(options):
    with pytest.raises((TypeError, ValueError)):
        serve(echo, "127.0.0.1", 0, **options)


def test_loop_keywords_are_passed_on(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, backlog=5,
                         reuse_address=True, family=0) as server:
            async with ws_connect(uri(server)) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
    run(main())


# -- health check: respond() in process_request -----------------------------------


@pytest.mark.parametrize("asynchronous", [False, True])
def test_health_check_with_respond(backend, asynchronous):
    def health_check(connection, request):
        if request.path == "/healthz":
            return connection.respond(200, "OK\n")
        return None

    async def async_health_check(connection, request):
        await asyncio.sleep(0)
        return health_check(connection, request)

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         process_request=async_health_check if asynchronous else health_check,
                         server_header="Test/1") as server:
            status, headers, body = await http_get(port_of(server), "/healthz")
            assert (status, body) == (200, b"OK\n")
            assert headers["content-type"] == "text/plain; charset=utf-8"
            assert headers["content-length"] == "3"
            assert headers["connection"] == "close"
            assert headers["server"] == "Test/1"
            error = await refused_status(uri(server, "/healthz"))
            assert error.response.status_code == 200
            async with ws_connect(uri(server, "/chat")) as ws:
                await ws.send("still serving")
                assert await ws.recv() == "still serving"
    run(main())


# -- hooks that fail are answered with 500 -----------------------------------------


def _failing(name, asynchronous):
    def hook(*args):
        raise RuntimeError(f"{name} is broken")

    async def async_hook(*args):
        await asyncio.sleep(0)
        raise RuntimeError(f"{name} is broken")

    return async_hook if asynchronous else hook


@pytest.mark.parametrize("hook,asynchronous", [
    ("process_request", False), ("process_request", True),
    ("process_response", False), ("process_response", True),
    ("select_subprotocol", False),
])
def test_a_hook_that_raises_gives_500_and_a_logged_traceback(backend, caplog, hook, asynchronous):
    caplog.set_level(logging.ERROR)

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         **{hook: _failing(hook, asynchronous)}) as server:
            error = await refused_status(uri(server), subprotocols=["chat"])
            assert error.response.status_code == 500
            assert b"See server log" in error.response.body
        # the server kept serving and logged the traceback
        failures = [r for r in caplog.records if r.getMessage() == f"{hook} failed"]
        assert len(failures) == 1
        assert failures[0].exc_info[1].args == (f"{hook} is broken",)
    run(main())


@pytest.mark.parametrize("hook", ["process_request", "process_response"])
def test_a_hook_returning_something_else_gives_500(backend, caplog, hook):
    async def main():
        bad = (lambda connection, request: "not a response") if hook == "process_request" \
            else (lambda connection, request, response: 42)
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, **{hook: bad}) as server:
            error = await refused_status(uri(server))
            assert error.response.status_code == 500
    run(main())
    assert any("not a Response" in r.getMessage() for r in caplog.records)


def test_failing_hook_does_not_stop_the_server(backend):
    calls = []

    def sometimes(connection, request):
        calls.append(request.path)
        if request.path == "/boom":
            raise ValueError("boom")

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         process_request=sometimes) as server:
            assert (await refused_status(uri(server, "/boom"))).response.status_code == 500
            async with ws_connect(uri(server, "/fine")) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
    run(main())
    assert calls == ["/boom", "/fine"]


# -- process_response, select_subprotocol, subprotocols, origins, headers ----------


@pytest.mark.parametrize("asynchronous", [False, True])
def test_process_response_modifies_or_replaces(backend, asynchronous):
    def modify(connection, request, response):
        if request.path == "/replace":
            return connection.respond(418, "teapot\n")
        response.headers["X-Seen"] = request.path
        return None

    async def async_modify(connection, request, response):
        return modify(connection, request, response)

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         process_response=async_modify if asynchronous else modify) as server:
            async with ws_connect(uri(server, "/kept")) as ws:
                assert ws.response.headers["X-Seen"] == "/kept"
            error = await refused_status(uri(server, "/replace"))
            assert (error.response.status_code, error.response.body) == (418, b"teapot\n")
    run(main())


def test_subprotocols_and_select_subprotocol(backend):
    def last_offered(connection, offered):
        assert isinstance(connection, ServerConnection)
        return offered[-1] if offered else None

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         subprotocols=["superchat", "chat"]) as server:
            async with ws_connect(uri(server), subprotocols=["chat", "superchat"]) as ws:
                assert ws.subprotocol == "superchat"  # the server's preference
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         select_subprotocol=last_offered) as server:
            async with ws_connect(uri(server), subprotocols=["chat", "superchat"]) as ws:
                assert ws.subprotocol == "superchat"
            async with ws_connect(uri(server)) as ws:
                assert ws.subprotocol is None
    run(main())


def test_origins(backend):
    origins = ["https://good.example", re.compile(r"https://[a-z]+\.test"), None]

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, origins=origins) as server:
            for origin in ["https://good.example", "https://abc.test", None]:
                async with ws_connect(uri(server), origin=origin) as ws:
                    await ws.send("in")
                    assert await ws.recv() == "in"
            for origin in ["https://evil.example", "https://abc.test.evil", "HTTPS://GOOD.EXAMPLE"]:
                error = await refused_status(uri(server), origin=origin)
                assert error.response.status_code == 403
        async with serve(echo, "127.0.0.1", 0, backend=backend.name,
                         origins=["https://good.example"]) as server:
            assert (await refused_status(uri(server))).response.status_code == 403  # no Origin
    run(main())


def test_server_header(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server)) as ws:
                assert ws.response.headers["Server"] == server_module.SERVER
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, server_header=None) as server:
            async with ws_connect(uri(server)) as ws:
                assert "Server" not in ws.response.headers
    run(main())


def test_compression_and_extensions(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, compression=None) as server:
            async with ws_connect(uri(server)) as ws:
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
        config = PerMessageDeflate(server_max_window_bits=10, client_max_window_bits=10)
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, compression=None,
                         extensions=[config]) as server:
            async with ws_connect(uri(server)) as ws:
                negotiated = ws.response.headers["Sec-WebSocket-Extensions"]
                assert "server_max_window_bits=10" in negotiated
                await ws.send("squeeze me " * 100)
                assert await ws.recv() == "squeeze me " * 100
    run(main())


# -- timeouts, limits -----------------------------------------------------------------


def test_open_timeout(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, open_timeout=0.1) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped, no request sent
            writer.close()
    run(main())


def test_ping_interval_measures_latency(backend):
    async def report_latency(websocket):
        await asyncio.sleep(0.3)
        await websocket.send(str(websocket.latency))

    async def main():
        async with serve(report_latency, "127.0.0.1", 0, backend=backend.name,
                         ping_interval=0.05, ping_timeout=1) as server:
            async with ws_connect(uri(server), ping_interval=None) as ws:
                assert float(await ws.recv()) > 0  # the websockets client answered
    run(main())


def test_close_timeout_aborts_a_peer_that_does_not_answer(backend):
    from websockets.client import ClientProtocol
    from websockets.frames import Opcode as WSOpcode
    from websockets.uri import parse_uri

    async def close_at_once(websocket):
        pass  # the handler returns: the server closes

    async def main():
        async with serve(close_at_once, "127.0.0.1", 0, backend=backend.name,
                         close_timeout=0.2) as server:
            # websockets' own sans-I/O client, whose answer to the close is never sent
            client = ClientProtocol(parse_uri("ws://127.0.0.1/"))
            client.send_request(client.connect())
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            writer.write(b"".join(client.data_to_send()))
            loop = asyncio.get_running_loop()
            start = loop.time()
            while data := await asyncio.wait_for(reader.read(65536), 5):
                client.receive_data(data)
            elapsed = loop.time() - start
            writer.close()
            frames = [event for event in client.events_received() if hasattr(event, "opcode")]
            assert [frame.opcode for frame in frames] == [WSOpcode.CLOSE]
            assert 0.15 < elapsed < 2  # aborted after close_timeout, not at once
    run(main())


def test_max_size_int(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, max_size=1024) as server:
            async with ws_connect(uri(server)) as ws:
                await ws.send(b"x" * 1024)
                assert await ws.recv() == b"x" * 1024
                await ws.send(b"x" * 1025)
                with pytest.raises(WSConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1009
    run(main())


def test_max_size_message_and_fragment_tuple(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, compression=None,
                         max_size=(1024, 512)) as server:
            async with ws_connect(uri(server), compression=None) as ws:
                await ws.send([b"a" * 300, b"b" * 300, b"c" * 300])  # 900 bytes in 300-byte frames
                assert await ws.recv() == b"a" * 300 + b"b" * 300 + b"c" * 300
                await ws.send(b"x" * 600)  # one frame above the fragment limit
                with pytest.raises(WSConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1009
            async with ws_connect(uri(server), compression=None) as ws:
                await ws.send([b"a" * 400] * 3)  # frames fit, the message does not
                with pytest.raises(WSConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1009
    run(main())


def test_max_queue_tuple_sets_high_and_low_water_marks(backend):
    seen = {}

    async def slow_reader(websocket):
        assert websocket.max_queue == 4
        stream = websocket._stream
        await asyncio.sleep(0.2)  # let the client's 12 messages pile up
        paused_sizes, resumed_sizes = [], []
        for _ in range(12):
            message = await websocket.recv()
            queued = len(stream.messages)
            (paused_sizes if stream.reading_paused else resumed_sizes).append(queued)
            assert message == "m"
        seen.update(paused=paused_sizes, resumed=resumed_sizes)
        await websocket.send("done")

    async def main():
        async with serve(slow_reader, "127.0.0.1", 0, backend=backend.name,
                         max_queue=(4, 2)) as server:
            async with ws_connect(uri(server)) as ws:
                for _ in range(12):
                    await ws.send("m")
                assert await ws.recv() == "done"
    run(main())
    # reading stayed paused while more than 2 were queued, resumed at 2
    assert seen["paused"] and min(seen["paused"]) > 2
    assert seen["resumed"] and all(size <= 4 for size in seen["resumed"])
    assert 2 in seen["resumed"]


def test_write_limit_tuple(backend):
    async def limits(websocket):
        await websocket.send(json.dumps(websocket._stream.transport.get_write_buffer_limits()))

    async def main():
        async with serve(limits, "127.0.0.1", 0, backend=backend.name,
                         write_limit=(50000, 1000)) as server:
            async with ws_connect(uri(server)) as ws:
                assert json.loads(await ws.recv()) == [1000, 50000]
        async with serve(limits, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server)) as ws:  # websockets' default: 32 KiB
                assert json.loads(await ws.recv()) == [8192, 32768]
    run(main())


# -- logger, create_connection --------------------------------------------------------


def test_logger_option(backend, caplog):
    caplog.set_level(logging.ERROR)

    async def crash(websocket):
        raise RuntimeError("handler crash")

    async def main():
        async with serve(crash, "127.0.0.1", 0, backend=backend.name,
                         logger=logging.getLogger("compat.test")) as server:
            async with ws_connect(uri(server)) as ws:
                with pytest.raises(WSConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1011
    run(main())
    failures = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert [r.name for r in failures] == ["compat.test"]
    assert failures[0].websocket is not None  # the connection, as websockets' adapter adds it


def test_create_connection(backend):
    class Custom(ServerConnection):
        greeting = "custom"

    async def greet(websocket):
        await websocket.send(f"{type(websocket).greeting} {isinstance(websocket, Custom)}")

    async def main():
        async with serve(greet, "127.0.0.1", 0, backend=backend.name,
                         create_connection=Custom) as server:
            async with ws_connect(uri(server)) as ws:
                assert await ws.recv() == "custom True"
    run(main())


# -- the Server object ------------------------------------------------------------------


def test_server_connections_start_serving_and_get_loop(backend):
    async def wait_forever(websocket):
        await websocket.wait_closed()

    async def main():
        server = await serve(wait_forever, "127.0.0.1", 0, backend=backend.name,
                             start_serving=False)
        assert isinstance(server, Server)
        assert server.get_loop() is asyncio.get_running_loop()
        assert not server.is_serving()
        await server.start_serving()
        assert server.is_serving()
        async with ws_connect(uri(server)) as first, ws_connect(uri(server)) as second:
            await asyncio.sleep(0.05)
            assert len(server.connections) == 2
            assert {c.remote_address[1] for c in server.connections} == {
                first.local_address[1], second.local_address[1]}
            await first.close()
            await asyncio.sleep(0.05)
            assert [c.remote_address[1] for c in server.connections] == [second.local_address[1]]
        server.close()
        await server.wait_closed()
        assert not server.is_serving() and server.connections == set()
    run(main())


def test_server_close_without_closing_connections(backend):
    async def wait_forever(websocket):
        await websocket.wait_closed()

    async def main():
        async with serve(wait_forever, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server)) as ws:
                await asyncio.sleep(0.05)
                server.close(close_connections=False)
                await ws.ping()  # still open
                assert len(server.connections) == 1
    run(main())


# -- broadcast -------------------------------------------------------------------------


def test_broadcast_counter(backend):
    """websockets' counter example: every change goes to every connection."""
    users = set()

    async def counter(websocket):
        users.add(websocket)
        broadcast(websocket.server.connections, json.dumps({"users": len(users)}))
        try:
            async for message in websocket:
                broadcast(users, message)
        finally:
            users.discard(websocket)
            broadcast(users, json.dumps({"users": len(users)}))

    async def main():
        async with serve(counter, "127.0.0.1", 0, backend=backend.name) as server:
            # mixed: uncompressed connections share one frame, compressed ones frame their own
            a = await ws_connect(uri(server), compression=None)
            assert json.loads(await a.recv()) == {"users": 1}
            b = await ws_connect(uri(server))
            c = await ws_connect(uri(server), compression=None)
            assert [json.loads(await a.recv()) for _ in range(2)] == [{"users": 2}, {"users": 3}]
            assert [json.loads(await b.recv()) for _ in range(2)] == [{"users": 2}, {"users": 3}]
            assert json.loads(await c.recv()) == {"users": 3}
            await b.send(b"\x00binary\xff")
            await b.send("text ✓")
            for ws in (a, b, c):
                assert await ws.recv() == b"\x00binary\xff"
                assert await ws.recv() == "text ✓"
            await c.close()
            assert json.loads(await a.recv()) == {"users": 2}
            assert json.loads(await b.recv()) == {"users": 2}
            await a.close()
            await b.close()
    run(main())


def test_broadcast_text_option_and_type_error(backend):
    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server), compression=None) as ws:
                await asyncio.sleep(0.05)
                broadcast(server.connections, b"bytes as text", text=True)
                broadcast(server.connections, "str as binary", text=False)
                assert await ws.recv() == "bytes as text"
                assert await ws.recv() == b"str as binary"
                with pytest.raises(TypeError):
                    broadcast(server.connections, 42)
    run(main())


def test_broadcast_skips_closed_and_fragmenting_connections(backend, caplog):
    caplog.set_level(logging.WARNING)
    release = None

    async def fragmenting(websocket):
        async def fragments():
            yield "part one, "
            await release.wait()
            yield "part two"
        await websocket.send(fragments())
        await websocket.wait_closed()

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with serve(fragmenting, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server)) as ws:
                await asyncio.sleep(0.05)
                broadcast(server.connections, "interloper")
                if sys.version_info >= (3, 11):
                    with pytest.raises(ExceptionGroup) as info:  # noqa: F821
                        broadcast(server.connections, "interloper", raise_exceptions=True)
                    assert [type(e) for e in info.value.exceptions] == [ConcurrencyError]
                else:
                    with pytest.raises(ValueError):
                        broadcast(server.connections, "x", raise_exceptions=True)
                release.set()
                assert await ws.recv() == "part one, part two"  # not corrupted
                closing = next(iter(server.websockets))
                await ws.close()
                await asyncio.sleep(0.05)
                broadcast([closing], "too late", raise_exceptions=sys.version_info >= (3, 11))
    run(main())
    assert any(r.getMessage() == "skipped broadcast: sending a fragmented message"
               for r in caplog.records)


def test_broadcast_from_client_connections(backend):
    """Client frames are masked per connection: no shared frame there."""
    import wsfast

    async def main():
        async with websockets.asyncio.server.serve(echo, "127.0.0.1", 0) as server:
            clients = [await wsfast.connect(uri(server), backend=backend.name) for _ in range(3)]
            broadcast(clients, "to every server")
            for client in clients:
                assert await client.recv() == "to every server"
                await client.close()
    run(main())


# -- unix_serve, basic_auth -------------------------------------------------------------


def test_unix_serve(backend, tmp_path):
    path = str(tmp_path / "ws.sock")

    async def main():
        async with unix_serve(echo, path, backend=backend.name) as server:
            assert server.sockets[0].family.name == "AF_UNIX"
            async with ws_unix_connect(path, "ws://localhost/") as ws:
                await ws.send("over a unix socket")
                assert await ws.recv() == "over a unix socket"
    run(main())


@pytest.mark.parametrize("style", ["credentials", "check_credentials", "async_check"])
def test_basic_auth(backend, style):
    async def whoami(websocket):
        await websocket.send(websocket.username)

    async def async_check(username, password):
        return (username, password) == ("hello", "iloveyou")

    options = {
        "credentials": dict(credentials=[("hello", "iloveyou"), ("bye", "x")]),
        "check_credentials": dict(check_credentials=lambda u, p: (u, p) == ("hello", "iloveyou")),
        "async_check": dict(check_credentials=async_check),
    }[style]

    async def main():
        async with serve(whoami, "127.0.0.1", 0, backend=backend.name,
                         process_request=basic_auth(realm="test realm", **options)) as server:
            async with ws_connect(uri(server, userinfo="hello:iloveyou@")) as ws:
                assert await ws.recv() == "hello"
            for userinfo, why in [("", b"Missing credentials\n"),
                                  ("hello:wrong@", b"Invalid credentials\n"),
                                  ("nobody:iloveyou@", b"Invalid credentials\n")]:
                error = await refused_status(uri(server, userinfo=userinfo))
                assert (error.response.status_code, error.response.body) == (401, why)
                assert error.response.headers["WWW-Authenticate"] == \
                    'Basic realm="test realm", charset="UTF-8"'
            status, _, body = await http_get(port_of(server), "/",
                                             "Authorization: Bearer abc\r\n")
            assert (status, body) == (401, b"Unsupported credentials\n")
    run(main())


def test_basic_auth_arguments_are_checked():
    with pytest.raises(ValueError):
        basic_auth()
    with pytest.raises(ValueError):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError):
        basic_auth(credentials=[("a", 1)])
    with pytest.raises(TypeError):
        basic_auth(credentials=42)


# -- the connection API: recv(decode=), send(text=), recv_streaming, id ---------------


def test_recv_decode_and_send_text(backend):
    async def handler(websocket):
        text_as_bytes = await websocket.recv(decode=False)
        binary_as_str = await websocket.recv(decode=True)
        plain_text = await websocket.recv(decode=None)
        plain_binary = await websocket.recv()
        await websocket.send(repr([text_as_bytes, binary_as_str, plain_text, plain_binary]))
        await websocket.send("καλημέρα".encode(), text=True)
        await websocket.send("str as binary", text=False)
        await websocket.send(["frag", "mented"], text=False)
        await websocket.send([b"frag", "mented \xe9".encode()], text=True)
        await websocket.send(b"plain binary", text=None)
        with pytest.raises(UnicodeDecodeError):
            await websocket.recv(decode=True)

    async def main():
        async with serve(handler, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server)) as ws:
                await ws.send("héllo")
                await ws.send(b"caf\xc3\xa9")
                await ws.send("text")
                await ws.send(b"bin")
                assert await ws.recv() == repr([b"h\xc3\xa9llo", "café", "text", b"bin"])
                assert await ws.recv() == "καλημέρα"
                assert await ws.recv() == b"str as binary"
                assert await ws.recv() == b"fragmented"
                assert await ws.recv() == "fragmented é"
                assert await ws.recv() == b"plain binary"
                await ws.send(b"\xff\xfe")  # not UTF-8: recv(decode=True) raises
                await ws.wait_closed()
    run(main())


def test_recv_decode_with_text_as_bytes(backend):
    async def handler(websocket):
        raw = await websocket.recv()
        decoded = await websocket.recv(decode=True)
        await websocket.send(repr([raw, decoded]))

    async def main():
        async with serve(handler, "127.0.0.1", 0, backend=backend.name,
                         text_as_bytes=True) as server:
            async with ws_connect(uri(server)) as ws:
                await ws.send("é")
                await ws.send("é")
                assert await ws.recv() == repr([b"\xc3\xa9", "é"])
    run(main())


def test_recv_streaming(backend):
    async def handler(websocket):
        pieces = [piece async for piece in websocket.recv_streaming()]
        await websocket.send("".join(pieces))
        pieces = [piece async for piece in websocket.recv_streaming(decode=False)]
        await websocket.send(b"".join(pieces))

    async def main():
        async with serve(handler, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server)) as ws:
                await ws.send(["stream", "ed ", "text"])
                assert await ws.recv() == "streamed text"
                await ws.send("é")
                assert await ws.recv() == b"\xc3\xa9"
    run(main())


def test_connection_attributes(backend):
    seen = []

    async def handler(websocket):
        pong_waiter = await websocket.ping()
        latency = await pong_waiter
        await websocket.pong(b"unsolicited")
        seen.append(websocket)
        await websocket.send(json.dumps({
            "latency": latency >= 0,
            "state": websocket.state.name,
            "path": websocket.request.path,
            "status": websocket.response.status_code,
            "local": websocket.local_address[1],
            "remote": websocket.remote_address[1],
            "subprotocol": websocket.subprotocol,
        }))
        await websocket.close(4000, "bye")
        assert (websocket.close_code, websocket.close_reason) == (4000, "bye")
        await websocket.wait_closed()

    async def main():
        async with serve(handler, "127.0.0.1", 0, backend=backend.name) as server:
            async with ws_connect(uri(server, "/p?q=1")) as ws:
                info = json.loads(await ws.recv())
                assert info == {"latency": True, "state": "OPEN", "path": "/p?q=1",
                                "status": 101, "local": port_of(server),
                                "remote": ws.local_address[1], "subprotocol": None}
                with pytest.raises(WSConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 4000
    run(main())
    websocket, = seen
    assert websocket.id.version == 4
    assert websocket.logger.extra == {"websocket": websocket}


# -- TLS, shutdown on SIGTERM (websockets' deployment examples) -------------------------


DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_tls_and_its_handshake_timeout(backend):
    import ssl

    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))
    client_context = ssl.create_default_context(cafile=str(DATA / "localhost.crt"))

    async def main():
        async with serve(echo, "127.0.0.1", 0, backend=backend.name, ssl=server_context,
                         open_timeout=0.3) as server:
            async with ws_connect(f"wss://localhost:{port_of(server)}/", ssl=client_context) as ws:
                await ws.send("secret")
                assert await ws.recv() == "secret"
            # open_timeout bounds the TLS handshake too (ssl_handshake_timeout), as in websockets
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            assert loop.time() - start < 2
            writer.close()
    run(main())


@pytest.mark.skipif(sys.platform == "win32", reason="add_signal_handler is Unix-only")
def test_shutdown_on_sigterm(backend):
    import os
    import signal

    async def wait_forever(websocket):
        await websocket.wait_closed()

    async def main():
        loop = asyncio.get_running_loop()
        async with serve(wait_forever, "127.0.0.1", 0, backend=backend.name) as server:
            loop.add_signal_handler(signal.SIGTERM, server.close)
            try:
                async with ws_connect(uri(server)) as ws:
                    os.kill(os.getpid(), signal.SIGTERM)
                    await asyncio.wait_for(server.wait_closed(), 5)
                    with pytest.raises(WSConnectionClosed):
                        await ws.recv()
                    assert ws.close_code == 1001
            finally:
                loop.remove_signal_handler(signal.SIGTERM)
    run(main())
