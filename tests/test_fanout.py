"""wsfast.prepare, and broadcast's slow-consumer policy (wsfast/fanout.py)
on real loopback connections, on both back-ends."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import pickle
import socket
import statistics
import sys

import pytest

import wsfast
from helpers import run
from wsfast.fanout import OpenConnections, PreparedMessage, SlowConsumerPolicy, prepare


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


class TestServerConnections:
    """``server.connections`` is kept as connections open and leave OPEN
    (wsfast.state's open registry), not filtered at each call: every way out
    of OPEN must take a connection out of it, at once."""

    def test_every_way_out_of_open_leaves_the_set(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                pairs = await clients_of(server, accepted, 5)
                sides = [side for _, side in pairs]
                assert server.connections == set(sides)
                assert server.connections is not server.connections  # a copy each call
                (by_client, _), (_, by_server), (eof, _), (bad, _), _ = pairs
                # their close frame arrives (the answer has not been read yet)
                await by_client.close()
                # our close frame is sent, before the client has answered
                closing = asyncio.create_task(by_server.close())
                await asyncio.sleep(0)
                assert by_server.connection.close_sent is not None
                assert by_server.connection.close_rcvd is None
                assert sides[1] not in server.connections
                # TCP ends without a close frame
                eof._stream.transport.abort()
                # a protocol error: a reserved opcode fails the connection
                bad._stream.transport.write(b"\x83\x80" + b"mask")
                for _ in range(100):
                    if server.connections == {sides[4]}:
                        break
                    await asyncio.sleep(0.01)
                assert server.connections == {sides[4]}
                assert all(side.connection.core.open_registry is None for side in sides[:4])
                assert sides[4].connection.core.open_registry is not None
                await closing
                await pairs[4][0].close()
                for _ in range(100):
                    if not server.websockets:
                        break
                    await asyncio.sleep(0.01)
                assert server.connections == set() and server._open == {}

        run(main())

    def test_a_refused_handshake_is_never_listed(self, backend):
        async def main():
            async def refuse(connection, request):
                assert server.connections == set()
                return connection.respond(403, "no\n")

            async with server_of(backend.name, process_request=refuse) as (server, accepted):
                with pytest.raises(wsfast.InvalidStatus):
                    await wsfast.connect(url_of(server))
                assert server.connections == set() and server._open == {}

        run(main())


class TestOpenConnections:
    """``server.connections`` carries the stream cores for broadcast's loop,
    and forgets them as soon as the set is changed."""

    def test_the_set_carries_its_members_stream_cores(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                pairs = await clients_of(server, accepted, 3)
                connections = server.connections
                assert isinstance(connections, OpenConnections)
                assert connections == {side for _, side in pairs}
                assert sorted(map(id, (stream.owner for stream in connections.streams))) \
                    == sorted(map(id, connections))
                assert all(stream is stream.owner._stream for stream in connections.streams)
                for client, _ in pairs:
                    await client.close()

        run(main())

    @pytest.mark.parametrize("change", [
        lambda s, x: s.add(x), lambda s, x: s.discard(x), lambda s, x: s.remove(x),
        lambda s, x: s.pop(), lambda s, x: s.clear(), lambda s, x: s.update([x]),
        lambda s, x: s.difference_update([x]), lambda s, x: s.intersection_update([x]),
        lambda s, x: s.symmetric_difference_update([x]), lambda s, x: s.__ior__({x}),
        lambda s, x: s.__iand__({x}), lambda s, x: s.__isub__({x}), lambda s, x: s.__ixor__({x}),
    ], ids=["add", "discard", "remove", "pop", "clear", "update", "difference_update",
            "intersection_update", "symmetric_difference_update", "ior", "iand", "isub", "ixor"])
    def test_any_change_forgets_the_stream_cores(self, change):
        connections = OpenConnections(["a", "b"])
        connections.streams = ["stream of a", "stream of b"]
        change(connections, "a")
        assert connections.streams is None

    def test_copies_and_set_operations_carry_the_members_only(self):
        connections = OpenConnections(["a"])
        connections.streams = ["stream of a"]
        for duplicate in (copy.copy(connections), copy.deepcopy(connections),
                          pickle.loads(pickle.dumps(connections))):
            assert type(duplicate) is OpenConnections and duplicate == connections
            assert duplicate.streams is None
        assert connections.streams == ["stream of a"]
        assert type(connections | {"b"}) is set and type(connections - {"a"}) is set

    def test_a_set_changed_by_the_caller_is_served_from_its_members(self, backend):
        # What a chat handler does: everyone but the sender.
        async def main():
            async with server_of(backend.name) as (server, accepted):
                (sender, sender_side), (other, _) = await clients_of(server, accepted, 2)
                others = server.connections
                others.discard(sender_side)
                wsfast.broadcast(others, "not to the sender")
                assert await asyncio.wait_for(other.recv(), 5) == "not to the sender"
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(sender.recv(), 0.2)
                wsfast.broadcast(server.connections, "to all")
                assert await asyncio.wait_for(sender.recv(), 5) == "to all"
                assert await asyncio.wait_for(other.recv(), 5) == "to all"
                for client in (sender, other):
                    await client.close()

        run(main())

    def test_carried_and_looked_up_stream_cores_are_served_alike(self, backend):
        async def main():
            async with server_of(backend.name, compression="deflate") as (server, accepted):
                plain = await clients_of(server, accepted, 2, compression=None)
                compressed = await clients_of(server, accepted, 1)
                frame = wsfast.build_frame(wsfast.Opcode.TEXT, b"alike")
                carried = server.connections
                looked_up = set(carried)
                assert carried.streams is not None
                results = []
                for connections in (carried, looked_up):
                    policy, leftovers = backend.fan_out(connections, frame, None, True)
                    results.append((policy, leftovers))
                assert results[0] == results[1] == (None, [(compressed[0][1], False)])
                for client, _ in plain:
                    assert await asyncio.wait_for(client.recv(), 5) == "alike"
                    assert await asyncio.wait_for(client.recv(), 5) == "alike"
                for client, _ in plain + compressed:
                    await client.close()

        run(main())


class TestFanOutKernel:
    """The back-ends' fan_out (broadcast's loop): which connections it
    writes to and which it leaves to broadcast, and why; both twins."""

    def test_serves_plain_server_connections_and_leaves_the_rest(self, backend):
        async def main():
            async with server_of(backend.name, compression="deflate") as (server, accepted):
                plain = await clients_of(server, accepted, 2, compression=None,
                                         backend=backend.name)
                [(compressed, compressed_side)] = await clients_of(server, accepted, 1)
                [(closed, closed_side)] = await clients_of(server, accepted, 1, compression=None)
                await closed.close()
                await closed_side.wait_closed()
                sides = [side for _, side in plain] + [compressed_side, closed_side]
                # the client end of a connection: its frames are masked
                sides.append(plain[0][0])
                frame = wsfast.build_frame(wsfast.Opcode.TEXT, b"kernel")
                policy, leftovers = backend.fan_out(sides, frame, None, False)
                assert policy is None
                assert leftovers == [(compressed_side, False), (plain[0][0], False)]
                for client, _ in plain:
                    assert await asyncio.wait_for(client.recv(), 5) == "kernel"
                for client, _ in plain + [(compressed, None)]:
                    await client.close()

        run(main())

    def test_leaves_the_other_back_ends_connections_untouched(self, both):
        async def main():
            for mine, other in (both, both[::-1]):
                async with server_of(other.name) as (server, accepted):
                    [(client, side)] = await clients_of(server, accepted, 1)
                    frame = wsfast.build_frame(wsfast.Opcode.TEXT, b"x")
                    # the first open connection decides the server's policy
                    server.broadcast_policy = SlowConsumerPolicy("skip")
                    policy, leftovers = mine.fan_out([side], frame, None, True)
                    assert policy is server.broadcast_policy
                    assert leftovers == [(side, None)]
                    assert side._stream.core.out == []
                    await client.close()

        run(main())

    def test_queues_behind_frames_waiting_to_be_written(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                [(client, side)] = await clients_of(server, accepted, 1)
                side.connection.send_text("first")  # queued, not written yet
                assert side._stream.core.out
                wsfast.broadcast([side], "second")
                assert side._stream.core.out == []
                assert await asyncio.wait_for(client.recv(), 5) == "first"
                assert await asyncio.wait_for(client.recv(), 5) == "second"
                await client.close()

        run(main())

    def test_a_failed_write_is_reported_and_spares_the_others(self, backend, caplog):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                (bad, bad_side), (good, good_side) = await clients_of(server, accepted, 2)

                def broken(data):
                    raise OSError("broken transport")

                bad_side._stream.transport.write = broken
                wsfast.broadcast([bad_side, good_side], "one")
                assert "failed to write message: OSError: broken transport" in caplog.text
                expected = ["one"]
                if sys.version_info >= (3, 11):  # raise_exceptions needs ExceptionGroup
                    with pytest.raises(ExceptionGroup) as raised:  # noqa: F821 - 3.11+
                        wsfast.broadcast([bad_side, good_side], "two", raise_exceptions=True)
                    [failure] = raised.value.exceptions
                    assert isinstance(failure, RuntimeError)
                    assert isinstance(failure.__cause__, OSError)
                    expected.append("two")
                for message in expected:
                    assert await asyncio.wait_for(good.recv(), 5) == message
                del bad_side._stream.transport.write
                for client in (bad, good):
                    await client.close()

        run(main())

    def test_a_closing_transport_is_not_written_to(self, backend):
        async def main():
            async with server_of(backend.name) as (server, accepted):
                [(client, side)] = await clients_of(server, accepted, 1)
                side._stream.writable = False  # as _close_transport leaves it
                wsfast.broadcast([side], "dropped")
                assert side._stream.transport.get_write_buffer_size() == 0
                side._stream.writable = True
                wsfast.broadcast([side], "sent")
                assert await asyncio.wait_for(client.recv(), 5) == "sent"
                await client.close()

        run(main())

    def test_broadcast_over_tls(self, backend):
        trustme = pytest.importorskip("trustme")
        import ssl

        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)

        async def main():
            async with server_of(backend.name, ssl=server_context) as (server, accepted):
                port = server.sockets[0].getsockname()[1]
                pairs = []
                for _ in range(3):
                    client = await wsfast.connect(f"wss://127.0.0.1:{port}/", ssl=client_context,
                                                  compression=None)
                    pairs.append((client, await asyncio.wait_for(accepted.get(), 5)))
                message = "over tls " * 1000  # several TLS records
                wsfast.broadcast([side for _, side in pairs], message)
                for client, _ in pairs:
                    assert await asyncio.wait_for(client.recv(), 5) == message
                    await client.close()

        run(main())


class TestCompressOnce:
    """permessage-deflate: one compressed frame per compression setting for
    receivers without server context takeover, the connection's own
    compression otherwise."""

    PAYLOAD = ("the same message to every room member; " * 30).encode()  # ~1 KiB

    @staticmethod
    def counting(monkeypatch):
        calls = []
        compress = wsfast.deflate.DeflateSession.compress

        def counted(session, data, fin=True):
            calls.append(session)
            return compress(session, data, fin)

        monkeypatch.setattr(wsfast.deflate.DeflateSession, "compress", counted)
        return calls

    def test_once_per_setting_and_byte_for_byte_the_connections_own(self, backend, monkeypatch):
        from wsfast.deflate import PerMessageDeflate

        async def main():
            async with server_of(backend.name, compression="deflate") as (server, accepted):
                nct = await clients_of(server, accepted, 3, compression=PerMessageDeflate(
                    server_no_context_takeover=True))
                small_window = await clients_of(server, accepted, 2, compression=PerMessageDeflate(
                    server_no_context_takeover=True, server_max_window_bits=10))
                takeover = await clients_of(server, accepted, 2)  # context takeover
                plain = await clients_of(server, accepted, 1, compression=None)
                pairs = nct + small_window + takeover + plain
                sides = [side for _, side in pairs]
                calls = self.counting(monkeypatch)
                message = prepare(self.PAYLOAD)
                for _ in range(2):
                    wsfast.broadcast(sides, message)
                    for client, _ in pairs:
                        assert await asyncio.wait_for(client.recv(), 5) == self.PAYLOAD
                # 2 settings, once for both calls; the takeover ones each time
                assert len(message.compressed) == 2
                assert len(calls) == 2 + 2 * 2
                # a raw message: compressed once per setting in this call
                calls.clear()
                wsfast.broadcast(sides, self.PAYLOAD.decode())
                assert len(calls) == 2 + 2
                for client, _ in pairs:
                    assert await asyncio.wait_for(client.recv(), 5) == self.PAYLOAD.decode()
                # the claim itself: a connection compressing the message on
                # its own writes the very bytes that were shared
                for _, side in nct + small_window:
                    connection = side.connection
                    shared = message.compressed[connection.compression.shared_setting()]
                    connection.send_binary(self.PAYLOAD)
                    assert b"".join(connection.core.take_out()) == shared
                    assert shared[0] & 0x40  # RSV1: compressed
                # send() of the prepared message uses the shared frame too
                calls.clear()
                await nct[0][1].send(message)
                assert calls == []
                assert await asyncio.wait_for(nct[0][0].recv(), 5) == self.PAYLOAD
                for client, _ in pairs:
                    await client.close()

        run(main())

    def test_below_the_threshold_the_plain_frame_is_shared(self, backend, monkeypatch):
        from wsfast.deflate import PerMessageDeflate

        async def main():
            config = PerMessageDeflate(server_no_context_takeover=True, threshold=4096)
            async with server_of(backend.name, compression=config) as (server, accepted):
                pairs = await clients_of(server, accepted, 2, compression=PerMessageDeflate(
                    server_no_context_takeover=True))
                calls = self.counting(monkeypatch)
                message = prepare("short")
                wsfast.broadcast([side for _, side in pairs], message)
                assert calls == [] and message.compressed == {}
                for client, _ in pairs:
                    assert await asyncio.wait_for(client.recv(), 5) == "short"
                    await client.close()

        run(main())

    def test_a_client_connection_compresses_its_own(self, backend, monkeypatch):
        from wsfast.deflate import PerMessageDeflate

        async def main():
            async with server_of(backend.name, compression="deflate") as (server, accepted):
                nct = PerMessageDeflate(client_no_context_takeover=True,
                                        server_no_context_takeover=True)
                pairs = await clients_of(server, accepted, 2, compression=nct,
                                         backend=backend.name)
                calls = self.counting(monkeypatch)
                wsfast.broadcast([client for client, _ in pairs], self.PAYLOAD)
                assert len(calls) == 2  # masked: nothing to share
                for _, side in pairs:
                    assert await asyncio.wait_for(side.recv(), 5) == self.PAYLOAD
                for client, _ in pairs:
                    await client.close()

        run(main())


class TestServerPolicy:
    def test_serve_takes_a_broadcast_policy(self):
        async def main():
            policy = SlowConsumerPolicy("skip", limit=1024)
            async with server_of("python", broadcast_policy=policy) as (server, _):
                assert server.broadcast_policy is policy
            with pytest.raises(TypeError):
                async with server_of("python", broadcast_policy="skip"):
                    pass
            with pytest.raises(TypeError):
                async with server_of("python", broadcast_polcy=policy):
                    pass

        run(main())


def test_the_broadcast_benchmark_interleaves_its_rounds_and_pairs_them():
    """python -m wsfast.bench.fanout, small: every server answers every
    round (the clients check that each got the frame exactly once), and
    "× floor" is the median of the same round's ratios."""
    from wsfast.bench import fanout as bench

    results = bench.run([40], 3, ("wsfast", "floor"))
    assert [r["server"] for r in results] == ["wsfast", "floor"]
    for result in results:
        assert len(result["rounds_ms"]) == len(result["server_rounds_ms"]) == 3
        assert all(t > 0 for t in result["rounds_ms"])
        assert result["median_ms"] == pytest.approx(statistics.median(result["rounds_ms"]))
    mine, floor = results
    assert bench.paired_ratio(mine, floor) == pytest.approx(statistics.median(
        a / b for a, b in zip(mine["rounds_ms"], floor["rounds_ms"])))
    assert bench.paired_ratio(floor, floor) == 1.0
    assert "| 40 | wsfast |" in bench.table(results)
