"""The asyncio server and client over loopback, on both back-ends."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import mmap
import os
import pathlib
import platform
import ssl
try:
    import tracemalloc
except ImportError:  # PyPy: the tests that measure with it skip (helpers.need_tracemalloc)
    tracemalloc = None  # type: ignore[assignment]

import pytest

import wsfast
from helpers import need_tracemalloc, run
from wsfast.asyncio.connection import READ_BUFFER_SIZE, _read_buffer
from wsfast.connection import ClientConnection
from wsfast.errors import ConnectionClosedError, ConnectionClosedOK, InvalidHandshake
from wsfast.events import BinaryMessage, CloseReceived, TextMessage
from wsfast.frames import Opcode

DATA = pathlib.Path(__file__).parent / "data"


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


def port_of(server) -> int:
    return server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def client_of_a_server_that_does_not_read(options):
    """A client (64 KiB write limit) connected to a server whose handler never reads."""
    async def idle(websocket):
        await asyncio.sleep(5)

    async with wsfast.serve(idle, "127.0.0.1", 0, max_queue=1, close_timeout=0.2,
                            **options) as server:
        ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", write_limit=65536,
                                  close_timeout=0.2, **options)
        yield ws
        for websocket in server.websockets:
            websocket._handler_task.cancel()
        await ws.close()


@contextlib.asynccontextmanager
async def echo_client(options):
    """A client connected to an echo server."""
    async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
        async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
            yield ws


@contextlib.asynccontextmanager
async def silent_server(backend):
    """A server that completes the opening handshake and then only reads:
    no pong, no closing handshake. Yields (port, future of the close code
    and reason it received)."""
    from wsfast.connection import ServerConnection

    received = asyncio.get_running_loop().create_future()

    async def handle(reader, writer):
        server = ServerConnection(auto_pong=False, backend=backend)
        while server.request is None:
            server.receive_data(await reader.read(65536))
        server.send_response(server.accept(server.events_received()[0]))
        writer.writelines(server.data_to_send())
        while True:
            data = await reader.read(65536)
            if not data:
                break
            server.receive_data(data)
            server.events_received()
        if not received.done():
            received.set_result(server.close_rcvd)
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        yield listener.sockets[0].getsockname()[1], received


@pytest.fixture
def options(backend):
    """serve/connect options selecting the back-end under test."""
    return {"backend": backend.name, "compression": None}


class TestEcho:
    @pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 2**20 + 1])
    def test_text_and_binary_on_length_boundaries(self, options, size):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, max_size=None, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=None,
                                          **options) as ws:
                    text = "é" * (size // 2) + "a" * (size % 2)
                    await ws.send(text)
                    assert await ws.recv() == text
                    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
                    await ws.send(data)
                    assert await ws.recv() == data
        run(main())

    def test_fragmented_messages_from_iterables(self, options):
        async def pieces():
            for piece in (b"ab", b"cd", b""):
                yield piece

        async def main():
            async with echo_client(options) as ws:
                await ws.send(["Hel", "lo"])
                assert await ws.recv() == "Hello"
                await ws.send(pieces())
                assert await ws.recv() == b"abcd"
        run(main())

    @pytest.mark.parametrize("producer", ["raises", "async raises", "mixed types",
                                          "cancelled"])
    def test_a_fragmented_message_that_cannot_be_finished_fails_the_connection(
            self, options, producer):
        stalled = asyncio.Event

        def raises():
            yield "half"
            raise ValueError("producer failed")

        async def async_raises():
            yield b"half"
            raise ValueError("producer failed")

        def mixed():
            yield "half"
            yield b"bytes"

        async def main():
            seen = []
            stall = stalled()

            async def cancelled():
                yield "half"
                stall.set()
                await asyncio.sleep(30)
                yield "never"

            async def handler(websocket):
                try:
                    async for message in websocket:
                        seen.append(message)
                except ConnectionClosedError as exc:
                    seen.append((exc.rcvd.code, exc.rcvd.reason))

            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                await ws.send("whole")
                if producer == "cancelled":
                    sending = asyncio.ensure_future(ws.send(cancelled()))
                    await stall.wait()
                    sending.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await sending
                else:
                    source = {"raises": raises, "async raises": async_raises, "mixed types": mixed}
                    cause = TypeError if producer == "mixed types" else ValueError
                    with pytest.raises(cause):
                        await ws.send(source[producer]())
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.send("after")  # the connection cannot be used any more
                assert info.value.sent_code == 1011
                await ws.wait_closed()
            assert seen == ["whole", (1011, "error in fragmented message")]
        run(main())

    @pytest.mark.parametrize("size", [125, 126, 65535, 65536])
    def test_fragments_on_length_boundaries(self, options, size):
        async def pieces(chunks):
            for chunk in chunks:
                yield chunk

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, max_size=None, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", max_size=None,
                                          **options) as ws:
                    # fragments of `size` UTF-8 bytes, the first ending on a 2-byte character
                    text = ["a" * (size - 2) + "é", "é" * (size // 2), "z"]
                    await ws.send(text)
                    assert await ws.recv() == "".join(text)
                    chunks = [bytes([i]) * size for i in range(3)]
                    await ws.send(pieces(chunks))
                    assert await ws.recv() == b"".join(chunks)
        run(main())

    def test_many_pipelined_messages_arrive_in_order(self, options):
        async def main():
            async with echo_client(options) as ws:
                for i in range(5000):
                    await ws.send(str(i))
                for i in range(5000):
                    assert await ws.recv() == str(i)
        run(main())

    def test_compression_round_trip(self, backend):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, backend=backend.name) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/",
                                          backend=backend.name) as ws:
                    assert ws.connection.compression is not None
                    for message in ["x" * 1000, b"\x00" * 70000, "κόσμε" * 50]:
                        await ws.send(message)
                        assert await ws.recv() == message
        run(main())

    def test_legacy_handler_gets_the_path(self, options):
        async def handler(websocket, path):
            await websocket.send(path)

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/room?x=1",
                                          **options) as ws:
                    assert await ws.recv() == "/room?x=1"
                    assert ws.path == "/room?x=1"
        run(main())


class TestReceiveWaiting:
    """recv() waits on a waiter that resumes the task from the read callback."""

    def test_cancelled_recv_leaves_the_connection_usable(self, options):
        async def handler(websocket):
            await asyncio.sleep(0.2)
            await websocket.send("late")
            await websocket.wait_closed()

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    with pytest.raises(asyncio.TimeoutError):
                        await asyncio.wait_for(ws.recv(), 0.05)
                    assert await ws.recv() == "late"
        run(main())

    def test_concurrent_recv_is_refused(self, options):
        async def handler(websocket):
            await asyncio.sleep(0.2)
            await websocket.send("one")
            await websocket.wait_closed()

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    first = asyncio.ensure_future(ws.recv())
                    await asyncio.sleep(0.01)
                    with pytest.raises(wsfast.exceptions.ConcurrencyError):
                        await ws.recv()
                    assert await first == "one"
        run(main())

    def test_context_variables_survive_the_wake_up(self, options):
        import contextvars

        var = contextvars.ContextVar("var", default="unset")

        async def main():
            async with echo_client(options) as ws:
                async def worker():
                    var.set("mine")
                    await ws.send("x")
                    await ws.recv()
                    return var.get()

                assert await asyncio.ensure_future(worker()) == "mine"
        run(main())

    def test_recv_and_other_awaits_interleave(self, options):
        async def main():
            async with echo_client(options) as ws:
                async def ticker(log):
                    for i in range(20):
                        log.append(i)
                        await asyncio.sleep(0)

                log: list = []
                tick = asyncio.ensure_future(ticker(log))
                for i in range(50):
                    await ws.send(str(i))
                    assert await ws.recv() == str(i)
                await tick
                assert log == list(range(20))
        run(main())


class TestOperations:
    """recv(), send() and __anext__() return coroutine-like operations (not
    async def coroutines, see StreamCore's Operation): they must behave as
    coroutines would, on both back-ends."""

    def test_nothing_is_sent_before_the_send_is_awaited(self, options):
        async def main():
            async with echo_client(options) as ws:
                first = ws.send("first")
                await ws.send("second")
                assert await ws.recv() == "second"
                await first
                assert await ws.recv() == "first"
        run(main())

    def test_an_operation_cannot_be_awaited_twice(self, options):
        async def main():
            async with echo_client(options) as ws:
                sending = ws.send("once")
                await sending
                with pytest.raises(RuntimeError):
                    await sending
                receiving = ws.recv()
                assert await receiving == "once"
                await ws.send("twice")
                with pytest.raises(RuntimeError):
                    await receiving  # must not take the next message
                assert await ws.recv() == "twice"
                closed = ws.recv()
                closed.close()
                with pytest.raises(RuntimeError):
                    await closed
        run(main())

    def test_a_refused_operation_raises_where_it_is_awaited_and_is_finished(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                await ws.close()
                sends = [ws.send("late"), ws.send(b"late")]  # no exception yet
                results = await asyncio.gather(*sends, return_exceptions=True)
                assert [type(r) for r in results] == [ConnectionClosedOK] * 2
                refused = ws.send("late")
                with pytest.raises(ConnectionClosedOK):
                    await refused
                with pytest.raises(RuntimeError):
                    await refused
                ended = ws.recv()
                with pytest.raises(ConnectionClosedOK):
                    await ended
                with pytest.raises(RuntimeError):
                    await ended
        run(main())

    def test_operations_are_coroutines_for_asyncio(self, options):
        async def main():
            async with echo_client(options) as ws:
                sending = ws.send("x")
                receiving = ws.recv()
                assert asyncio.iscoroutine(sending) and asyncio.iscoroutine(receiving)
                assert await asyncio.create_task(sending) is None
                assert await asyncio.create_task(receiving) == "x"
                await asyncio.wait_for(ws.send(b"y"), 5)
                assert await asyncio.wait_for(ws.recv(), 5) == b"y"
        run(main())

    def test_stepping_by_hand_returns_the_message_in_stop_iteration(self, options):
        """The iterator protocol (a 3.9 Task, send(), next()), not only await."""
        async def main():
            async with echo_client(options) as ws:
                await ws.send("one")
                await ws.send(b"two")
                while len(ws._stream.messages) < 2:
                    await asyncio.sleep(0.01)
                with pytest.raises(StopIteration) as stop:
                    ws.recv().send(None)
                assert stop.value.value == "one"
                with pytest.raises(StopIteration) as stop:
                    next(ws.recv().__await__())
                assert stop.value.value == b"two"
                waiting = ws.recv()
                future = waiting.send(None)  # nothing queued: yields its waiter
                assert future._asyncio_future_blocking and not future.done()
                waiting.close()
        run(main())

    def test_a_send_waits_for_a_fragmented_message_in_progress(self, options):
        async def slow_pieces():
            yield "frag"
            await asyncio.sleep(0.05)
            yield "mented"

        async def main():
            async with echo_client(options) as ws:
                fragmented = asyncio.ensure_future(ws.send(slow_pieces()))
                await asyncio.sleep(0.01)
                assert ws._stream.send_lock is not None
                await ws.send("after")
                assert fragmented.done()
                assert await ws.recv() == "fragmented"
                assert await ws.recv() == "after"
        run(main())

    def test_cancelling_a_send_waiting_for_the_lock_spares_the_lock(self, options):
        # Events, not sleeps: the fragmented send holds the lock until the
        # cancellation is done, however slowly the machine runs.
        first_sent = released = None

        async def slow_pieces():
            yield b"a"
            first_sent.set()
            await released.wait()
            yield b"b"

        async def main():
            nonlocal first_sent, released
            first_sent, released = asyncio.Event(), asyncio.Event()
            async with echo_client(options) as ws:
                fragmented = asyncio.ensure_future(ws.send(slow_pieces()))
                await first_sent.wait()
                waiting = asyncio.ensure_future(ws.send("never"))
                for _ in range(3):
                    await asyncio.sleep(0)
                assert not waiting.done()  # it waits for the lock
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
                released.set()
                await fragmented  # the lock was shielded from the cancellation
                assert await ws.recv() == b"ab"
                await ws.send("next")
                assert await ws.recv() == "next"
        run(main())

    def test_a_send_that_fills_the_buffer_waits_for_the_drain(self, options):
        async def main():
            async with client_of_a_server_that_does_not_read(options) as ws:
                sending = None
                for _ in range(10000):
                    sending = asyncio.ensure_future(ws.send(b"z" * 10000))
                    await asyncio.sleep(0)
                    if not sending.done():
                        break
                assert ws.writing_paused and not sending.done()
                await asyncio.sleep(0.1)
                assert not sending.done()  # nobody reads on the other side
                sending.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await sending
                assert ws._stream.drain_waiters and ws._stream.drain_waiters[-1].cancelled()
        run(main())


class TestReadPath:
    def test_buffer_updated_beyond_the_buffer_is_refused(self, options):
        """The compiled core reads the read buffer in place, so a byte count
        outside it must be refused before anything is read (both twins): the
        connection then goes on as if nothing had happened."""
        async def main():
            async with echo_client(options) as ws:
                size = len(ws.protocol.get_buffer(-1))
                for nbytes in (size + 1, -1):
                    with pytest.raises(ValueError, match="beyond a .*-byte buffer"):
                        ws.protocol.buffer_updated(nbytes)
                await ws.send("still open")
                assert await ws.recv() == "still open"
        run(main())

    def test_read_buffer_is_page_aligned(self, options):
        """Every connection of a thread reads into one writable buffer that
        starts on a page boundary (the kernel's copy into it is much slower
        from an unaligned start; see wsfast.asyncio.connection)."""
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
                url = f"ws://127.0.0.1:{port_of(server)}/"
                async with wsfast.connect(url, **options) as a, wsfast.connect(url, **options) as b:
                    view = a.protocol.get_buffer(-1)
                    assert b.protocol.get_buffer(-1) is view
                    assert not view.readonly and len(view) == READ_BUFFER_SIZE
                    address = ctypes.addressof((ctypes.c_char * len(view)).from_buffer(view))
                    assert address % mmap.PAGESIZE == 0
        run(main())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_read_buffer_is_not_shared_with_a_forked_child():
    """A pre-fork server's workers must not read into their parent's memory."""
    view = _read_buffer()
    view[:4] = b"mine"
    pid = os.fork()
    if pid == 0:  # the child: write, and leave without running anything else
        view[:4] = b"kid!"
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert bytes(view[:4]) == b"mine"


class TestCallbacks:
    def test_on_message_echo(self, options):
        async def handler(websocket):
            websocket.on_message = websocket.send_nowait
            await websocket.wait_closed()

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    for message in ["a", b"b" * 70000, "κόσμε"]:
                        await ws.send(message)
                        assert await ws.recv() == message
        run(main())

    def test_queued_messages_are_delivered_before_callbacks(self, options):
        async def handler(websocket):
            for i in range(5):
                await websocket.send(str(i))
            await websocket.wait_closed()

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                assert await ws.recv() == "0"
                await asyncio.sleep(0.1)  # 1-4 are queued by now
                seen = []
                ws.on_message = seen.append
                assert [await ws.recv() for _ in range(4)] == ["1", "2", "3", "4"]
                ws.send_nowait("more")
                await ws.close()
                assert seen == []
        run(main())

    def test_failing_callback_closes_with_1011(self, options):
        async def handler(websocket):
            def boom(message):
                raise ValueError(message)
            websocket.on_message = boom
            await websocket.wait_closed()

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    await ws.send("x")
                    with pytest.raises(ConnectionClosedError):
                        await ws.recv()
                    assert ws.close_code == 1011
        run(main())

    def test_send_nowait_after_close_raises(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                await ws.close()
                with pytest.raises(ConnectionClosedOK):
                    ws.send_nowait("late")
                with pytest.raises(TypeError):
                    ws.send_nowait(42)
        run(main())

    @pytest.mark.parametrize("write_limit,expected", [(200000, (50000, 200000)),
                                                      ((100000, 30000), (30000, 100000))])
    def test_write_limit_sets_the_transport_water_marks(self, options, write_limit,
                                                        expected):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, write_limit=write_limit,
                                    **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/",
                                          write_limit=write_limit, **options) as ws:
                    assert ws._stream.transport.get_write_buffer_limits() == expected
                    (websocket,) = server.websockets
                    assert websocket._stream.transport.get_write_buffer_limits() == expected
        run(main())

    def test_writing_paused_and_drain(self, options):
        async def main():
            async with client_of_a_server_that_does_not_read(options) as ws:
                sent = 0
                while not ws.writing_paused and sent < 10000:
                    ws.send_nowait(b"z" * 10000)
                    sent += 1
                    await asyncio.sleep(0)
                assert ws.writing_paused and sent < 10000
                drained = asyncio.ensure_future(ws.drain())
                await asyncio.sleep(0.2)
                assert not drained.done()  # nobody reads on the other side
                drained.cancel()
        run(main())


class TestPing:
    def test_ping_resolves_with_the_round_trip_time(self, options):
        async def main():
            async with echo_client(options) as ws:
                waiter = await ws.ping(b"abc")
                latency = await waiter
                assert 0 <= latency < 5
        run(main())

    def test_keepalive_fails_a_peer_that_does_not_answer(self, options, caplog):
        caplog.set_level(logging.INFO, logger="wsfast")

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, ping_interval=0.05, ping_timeout=0.1,
                                    **options) as server:
                # A client that never answers pings.
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                client = ClientConnection("ws://x/", auto_pong=False, backend=options["backend"])
                client.send_request(client.connect())
                writer.writelines(client.data_to_send())
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    client.receive_data(data)
                    client.events_received()
                assert client.close_rcvd == (1011, "keepalive ping timeout")
        run(main())
        # logged by the connection's logger, which is its server's (as in websockets)
        assert [r.name for r in caplog.records if "timeout; failing" in r.getMessage()] == \
            ["wsfast.asyncio.server"]

    def test_client_keepalive_fails_a_server_that_does_not_answer(self, options):
        async def main():
            async with silent_server(options["backend"]) as (port, received):
                ws = await wsfast.connect(f"ws://127.0.0.1:{port}/", ping_interval=0.05,
                                          ping_timeout=0.1, close_timeout=0.1, **options)
                await ws.wait_closed()
                assert await received == (1011, "keepalive ping timeout")
                assert ws.close_code == 1006  # the server never sent a close frame
                with pytest.raises(ConnectionClosedError):
                    await ws.recv()
        run(main())


class TestClosing:
    def test_client_close_code_reaches_the_handler(self, options):
        seen = asyncio.Queue

        async def main():
            results = seen()

            async def handler(websocket):
                try:
                    await websocket.recv()
                except ConnectionClosedOK as exc:
                    await results.put((exc.rcvd.code, exc.rcvd.reason))

            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                await ws.close(1001, "bye")
                assert ws.close_code == 1001  # the server echoed it
                assert await results.get() == (1001, "bye")
        run(main())

    def test_server_close_code_reaches_the_client(self, options):
        async def handler(websocket):
            await websocket.close(4000, "custom")

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    with pytest.raises(ConnectionClosedError) as info:
                        await ws.recv()
                    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "custom")
                    assert (ws.close_code, ws.close_reason) == (4000, "custom")
        run(main())

    def test_async_for_ends_on_normal_close(self, options):
        async def handler(websocket):
            await websocket.send("one")
            await websocket.send("two")

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    assert [m async for m in ws] == ["one", "two"]
                    assert ws.close_code == 1000
        run(main())

    def test_handler_exception_closes_with_1011_and_is_logged(self, options, caplog):
        async def handler(websocket):
            raise RuntimeError("boom")

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    with pytest.raises(ConnectionClosedError):
                        await ws.recv()
                    assert ws.close_code == 1011
        run(main())
        (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert record.name == "wsfast.asyncio.server"  # a logger per module
        assert record.getMessage() == "connection handler failed"
        assert str(record.exc_info[1]) == "boom"

    def test_server_shutdown_closes_connections_with_1001(self, options):
        async def main():
            server = await wsfast.serve(echo, "127.0.0.1", 0, **options)
            clients = [await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                       for _ in range(3)]
            server.close()
            await server.wait_closed()
            for ws in clients:
                await ws.wait_closed()
                assert ws.close_code == 1001
        run(main())

    def test_wait_closed_on_a_serving_server_waits_for_close(self, options):
        async def main():
            server = await wsfast.serve(echo, "127.0.0.1", 0, close_timeout=0.1, **options)
            ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
            waiting = asyncio.ensure_future(server.wait_closed())
            await asyncio.sleep(0.5)  # five close timeouts: no handler may be cancelled
            assert not waiting.done()
            await ws.send("still here")
            assert await ws.recv() == "still here"
            assert server.is_serving()
            impatient = asyncio.ensure_future(server.wait_closed())
            await asyncio.sleep(0)
            impatient.cancel()  # must not cancel what the other waiter waits for
            server.close()
            await waiting
            await ws.wait_closed()
            assert ws.close_code == 1001
        run(main())

    def test_shutdown_cancels_a_handler_that_ignores_the_closure(self, options):
        cancelled = []

        async def sleeper(websocket):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(websocket.close_code)
                raise

        async def main():
            server = await wsfast.serve(sleeper, "127.0.0.1", 0, close_timeout=0.2, **options)
            ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
            loop = asyncio.get_running_loop()
            started = loop.time()
            server.close()
            await server.wait_closed()
            assert loop.time() - started < 5
            assert cancelled == [1001]  # after the closing handshake, not before
            await ws.wait_closed()
            assert ws.close_code == 1001
        run(main())

    def test_cancelling_serve_forever_shuts_down(self, options):
        async def main():
            server = await wsfast.serve(echo, "127.0.0.1", 0, **options)
            serving = asyncio.ensure_future(server.serve_forever())
            ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
            serving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(serving, 5)  # the shutdown, not a client, ends it
            assert not server.is_serving()
            assert not server.websockets
            await ws.wait_closed()
            assert ws.close_code == 1001
        run(main())

    def test_serve_forever_returns_once_the_server_is_closed(self, options):
        async def main():
            server = await wsfast.serve(echo, "127.0.0.1", 0, **options)
            serving = asyncio.ensure_future(server.serve_forever())
            ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
            server.close()
            assert await asyncio.wait_for(serving, 5) is None
            assert ws.close_code == 1001 and not server.websockets
        run(main())

    def test_send_after_close_raises(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                await ws.close()
                with pytest.raises(ConnectionClosedOK):
                    await ws.send("late")
        run(main())

    def test_message_too_big_closes_with_1009(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, max_size=1000, **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options) as ws:
                    await ws.send(b"x" * 1001)
                    with pytest.raises(ConnectionClosedError):
                        await ws.recv()
                    assert ws.close_code == 1009
        run(main())

    def test_close_timeout_aborts_a_silent_peer(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, close_timeout=0.1, **options) as server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                client = ClientConnection("ws://x/", backend=options["backend"])
                client.send_request(client.connect())
                writer.writelines(client.data_to_send())
                await reader.readuntil(b"\r\n\r\n")
                (websocket,) = server.websockets
                loop = asyncio.get_running_loop()
                start = loop.time()
                await websocket.close()  # the client never answers the close frame
                assert loop.time() - start < 2
                writer.close()
        run(main())

    def test_client_close_timeout_aborts_a_silent_server(self, options):
        async def main():
            async with silent_server(options["backend"]) as (port, received):
                ws = await wsfast.connect(f"ws://127.0.0.1:{port}/", close_timeout=0.1,
                                          **options)
                loop = asyncio.get_running_loop()
                start = loop.time()
                await ws.close(4001, "leaving")  # the server never answers
                assert loop.time() - start < 2
                assert ws.closed and ws.close_code == 1006
                assert await received == (4001, "leaving")
        run(main())


class TestHandshake:
    def test_open_timeout_on_the_client(self, options):
        async def silent(reader, writer):
            await asyncio.sleep(5)

        async def main():
            server = await asyncio.start_server(silent, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            # The built-in TimeoutError, as websockets raises; asyncio's is
            # another class before Python 3.11.
            with pytest.raises(TimeoutError):
                await wsfast.connect(f"ws://127.0.0.1:{port}/", open_timeout=0.1, **options)
            server.close()
        run(main())

    def test_open_timeout_on_the_server(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, open_timeout=0.1, **options) as server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
                writer.close()
        run(main())

    def test_process_request_can_refuse(self, options):
        def process_request(websocket, request):
            if request.path != "/ok":
                return websocket.connection.reject(403, "go away\n")
            return None

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, process_request=process_request,
                                    **options) as server:
                with pytest.raises(InvalidHandshake) as info:
                    await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/no", **options)
                assert info.value.status == 403
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/ok", **options) as ws:
                    await ws.send("fine")
                    assert await ws.recv() == "fine"
        run(main())

    def test_max_connections_answers_503(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, max_connections=1, **options) as server:
                first = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                with pytest.raises(InvalidHandshake) as info:
                    await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", **options)
                assert info.value.status == 503
                await first.close()
        run(main())

    def test_max_connections_frees_the_slot_of_a_closed_connection(self, options):
        # A refused upgrade (503) takes no slot; a closed connection gives its slot back.
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, max_connections=1, **options) as server:
                uri = f"ws://127.0.0.1:{port_of(server)}/"
                first = await wsfast.connect(uri, **options)
                with pytest.raises(InvalidHandshake):
                    await wsfast.connect(uri, **options)
                assert server.open_count == 1
                await first.close()
                for _ in range(100):  # the server sees the TCP end just after the client
                    if server.open_count == 0:
                        break
                    await asyncio.sleep(0.01)
                assert server.open_count == 0
                async with wsfast.connect(uri, **options) as second:
                    await second.send("again")
                    assert await second.recv() == "again"
        run(main())

    def test_subprotocol_is_agreed(self, options):
        async def handler(websocket):
            await websocket.send(websocket.subprotocol)

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, subprotocols=["v2", "v1"],
                                    **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/",
                                          subprotocols=["v1", "v2"], **options) as ws:
                    assert ws.subprotocol == "v2" and await ws.recv() == "v2"
        run(main())

    def test_tls(self, options):
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))
        client_context = ssl.create_default_context(cafile=str(DATA / "localhost.crt"))

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context, **options) as server:
                async with wsfast.connect(f"wss://localhost:{port_of(server)}/",
                                          ssl=client_context, **options) as ws:
                    for message in ["secure", b"x" * 100000]:
                        await ws.send(message)
                        assert await ws.recv() == message
        run(main())

    def test_connection_attributes_and_headers_on_both_sides(self, options):
        seen = {}

        async def handler(websocket):
            seen.update(path=websocket.request.path, state=websocket.state,
                        remote=websocket.remote_address, local=websocket.local_address,
                        token=websocket.request.headers.get("x-token"),
                        legacy=websocket.request_headers["X-Legacy"])
            await websocket.send("ready")
            await websocket.wait_closed()
            seen["end_state"] = websocket.state

        async def main():
            async with wsfast.serve(handler, "127.0.0.1", 0, extra_headers=[("X-Server", "s1")],
                                    **options) as server:
                ws = await wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/room/7?x=1",
                                          additional_headers={"X-Token": "abc"},
                                          extra_headers=[("X-Legacy", "old")], **options)
                assert ws.state is wsfast.State.OPEN
                assert await ws.recv() == "ready"
                assert ws.response_headers["x-server"] == "s1"
                assert ws.remote_address == ("127.0.0.1", port_of(server))
                assert seen["path"] == "/room/7?x=1"
                assert seen["state"] is wsfast.State.OPEN
                assert (seen["token"], seen["legacy"]) == ("abc", "old")
                assert seen["remote"] == ws.local_address
                assert seen["local"] == ws.remote_address
                await ws.close()
                assert ws.state is wsfast.State.CLOSED
            assert seen["end_state"] is wsfast.State.CLOSED
        run(main())

    def test_wss_without_a_context_verifies_with_the_default_one(self, options):
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(str(DATA / "localhost.crt"), str(DATA / "localhost.key"))

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, ssl=server_context, **options) as server:
                # a self-signed certificate: the system's CAs must refuse it
                with pytest.raises(ssl.SSLCertVerificationError):
                    await wsfast.connect(f"wss://localhost:{port_of(server)}/", **options)
        run(main())

    def test_plain_http_request_gets_an_error_response(self, options):
        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                response = await asyncio.wait_for(reader.read(), 5)
                assert response.startswith(b"HTTP/1.1 426 ")
                writer.close()
        run(main())


async def raw_client(port, backend, first_frames=b""):
    """A sans-I/O client over plain asyncio streams: the request and
    first_frames go out in one write."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = ClientConnection("ws://x/", backend=backend)
    client.send_request(client.connect())
    writer.write(b"".join(client.data_to_send()) + first_frames)
    return client, reader, writer


async def read_events(client, reader, until):
    """Events until until(events) is true or the server closes TCP."""
    events = []
    while not until(events):
        data = await asyncio.wait_for(reader.read(65536), 5)
        if not data:
            break
        client.receive_data(data)
        events += client.events_received()
    return events


class TestStrictOrder:
    """What Autobahn's strict verdicts check, end to end."""

    def test_frames_sent_with_the_request_are_answered(self, backend):
        frame = backend.build_frame(Opcode.TEXT, b"early", mask=b"abcd")

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, backend=backend.name,
                                    compression=None) as server:
                client, reader, writer = await raw_client(port_of(server), backend.name, frame)
                events = await read_events(client, reader, lambda e: len(e) >= 2)
                assert [type(e).__name__ for e in events] == ["Response", "TextMessage"]
                assert events[1].data == "early"
                writer.close()
        run(main())

    def test_messages_before_a_violation_are_answered_before_the_close(self, backend):
        data = (backend.build_frame(Opcode.TEXT, b"first", mask=b"abcd")
                + backend.build_frame(Opcode.BINARY, b"second", mask=b"abcd")
                + bytes((0x83, 0x80)) + b"abcd")  # reserved opcode

        async def main():
            async with wsfast.serve(echo, "127.0.0.1", 0, backend=backend.name,
                                    compression=None) as server:
                client, reader, writer = await raw_client(port_of(server), backend.name)
                await read_events(client, reader, lambda e: len(e) >= 1)  # the 101
                writer.write(data)
                events = await read_events(client, reader, lambda e: False)
                assert events == [TextMessage("first"), BinaryMessage(b"second"),
                                  CloseReceived(1002, "reserved opcode 3")]
                writer.close()
        run(main())

    def test_a_handler_that_does_not_read_still_gets_the_connection_failed(self, backend):
        data = (backend.build_frame(Opcode.TEXT, b"unread", mask=b"abcd")
                + bytes((0x83, 0x80)) + b"abcd")

        async def idle(websocket):
            await asyncio.sleep(10)

        async def main():
            async with wsfast.serve(idle, "127.0.0.1", 0, backend=backend.name,
                                    compression=None, close_timeout=0.5) as server:
                client, reader, writer = await raw_client(port_of(server), backend.name)
                await read_events(client, reader, lambda e: len(e) >= 1)
                writer.write(data)
                start = asyncio.get_running_loop().time()
                events = await read_events(client, reader, lambda e: False)
                assert events == [CloseReceived(1002, "reserved opcode 3")]
                assert asyncio.get_running_loop().time() - start < 3
                writer.close()
                for websocket in server.websockets:
                    websocket._handler_task.cancel()
        run(main())


class TestBackpressure:
    def test_slow_reader_pauses_the_sender(self, options):
        """A client that does not read: its queue stops at max_queue (plus
        one read), the server's send() blocks, memory stays bounded."""
        sent = []

        async def flood(websocket):
            payload = b"x" * 10000
            for i in range(100000):
                await websocket.send(payload)
                sent.append(i)

        async def main():
            async with wsfast.serve(flood, "127.0.0.1", 0, write_limit=65536, close_timeout=1,
                                    **options) as server:
                async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/", max_queue=8,
                                          **options) as ws:
                    await asyncio.sleep(0.5)
                    queued = len(ws._stream.messages)
                    stalled_at = len(sent)
                    await asyncio.sleep(0.3)
                    assert len(sent) == stalled_at, "the sender did not stop"
                    # Queue: max_queue plus what one read of the buffer holds.
                    assert queued <= 8 + 256 * 1024 // 10000 + 1
                    # The kernel buffers some MB on loopback; far from 1 GB.
                    assert stalled_at * 10000 < 64 * 2**20
                    for _ in range(200):
                        await ws.recv()
                    await asyncio.sleep(0.1)
                    assert len(sent) > stalled_at  # reading again resumed the sender
        run(main())

    def test_memory_stays_bounded_while_a_client_floods(self, options):
        # The handler never reads and returns only once the measurement is
        # done: a handler that returned after a fixed time closed the
        # connection under a slow flood, and the flood's next writelines hit
        # the closed transport (AttributeError '_add_writer' in CPython 3.12+'s
        # writelines, which does not check for a lost connection as write does).
        measured = None

        async def idle(websocket):
            await measured.wait()

        async def main():
            nonlocal measured
            measured = asyncio.Event()
            async with wsfast.serve(idle, "127.0.0.1", 0, max_queue=4, close_timeout=0.2,
                                    **options) as server:
                reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
                client = ClientConnection("ws://x/", backend=options["backend"])
                client.send_request(client.connect())
                writer.writelines(client.data_to_send())
                client.receive_data(await reader.readuntil(b"\r\n\r\n"))
                gc.collect()
                need_tracemalloc()
                tracemalloc.start()
                for _ in range(2000):
                    client.send_binary(b"y" * 10000)
                    writer.writelines(client.data_to_send())
                    if writer.transport.get_write_buffer_size() > 2**20:
                        break  # the server stopped reading: so must we
                    await asyncio.sleep(0)
                await asyncio.sleep(0.2)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                # Our own write buffer is up to 1 MiB; the server holds 4
                # messages plus one read: far below the 20 MB sent at it.
                assert peak < 8 * 2**20
                measured.set()
                writer.close()
        run(main())


def test_classic_run_until_complete_style(backend):
    """The websockets tutorial's server and client, old style, unchanged."""
    loop = asyncio.new_event_loop()
    try:
        async def hello(websocket, path):
            name = await websocket.recv()
            await websocket.send(f"Hello {name}!")

        start_server = wsfast.serve(hello, "127.0.0.1", 0, backend=backend.name)
        server = loop.run_until_complete(start_server)

        async def client():
            async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}",
                                      backend=backend.name) as websocket:
                await websocket.send("Ada")
                return await websocket.recv()

        assert loop.run_until_complete(client()) == "Hello Ada!"
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()


def test_uvloop_when_installed(backend):
    if platform.python_implementation() != "CPython":
        pytest.skip("uvloop is a test extra on CPython only")
    import uvloop  # on CPython a missing test extra fails here rather than skipping

    async def main():
        async with wsfast.serve(echo, "127.0.0.1", 0, backend=backend.name) as server:
            async with wsfast.connect(f"ws://127.0.0.1:{port_of(server)}/",
                                      backend=backend.name) as ws:
                for message in ["over uvloop", b"z" * 300000]:
                    await ws.send(message)
                    assert await ws.recv() == message

    uvloop.run(main()) if hasattr(uvloop, "run") else asyncio.run(main())
