"""The per-message path of the asyncio WebSocket; twin of src_c/wsfast/_stream_c.pyx
(declared in _stream_c.pxd).

Every :class:`wsfast.asyncio.connection.WebSocket` owns one
:class:`StreamCore` of its connection's back-end, which is the
``asyncio.BufferedProtocol`` the event loop drives. The stream core holds
what runs once per read and once per sent message -- the read callbacks,
queueing or handing out messages, ``recv``, ``send`` of a str or bytes,
writing frames -- and the fields those need; the WebSocket binds ``recv``,
``send`` and ``send_nowait`` to itself when it is made (so a call costs no
extra frame), and does everything rarer itself: the stream core passes the
other protocol callbacks (``connection_made``, ``connection_lost``,
``pause_writing``, ``resume_writing``, ``eof_received``) on to it.

Why it is a separate object with a compiled twin: on a request/response loop
the asyncio layer, not the codec, was most of the CPU time per message (about
twenty Python-level calls per round trip). Compiled, these methods are C
calls; the behaviour is this file's, and the test-suite runs over both.

The two contracts it stands between, both declared:

* below, the connection's :class:`~wsfast._core_py.ConnectionCore` (reader,
  outbox, state flags): read and written through its fields and its
  ``feed`` / ``write`` / ``take_out``, never through the connection;
* above, its owner, a :class:`StreamOwner` (the WebSocket): the rare paths
  are the six methods that protocol names, besides the protocol callbacks
  the stream core passes on, and nothing else of the owner is called. The owner in turn reads and sets the fields listed in
  ``StreamCore.__slots__`` (the compiled twin declares the same ones).

One difference in form, not in behaviour: ``recv``, ``__anext__`` and
``send`` are coroutines here, while the compiled twin returns an
``Operation``, a coroutine-like object whose steps are C calls (a Cython
coroutine costs three allocations and a StopIteration per await). In Python
a coroutine is the cheaper of the two. ``TestOperations`` in
tests/test_asyncio.py holds both to what a coroutine does: nothing happens
before the await and errors are raised there, ``asyncio.create_task`` takes
them, a cancelled ``send`` spares a fragmented message's lock.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Protocol, Tuple, Union, cast

from ._waiter_py import MessageWaiter
from .defaults import FLUSH_THRESHOLD
from .errors import ConcurrencyError, ConnectionClosedOK, InvalidState
from .frames import Opcode
from .state import State

__all__ = ["StreamCore", "StreamOwner", "recoded", "fan_out", "open_connections"]

_CONNECTING = State.CONNECTING
_OPEN = State.OPEN
_shield = asyncio.shield
_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)

Data = Union[str, bytes]


class StreamOwner(Protocol):
    """What a stream core calls on its owner: the protocol callbacks it does
    not handle itself, and the six slow paths below; nothing else."""

    def connection_made(self, transport: Any) -> None: ...
    def connection_lost(self, exc: Optional[BaseException]) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def eof_received(self) -> Optional[bool]: ...

    def _handle_events(self, events: List[Any]) -> None:
        """A read brought events that need more than queueing: control
        frames, an error, the handshake (the codec already answered them)."""

    def _callback_failed(self) -> None:
        """The ``on_message`` callback raised (the exception is being handled)."""

    def _recv_refusal(self) -> Optional[BaseException]:
        """Called before ``recv`` waits when the connection may have ended
        (a close received, a deferred failure, the TCP connection lost): the
        exception ``recv`` must raise, or None to wait after all."""

    def _send_refusal(self) -> BaseException:
        """The exception a send that cannot happen raises (closed, or a
        fragmented message in progress)."""

    async def _send_iterable(self, message: Any) -> None:
        """``send`` of anything but str and bytes-like: fragments, or TypeError."""

    async def _send_as(self, message: Any, text: bool) -> None:
        """``send(message, text=...)``: text frames (True) or binary frames
        (False) whatever the type of the data."""


def recoded(data: Data, decode: bool) -> Data:
    """A message as ``recv(decode=...)`` asks for it: ``str`` (decoded as
    UTF-8) when *decode* is true, ``bytes`` when it is false.

    The type of *data* says everything needed: a text message is ``str``
    unless the connection delivers text as bytes, and a binary one is bytes.
    Raises UnicodeDecodeError for bytes that are not UTF-8."""
    if decode:
        return data if type(data) is str else bytes(cast(bytes, data)).decode()
    return data.encode() if type(data) is str else data


class StreamCore(asyncio.BufferedProtocol):
    """The protocol the event loop drives for a WebSocket: read callbacks,
    message queueing, recv/send and frame writing; every other protocol
    callback is passed on to the owner."""

    __slots__ = (
        "owner",  # the StreamOwner
        "connection",  # the sans-I/O Connection, for what the core's fast paths do not cover
        "client_side",  # connection.is_client: its frames are masked
        "core",  # the connection's ConnectionCore
        "loop",
        "view",  # the shared read buffer (a memoryview)
        "on_message",  # the owner's on_message callback, or None
        "max_queue",  # pause reading beyond this many queued messages; None: never
        "queue_low",  # resume reading once this many messages (or fewer) are queued
        "messages",  # deque of message events waiting for recv
        "recv_waiter",  # the MessageWaiter a task in recv waits on, or None
        "resolved",  # a future resolved with None (see MessageWaiter._argument_for)
        "transport",
        "writelines",  # writes a list of frames to the transport, with flow control
        "writable",  # the transport accepts writes
        "reading_paused",  # paused by the queue (max_queue)
        "input_held",  # paused while the reader holds unparsed input (hold_input)
        "input_scheduled",  # continue_input is scheduled
        "writing_paused",
        "wrote",  # a frame was written since the last read / flush
        "pending_bytes",  # payload bytes collected since the last write
        "flush_handle",  # the call_soon handle of flush(), or None
        "send_lock",  # a future while a fragmented message is being sent, or None
        "lost",  # future of connection_lost
        "closed_exc",  # the final ConnectionClosed, once the TCP connection ended
        "deferred_failure",  # timer of a protocol error deferred behind queued messages
        "drain_waiters",  # futures of senders waiting for resume_writing
    )

    def __init__(self, owner: StreamOwner, connection: Any, loop: asyncio.AbstractEventLoop,
                 view: memoryview, max_queue: Optional[int]) -> None:
        self.owner = owner
        self.connection = connection
        self.client_side = bool(connection.is_client)
        self.core = connection.core
        self.loop = loop
        self.view = view
        self.on_message: Optional[Callable[[Data], Any]] = None
        self.max_queue = max_queue
        self.queue_low = (max_queue or 0) // 4
        self.messages: Deque[Any] = collections.deque()
        self.recv_waiter: Any = None
        self.resolved = loop.create_future()
        self.resolved.set_result(None)
        self.transport: Any = None
        self.writelines: Any = None
        self.writable = False
        self.reading_paused = False
        self.input_held = False
        self.input_scheduled = False
        self.writing_paused = False
        self.wrote = False
        self.pending_bytes = 0
        self.flush_handle: Optional[asyncio.Handle] = None
        self.send_lock: "Optional[asyncio.Future[None]]" = None
        self.lost = loop.create_future()
        self.closed_exc: Optional[BaseException] = None
        self.deferred_failure: Optional[asyncio.TimerHandle] = None
        self.drain_waiters: "Deque[asyncio.Future[None]]" = collections.deque()

    # -- asyncio.BufferedProtocol ---------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.owner.connection_made(transport)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.owner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.owner.pause_writing()

    def resume_writing(self) -> None:
        self.owner.resume_writing()

    def eof_received(self) -> Optional[bool]:
        return self.owner.eof_received()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.wrote = False
        core = self.core
        reader = core.reader
        if reader is not None:
            # the connection's receive(), without its frames (the core's fast path)
            view = self.view
            if not 0 <= nbytes <= len(view):  # what the compiled twin reads in place
                raise ValueError(f"buffer_updated({nbytes}) beyond a {len(view)}-byte buffer")
            events = core.feed(view[:nbytes])
            if core.events:  # left by the handshake: they come first
                events = self.connection.events_received() + events
            if reader.pending:
                self.hold_input()
        elif core.state is _CONNECTING:  # the handshake parser keeps what it is given
            self.owner._handle_events(self.connection.receive(bytes(self.view[:nbytes])))
            return
        else:  # reading has stopped
            events = self.connection.receive(self.view[:nbytes])
        if core.control_received:
            core.control_received = False
            self.owner._handle_events(events)
            return
        if not events:
            return
        messages = self.messages
        on_message = self.on_message
        if on_message is not None and not messages:
            self.deliver(events, on_message)
            return
        messages.extend(events)
        self.wake_receiver()
        self.limit_queue()

    def data_received(self, data: bytes) -> None:  # pragma: no cover - Protocol fallback
        n = len(data)
        self.view[:n] = data
        self.buffer_updated(n)

    def wake_receiver(self) -> None:
        """Resolve the recv() waiter: new messages, or the connection ends.
        (It may run the waiting task right here: see MessageWaiter.)"""
        waiter = self.recv_waiter
        if waiter is not None:
            self.recv_waiter = None
            waiter.set_result(None)  # a done waiter ignores it

    def limit_queue(self) -> None:
        """Pause reading while more than max_queue messages wait for recv()."""
        if (self.max_queue is not None and len(self.messages) > self.max_queue
                and not self.reading_paused and self.writable):
            self.reading_paused = True
            if not self.input_held:
                self.transport.pause_reading()

    def resume_reading(self) -> None:
        """The queue has room again: parse what the reader holds first, then
        read from the transport."""
        self.reading_paused = False
        if self.input_held:
            self.schedule_input()
        elif self.transport is not None and not self.lost.done():
            self.transport.resume_reading()

    def hold_input(self) -> None:
        """The reader stopped mid-chunk after decompressing INFLATE_YIELD
        bytes (wsfast.defaults) and keeps the rest: read nothing more from
        the transport, and parse the rest on a later turn of the loop (other
        connections get theirs in between) while the queue has room."""
        if not self.input_held:
            self.input_held = True
            if not self.reading_paused and self.writable:
                self.transport.pause_reading()
        if not self.reading_paused:
            self.schedule_input()

    def schedule_input(self) -> None:
        if not self.input_scheduled:
            self.input_scheduled = True
            self.loop.call_soon(self.continue_input)

    def continue_input(self) -> None:
        """Parse on where the reader stopped (see hold_input)."""
        self.input_scheduled = False
        if self.reading_paused or self.lost.done():
            return  # resume_reading() calls again when the queue has room
        reader = self.core.reader
        if reader is not None and reader.pending:
            self.buffer_updated(0)  # calls hold_input again if it stops again
            reader = self.core.reader
            if reader is not None and reader.pending:
                return
        self.input_held = False
        if not self.reading_paused and self.transport is not None and not self.lost.done():
            self.transport.resume_reading()

    def deliver(self, events: List[Any], on_message: Callable[[Data], Any]) -> None:
        """Hand data messages to the on_message callback (in order)."""
        for event in events:
            try:
                on_message(event.data)
            except Exception:  # noqa: BLE001 - report, then fail the connection
                self.owner._callback_failed()
                return

    # -- receiving -----------------------------------------------------------

    def __aiter__(self) -> "StreamCore":
        return self

    async def recv(self, decode: Optional[bool] = None) -> Data:
        """Wait for the next message (see WebSocket.recv)."""
        messages = self.messages
        while not messages:
            await self.message_waiter()
        event = messages.popleft()
        if self.reading_paused and len(messages) <= self.queue_low:
            self.resume_reading()
        data: Data = event.data
        if decode is None:
            return data
        return recoded(data, decode)

    async def __anext__(self) -> Data:
        """``async for message in websocket``: ends quietly on a normal close."""
        messages = self.messages
        while not messages:
            try:
                waiter = self.message_waiter()
            except ConnectionClosedOK:
                raise StopAsyncIteration from None
            await waiter
        event = messages.popleft()
        if self.reading_paused and len(messages) <= self.queue_low:
            self.resume_reading()
        data: Data = event.data
        return data

    def message_waiter(self) -> Any:
        """A waiter resolved when messages arrive or the connection ends, or
        the exception to raise now. (A plain function, not a coroutine: one
        frame less per wait on the round-trip path.)"""
        if (self.deferred_failure is not None or self.closed_exc is not None
                or self.core.recv_closed):
            refusal = self.owner._recv_refusal()
            if refusal is not None:
                raise refusal
        waiter = self.recv_waiter
        if waiter is not None and not waiter.done():
            raise ConcurrencyError("another coroutine is already waiting for a message")
        waiter = self.recv_waiter = MessageWaiter(self.loop, self.resolved)
        return waiter

    # -- sending ---------------------------------------------------------------

    async def send(self, message: Any, text: Optional[bool] = None) -> None:
        """Send a message (see WebSocket.send)."""
        if text is not None:  # the frame type is the caller's, not the data's
            await self.owner._send_as(message, text)
            return
        while self.send_lock is not None:  # a fragmented message goes first
            await _shield(self.send_lock)
        if type(message) is str or isinstance(message, (bytes, bytearray, memoryview)):
            self.send_nowait(message)
            if self.writing_paused:
                await self.drain_waiter()
        else:
            await self.owner._send_iterable(message)

    def send_nowait(self, message: Union[str, bytes, bytearray, memoryview]) -> None:
        """Send a str or bytes-like message without waiting (see WebSocket.send_nowait)."""
        if type(message) is str:
            opcode = _TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            opcode = _BINARY
        else:
            raise TypeError(f"data must be str or bytes-like, not {type(message).__name__}")
        core = self.core
        if core.fast_send:  # send_text / send_binary's work (the core's fast path)
            core.write(opcode, message)
        else:
            try:
                connection = self.connection
                if opcode is _TEXT:
                    connection.send_text(message)
                else:
                    connection.send_binary(message)
            except InvalidState:  # closed, or a fragmented send in progress
                raise self.owner._send_refusal() from None
        self.pending_bytes += len(message)
        self.write_soon()

    def drain_waiter(self) -> "asyncio.Future[None]":
        """A future resolved when the write buffer is below its low-water
        mark (resume_writing), or the exception to raise now."""
        if self.lost.done():
            raise self.owner._send_refusal()
        waiter = self.loop.create_future()
        self.drain_waiters.append(waiter)
        return waiter

    def write_soon(self) -> None:
        """Write what the connection has to send: at once if nothing was
        written since the last read or flush (a reply, a lone message: no
        added latency, no extra loop iteration), else together at the end of
        the loop iteration (a burst: one system call), or when
        FLUSH_THRESHOLD bytes wait."""
        if not self.wrote:
            self.wrote = True
            self.write_now()
        elif self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self.flush)
        elif self.pending_bytes >= FLUSH_THRESHOLD:
            self.write_now()

    def flush(self) -> None:
        self.flush_handle = None
        self.wrote = False
        self.write_now()

    def write_now(self) -> None:
        self.pending_bytes = 0
        core = self.core
        if core.out:
            data = core.take_out()
            if self.writable:
                self.writelines(data)

    def write_frame_now(self, frame: bytes) -> None:
        """Write a frame built elsewhere (a broadcast's), behind whatever
        waits to be sent, now. With nothing waiting -- the usual case -- it
        goes straight to ``transport.write``: no list, no writelines, which
        for one chunk comes to the same system call."""
        core = self.core
        if core.out:
            core.out.append(frame)
            self.write_now()
            return
        self.pending_bytes = 0
        if self.writable:
            self.transport.write(frame)


#: What fan_out returns for a connection it leaves to its caller: an open
#: connection and why -- None: its stream core is of the other back-end (not
#: looked at beyond its state); True: slow by the policy; False: it cannot
#: take the frame as is (compressed, client side, fragmented message in
#: progress); an exception: writing the frame failed.
Leftover = Tuple[Any, Union[None, bool, BaseException]]


def open_connections(registry: Dict[Any, Any]) -> Any:
    """``server.connections``: a :class:`wsfast.fanout.OpenConnections` of
    the owners of the stream cores in *registry* (the server's open
    connections: connection core -> stream core), carrying those stream
    cores for :func:`fan_out`. One pass, in the registry's order."""
    from .fanout import OpenConnections  # not at import: fanout imports the back-end

    streams = list(registry.values())
    connections = OpenConnections(stream.owner for stream in streams)
    connections.streams = streams
    return connections


def fan_out(websockets: Iterable[Any], frame: bytes, policy: Any,
            lookup: bool) -> Tuple[Any, List[Leftover]]:
    """The per-connection loop of :func:`wsfast.asyncio.broadcast`: write
    *frame* (a server's unmasked, uncompressed frame) to each open
    connection of *websockets* that can take it as is, now.

    *policy* is the slow-consumer policy or None; with *lookup*, it is
    replaced by the ``broadcast_policy`` of the server of the first open
    connection. Connections that are not open are passed over; every other
    one that this loop does not serve is returned, in order, with the reason
    (``Leftover``) for the caller to handle. Returns ``(policy, leftovers)``.

    Why it is a kernel: this loop runs once per recipient, and in Python its
    attribute loads and calls cost as much again as the ``send`` system call
    of each write (the compiled twin does it in C). Both look every stream
    core up before writing to any (the compiled twin's misses then overlap:
    see there), so an object without one raises AttributeError before
    anything is sent.
    """
    from .fanout import OpenConnections  # not at import: fanout imports the back-end

    if type(websockets) is OpenConnections and websockets.streams is not None:
        # server.connections, unchanged: its stream cores come with it.
        streams = list(websockets.streams)
        websockets = [stream.owner for stream in streams]
    else:
        websockets = list(websockets)
        streams = [websocket._stream for websocket in websockets]
    leftovers: List[Leftover] = []
    for websocket, stream in zip(websockets, streams):
        own = isinstance(stream, StreamCore)
        if own:
            if stream.core.state is not _OPEN:
                continue
        elif websocket.connection.state is not _OPEN:
            continue
        if lookup:
            lookup = False
            policy = getattr(getattr(websocket, "server", None), "broadcast_policy", None)
        if not own:
            leftovers.append((websocket, None))
            continue
        if policy is not None and policy.is_slow(websocket):
            leftovers.append((websocket, True))
            continue
        core = stream.core
        if not core.fast_send or stream.send_lock is not None or stream.client_side:
            leftovers.append((websocket, False))
            continue
        try:
            stream.write_frame_now(frame)
        except Exception as exc:  # noqa: BLE001 - one failure must not stop the rest
            leftovers.append((websocket, exc))
    return policy, leftovers
