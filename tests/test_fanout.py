"""wsfast.prepare, and broadcast's slow-consumer policy (wsfast/fanout.py)
on real loopback connections, on both back-ends."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

import wsfast
from helpers import run
from wsfast.fanout import PreparedMessage, SlowConsumerPolicy, prepare


@contextlib.asynccontextmanager
async def server_of(backend_name: str, **options):
    """A server whose handlers only wait; yields (server, queue of the
    server-side connections)."""
    accepted = asyncio.Queue()

    async def handler(websocket):
        accepted.put_nowait(websocket)
        await websocket.wait_closed()

    options.setdefault("compression", None)
    async with wsfast.serve(handler, "127.0.0.1", 0, backend=backend_name, **options) as server:
        yield server, accepted


def url_of(server) -> str:
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def clients_of(server, accepted, count: int, **options):
    pairs = []
    for _ in range(count):
        client = await wsfast.connect(url_of(server), **options)
        pairs.append((client, await asyncio.wait_for(accepted.get(), 5)))
    return pairs


def make_slow(client, server_side) -> None:
    """The client stops reading; a small kernel send buffer on the server's
    end, so that what it does not read piles up in the server's transport
    quickly. (Not a small receive buffer: once the client reads again, the
    server would send into a tiny window, probing it with growing delays.)"""
    client._stream.transport.pause_reading()
    server_side._stream.transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


def read_again(client) -> None:
    client._stream.transport.resume_reading()


def unsent(server_side) -> int:
    return server_side._stream.transport.get_write_buffer_size()


class TestPrepare:
    def test_frame_is_built_once_as_build_frame_does(self):
        text = prepare("héllo")
        assert isinstance(text, PreparedMessage) and text.text
        assert text.frame == wsfast.build_frame(wsfast.Opcode.TEXT, "héllo".encode())
        binary = prepare(b"\x00\x01")
        assert not binary.text
        assert binary.frame == wsfast.build_frame(wsfast.Opcode.BINARY, b"\x00\x01")
        assert prepare(b"abc", text=True).text and not prepare("abc", text=False).text

    def test_prepare_refuses_other_types(self):
        with pytest.raises(TypeError):
            prepare(42)

    @pytest.mark.parametrize("compression", [None, "deflate"])
    def test_send_accepts_a_prepared_message_both_ways(self, backend, compression):
        async def main():
            async with server_of(backend.name, compression=compression) as (server, accepted):
                [(client, server_side)] = await clients_of(server, accepted, 1,
                                                           compression=compression)
                message = prepare("once " * 100)
                for _ in range(2):  # reusable
                    await server_side.send(message)
                    assert await asyncio.wait_for(client.recv(), 5) == "once " * 100
                await client.send(prepare(b"from the client"))  # masked: framed by the client
                assert await asyncio.wait_for(server_side.recv(), 5) == b"from the client"
                await client.close()

        run(main())

    def test_broadcast_takes_a_prepared_message(self, backend):
        async def main():
            async with server_of(backend.name, compression="deflate") as (server, accepted):
                plain = await clients_of(server, accepted, 2, compression=None)
                compressed = await clients_of(server, accepted, 1)
                message = prepare(b"\xff" * 300)
                wsfast.broadcast([side for _, side in plain + compressed], message)
                for client, _ in plain + compressed:
                    assert await asyncio.wait_for(client.recv(), 5) == b"\xff" * 300
                    await client.close()

        run(main())


class TestSlowConsumerPolicy:
    MESSAGE = b"x" * 16384
    LIMIT = 65536

    async def flood(self, sides, count, policy=None):
        """Broadcast *count* messages, letting the loop write between them;
        return the largest write buffer seen on the slow one (sides[0])."""
        largest = 0
        for _ in range(count):
            wsfast.broadcast(sides, self.MESSAGE, policy=policy)
            await asyncio.sleep(0)
            largest = max(largest, unsent(sides[0]))
        return largest

    async def fill(self, side):
        """Queue messages for a client that does not read until its kernel
        buffers are full and the server's transport holds well over the
        limit, even after a pause (the kernel takes more for a while)."""
        for _ in range(100):
            for _ in range(8):
                wsfast.broadcast([side], self.MESSAGE)
            await asyncio.sleep(0.05)
            if unsent(side) > 4 * self.LIMIT:
                return
        raise AssertionError(f"the slow client's buffer did not fill: {unsent(side)}")

    def test_skip_bounds_the_slow_one_and_spares_the_others(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                (slow, slow_side), (fast, fast_side) = await clients_of(server, accepted, 2)
                make_slow(slow, slow_side)
                policy = SlowConsumerPolicy("skip", limit=self.LIMIT)
                largest = await self.flood([slow_side, fast_side], 200, policy)
                for _ in range(200):
                    assert await asyncio.wait_for(fast.recv(), 5) == self.MESSAGE
                assert policy.skipped > 0 and policy.closed == 0
                # Bounded: the limit plus the one message that crossed it.
                assert largest <= self.LIMIT + len(self.MESSAGE) + 14
                read_again(slow)
                received = 0
                while received + policy.skipped < 200:
                    await asyncio.wait_for(slow.recv(), 5)
                    received += 1
                assert received + policy.skipped == 200
                for client in (slow, fast):
                    await client.close()

        run(main())

    def test_without_a_policy_nothing_is_bounded(self, backend):
        # websockets' semantics, and the proof that make_slow makes it slow.
        async def main():
            async with server_of(backend.name) as (server, accepted):
                [(slow, slow_side)] = await clients_of(server, accepted, 1)
                make_slow(slow, slow_side)
                largest = await self.flood([slow_side], 100)
                assert largest > 10 * self.LIMIT
                slow_side._close_transport(abort=True)

        run(main())

    def test_server_policy_applies_when_the_call_gives_none(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                [(slow, slow_side)] = await clients_of(server, accepted, 1)
                make_slow(slow, slow_side)
                server.broadcast_policy = SlowConsumerPolicy("skip", limit=self.LIMIT)
                largest = await self.flood([slow_side], 100)
                assert server.broadcast_policy.skipped > 0
                assert largest <= self.LIMIT + len(self.MESSAGE) + 14
                slow_side._close_transport(abort=True)

        run(main())

    @pytest.mark.parametrize("code", [1008, 1013])
    def test_close_ends_the_slow_one_with_its_code(self, backend, code):
        async def main():
            async with server_of(backend.name, close_timeout=5) as (server, accepted):
                (slow, slow_side), (fast, fast_side) = await clients_of(server, accepted, 2)
                make_slow(slow, slow_side)
                policy = SlowConsumerPolicy("close", limit=self.LIMIT, close_code=code)
                await self.flood([slow_side, fast_side], 50, policy)
                assert policy.closed >= 1
                read_again(slow)
                with pytest.raises(wsfast.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(slow.recv(), 5)
                assert slow.close_code == code
                for _ in range(50):
                    assert await asyncio.wait_for(fast.recv(), 5) == self.MESSAGE
                await fast.close()

        run(main())

    def test_wait_delivers_once_the_slow_one_drains(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                (slow, slow_side), (fast, fast_side) = await clients_of(server, accepted, 2)
                make_slow(slow, slow_side)
                await self.fill(slow_side)
                policy = SlowConsumerPolicy("wait", limit=self.LIMIT, timeout=5)
                late = wsfast.broadcast([slow_side, fast_side], "the last one", policy=policy)
                assert late is not None and not late.done()
                assert await asyncio.wait_for(fast.recv(), 5) == "the last one"
                read_again(slow)
                await asyncio.wait_for(late, 5)
                assert policy.skipped == policy.timed_out == 0
                while (message := await asyncio.wait_for(slow.recv(), 5)) != "the last one":
                    assert message == self.MESSAGE
                for client in (slow, fast):
                    await client.close()

        run(main())

    def test_wait_gives_up_after_its_timeout(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                [(slow, slow_side)] = await clients_of(server, accepted, 1)
                make_slow(slow, slow_side)
                await self.fill(slow_side)
                policy = SlowConsumerPolicy("wait", limit=self.LIMIT, timeout=0.2)
                late = wsfast.broadcast([slow_side], "too late", policy=policy)
                await asyncio.wait_for(late, 5)
                assert policy.timed_out == policy.skipped == 1
                slow_side._close_transport(abort=True)

        run(main())

    def test_invalid_policies_are_refused(self):
        with pytest.raises(ValueError):
            SlowConsumerPolicy("drop")
        with pytest.raises(ValueError):
            SlowConsumerPolicy("close", close_code=1000)
        with pytest.raises(ValueError):
            SlowConsumerPolicy(limit=-1)
        with pytest.raises(TypeError):
            SlowConsumerPolicy("skip", 1000)  # limit is keyword-only
