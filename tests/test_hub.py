"""wsfast.hub: rooms, the in-process back-end, and Redis pub/sub against a
real redis-server on loopback (tests/services.py), including its restart."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

import wsfast
from wsfast.hub import Hub, HubUnavailable, LocalBackend, RedisBackend

from helpers import run
from services import RedisServer


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def room_server(hub: Hub, backend_name: str, room: str = "lobby"):
    """A server whose every connection joins *room* of *hub*, then echoes
    nothing: what a client receives came through the hub."""
    joined = asyncio.Queue()

    async def handler(websocket):
        await hub.join(room, websocket)
        joined.put_nowait(websocket)
        try:
            await websocket.wait_closed()
        finally:
            hub.leave_all(websocket)

    async with wsfast.serve(handler, "127.0.0.1", 0, backend=backend_name,
                            compression=None) as server:
        server.joined = joined
        yield server


def url_of(server) -> str:
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def members(server, count: int):
    """Connect *count* clients and wait until each has joined its room."""
    clients = [await wsfast.connect(url_of(server)) for _ in range(count)]
    for _ in range(count):
        await asyncio.wait_for(server.joined.get(), 5)
    return clients


class Member:
    """A stand-in member for hubs whose ``deliver`` only records."""

    closed = False


class TestLocalBackend:
    def test_publish_reaches_every_member_once(self, backend):
        async def main():
            async with Hub() as hub, room_server(hub, backend.name) as server:
                clients = await members(server, 3)
                await hub.publish("lobby", "hello")
                await hub.publish("lobby", b"\x00\x01")
                for client in clients:
                    assert await asyncio.wait_for(client.recv(), 5) == "hello"
                    assert await asyncio.wait_for(client.recv(), 5) == b"\x00\x01"
                assert hub.stats.received == 2 and hub.stats.delivered == 6
                for client in clients:
                    await client.close()

        run(main())

    def test_publish_to_another_room_reaches_nobody(self, backend):
        async def main():
            async with Hub() as hub, room_server(hub, backend.name) as server:
                [client] = await members(server, 1)
                await hub.publish("elsewhere", "not for you")
                await hub.publish("lobby", "for you")
                assert await asyncio.wait_for(client.recv(), 5) == "for you"
                await client.close()

        run(main())

    def test_a_closed_member_leaves_its_rooms(self, backend):
        async def main():
            async with Hub() as hub, room_server(hub, backend.name) as server:
                first, second = await members(server, 2)
                await first.close()
                while len(hub.members("lobby")) != 1:
                    await asyncio.sleep(0.01)
                await hub.publish("lobby", "still here")
                assert await asyncio.wait_for(second.recv(), 5) == "still here"
                assert hub.rooms == {"lobby"}
                await second.close()
                while hub.rooms:
                    await asyncio.sleep(0.01)

        run(main())

    def test_wrong_arguments_raise_type_error(self):
        async def main():
            async with Hub() as hub:
                with pytest.raises(TypeError):
                    await hub.publish(1, "x")
                with pytest.raises(TypeError):
                    await hub.publish("room", 1.5)
                with pytest.raises(TypeError):
                    await hub.join(None, object())
            with pytest.raises(TypeError):
                Hub(LocalBackend(), lost=None)

        run(main())

    def test_publish_before_start_is_refused(self):
        async def main():
            with pytest.raises(RuntimeError, match="not started"):
                await Hub().publish("room", "x")

        run(main())


class TestRedisBackend:
    def test_each_process_receives_a_message_once_and_fans_it_out(self, redis_server, backend):
        # Two hubs, each with its own Redis connections: two processes as far
        # as Redis can tell.
        async def main():
            async with Hub(RedisBackend(redis_server.url)) as first, \
                    Hub(RedisBackend(redis_server.url)) as second, \
                    room_server(first, backend.name) as server_a, \
                    room_server(second, backend.name) as server_b:
                clients = await members(server_a, 2) + await members(server_b, 3)
                await first.publish("lobby", "from a")
                await second.publish("lobby", b"from b")
                for client in clients:
                    assert await asyncio.wait_for(client.recv(), 5) == "from a"
                    assert await asyncio.wait_for(client.recv(), 5) == b"from b"
                assert (first.stats.received, first.stats.delivered) == (2, 4)
                assert (second.stats.received, second.stats.delivered) == (2, 6)
                assert first.stats.lost == second.stats.lost == 0
                for client in clients:
                    await client.close()

        run(main())

    def test_the_last_member_leaving_unsubscribes(self, redis_server):
        async def main():
            async with Hub(RedisBackend(redis_server.url, prefix="t:")) as hub:
                member = object()
                await hub.join("room", member)
                assert redis_server.command("PUBLISH", "t:room", "x") == b":1\r\n"
                hub.leave("room", member)
                for _ in range(100):
                    if redis_server.command("PUBLISH", "t:room", "x") == b":0\r\n":
                        break
                    await asyncio.sleep(0.01)
                assert redis_server.command("PUBLISH", "t:room", "x") == b":0\r\n"

        run(main())

    def test_messages_missed_while_disconnected_are_counted(self, redis_server, backend):
        reported = []

        async def main():
            subscriber = Hub(RedisBackend(redis_server.url, min_backoff=0.5, max_backoff=1),
                             on_lost=lambda room, count: reported.append((room, count)))
            async with subscriber, Hub(RedisBackend(redis_server.url)) as publisher, \
                    room_server(subscriber, backend.name) as server:
                [client] = await members(server, 1)
                await publisher.publish("lobby", "before")
                assert await asyncio.wait_for(client.recv(), 5) == "before"
                # Redis drops every subscriber; the publisher's commands go on.
                redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
                for n in range(3):
                    await publisher.publish("lobby", f"missed {n}")
                while subscriber.stats.reconnects == 0:
                    await asyncio.sleep(0.01)
                await subscriber.backend.wait_subscribed("lobby")
                await publisher.publish("lobby", "after")
                assert await asyncio.wait_for(client.recv(), 5) == "after"
                assert subscriber.stats.lost == 3
                assert subscriber.stats.disconnects == 1
                assert reported == [("lobby", 3)]
                await client.close()

        run(main())

    def test_redis_restart_fails_publish_then_recovers(self, redis_server, backend):
        async def main():
            async with Hub(RedisBackend(redis_server.url, max_backoff=0.2)) as hub, \
                    room_server(hub, backend.name) as server:
                [client] = await members(server, 1)
                await hub.publish("lobby", "before")
                assert await asyncio.wait_for(client.recv(), 5) == "before"
                redis_server.stop()
                while hub.backend.connected:
                    await asyncio.sleep(0.01)
                with pytest.raises(HubUnavailable):
                    await hub.publish("lobby", "into the void")
                assert hub.stats.publish_failed == 1
                redis_server.start()
                while not hub.backend.connected:
                    await asyncio.sleep(0.01)
                await hub.backend.wait_subscribed("lobby")
                await hub.publish("lobby", "back")
                assert await asyncio.wait_for(client.recv(), 5) == "back"
                # The failed publish used its number (Redis might have taken
                # it): the subscriber, which cannot tell, counts it lost.
                assert hub.stats.lost == 1 and hub.stats.duplicates == 0
                assert hub.stats.publish_failed == 1 and hub.stats.published == 2
                assert hub.stats.disconnects == hub.stats.reconnects == 1
                await client.close()

        run(main())

    def test_concurrent_publishes_keep_their_order_and_count_no_loss(self, redis_server):
        # Every handler of a room publishes at once: the sequence numbers
        # must reach Redis in order, or subscribers count gaps that are not.
        got = []

        async def main():
            subscriber = Hub(RedisBackend(redis_server.url),
                             deliver=lambda members, message: got.append(message))
            async with subscriber, Hub(RedisBackend(redis_server.url)) as publisher:
                await subscriber.join("room", Member())

                async def handler(n):
                    for i in range(20):
                        await publisher.publish("room", f"{n} {i}")

                await asyncio.gather(*(handler(n) for n in range(50)))
                while subscriber.stats.received < 1000:
                    await asyncio.sleep(0.01)
                assert subscriber.stats.lost == 0
                assert publisher.stats.published == 1000
            for n in range(50):
                assert [m for m in got if m.startswith(f"{n} ")] == [f"{n} {i}" for i in range(20)]

        run(main())

    def test_a_message_of_unknown_format_is_ignored(self, redis_server, backend):
        async def main():
            async with Hub(RedisBackend(redis_server.url)) as hub, \
                    room_server(hub, backend.name) as server:
                [client] = await members(server, 1)
                redis_server.command("PUBLISH", "wsfast:lobby", "garbage")
                await hub.publish("lobby", "real")
                assert await asyncio.wait_for(client.recv(), 5) == "real"
                assert hub.stats.received == 1
                await client.close()

        run(main())

    def test_invalid_backoff_is_refused(self):
        with pytest.raises(ValueError):
            RedisBackend(min_backoff=0)
        with pytest.raises(ValueError):
            RedisBackend(min_backoff=2, max_backoff=1)


class TestHealthCheck:
    """A Redis that stops answering but keeps its connections open
    (SIGSTOP): only the hub's pings can tell."""

    def test_an_idle_subscriber_stays_connected_while_redis_answers(self, redis_server):
        async def main():
            backend = RedisBackend(redis_server.url, health_check_interval=0.02,
                                   health_check_timeout=0.5)
            async with Hub(backend) as hub:
                await hub.join("room", object())
                before = _pings(redis_server)
                await asyncio.sleep(0.4)  # ~20 pings, all answered
                assert _pings(redis_server) - before >= 5
                assert hub.connected
                assert (hub.stats.disconnects, hub.stats.unresponsive) == (0, 0)

        run(main())

    def test_a_stopped_redis_is_noticed_and_the_gap_reported(self, redis_server, backend):
        lost, states = [], []

        async def main():
            # Long enough a backoff that the messages published right after
            # SIGCONT are surely missed: the first reconnection waits
            # 0.5-1 s after the listener gave up.
            subscriber = Hub(RedisBackend(redis_server.url, health_check_interval=0.1,
                                          health_check_timeout=0.2,
                                          min_backoff=1.0, max_backoff=1.0),
                             on_lost=lambda room, count: lost.append((room, count)),
                             on_connection=states.append)
            async with subscriber, Hub(RedisBackend(redis_server.url)) as publisher, \
                    room_server(subscriber, backend.name) as server:
                [client] = await members(server, 1)
                await publisher.publish("lobby", "before")
                assert await asyncio.wait_for(client.recv(), 5) == "before"
                redis_server.pause()
                try:
                    stopped = time.monotonic()
                    while subscriber.connected:
                        assert time.monotonic() - stopped < 5, "the stopped Redis was not noticed"
                        await asyncio.sleep(0.01)
                    noticed = time.monotonic() - stopped
                finally:
                    redis_server.resume()
                # interval + timeout = 0.3 s, with room for a loaded machine.
                assert noticed < 2.0
                assert states == [False]
                assert subscriber.stats.unresponsive == subscriber.stats.disconnects == 1
                for n in range(3):
                    await publisher.publish("lobby", f"missed {n}")
                while not subscriber.connected:
                    await asyncio.sleep(0.01)
                await subscriber.backend.wait_subscribed("lobby")
                await publisher.publish("lobby", "after")
                assert await asyncio.wait_for(client.recv(), 5) == "after"
                assert lost == [("lobby", 3)] and subscriber.stats.lost == 3
                assert states == [False, True]
                assert subscriber.stats.reconnects == 1
                # The member's own connection never noticed anything.
                assert not client.closed
                await client.close()

        run(main())

    def test_a_publish_to_a_stopped_redis_raises_in_bounded_time(self, redis_server):
        async def main():
            async with Hub(RedisBackend(redis_server.url, health_check_timeout=0.2)) as hub:
                await hub.publish("room", "warm")  # the command connection exists
                redis_server.pause()
                try:
                    started = time.monotonic()
                    with pytest.raises(HubUnavailable):
                        await asyncio.wait_for(hub.publish("room", "stuck"), 5)
                    # one try and one retry, 0.2 s each, and some room
                    assert time.monotonic() - started < 2.0
                    assert hub.stats.publish_failed == 1
                finally:
                    redis_server.resume()
                for _ in range(100):
                    try:
                        await hub.publish("room", "back")
                        break
                    except HubUnavailable:
                        await asyncio.sleep(0.05)
                assert hub.stats.published == 2

        run(main())

    def test_a_publish_redis_took_although_it_timed_out_is_delivered_once(self, redis_server):
        # A stopped Redis keeps what was written to it: the PUBLISH whose
        # reply timed out, and redis-py's retry of it on a new connection.
        # Once it resumes it delivers them; the next publish must still be
        # delivered (it would repeat the number, had the failed one given
        # its number back), and no message twice.
        got = []

        async def main():
            subscriber = Hub(RedisBackend(redis_server.url),
                             deliver=lambda members, message: got.append(message))
            publisher = Hub(RedisBackend(redis_server.url, health_check_timeout=0.2))
            async with subscriber, publisher:
                await subscriber.join("room", Member())
                await publisher.publish("room", "first")
                redis_server.pause()
                try:
                    with pytest.raises(HubUnavailable):
                        await publisher.publish("room", "stuck")
                finally:
                    redis_server.resume()
                for _ in range(100):
                    try:
                        await publisher.publish("room", "next")
                        break
                    except HubUnavailable:
                        await asyncio.sleep(0.05)
                for _ in range(500):
                    if "next" in got:
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.2)  # anything else Redis would deliver
                # Redis took "stuck" when it resumed (here it does; were it
                # dropped, the subscriber would count it lost instead), once
                # or twice (the retry): delivered once either way.
                assert got in (["first", "stuck", "next"], ["first", "next"])
                assert subscriber.stats.lost == (0 if "stuck" in got else 1)
                # "next" has a number of its own: 1, 2 (used by "stuck"), 3.
                key = ("room", publisher.backend._id)
                assert subscriber.backend._heard[key] == 3

        run(main())

    def test_a_repeated_number_is_delivered_once_and_counted(self, redis_server):
        from wsfast import hub as hub_module

        got = []

        async def main():
            subscriber = Hub(RedisBackend(redis_server.url),
                             deliver=lambda members, message: got.append(message))
            async with subscriber:
                await subscriber.join("room", Member())
                channel = subscriber.backend._channel("room")
                publisher_id = b"p" * 16

                def envelope(number, text):
                    return hub_module._HEADER.pack(hub_module._VERSION, hub_module._TEXT,
                                                   publisher_id, number) + text.encode()

                # a publish taken twice, then the next one
                for number, text in ((1, "a"), (1, "a"), (2, "b")):
                    redis_server.command("PUBLISH", channel, envelope(number, text).decode())
                for _ in range(500):
                    if "b" in got:
                        break
                    await asyncio.sleep(0.01)
                assert got == ["a", "b"]
                assert subscriber.stats.duplicates == 1 and subscriber.stats.lost == 0

        run(main())

    def test_a_backend_made_before_the_loop_runs_works_in_it(self, redis_server):
        # As at a module's top level. On Python 3.9 an asyncio.Event made in
        # the constructor belonged to another loop than asyncio.run's.
        backend = RedisBackend(redis_server.url)
        assert not backend.connected
        got = []

        async def main():
            async with Hub(backend, deliver=lambda members, m: got.append(m)) as hub:
                assert backend.connected
                await hub.join("room", Member())
                await hub.publish("room", "made early")
                for _ in range(500):
                    if got:
                        break
                    await asyncio.sleep(0.01)
            assert got == ["made early"]
            assert not backend.connected

        run(main())

    def test_invalid_health_check_settings_are_refused(self):
        with pytest.raises(ValueError):
            RedisBackend(health_check_interval=0)
        with pytest.raises(ValueError):
            RedisBackend(health_check_timeout=-1)
        RedisBackend(health_check_interval=None)  # pings off is allowed


def _pings(redis_server) -> int:
    """How many PINGs Redis has answered, from INFO commandstats."""
    request = b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n"
    with socket.create_connection(("127.0.0.1", redis_server.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            data += sock.recv(65536)
        length = int(data[1:data.index(b"\r\n")])
        while len(data) < data.index(b"\r\n") + 2 + length:
            data += sock.recv(65536)
    for line in data.decode().splitlines():
        if line.startswith("cmdstat_ping:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


class TestBenchmark:
    def test_the_hub_benchmark_delivers_every_message_and_measures(self, redis_server):
        # A small run of python -m wsfast.bench.hub against the test's Redis:
        # its processes really talk, and it raises if a member missed a
        # message or the hub counted a loss.
        from wsfast.bench import hub as bench

        results = bench.run([2], samples=5, burst=50, tasks=5, url=redis_server.url)
        assert [r["case"] for r in results] == ["floor: raw redis-py", "hub, 2 members"]
        for result in results:
            assert result["msgs_per_s"] > 0 and result["tasks_msgs_per_s"] > 0
            assert 0 < result["median_us"] <= result["p99_us"]
        assert "| hub, 2 members |" in bench.table(results)
