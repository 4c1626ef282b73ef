"""Publish/subscribe rooms whose members may live in other processes.

A :class:`Hub` keeps, for each room, the set of this process's connections
that joined it, and delivers what is published to a room to every member with
:func:`wsfast.asyncio.broadcast` (framed once, no waiting on slow readers).
Where the message travels before that is the back-end's business:

* :class:`LocalBackend` (the default): one process, nothing to run. A
  publish is delivered at once, in the publisher's own call.
* :class:`RedisBackend`: rooms span processes and hosts through Redis
  pub/sub, with redis-py's asyncio client (``pip install wsfast[redis]``).
  A process subscribes to a room's channel once, however many of its
  connections joined the room, so it receives each published message from
  Redis **once** and fans it out locally; it unsubscribes when its last
  member leaves. A publish goes to Redis and comes back to every subscribed
  process, the publisher's included: one path, so all processes see a room's
  messages in the same order.

Why loss is counted and not hidden: Redis pub/sub delivers at most once. A
subscriber that is disconnected -- Redis restarted, the network dropped, or
Redis cut it off because it read too slowly (``client-output-buffer-limit
pubsub``) -- misses whatever was published meanwhile, and Redis says nothing
about it. So each process stamps what it publishes with its own id and a
sequence number per room, and each subscriber checks the sequence of every
publisher it hears from: a gap is a count of messages that this process's
members never got, reported in :attr:`HubStats.lost` and to the ``on_lost``
callback. A publish that cannot reach Redis raises :exc:`HubUnavailable` (and
is counted); the listener reconnects on its own, with exponential backoff,
and subscribes again to every room that still has members.

Why a failed publish still uses its number, and why a number heard twice is
dropped: a publish can fail after Redis has taken it -- its reply timed out
(a stopped Redis that resumes), or the connection died between the PUBLISH
and the reply, and redis-py's retry sent it again. Had the number been given
back, the next message would carry it too and look like a repeat; so every
attempt uses its numbers, a message Redis delivers twice is delivered to the
members once (counted in :attr:`HubStats.duplicates`), and a failed publish
that never reached Redis shows as one lost message to the subscribers (who
cannot tell it from one that was published and missed).

Why the hub pings: a Redis that stops answering without closing the TCP
connection -- the process stopped (``SIGSTOP``, a debugger, swapped out), a
host gone or a network path dropped without a reset -- sends nothing, and
a subscriber, which only waits for messages, would wait forever: its members
would get nothing while the hub still looked connected. So the listener
sends a ``PING`` on its subscription connection whenever Redis has been
silent for ``health_check_interval`` seconds, and gives up on the connection
if nothing at all comes back within ``health_check_timeout``: that is a
disconnection like any other (counted, reported to ``on_connection``, then
reconnected with backoff, and the messages published meanwhile counted as
lost once the publishers are heard from again). A busy subscription sends no
pings: every message is already a sign of life.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple, Union

from .errors import WebSocketError

__all__ = ["Hub", "HubStats", "HubUnavailable", "LocalBackend", "RedisBackend"]

logger = logging.getLogger(__name__)

Message = Union[str, bytes]

# The envelope of a message on Redis: a version byte, the kind (text or
# binary), the publisher's 16-byte id and its 8-byte sequence number in the
# room, then the payload as it goes on the wire (UTF-8 for text).
_HEADER = struct.Struct("!cc16sQ")
_VERSION = b"1"
_TEXT = b"t"
_BINARY = b"b"


class HubUnavailable(WebSocketError, ConnectionError):
    """The hub's broker cannot be reached: the message was not published."""


@dataclass
class HubStats:
    """What a hub has done, since it started.

    Attributes:
        published: messages this process handed to the back-end.
        received: messages this process received from the back-end (once per
            message, however many local members the room has).
        delivered: messages handed to local connections (one per member;
            a slow-consumer policy may still skip some).
        lost: messages this process should have received and did not (gaps
            in a publisher's sequence, see the module docstring).
        duplicates: messages Redis delivered again (a publisher's number
            heard before), not delivered to the members a second time.
        publish_failed: publishes that raised :exc:`HubUnavailable`.
        disconnects: times the connection to the broker was lost.
        reconnects: times it was made again.
        unresponsive: of the disconnects, those noticed by the health check:
            the broker stopped answering on a connection that stayed open
            (see the module docstring).
    """

    published: int = 0
    received: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    publish_failed: int = 0
    disconnects: int = 0
    reconnects: int = 0
    unresponsive: int = 0


class Hub:
    """Rooms of WebSocket connections, and a way to publish to all members.

    Usage::

        hub = Hub()                                 # one process
        hub = Hub(RedisBackend("redis://host:6379"))  # many processes

        async with hub:                  # or: await hub.start() / await hub.close()
            await hub.join("lobby", websocket)
            await hub.publish("lobby", "hello")
            hub.leave("lobby", websocket)

    Members are wsfast asyncio connections (anything :func:`broadcast`
    accepts). A closed connection is dropped from its rooms the next time
    something is delivered to them; call :meth:`leave_all` when a handler
    ends to drop it at once.

    Args:
        backend: :class:`LocalBackend` (default) or :class:`RedisBackend`.
        on_lost: called as ``on_lost(room, count)`` whenever messages to
            *room* are found lost (see the module docstring). Exceptions
            it raises are logged and otherwise ignored.
        on_connection: called as ``on_connection(connected)`` whenever the
            back-end loses (``False``) or regains (``True``) its broker, so
            that an application can tell its users that messages may be
            missing, or stop taking new ones; :attr:`connected` is the same
            state, polled. Exceptions it raises are logged and ignored.
        deliver: the fan-out function, called as ``deliver(members, message)``;
            :func:`wsfast.asyncio.broadcast` by default. Pass a
            :func:`functools.partial` of it to choose a slow-consumer policy.
    """

    def __init__(self, backend: Optional["Backend"] = None, *,
                 on_lost: Optional[Callable[[str, int], Any]] = None,
                 on_connection: Optional[Callable[[bool], Any]] = None,
                 deliver: Optional[Callable[[Iterable[Any], Message], Any]] = None) -> None:
        if deliver is None:
            from .asyncio import broadcast
            deliver = broadcast
        self.backend: Backend = backend if backend is not None else LocalBackend()
        self.stats = HubStats()
        self.on_lost = on_lost
        self.on_connection = on_connection
        self._deliver = deliver
        self._rooms: Dict[str, Set[Any]] = {}
        self._started = False

    # -- life cycle --------------------------------------------------------------

    async def start(self) -> None:
        """Connect the back-end (for Redis: start the listener)."""
        if not self._started:
            await self.backend.start(self)
            self._started = True

    async def close(self) -> None:
        """Disconnect the back-end. Members stay connected; rooms are emptied."""
        self._rooms.clear()
        if self._started:
            self._started = False
            await self.backend.close()

    @property
    def connected(self) -> bool:
        """Whether the back-end reaches its broker now (always true for
        :class:`LocalBackend`; false before :meth:`start`)."""
        return self._started and self.backend.connected

    async def __aenter__(self) -> "Hub":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # -- membership --------------------------------------------------------------

    async def join(self, room: str, websocket: Any) -> None:
        """Add *websocket* to *room*. Returns once this process is sure to
        receive what is published to the room from now on (for Redis: once
        the server confirmed the subscription)."""
        if not isinstance(room, str):
            raise TypeError(f"room must be str, not {type(room).__name__}")
        self._check_started()
        members = self._rooms.get(room)
        if members is None:
            members = self._rooms[room] = set()
            members.add(websocket)
            try:
                await self.backend.subscribe(room)
            except BaseException:
                self.leave(room, websocket)
                raise
        else:
            members.add(websocket)
            await self.backend.wait_subscribed(room)

    def leave(self, room: str, websocket: Any) -> None:
        """Remove *websocket* from *room* (nothing happens if it is not in it)."""
        members = self._rooms.get(room)
        if members is None:
            return
        members.discard(websocket)
        if not members:
            del self._rooms[room]
            self.backend.unsubscribe(room)

    def leave_all(self, websocket: Any) -> None:
        """Remove *websocket* from every room: call it when its handler ends."""
        for room in [room for room, members in self._rooms.items() if websocket in members]:
            self.leave(room, websocket)

    def members(self, room: str) -> Set[Any]:
        """This process's members of *room* (a copy)."""
        return set(self._rooms.get(room, ()))

    @property
    def rooms(self) -> Set[str]:
        """The rooms that have members in this process."""
        return set(self._rooms)

    # -- messages ----------------------------------------------------------------

    async def publish(self, room: str, message: Message) -> None:
        """Send *message* (``str`` as text, bytes-like as binary) to every
        member of *room*, in every process of the hub.

        Raises:
            HubUnavailable: the broker cannot be reached; the message is lost
                for every process, and counted in ``stats.publish_failed``.
            TypeError: *room* is not a str, or *message* neither str nor bytes.
        """
        if not isinstance(room, str):
            raise TypeError(f"room must be str, not {type(room).__name__}")
        if not isinstance(message, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        self._check_started()
        try:
            await self.backend.publish(room, message)
        except HubUnavailable:
            self.stats.publish_failed += 1
            raise
        self.stats.published += 1

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError("the hub is not started: use 'async with hub' or 'await hub.start()'")

    # -- called by the back-ends -------------------------------------------------

    def _received(self, room: str, message: Message) -> None:
        """Fan a message the back-end received out to this process's members."""
        self.stats.received += 1
        members = self._rooms.get(room)
        if not members:
            return
        closed = [ws for ws in members if ws.closed]
        if closed:
            for websocket in closed:
                members.discard(websocket)
            if not members:
                self.leave(room, closed[0])  # unsubscribes
                return
        self._deliver(members, message)
        self.stats.delivered += len(members)

    def _lost(self, room: str, count: int) -> None:
        self.stats.lost += count
        logger.warning("hub: %d message(s) to room %r lost", count, room)
        if self.on_lost is not None:
            try:
                self.on_lost(room, count)
            except Exception:  # noqa: BLE001 - a reporting hook must not stop delivery
                logger.exception("hub: on_lost callback failed")

    def _connection_changed(self, connected: bool) -> None:
        if self.on_connection is not None:
            try:
                self.on_connection(connected)
            except Exception:  # noqa: BLE001 - nor may it stop the listener
                logger.exception("hub: on_connection callback failed")


class Backend:
    """What a hub needs from its transport. Override every method."""

    @property
    def connected(self) -> bool:
        return True

    async def start(self, hub: Hub) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def subscribe(self, room: str) -> None:
        raise NotImplementedError

    async def wait_subscribed(self, room: str) -> None:
        raise NotImplementedError

    def unsubscribe(self, room: str) -> None:
        raise NotImplementedError

    async def publish(self, room: str, message: Message) -> None:
        raise NotImplementedError


class LocalBackend(Backend):
    """Rooms within one process: a publish is delivered during the call."""

    def __init__(self) -> None:
        self._hub: Optional[Hub] = None

    async def start(self, hub: Hub) -> None:
        self._hub = hub

    async def close(self) -> None:
        self._hub = None

    async def subscribe(self, room: str) -> None:
        pass

    async def wait_subscribed(self, room: str) -> None:
        pass

    def unsubscribe(self, room: str) -> None:
        pass

    async def publish(self, room: str, message: Message) -> None:
        assert self._hub is not None
        if not isinstance(message, str):
            message = bytes(message)
        self._hub._received(room, message)


class RedisBackend(Backend):
    """Rooms across processes through Redis pub/sub (see the module docstring).

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]`` (or ``rediss://``,
            ``unix://``), as redis-py's ``from_url`` takes it.
        prefix: channel name prefix, so that several applications can share a
            Redis; a room's channel is ``prefix + room``.
        min_backoff, max_backoff: the listener's first and longest wait, in
            seconds, between attempts to reconnect (doubled each failure,
            with jitter, reset after a success).
        health_check_interval: seconds of silence on the subscription after
            which the listener pings Redis (module docstring); ``None``
            turns the pings off, and a Redis that stops answering is then
            not noticed until the operating system gives up on the
            connection -- which, without traffic, is never.
        health_check_timeout: seconds Redis has to answer that ping, or to
            answer at all after a connection is made, before the listener
            gives the connection up and reconnects. It is also, unless
            *options* say otherwise, redis-py's ``socket_timeout`` and
            ``socket_connect_timeout``: the longest a publish waits for
            Redis before raising :exc:`HubUnavailable` (twice that with
            its one retry). An unanswered Redis is so noticed within
            ``health_check_interval + health_check_timeout``.
        **options: passed to ``redis.asyncio.Redis.from_url``.
    """

    def __init__(self, url: str = "redis://localhost:6379", *, prefix: str = "wsfast:",
                 min_backoff: float = 0.05, max_backoff: float = 5.0,
                 health_check_interval: Optional[float] = 5.0,
                 health_check_timeout: float = 5.0, **options: Any) -> None:
        try:
            import redis.asyncio  # noqa: F401 - fail at construction, with the remedy
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("RedisBackend needs redis-py: pip install 'wsfast[redis]'") from exc
        if min_backoff <= 0 or max_backoff < min_backoff:
            raise ValueError("need 0 < min_backoff <= max_backoff")
        if health_check_interval is not None and not health_check_interval > 0:
            raise ValueError("health_check_interval must be > 0, or None for no pings")
        if not health_check_timeout > 0:
            raise ValueError("health_check_timeout must be > 0")
        self.url = url
        self.prefix = prefix
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.health_check_interval = health_check_interval
        self.health_check_timeout = health_check_timeout
        options.setdefault("socket_timeout", health_check_timeout)
        options.setdefault("socket_connect_timeout", health_check_timeout)
        self._options = options
        self._hub: Optional[Hub] = None
        self._client: Any = None      # commands (PUBLISH), from redis-py's pool
        self._subscriber: Any = None  # makes the listener's connections
        self._pubsub: Any = None      # the one subscribed connection, owned by the listener
        self._listener: "Optional[asyncio.Task[None]]" = None
        # Both events are made by start(), on the loop that runs the hub: on
        # Python 3.9 an asyncio.Event binds the loop current when it is made
        # (and fails without one), so one made here, before asyncio.run(),
        # would belong to another loop.
        self._connected: Optional[asyncio.Event] = None
        # Per room: a future set when Redis confirms the subscription.
        self._confirmed: "Dict[str, asyncio.Future[None]]" = {}
        self._id = uuid.uuid4().bytes
        self._sequence: Dict[str, int] = {}
        # (room, publisher id) -> the last sequence number heard.
        self._heard: Dict[Tuple[str, bytes], int] = {}
        self._tasks: "Set[asyncio.Task[None]]" = set()
        # Publishes waiting for the writer: (room, kind, payload, future).
        self._outbox: "List[Tuple[str, bytes, bytes, asyncio.Future[None]]]" = []
        self._outbox_ready: Optional[asyncio.Event] = None
        self._writer: "Optional[asyncio.Task[None]]" = None
        self._sending = False  # a PUBLISH (or a pipeline of them) is on its way

    @property
    def connected(self) -> bool:
        """Whether the listener is connected to Redis now."""
        return self._connected is not None and self._connected.is_set()

    async def start(self, hub: Hub) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._hub = hub
        self._connected = connected = asyncio.Event()
        self._outbox_ready = asyncio.Event()
        # Commands get one immediate retry: after Redis restarts, the pooled
        # connection is stale and only the second attempt reconnects. (A
        # connection that dies after PUBLISH was sent but before its reply
        # may so publish twice; subscribers hear the same sequence number
        # twice and deliver it once: see the module docstring.)
        self._client = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 1), **self._options)
        # The subscribed connection gets none: a lost connection must reach
        # the listener, which counts it, waits, and subscribes again (module
        # docstring) -- redis-py would otherwise reconnect behind its back.
        self._subscriber = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), **self._options)
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        self._writer = asyncio.get_running_loop().create_task(self._write())
        await connected.wait()

    async def close(self) -> None:
        for task in (self._listener, self._writer):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._listener = self._writer = None
        _fail(self._outbox, HubUnavailable("the hub was closed before publishing"))
        self._outbox.clear()
        for future in self._confirmed.values():
            future.cancel()
        self._confirmed.clear()
        for client in (self._client, self._subscriber):
            if client is not None:
                await client.aclose()
        self._client = self._subscriber = None
        if self._connected is not None:
            self._connected.clear()

    def _channel(self, room: str) -> str:
        return self.prefix + room

    async def subscribe(self, room: str) -> None:
        confirmed = self._confirmed.get(room)
        if confirmed is None:
            confirmed = self._confirmed[room] = asyncio.get_running_loop().create_future()
            if self.connected:
                try:
                    await self._pubsub.subscribe(self._channel(room))
                except Exception:  # noqa: BLE001 - the listener reconnects and subscribes
                    logger.debug("hub: subscribe to %r deferred to the reconnection", room)
        await self.wait_subscribed(room)

    async def wait_subscribed(self, room: str) -> None:
        confirmed = self._confirmed.get(room)
        if confirmed is not None:
            await asyncio.shield(confirmed)

    def unsubscribe(self, room: str) -> None:
        confirmed = self._confirmed.pop(room, None)
        if confirmed is not None and not confirmed.done():
            confirmed.cancel()
        # Sequence tracking restarts with the next join: what is published
        # while nobody here is a member is not lost to anyone.
        for key in [key for key in self._heard if key[0] == room]:
            del self._heard[key]
        if self.connected:
            task = asyncio.get_running_loop().create_task(self._unsubscribe(room))
            self._tasks.add(task)  # held until done: the loop keeps weak references
            task.add_done_callback(self._tasks.discard)

    async def _unsubscribe(self, room: str) -> None:
        try:
            await self._pubsub.unsubscribe(self._channel(room))
        except Exception:  # noqa: BLE001 - a dead connection unsubscribes everything anyway
            pass

    async def publish(self, room: str, message: Message) -> None:
        if isinstance(message, str):
            kind, payload = _TEXT, message.encode()
        else:
            kind, payload = _BINARY, bytes(message)
        outbox_ready = self._outbox_ready
        if self._writer is None or outbox_ready is None:
            raise HubUnavailable("the hub is closed")
        if not self._sending and not self._outbox:
            # Nothing queued or on its way: send it now, without the hop
            # through the writer's task (a publisher awaiting each publish
            # in turn never waits for it).
            self._sending = True
            try:
                await self._send([(room, kind, payload)])
            finally:
                self._sending = False
                if self._outbox:
                    outbox_ready.set()
            return
        future = asyncio.get_running_loop().create_future()
        self._outbox.append((room, kind, payload, future))
        outbox_ready.set()
        await future

    async def _write(self) -> None:
        """Send what :meth:`publish` queued while another send was on its
        way: all of it at once, in one pipeline, in order.

        Why publishes wait for each other: a subscriber reads a gap in a
        publisher's sequence numbers as loss, so the numbers must reach Redis
        in order. Concurrent publishes (every handler of a chat room) sent on
        redis-py's pooled connections would overtake each other and be
        counted lost although every one arrived.
        """
        ready = self._outbox_ready
        assert ready is not None  # made by start(), which starts this task
        while True:
            await ready.wait()
            ready.clear()
            if self._sending or not self._outbox:
                continue  # whoever is sending wakes the writer when done
            batch, self._outbox = self._outbox, []
            self._sending = True
            try:
                await self._send([(room, kind, payload) for room, kind, payload, _ in batch])
            except asyncio.CancelledError:
                _fail(batch, HubUnavailable("the hub was closed while publishing"))
                raise
            except Exception as exc:  # noqa: BLE001 - the publishers' to see, not the writer's
                _fail(batch, exc)
            else:
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)
            finally:
                self._sending = False
            if self._outbox:
                ready.set()

    async def _send(self, messages: "List[Tuple[str, bytes, bytes]]") -> None:
        """PUBLISH *messages* (room, kind, payload), numbered in order. The
        numbers are used even if this raises: Redis may have taken the
        messages all the same (see the module docstring)."""
        numbers: Dict[str, int] = {}  # the rooms of this batch: their last number
        commands = []
        for room, kind, payload in messages:
            number = numbers[room] = numbers.get(room, self._sequence.get(room, 0)) + 1
            commands.append((self._channel(room),
                             _HEADER.pack(_VERSION, kind, self._id, number) + payload))
        self._sequence.update(numbers)
        try:
            if len(commands) == 1:
                await self._client.publish(*commands[0])
            else:
                pipeline = self._client.pipeline(transaction=False)
                for channel, envelope in commands:
                    pipeline.publish(channel, envelope)
                await pipeline.execute()
        except _connection_errors() as exc:
            raise HubUnavailable(f"cannot publish to Redis: {exc}") from exc

    # -- the listener ------------------------------------------------------------

    async def _listen(self) -> None:
        """Connect, subscribe, read, and on any connection failure start
        over with backoff -- until cancelled by :meth:`close`."""
        hub, connected = self._hub, self._connected
        assert hub is not None and connected is not None  # start() made them
        backoff = self.min_backoff
        ever_connected = False
        while True:
            pubsub = self._subscriber.pubsub()
            try:
                await self._handshake(pubsub)
                # From here on join() subscribes by itself; the rooms joined
                # so far are subscribed here, in one command.
                self._pubsub = pubsub
                connected.set()
                channels = [self._channel(room) for room in self._confirmed]
                if channels:
                    await pubsub.subscribe(*channels)
                if ever_connected:
                    hub.stats.reconnects += 1
                    logger.info("hub: reconnected to Redis")
                    hub._connection_changed(True)
                ever_connected = True
                backoff = self.min_backoff
                await self._read(pubsub)
            except asyncio.CancelledError:
                await _close_quietly(pubsub)
                raise
            except _connection_errors() as exc:
                await _close_quietly(pubsub)
                if connected.is_set():
                    connected.clear()
                    hub.stats.disconnects += 1
                    if isinstance(exc, _Unresponsive):
                        hub.stats.unresponsive += 1
                    logger.warning("hub: lost the connection to Redis (%s); messages published "
                                   "until it is back are lost, and counted when noticed", exc)
                    for room, future in list(self._confirmed.items()):
                        if future.done():  # to be confirmed again after reconnecting
                            self._confirmed[room] = asyncio.get_running_loop().create_future()
                    hub._connection_changed(False)
                self._pubsub = None
                await asyncio.sleep(backoff * (0.5 + random.random() / 2))
                backoff = min(backoff * 2, self.max_backoff)

    async def _handshake(self, pubsub: Any) -> None:
        """Connect *pubsub* and wait for Redis to answer a PING: a listening
        socket proves nothing (a stopped Redis's kernel still accepts), an
        answer does. Bounded by ``health_check_timeout``."""
        timeout = self.health_check_timeout
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            # Connecting runs redis-py's own handshake (CLIENT SETINFO...),
            # which waits for replies: inside the bound too.
            await asyncio.wait_for(pubsub.ping(), timeout)
        except asyncio.TimeoutError:  # not an OSError before Python 3.11
            raise _Unresponsive(f"Redis did not answer within {timeout} s of connecting") from None
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise _Unresponsive(f"Redis did not answer PING within {timeout} s of connecting")
            item = await pubsub.get_message(timeout=remaining)
            if item is not None and item.get("type") == "pong":
                return

    async def _read(self, pubsub: Any) -> None:
        """Hand every message to :meth:`_handle`, and ping Redis after each
        ``health_check_interval`` of silence; raise :exc:`_Unresponsive`
        when a ping goes unanswered for ``health_check_timeout``."""
        interval = self.health_check_interval
        if interval is None:
            while True:
                item = await pubsub.get_message(timeout=None)
                if item is not None:
                    self._handle(item)
        timeout = self.health_check_timeout
        loop = asyncio.get_running_loop()
        heard = loop.time()  # when Redis last sent anything
        pinged: Optional[float] = None  # when the unanswered ping went out
        while True:
            now = loop.time()
            if pinged is None:
                wait = heard + interval - now
                if wait <= 0:
                    try:
                        # A write waits too when the socket's buffer is full.
                        await asyncio.wait_for(pubsub.ping(), timeout)
                    except asyncio.TimeoutError:
                        raise _Unresponsive(f"could not send PING within {timeout} s") from None
                    pinged = loop.time()
                    continue
            else:
                wait = pinged + timeout - now
                if wait <= 0:
                    raise _Unresponsive(f"Redis did not answer PING within {timeout} s")
            item = await pubsub.get_message(timeout=wait)
            if item is not None:
                # Any reply proves Redis alive: the pong, or a message
                # that was queued before it.
                heard = loop.time()
                pinged = None
                self._handle(item)

    def _handle(self, item: Dict[str, Any]) -> None:
        kind = item.get("type")
        channel = item.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        room = channel[len(self.prefix):] if isinstance(channel, str) else ""
        if kind == "subscribe":
            future = self._confirmed.get(room)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == "message":
            self._message(room, item["data"])

    def _message(self, room: str, data: bytes) -> None:
        hub = self._hub
        assert hub is not None
        if room not in self._confirmed:
            return  # left meanwhile; the unsubscription is on its way
        if len(data) < _HEADER.size:
            logger.warning("hub: ignored a malformed message on room %r", room)
            return
        version, kind, publisher, sequence = _HEADER.unpack_from(data)
        if version != _VERSION or kind not in (_TEXT, _BINARY):
            logger.warning("hub: ignored a message of unknown format on room %r", room)
            return
        key = (room, publisher)
        last = self._heard.get(key)
        if last is not None and sequence <= last:
            # Heard before: Redis took a publish twice (a retried PUBLISH).
            # Or, rarer, a message that Redis took after a later one (a
            # publish whose reply timed out, taken when a stopped Redis
            # resumed, after the retry): it was counted lost when the later
            # number arrived, and is not delivered out of order now.
            hub.stats.duplicates += 1
            return
        self._heard[key] = sequence
        if last is not None and sequence > last + 1:
            hub._lost(room, sequence - last - 1)
        payload = data[_HEADER.size:]
        hub._received(room, payload.decode() if kind == _TEXT else payload)


class _Unresponsive(TimeoutError):
    """Redis stopped answering on an open connection (the health check).
    A :exc:`TimeoutError`, hence an :exc:`OSError`: a connection error."""


def _fail(batch: "List[Tuple[str, bytes, bytes, asyncio.Future[None]]]",
          exc: BaseException) -> None:
    """Fail every publish of *batch* that still waits (a cancelled one does
    not), each with its own exception: one object raised in many tasks
    would collect all their tracebacks."""
    for *_, future in batch:
        if not future.done():
            copy = exc
            if isinstance(exc, HubUnavailable):
                copy = HubUnavailable(*exc.args)
                copy.__cause__ = exc.__cause__
            future.set_exception(copy)


def _connection_errors() -> Any:
    """The exceptions that mean "Redis cannot be reached" (redis-py's own,
    and the socket's if one escapes it)."""
    import redis.exceptions

    return (OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


async def _close_quietly(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except Exception:  # noqa: BLE001 - already broken
        pass
