"""wsfast.asyncio.client against websockets 17's asyncio client API.

Code written for ``websockets.asyncio.client`` must run after renaming the
import: the same names, every keyword option of ``connect`` with the same
meaning, reconnection with ``async for``, credentials in the URI, SOCKS and
HTTP proxies, and the same exceptions. The other end is always real: the
websockets *server*, and for proxies small SOCKS4/5 and HTTP CONNECT proxies
written below that relay bytes between two real sockets.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl
import struct
import sys
import tempfile
from pathlib import Path

import pytest
import websockets.asyncio.client as ws_client
from websockets.asyncio.server import basic_auth, serve as ws_serve, unix_serve as ws_unix_serve

import wsfast.asyncio.client as client_module
from helpers import run
from wsfast.asyncio.client import (ClientConnection, ClientWebSocket, backoff, connect,
                                   process_exception, unix_connect)
from wsfast.deflate import PerMessageDeflate
from wsfast.exceptions import (ConnectionClosed, ConnectionClosedError, InvalidHandshake,
                               InvalidMessage, InvalidProxy, InvalidProxyMessage,
                               InvalidProxyStatus, InvalidStatus, InvalidURI, ProxyError,
                               SecurityError)

DATA = Path(__file__).parent / "data"
FAST_RETRIES = dict(reconnect_delays=lambda: iter([0.02] * 1000))


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def request_echo(websocket):
    """Sends back what the server saw of the upgrade request."""
    headers = websocket.request.headers
    await websocket.send("\n".join(f"{name}: {value}" for name, value in headers.raw_items()))
    async for message in websocket:
        await websocket.send(message)


def port_of(server) -> int:
    return server.sockets[0].getsockname()[1]


def seen_headers(text: str) -> dict:
    return dict(line.split(": ", 1) for line in text.split("\n"))


# -- the API's shape --------------------------------------------------------------


class TestSignatures:
    def test_connect_takes_every_option_of_websockets_connect(self):
        ours = inspect.signature(connect).parameters
        theirs = inspect.signature(ws_client.connect).parameters
        for name, parameter in theirs.items():
            assert name in ours, name
            assert ours[name].kind == parameter.kind, name
            if name in ("user_agent_header", "process_exception", "reconnect_delays"):
                continue  # each library's own value, compared below
            assert ours[name].default == parameter.default, name

    def test_defaults_that_name_the_library_have_websockets_meaning(self):
        ours = inspect.signature(connect).parameters
        assert ours["user_agent_header"].default.startswith("Python/")
        assert " wsfast/" in ours["user_agent_header"].default
        assert ours["process_exception"].default is process_exception
        assert ours["reconnect_delays"].default is backoff

    def test_unix_connect_and_client_connection_signatures(self):
        assert list(inspect.signature(unix_connect).parameters) == list(
            inspect.signature(ws_client.unix_connect).parameters)
        ours = inspect.signature(ClientConnection.__init__).parameters
        theirs = inspect.signature(ws_client.ClientConnection.__init__).parameters
        for name, parameter in theirs.items():
            assert name in ours, name
            if parameter.default is not parameter.empty:
                assert ours[name].default == parameter.default, name
        assert ClientWebSocket is ClientConnection

    def test_module_names(self):
        for name in ws_client.__all__:
            assert hasattr(client_module, name), name
        assert hasattr(client_module, "process_exception")


class TestKeywordErrors:
    @pytest.mark.parametrize("name", ["user_agent", "extra_header", "ping", "bogus"])
    def test_unknown_keyword_is_a_type_error_at_the_call(self, name):
        # No event loop runs: the error comes from the call itself.
        with pytest.raises(TypeError, match=repr(name)):
            connect("ws://localhost/", **{name: 1})
        with pytest.raises(TypeError, match=repr(name)):
            unix_connect("/tmp/nowhere", **{name: 1})

    def test_bad_values_are_refused_at_the_call(self):
        with pytest.raises(ValueError):
            connect("ws://localhost/", compression="gzip")
        with pytest.raises(ValueError):
            connect("ws://localhost/", ssl=ssl.create_default_context())
        with pytest.raises(ValueError):
            connect("wss://localhost/", ssl=None)
        with pytest.raises(ValueError):
            connect("ws://localhost/", subprotocols=["not a token"])
        with pytest.raises(InvalidProxy):
            connect("ws://localhost/", proxy="ftp://proxy/")
        with pytest.raises(TypeError):
            connect("ws://localhost/", extensions=["permessage-deflate"])

    @pytest.mark.parametrize("uri", ["http://localhost/", "ws://alice@localhost/",
                                     "ws://localhost/#fragment", "ws://"])
    def test_invalid_uri(self, uri):
        with pytest.raises(InvalidURI):
            connect(uri)


# -- every keyword option against the real websockets server ------------------------


def test_handshake_options_reach_the_server(backend):
    selected = []

    def select_subprotocol(connection, subprotocols):
        selected.append(list(subprotocols))
        return "chat.v2"

    class Custom(ClientConnection):
        # The signature of websockets' ClientConnection: a factory written
        # for websockets gets exactly these arguments.
        def __init__(self, protocol, *, ping_interval, ping_timeout, close_timeout, max_queue,
                     write_limit):
            super().__init__(protocol, ping_interval=ping_interval, ping_timeout=ping_timeout,
                             close_timeout=close_timeout, max_queue=max_queue,
                             write_limit=write_limit)

    log = logging.getLogger("test.compat.client")

    async def main():
        async with ws_serve(request_echo, "127.0.0.1", 0, origins=["https://app.example"],
                            select_subprotocol=select_subprotocol) as server:
            port = port_of(server)
            # host= and port= (loop.create_connection's) pick where to connect;
            # the URI's host stays the Host header.
            uri = f"ws://wsfast-test.invalid:{port + 1}/path?q=1"
            async with connect(
                uri, host="127.0.0.1", port=port, backend=backend.name,
                origin="https://app.example", subprotocols=["chat.v1", "chat.v2"],
                additional_headers={"X-Token": "t1"}, user_agent_header="agent/1.0",
                proxy=None, open_timeout=5, close_timeout=2, logger=log,
                create_connection=Custom,
            ) as websocket:
                assert isinstance(websocket, Custom)
                assert websocket.subprotocol == "chat.v2"
                seen = seen_headers(await websocket.recv())
                await websocket.send("ping")
                assert await websocket.recv() == "ping"
        assert seen["Host"] == f"wsfast-test.invalid:{port + 1}"
        assert seen["Origin"] == "https://app.example"
        assert seen["X-Token"] == "t1"
        assert seen["User-Agent"] == "agent/1.0"
        assert selected == [["chat.v1", "chat.v2"]]
        assert websocket.logger is log or websocket.logger.logger is log

    run(main())


def test_user_agent_default_and_none(backend):
    async def main():
        async with ws_serve(request_echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, backend=backend.name) as websocket:
                default = seen_headers(await websocket.recv())
            async with connect(uri, backend=backend.name, user_agent_header=None) as websocket:
                none = seen_headers(await websocket.recv())
        assert default["User-Agent"] == client_module.USER_AGENT
        assert "User-Agent" not in none

    run(main())


def test_compression_and_extensions(backend):
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, backend=backend.name, compression=None) as websocket:
                assert "Sec-WebSocket-Extensions" not in websocket.request.headers
                assert "Sec-WebSocket-Extensions" not in websocket.response.headers
            offer = PerMessageDeflate(client_max_window_bits=10)
            async with connect(uri, backend=backend.name, compression=None,
                               extensions=[offer]) as websocket:
                agreed = websocket.response.headers["Sec-WebSocket-Extensions"]
                assert agreed.startswith("permessage-deflate")
                await websocket.send("a" * 10000)
                assert await websocket.recv() == "a" * 10000

    run(main())


def test_max_size_tuple_limits_frames_and_messages(backend):
    async def fragments(websocket):
        await websocket.send(["a" * 400, "b" * 400])  # 800 in frames of 400: fine
        await websocket.send("c" * 600)  # one 600-byte frame: over the frame limit
        await websocket.wait_closed()

    async def main():
        async with ws_serve(fragments, "127.0.0.1", 0, compression=None) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, backend=backend.name, max_size=(1000, 500),
                               max_queue=(4, 1), write_limit=(4096, 1024)) as websocket:
                assert await websocket.recv() == "a" * 400 + "b" * 400
                with pytest.raises(ConnectionClosedError):
                    await websocket.recv()
                assert websocket.connection.close_sent[0] == 1009

    run(main())


def test_wsfast_own_options_still_work(backend):
    async def send_text_and_fragments(websocket):
        await websocket.recv()
        await websocket.send("é" * 10)
        await websocket.send(["a"] * 5)  # five fragments: over max_fragments=4
        await websocket.wait_closed()

    async def main():
        async with ws_serve(send_text_and_fragments, "127.0.0.1", 0,
                            compression=None) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", backend=backend.name,
                               extra_headers=[("X-Legacy", "1")], text_as_bytes=True,
                               max_fragments=4, fragment_overhead=0,
                               max_frame_size=1000) as websocket:
                assert websocket.request.headers["X-Legacy"] == "1"
                assert websocket.connection.backend == backend.name
                await websocket.send("go")
                assert await websocket.recv() == ("é" * 10).encode()  # text as bytes
                with pytest.raises(ConnectionClosedError):
                    await websocket.recv()
                assert websocket.connection.close_sent[0] == 1009  # too many fragments

    run(main())


def test_keepalive_options(backend):
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, backend=backend.name, ping_interval=0.02,
                               ping_timeout=5) as websocket:
                await asyncio.sleep(0.15)
                assert websocket.latency > 0  # pings went out and pongs came back
            async with connect(uri, backend=backend.name, ping_interval=None) as websocket:
                await asyncio.sleep(0.05)
                assert websocket.latency == 0

    run(main())


async def deaf(websocket):
    """Stops reading: pings and close frames are never answered."""
    websocket.transport.pause_reading()
    await websocket.wait_closed()


def test_ping_timeout_fails_a_connection_whose_peer_stopped_answering(backend):
    async def main():
        async with ws_serve(deaf, "127.0.0.1", 0, close_timeout=0.1) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, backend=backend.name, ping_interval=0.05,
                               ping_timeout=0.05, close_timeout=0.1) as websocket:
                with pytest.raises(ConnectionClosedError):
                    await asyncio.wait_for(websocket.recv(), 5)
                assert websocket.connection.close_sent[0] == 1011  # keepalive ping timeout

    run(main())


def test_close_timeout_bounds_the_closing_handshake(backend):
    async def main():
        async with ws_serve(deaf, "127.0.0.1", 0, close_timeout=0.1) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            websocket = await connect(uri, backend=backend.name, close_timeout=0.1)
            loop = asyncio.get_running_loop()
            start = loop.time()
            await websocket.close()
            assert 0.1 <= loop.time() - start < 2  # aborted after close_timeout
            assert websocket.closed

    run(main())


def test_open_timeout_covers_a_silent_server():
    async def main():
        writers = []
        silent = await asyncio.start_server(lambda r, w: writers.append(w), "127.0.0.1", 0)
        async with silent:
            uri = f"ws://127.0.0.1:{port_of(silent)}/"
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(TimeoutError):
                await connect(uri, open_timeout=0.1)
            assert loop.time() - start < 2
            # From Python 3.12 on, leaving the server waits for its
            # connections to end, and a half-closed one never would.
            for writer in writers:
                writer.close()

    run(main())


def test_await_connect_then_close(backend):
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server:
            websocket = await connect(f"ws://127.0.0.1:{port_of(server)}/",
                                      backend=backend.name)
            await websocket.send(b"\x00\x01")
            assert await websocket.recv() == b"\x00\x01"
            await websocket.close()
            assert websocket.close_code == 1000

    run(main())


def test_sock_keyword(backend):
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server:
            sock = socket.create_connection(("127.0.0.1", port_of(server)))
            async with connect("ws://example.invalid/", sock=sock,
                               backend=backend.name) as websocket:
                await websocket.send("via sock")
                assert await websocket.recv() == "via sock"

    run(main())


def test_unix_connect(backend):
    async def main():
        with tempfile.TemporaryDirectory() as directory:
            path = str(Path(directory) / "ws.sock")
            async with ws_unix_serve(request_echo, path):
                async with unix_connect(path, backend=backend.name) as websocket:
                    seen = seen_headers(await websocket.recv())
                    await websocket.send("over unix")
                    assert await websocket.recv() == "over unix"
                async with unix_connect(path, "ws://example.test/chat",
                                        backend=backend.name) as websocket:
                    other = seen_headers(await websocket.recv())
        assert seen["Host"] == "localhost"
        assert other["Host"] == "example.test"

    run(main())


def test_wss_with_ssl_and_server_hostname(backend):
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))
    client_context = ssl.create_default_context(cafile=str(DATA / "localhost.crt"))

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0, ssl=server_context) as server:
            uri = f"wss://127.0.0.1:{port_of(server)}/"
            async with connect(uri, ssl=client_context, server_hostname="localhost",
                               backend=backend.name) as websocket:
                await websocket.send("secure")
                assert await websocket.recv() == "secure"

    run(main())


# -- handshake failures -----------------------------------------------------------


def refuse_with(status, text="refused", headers=()):
    def process_request(connection, request):
        response = connection.respond(status, text)
        for name, value in headers:
            response.headers[name] = value
        return response

    return process_request


@pytest.mark.parametrize("status", [401, 404])
def test_invalid_status_carries_the_response(status):
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0,
                            process_request=refuse_with(status, "go away\n")) as server:
            with pytest.raises(InvalidStatus) as caught:
                await connect(f"ws://127.0.0.1:{port_of(server)}/")
        response = caught.value.response
        assert response.status_code == status
        assert response.body == b"go away\n"
        assert response.headers["Content-Type"].startswith("text/plain")
        assert isinstance(caught.value, InvalidHandshake)
        assert str(status) in str(caught.value)

    run(main())


@pytest.mark.parametrize("answer", [b"garbage\r\n\r\n", b"HTTP/1.1 101 OK\r\nX: \x00\r\n\r\n"])
def test_malformed_response_is_invalid_message(answer):
    async def answer_badly(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(answer_badly, "127.0.0.1", 0)
        async with server:
            with pytest.raises(InvalidMessage):
                await connect(f"ws://127.0.0.1:{port_of(server)}/")

    run(main())


def test_connection_closed_before_the_response_is_invalid_message_from_eof():
    async def hang_up(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def main():
        server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        async with server:
            with pytest.raises(InvalidMessage) as caught:
                await connect(f"ws://127.0.0.1:{port_of(server)}/")
        assert isinstance(caught.value.__cause__, EOFError)
        assert process_exception(caught.value) is None  # retried when reconnecting

    run(main())


def test_redirect_is_followed(backend):
    def redirect(connection, request):
        if request.path == "/old":
            response = connection.respond(302, "moved\n")
            response.headers["Location"] = "/new"
            return response
        return None

    async def main():
        async with ws_serve(request_echo, "127.0.0.1", 0, process_request=redirect) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/old",
                               backend=backend.name) as websocket:
                assert websocket.request.path == "/new"

    run(main())


def test_redirect_to_an_insecure_uri_is_refused():
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as plain:
            target = f"ws://127.0.0.1:{port_of(plain)}/"
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))
            client_context = ssl.create_default_context(cafile=str(DATA / "localhost.crt"))

            def redirect(connection, request):
                response = connection.respond(301, "")
                response.headers["Location"] = target
                return response

            async with ws_serve(echo, "127.0.0.1", 0, ssl=server_context,
                                process_request=redirect) as secure:
                with pytest.raises(SecurityError):
                    await connect(f"wss://localhost:{port_of(secure)}/", ssl=client_context)

    run(main())


# -- credentials in the URI --------------------------------------------------------


def test_credentials_in_the_uri_are_sent_as_basic_auth(backend):
    async def main():
        auth = basic_auth(realm="test", credentials=("alice", "s3cr:et"))
        async with ws_serve(echo, "127.0.0.1", 0, process_request=auth) as server:
            port = port_of(server)
            async with connect(f"ws://alice:s3cr%3Aet@127.0.0.1:{port}/",
                               backend=backend.name) as websocket:
                await websocket.send("authenticated")
                assert await websocket.recv() == "authenticated"
            with pytest.raises(InvalidStatus) as caught:
                await connect(f"ws://alice:wrong@127.0.0.1:{port}/")
            assert caught.value.response.status_code == 401
            assert "WWW-Authenticate" in caught.value.response.headers
            assert process_exception(caught.value) is caught.value  # fatal

    run(main())


# -- reconnecting ---------------------------------------------------------------


def test_reconnect_loop_survives_the_server_going_away(backend):
    async def main():
        server = await ws_serve(echo, "127.0.0.1", 0)
        port = port_of(server)
        greetings = []
        iterations = 0
        restarted = None
        async for websocket in connect(f"ws://127.0.0.1:{port}/", backend=backend.name,
                                       **FAST_RETRIES):
            iterations += 1
            try:
                await websocket.send(f"hello {iterations}")
                greetings.append(await websocket.recv())
                if iterations == 1:
                    # The server goes away; connecting is refused for a while
                    # (OSError: retried), then it comes back on the same port.
                    server.close()
                    await server.wait_closed()

                    async def come_back():
                        await asyncio.sleep(0.1)
                        return await ws_serve(echo, "127.0.0.1", port)

                    restarted = asyncio.ensure_future(come_back())
                    await websocket.recv()
                else:
                    break
            except ConnectionClosed:
                continue
        (await restarted).close()
        assert greetings == ["hello 1", "hello 2"]

    run(main())


def test_reconnect_retries_503_and_raises_404(caplog):
    caplog.set_level(logging.INFO, logger="test.compat.reconnect")
    attempts = []

    def flaky(connection, request):
        attempts.append(request.path)
        if len(attempts) < 3:
            return connection.respond(503, "busy\n")
        if request.path == "/missing":
            return connection.respond(404, "no\n")
        return None

    log = logging.getLogger("test.compat.reconnect")

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0, process_request=flaky) as server:
            port = port_of(server)
            async for websocket in connect(f"ws://127.0.0.1:{port}/", logger=log,
                                           **FAST_RETRIES):
                await websocket.send("up")
                assert await websocket.recv() == "up"
                break
            assert len(attempts) == 3
            retries = [r for r in caplog.records if r.name == "test.compat.reconnect"]
            assert len(retries) == 2  # each retry is logged on the given logger
            assert "503" in retries[0].getMessage()
            with pytest.raises(InvalidStatus) as caught:
                async for websocket in connect(f"ws://127.0.0.1:{port}/missing",
                                               **FAST_RETRIES):
                    pytest.fail("a 404 must not connect")
            assert caught.value.response.status_code == 404
            assert len(attempts) == 4  # fatal: not retried

    run(main())


def test_process_exception_decides_what_is_retried():
    attempts = []

    def refuse(connection, request):
        attempts.append(1)
        return connection.respond(403 if len(attempts) < 3 else 418, "no\n")

    seen = []

    def retry_403(exc):
        seen.append(exc)
        if isinstance(exc, InvalidStatus) and exc.response.status_code == 403:
            return None
        return RuntimeError("gave up")

    def raising(exc):
        raise LookupError("raised from process_exception")

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0, process_request=refuse) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            with pytest.raises(RuntimeError, match="gave up") as caught:
                async for _ in connect(uri, process_exception=retry_403, **FAST_RETRIES):
                    pytest.fail("must not connect")
            assert isinstance(caught.value.__cause__, InvalidStatus)
            assert [e.response.status_code for e in seen] == [403, 403, 418]
            with pytest.raises(LookupError):
                async for _ in connect(uri, process_exception=raising, **FAST_RETRIES):
                    pytest.fail("must not connect")

    run(main())


def test_default_process_exception_rules():
    assert process_exception(ConnectionRefusedError()) is None
    assert process_exception(TimeoutError()) is None
    fatal = ValueError("x")
    assert process_exception(fatal) is fatal
    bare = InvalidMessage("bad")
    assert process_exception(bare) is bare


def test_backoff_grows_to_its_cap():
    delays = backoff(initial_delay=1, min_delay=2, max_delay=10, factor=2)
    first = next(delays)
    assert 0 <= first <= 1
    assert [next(delays) for _ in range(5)] == [2, 4, 8, 10, 10]


# -- proxies --------------------------------------------------------------------


class RelayProxy:
    """A SOCKS4/4a/5 or HTTP CONNECT proxy on loopback: reads the client's
    request, connects to the destination it names, then relays bytes both
    ways. It records what it was asked, to check what the client sent."""

    def __init__(self, kind, credentials=None, http_status=200, http_answer=None, ssl=None):
        self.kind = kind
        self.ssl = ssl
        self.credentials = credentials
        self.http_status = http_status
        self.http_answer = http_answer
        self.requests = []  # (destination host, port)
        self.headers = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.ssl)
        self.port = port_of(self.server)
        return self

    async def __aexit__(self, *exc_info):
        self.server.close()
        await self.server.wait_closed()

    async def handle(self, reader, writer):
        try:
            target = await getattr(self, f"greet_{self.kind}")(reader, writer)
            if target is None:
                return
            host, port = target
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1" if host == "localhost" else host, port)
            await self.established(writer)
            await asyncio.gather(self.pipe(reader, up_writer), self.pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def established(self, writer):
        if self.kind == "http":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        elif self.kind == "socks5":
            writer.write(b"\x05\x00\x00\x01" + bytes(6))
        else:
            writer.write(b"\x00\x5a" + bytes(6))

    @staticmethod
    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def greet_socks5(self, reader, writer):
        _, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if self.credentials is not None:
            if 2 not in methods:
                writer.write(b"\x05\xff")
                return None
            writer.write(b"\x05\x02")
            await reader.readexactly(1)
            username = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            if (username, password) != self.credentials:
                writer.write(b"\x01\x01")
                return None
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        _, _, _, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif address_type == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.requests.append((host, port))
        return host, port

    async def greet_socks4(self, reader, writer):
        _, _, port, address = struct.unpack("!BBH4s", await reader.readexactly(8))
        await reader.readuntil(b"\x00")  # user id
        host = socket.inet_ntoa(address)
        if address.startswith(b"\x00\x00\x00") and address != bytes(4):  # SOCKS4a
            host = (await reader.readuntil(b"\x00"))[:-1].decode()
        self.requests.append((host, port))
        return host, port

    async def greet_http(self, reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")[:-2]
        _, target, _ = request_line.split(" ")
        headers = dict(line.split(": ", 1) for line in lines)
        self.headers.append(headers)
        host, _, port = target.rpartition(":")
        self.requests.append((host.strip("[]"), int(port)))
        if self.http_answer is not None:
            writer.write(self.http_answer)
            return None
        if self.http_status != 200:
            writer.write(f"HTTP/1.1 {self.http_status} No\r\nContent-Length: 0\r\n\r\n".encode())
            return None
        return host.strip("[]"), int(port)


@pytest.mark.parametrize("scheme, expected_host", [
    ("socks5h", "localhost"), ("socks5", "127.0.0.1"),
    ("socks4a", "localhost"), ("socks4", "127.0.0.1"),
])
def test_socks_proxy(backend, scheme, expected_host):
    credentials = ("proxyuser", "proxy pass") if scheme.startswith("socks5") else None
    kind = "socks5" if scheme.startswith("socks5") else "socks4"

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server, \
                RelayProxy(kind, credentials) as proxy:
            user = "proxyuser:proxy%20pass@" if credentials else ""
            async with connect(f"ws://localhost:{port_of(server)}/", backend=backend.name,
                               proxy=f"{scheme}://{user}127.0.0.1:{proxy.port}") as websocket:
                await websocket.send("through socks")
                assert await websocket.recv() == "through socks"
            assert proxy.requests == [(expected_host, port_of(server))]

    run(main())


def test_socks_proxy_refusing_credentials_is_a_proxy_error():
    async def main():
        async with RelayProxy("socks5", ("right", "pass")) as proxy:
            with pytest.raises(ProxyError):
                await connect("ws://localhost:1/", proxy=f"socks5h://wrong:pass@127.0.0.1:{proxy.port}")

    run(main())


def test_http_proxy(backend):
    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server, RelayProxy("http") as proxy:
            port = port_of(server)
            async with connect(f"ws://127.0.0.1:{port}/", backend=backend.name,
                               proxy=f"http://user:pa%3Ass@127.0.0.1:{proxy.port}",
                               user_agent_header="agent/2") as websocket:
                await websocket.send("through http")
                assert await websocket.recv() == "through http"
        assert proxy.requests == [("127.0.0.1", port)]
        (headers,) = proxy.headers
        assert headers["Host"] == f"127.0.0.1:{port}"
        assert headers["User-Agent"] == "agent/2"
        assert headers["Proxy-Authorization"] == "Basic dXNlcjpwYTpzcw=="  # user:pa:ss

    run(main())


def test_http_proxy_then_tls_to_the_server(backend):
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))
    client_context = ssl.create_default_context(cafile=str(DATA / "localhost.crt"))

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0, ssl=server_context) as server, \
                RelayProxy("http") as proxy:
            port = port_of(server)
            async with connect(f"wss://localhost:{port}/", ssl=client_context,
                               backend=backend.name,
                               proxy=f"http://127.0.0.1:{proxy.port}") as websocket:
                await websocket.send("tls through the tunnel")
                assert await websocket.recv() == "tls through the tunnel"
        assert proxy.requests == [("localhost", port)]

    run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TLS inside a TLS proxy tunnel needs "
                    "loop.start_tls over an SSL transport, which asyncio has from Python 3.11")
def test_https_proxy_with_proxy_ssl(backend):
    proxy_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    proxy_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))
    client_context = ssl.create_default_context(cafile=str(DATA / "localhost.crt"))

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server, \
                RelayProxy("http", ssl=proxy_context) as proxy:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", backend=backend.name,
                               proxy=f"https://localhost:{proxy.port}",
                               proxy_ssl=client_context) as websocket:
                await websocket.send("tls to the proxy")
                assert await websocket.recv() == "tls to the proxy"
            assert len(proxy.requests) == 1
            with pytest.raises(ValueError):
                await connect("ws://127.0.0.1:1/", proxy=f"http://localhost:{proxy.port}",
                              proxy_ssl=client_context)
        # wss:// through an https:// proxy: TLS to the server inside TLS to the proxy.
        async with ws_serve(echo, "127.0.0.1", 0, ssl=proxy_context) as server, \
                RelayProxy("http", ssl=proxy_context) as proxy:
            async with connect(f"wss://localhost:{port_of(server)}/", backend=backend.name,
                               ssl=client_context, proxy=f"https://localhost:{proxy.port}",
                               proxy_ssl=client_context) as websocket:
                await websocket.send("x" * 100_000)
                assert await websocket.recv() == "x" * 100_000

    run(main())


def test_http_proxy_refusal_is_invalid_proxy_status():
    async def main():
        async with RelayProxy("http", http_status=407) as proxy:
            with pytest.raises(InvalidProxyStatus) as caught:
                await connect("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}")
        assert caught.value.response.status_code == 407
        assert isinstance(caught.value, ProxyError)

    run(main())


@pytest.mark.parametrize("answer", [b"SOCKS? no\r\n\r\n", b"HTTP/1.1 200 OK\r\n"])
def test_http_proxy_malformed_answer_is_invalid_proxy_message(answer):
    async def main():
        async with RelayProxy("http", http_answer=answer) as proxy:
            with pytest.raises(InvalidProxyMessage):
                await connect("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{proxy.port}",
                              open_timeout=5)

    run(main())


def test_proxy_from_the_environment(backend, monkeypatch):
    for name in ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "socks_proxy",
                 "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)

    async def main():
        async with ws_serve(echo, "127.0.0.1", 0) as server, RelayProxy("http") as proxy:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
            async with connect(uri, backend=backend.name) as websocket:  # proxy=True
                await websocket.send("env")
                assert await websocket.recv() == "env"
            assert len(proxy.requests) == 1
            async with connect(uri, backend=backend.name, proxy=None):
                pass
            monkeypatch.setenv("no_proxy", "127.0.0.1")
            async with connect(uri, backend=backend.name):
                pass
            assert len(proxy.requests) == 1  # neither went through the proxy

    run(main())


def test_get_proxy_order(monkeypatch):
    from wsfast.proxy import get_proxy
    from wsfast.uri import parse_uri

    for name in ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "socks_proxy",
                 "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("http_proxy", "http://h:1")
    assert get_proxy(parse_uri("ws://example.com/")) == "http://h:1"
    assert get_proxy(parse_uri("wss://example.com/")) is None  # not for TLS
    monkeypatch.setenv("https_proxy", "http://s:2")
    assert get_proxy(parse_uri("wss://example.com/")) == "http://s:2"
    monkeypatch.setenv("socks_proxy", "http://k:3")
    assert get_proxy(parse_uri("ws://example.com/")) == "socks5h://k:3"
    monkeypatch.setenv("wss_proxy", "http://w:4")
    assert get_proxy(parse_uri("wss://example.com/")) == "http://w:4"


@pytest.mark.parametrize("proxy", ["ftp://host", "http://", "http://host/path",
                                   "http://host?q", "http://user@host", "http://host:99999"])
def test_invalid_proxy(proxy):
    from wsfast.proxy import parse_proxy

    with pytest.raises(InvalidProxy):
        parse_proxy(proxy)



def test_connect_request_bytes():
    from wsfast.proxy import connect_request, parse_proxy
    from wsfast.uri import parse_uri

    proxy = parse_proxy("http://u:p@proxy:3128")
    assert proxy.port == 3128 and proxy.user_info == ("u", "p")
    assert connect_request(proxy, parse_uri("wss://[::1]/chat"), "agent/3") == (
        b"CONNECT [::1]:443 HTTP/1.1\r\n"
        b"Host: [::1]\r\n"
        b"User-Agent: agent/3\r\n"
        b"Proxy-Authorization: Basic dTpw\r\n"
        b"\r\n"
    )
