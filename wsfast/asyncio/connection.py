"""The asyncio WebSocket object shared by servers and clients.

:class:`WebSocket` is the object the application awaits on (``recv``,
``send``, ``async for``, ``ping``, ``close``); its stream core is the
``asyncio.BufferedProtocol`` that the event loop drives. It only moves bytes
and events between the transport and a sans-I/O
:class:`wsfast.connection.Connection`; every protocol rule is there.

The per-message methods (read callbacks, queueing, ``recv``, ``send``,
``send_nowait``, frame writing) and the fields they use live in a stream core
that each WebSocket owns as ``_stream``: ``wsfast/_stream_py.py`` or its
compiled twin, as the connection's back-end says. The WebSocket binds those
methods to itself; the stream core calls back only the five slow-path methods
of ``wsfast._stream_py.StreamOwner``. Everything else is here, written once
for both back-ends.

Why it is shaped like this (all measured on the echo benchmark):

* **Receive**: the loop reads straight into one buffer shared by every
  connection of the thread (``BufferedProtocol``; the codec copies out what it
  keeps, so nothing refers to the buffer afterwards) -- no ``bytes`` object per
  read, and no per-connection read buffer. A read that carries only data
  messages is moved into the queue with one ``deque.extend``; control frames
  are looked at only when the codec says there were some. The buffer is an
  anonymous ``mmap``, so it starts on a page boundary: the kernel's copy into
  it is sensitive to where the destination starts, and into a ``bytearray``
  (16 bytes past a page boundary) it was a third of the 64 KiB echo server's
  time on this machine's AMD EPYC, against a tenth page-aligned (``perf``,
  ``_copy_to_iter``; server CPU per message ~32 -> ~22 us). A task waiting in
  ``recv`` is resumed from the read callback itself (``MessageWaiter``, in
  ``wsfast/_waiter_py.py`` and its compiled twin), not one loop iteration
  later; an ``on_message`` callback skips the task altogether.
* **Send**: the first frame sent after a read (or a flush) is written at once
  (best latency); frames that follow it in the same loop iteration are
  collected and written together at its end (one system call for a burst), or
  as soon as 64 KiB are waiting. A client's masked frames of 8 KiB to 1 MiB
  are built in a buffer that is reused once the transport has let go of the
  last one (``FrameWriter.reuse_buffers``): no frame-sized allocation, and no
  page faults from glibc trimming and regrowing the heap, per large message.
* **Backpressure**: reading pauses while more than ``max_queue`` messages wait
  for ``recv`` and resumes when the queue is down to a quarter of that;
  ``send`` waits while the transport's write buffer is above its high-water
  mark (``write_limit``).
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import sys
import threading
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, Optional, Tuple, Union, cast

from ..connection import Connection, State
from ..defaults import (CLOSE_TIMEOUT, DEFERRED_FAILURE_LIMIT, MAX_QUEUE, PING_INTERVAL,
                        PING_TIMEOUT, READ_BUFFER_SIZE)
from ..errors import (ConcurrencyError, ConnectionClosed, ConnectionClosedError,
                      ConnectionClosedOK, InvalidState)
from ..events import BinaryMessage, CloseReceived, Pong, TextMessage
from ..fanout import PreparedMessage, shared_frame
from ..frames import Close

__all__ = ["WebSocket", "ConcurrencyError", "websocket_class", "queue_marks", "LoggerLike"]

logger = logging.getLogger(__name__)

Data = Union[str, bytes]
LoggerLike = Union[logging.Logger, "logging.LoggerAdapter[Any]"]



_local = threading.local()

#: CPython 3.12.0-3.12.8 and 3.13.0-3.13.1: the selector transport's
#: writelines() never pauses the protocol, so a sender would never be told to
#: wait (gh-127655). On those versions wsfast joins and calls write() instead.
_WRITELINES_BROKEN = (3, 12) <= sys.version_info < (3, 12, 9) or (
    (3, 13) <= sys.version_info < (3, 13, 2))


def _writer_for(transport: Any) -> Any:
    """The function that writes a list of chunks to transport, with flow control."""
    if _WRITELINES_BROKEN and type(transport).__name__ == "_SelectorSocketTransport":
        write = transport.write

        def joined_write(chunks: List[bytes]) -> None:
            write(chunks[0] if len(chunks) == 1 else b"".join(chunks))

        return joined_write
    return transport.writelines


def _read_buffer() -> memoryview:
    """The read buffer of this thread's event loop (see the module docstring):
    a view of a page-aligned anonymous mapping, which the view keeps alive."""
    try:
        view: memoryview = _local.view
    except AttributeError:
        view = _local.view = memoryview(_private_pages(READ_BUFFER_SIZE))
    return view


def _private_pages(size: int) -> mmap.mmap:
    """*size* bytes of page-aligned anonymous memory, private to the process
    as a bytearray is: ``mmap``'s default on Unix is MAP_SHARED, which a forked
    child would keep sharing with its parent."""
    if hasattr(mmap, "MAP_PRIVATE"):
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
    return mmap.mmap(-1, size)  # Windows: no fork


def queue_marks(max_queue: Any) -> Tuple[Optional[int], int]:
    """``max_queue`` as websockets takes it -- an int, ``None`` or a
    ``(high, low)`` tuple where either may be None -- as the (high, low)
    water marks of the receive queue: reading pauses above *high* and
    resumes at *low* (a quarter of *high* unless given)."""
    if max_queue is None or isinstance(max_queue, int):
        high, low = max_queue, None
    else:
        try:
            high, low = max_queue
        except (TypeError, ValueError):
            raise TypeError(f"max_queue must be an int, None or a (high, low) tuple, "
                            f"not {max_queue!r}") from None
    if high is None and low is not None:
        high = 4 * low
    if low is None:
        low = (high or 0) // 4
    if high is not None and not 0 <= low <= high:
        raise ValueError(f"max_queue: need 0 <= low <= high, not {max_queue!r}")
    return high, low


def write_marks(write_limit: Any) -> Optional[Tuple[int, Optional[int]]]:
    """``write_limit`` (an int, or a ``(high, low)`` tuple where low may be
    None) as the arguments of ``transport.set_write_buffer_limits``."""
    if write_limit is None:
        return None
    if isinstance(write_limit, int):
        return write_limit, None
    high, low = write_limit
    return high, low


def websocket_class(kind: type, connection: Connection) -> type:
    """Kept for code written against wsfast 0.1: WebSocket classes are plain
    classes now (the per-message methods live in a stream core that each
    WebSocket owns), so the class to instantiate is *kind* itself."""
    return kind


def _default_logger() -> logging.Logger:
    """The logger of connections made without ``logger=``: this module's."""
    return logger


class WebSocket:
    """One WebSocket connection in asyncio.

    Created by :func:`wsfast.serve` (passed to the handler) and
    :func:`wsfast.connect`; not meant to be instantiated directly.

    The per-message work -- the read callbacks, :meth:`recv`, :meth:`send`,
    :meth:`send_nowait`, ``async for`` -- is done by a stream core of the
    connection's back-end (``wsfast/_stream_py.py`` or its compiled twin),
    which is the ``asyncio.BufferedProtocol`` the event loop drives (see
    :attr:`protocol`) and whose methods each WebSocket binds to itself when
    it is made: calling them costs no extra frame. Every rarer path is a
    method of this class; the stream core passes the other protocol
    callbacks on to it.

    Attributes:
        connection: the sans-I/O :class:`~wsfast.connection.Connection`.
        request: the upgrade request (path and headers).
        response: the upgrade response.
        latency: round-trip time measured by the last keepalive ping, in seconds.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        max_queue: Any = MAX_QUEUE,
        write_limit: Optional[Union[int, Tuple[int, Optional[int]]]] = None,
        logger: Optional[LoggerLike] = None,
    ) -> None:
        self.connection = connection
        #: A unique identifier of the connection, for logs.
        self.id = uuid.uuid4()
        self.logger: Any = logging.LoggerAdapter(
            logger if logger is not None else _default_logger(), {"websocket": self})
        # Frames go straight to the transport and are dropped once written:
        # the compiled writer may build large masked frames in a reused buffer.
        connection.core.writer.reuse_buffers = True
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self._write_limit = write_marks(write_limit)
        self._loop = asyncio.get_running_loop()
        high, low = queue_marks(max_queue)
        stream = connection.kernels.StreamCore(self, connection, self._loop, _read_buffer(), high)
        stream.queue_low = low
        self._stream = stream
        # The hot methods, bound to the stream core (see the class docstring).
        self.recv = stream.recv  # type: ignore[method-assign]
        self.send = stream.send  # type: ignore[method-assign]
        self.send_nowait = stream.send_nowait  # type: ignore[method-assign]
        self._pings: Dict[bytes, Tuple["asyncio.Future[float]", float]] = {}
        self._keepalive_handle: Optional[asyncio.TimerHandle] = None
        self._close_timer: Optional[asyncio.TimerHandle] = None
        self.latency = 0.0
        self.request: Any = None
        self.response: Any = None

    # -- the per-message methods (bound to the stream core per instance) ------

    def recv(self, decode: Optional[bool] = None) -> Awaitable[Data]:
        """Wait for the next message: ``str`` for text (``bytes`` if the
        connection was opened with ``text_as_bytes=True``), ``bytes`` for binary.

        ``decode=True`` gives ``str`` whatever the frame type (binary
        messages are decoded as UTF-8, UnicodeDecodeError if they are not);
        ``decode=False`` gives ``bytes`` (text as its UTF-8 encoding), as
        websockets' ``recv(decode=...)``.

        Behaves as a coroutine: nothing happens before it is awaited, and
        ``asyncio.create_task`` and ``wait_for`` take it.

        Raises:
            ConnectionClosedOK: the connection was closed normally.
            ConnectionClosedError: it ended with an error or abnormally.
            ConcurrencyError: another coroutine is already waiting in ``recv``.
        """
        return cast(Awaitable[Data], self._stream.recv(decode))

    def send(self, message: Any, text: Optional[bool] = None) -> Awaitable[None]:
        """Send a message: ``str`` as text, bytes-like as binary; an iterable
        or async iterable of them as one fragmented message.

        ``text=True`` sends in text frames whatever the type (bytes must be
        UTF-8: they are not checked), ``text=False`` in binary frames (a
        ``str`` is encoded as UTF-8), as websockets' ``send(text=...)``.

        Waits while the transport's write buffer is full (backpressure).
        Behaves as a coroutine, as :meth:`recv` does.

        Raises:
            ConnectionClosed: the connection is closing or closed.
            TypeError: unsupported message type.
        """
        return cast(Awaitable[None], self._stream.send(message, text))

    def send_nowait(self, message: Data) -> None:
        """Send a ``str`` (text) or bytes-like (binary) message without
        waiting: the frame is written at once or at the end of the loop
        iteration. For ``on_message`` callbacks and other synchronous code;
        such a sender should respect :attr:`writing_paused` (or ``await
        drain()``) so that a slow peer cannot make the write buffer grow.

        Raises:
            ConnectionClosed: the connection is closing or closed.
            TypeError: neither str nor bytes-like.
        """
        self._stream.send_nowait(message)

    def __aiter__(self) -> AsyncIterator[Data]:
        """``async for message in websocket``: ends quietly on a normal close,
        raises ConnectionClosedError otherwise."""
        return cast(AsyncIterator[Data], self._stream)

    def __anext__(self) -> Awaitable[Data]:
        return cast(Awaitable[Data], self._stream.__anext__())

    @property
    def protocol(self) -> asyncio.BufferedProtocol:
        """The ``asyncio.BufferedProtocol`` to hand the event loop for this
        connection (``loop.create_connection(lambda: websocket.protocol, ...)``)."""
        return cast(asyncio.BufferedProtocol, self._stream)

    @property
    def on_message(self) -> Optional[Callable[[Data], Any]]:
        """Optional ``on_message(data)`` callback: when set (and no message is
        waiting in the queue), each message is handed to it as soon as it is
        parsed, in the event loop's reading callback, instead of being queued
        for :meth:`recv`. No task switch per message: the fastest way to
        consume a stream. Answer with :meth:`send_nowait`. An exception it
        raises fails the connection with 1011."""
        return cast(Optional[Callable[[Data], Any]], self._stream.on_message)

    @on_message.setter
    def on_message(self, callback: Optional[Callable[[Data], Any]]) -> None:
        self._stream.on_message = callback

    @property
    def max_queue(self) -> Optional[int]:
        """Messages queued for :meth:`recv` before reading pauses (it resumes
        at the low-water mark, a quarter of it unless ``max_queue`` was a
        ``(high, low)`` tuple); ``None``: no limit. Setting it takes the same
        forms as the option."""
        return cast(Optional[int], self._stream.max_queue)

    @max_queue.setter
    def max_queue(self, value: Any) -> None:
        high, low = queue_marks(value)
        self._stream.max_queue = high
        self._stream.queue_low = low

    async def recv_streaming(self, decode: Optional[bool] = None) -> AsyncIterator[Data]:
        """The next message as an async iterator of its pieces, as websockets'
        ``recv_streaming``.

        wsfast's codec assembles, bounds and validates each message before
        handing it over, so the iterator yields the whole message as one
        piece (``str`` or ``bytes``, ``decode`` as for :meth:`recv`). Code
        that joins the pieces gets the same result as with websockets.
        """
        yield await self._stream.recv(decode)

    # -- what applications read --------------------------------------------

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.connection.state

    @property
    def open(self) -> bool:
        """Whether messages can be sent."""
        return bool(self.connection.core.can_send_data)

    @property
    def closed(self) -> bool:
        """Whether the TCP connection is closed."""
        return bool(self._stream.lost.done())

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self.connection.subprotocol

    @property
    def close_code(self) -> Optional[int]:
        """Close code received from the peer, as soon as its close frame
        arrives (1006 if the connection ended without one); ``None`` before."""
        rcvd = self.connection.close_rcvd
        if rcvd is not None:
            return rcvd[0]
        return 1006 if self._stream.lost.done() else None

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received from the peer (see :attr:`close_code`)."""
        rcvd = self.connection.close_rcvd
        if rcvd is not None:
            return rcvd[1]
        return "" if self._stream.lost.done() else None

    @property
    def remote_address(self) -> Any:
        """The peer's address, as the socket reports it."""
        return self._stream.transport.get_extra_info("peername") if self._stream.transport else None

    @property
    def local_address(self) -> Any:
        """Our address, as the socket reports it."""
        return self._stream.transport.get_extra_info("sockname") if self._stream.transport else None

    @property
    def path(self) -> Optional[str]:
        """Path of the upgrade request (the legacy ``websocket.path``)."""
        return self.request.path if self.request is not None else None

    @property
    def request_headers(self) -> Any:
        """Headers of the upgrade request (legacy name)."""
        return self.request.headers if self.request is not None else None

    @property
    def response_headers(self) -> Any:
        """Headers of the upgrade response (legacy name)."""
        return self.response.headers if self.response is not None else None

    # -- the stream core's slow paths (StreamOwner) ------------------------------

    def _recv_refusal(self) -> Optional[BaseException]:
        """What recv raises instead of waiting, if anything: first fail the
        connection for a deferred protocol error (everything before the
        violation was taken), then refuse once no message can come."""
        if self._stream.deferred_failure is not None:
            self._fail_deferred()
        if self._stream.closed_exc is not None or self.connection.core.recv_closed:
            return self._connection_closed()
        return None

    def _send_refusal(self) -> BaseException:
        """What a send the codec refuses raises."""
        if self._stream.send_lock is not None and self.open:
            return RuntimeError("a fragmented message is being sent")
        return self._connection_closed()

    def _callback_failed(self) -> None:
        """The on_message callback raised: report it, fail the connection."""
        self.logger.error("on_message callback failed", exc_info=True)
        self._fail(1011, "internal error")

    # -- sending ---------------------------------------------------------------

    async def _send_as(self, message: Any, text: bool) -> None:
        """send(message, text=...): the frame type is the caller's choice."""
        while self._stream.send_lock is not None:  # a fragmented message goes first
            await asyncio.shield(self._stream.send_lock)
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            try:
                if text:
                    self.connection.send_text(message)
                else:
                    self.connection.send_binary(
                        message.encode() if isinstance(message, str) else message)
            except InvalidState:
                raise self._send_refusal() from None
            self._stream.write_soon()
            if self._stream.writing_paused:
                await self._drain()
        else:
            await self._send_iterable(message, text)

    async def _send_iterable(self, message: Any, text: Optional[bool] = None) -> None:
        """send() of anything but str and bytes-like: a prepared message,
        fragments, or a TypeError."""
        if isinstance(message, PreparedMessage):
            await self._send_prepared(message)
        elif isinstance(message, dict):
            raise TypeError("data must be str, bytes-like, or an iterable of them")
        elif hasattr(message, "__aiter__"):
            self._check_open()
            await self._send_fragments_async(message, text)
        elif hasattr(message, "__iter__"):
            self._check_open()
            await self._send_fragments(iter(message), text)
        else:
            raise TypeError(f"data must be str, bytes-like, or an iterable of them, "
                            f"not {type(message).__name__}")

    async def _send_prepared(self, message: PreparedMessage) -> None:
        """send(wsfast.prepare(...)): the frame built once, where this
        connection can take it as is -- or, with permessage-deflate, the one
        compressed frame of its setting (wsfast/fanout.py) -- else its payload."""
        while self._stream.send_lock is not None:  # a fragmented message goes first
            await asyncio.shield(self._stream.send_lock)
        connection = self.connection
        core = connection.core
        if core.fast_send and not connection.is_client:
            frame: Optional[bytes] = message.frame
        elif core.can_send_data and not core.sending_fragmented:
            frame = shared_frame(connection, message)
        else:
            frame = None
        if frame is not None:
            core.out.append(frame)
            self._stream.pending_bytes += len(message.payload)
            self._stream.write_soon()
            if self._stream.writing_paused:
                await self._drain()
        else:
            await self._send_as(message.payload, message.text)

    def _check_open(self) -> None:
        if not self.connection.core.can_send_data:
            raise self._connection_closed()

    @property
    def writing_paused(self) -> bool:
        """Whether the transport's write buffer is above its high-water mark."""
        return bool(self._stream.writing_paused)

    async def drain(self) -> None:
        """Wait until the write buffer is below its low-water mark."""
        if self._stream.writing_paused:
            await self._drain()

    async def _send_fragments(self, fragments: Any, text: Optional[bool] = None) -> None:
        try:
            first = next(fragments)
        except StopIteration:
            return  # RFC 6455 has no empty fragmented message: send nothing
        await self._send_fragmented(first, fragments, None, text)

    async def _send_fragments_async(self, fragments: Any, text: Optional[bool] = None) -> None:
        iterator = fragments.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            return
        await self._send_fragmented(first, None, iterator, text)

    async def _send_fragmented(self, first: Data, sync_iter: Any, async_iter: Any,
                               text: Optional[bool] = None) -> None:
        connection = self.connection
        is_text = isinstance(first, str)
        if not is_text and not isinstance(first, (bytes, bytearray, memoryview)):
            raise TypeError("fragments must be str or bytes-like")
        # send(text=...): the frame type is given, fragments of either type
        # are accepted (str encoded for binary, bytes taken as UTF-8 for text).
        forced = text is not None
        if forced:
            is_text = bool(text)
            if not is_text and isinstance(first, str):
                first = first.encode()
        lock = self._loop.create_future()
        self._stream.send_lock = lock
        try:
            (connection.send_text if is_text else connection.send_binary)(first, fin=False)
            while True:
                try:
                    piece = next(sync_iter) if sync_iter is not None else await async_iter.__anext__()
                except (StopIteration, StopAsyncIteration):
                    break
                if forced:
                    if not isinstance(piece, (str, bytes, bytearray, memoryview)):
                        raise TypeError("fragments must be str or bytes-like")
                    if not is_text and isinstance(piece, str):
                        piece = piece.encode()
                elif isinstance(piece, str) is not is_text:
                    raise TypeError("all fragments must be of the same type (str or bytes)")
                connection.send_continuation(piece, fin=False)
                self._stream.write_soon()
                if self._stream.writing_paused:
                    await self._drain()
            connection.send_continuation(b"", fin=True)
            self._stream.write_soon()
            if self._stream.writing_paused:
                await self._drain()
        except InvalidState:
            raise self._connection_closed() from None
        except BaseException:
            # The message is half sent and can never be finished: any other
            # data frame would break the peer's reassembly, so the connection
            # is unusable. Fail it (1011) and report the cause to the sender;
            # this covers a failing or cancelled producer and a wrong type.
            if self.open:
                self._fail(1011, "error in fragmented message")
            raise
        finally:
            self._stream.send_lock = None
            lock.set_result(None)

    async def _drain(self) -> None:
        await self._stream.drain_waiter()

    # -- pings ----------------------------------------------------------------

    async def ping(self, data: Optional[Data] = None) -> "asyncio.Future[float]":
        """Send a ping; return a future that resolves to the round-trip time
        (seconds) when the matching pong arrives.

        ``data`` defaults to 4 random bytes. A pong acknowledges its ping and
        every earlier one (RFC 6455 §5.5.3 allows pongs for the latest only).

        Raises:
            ConnectionClosed: the connection is closing or closed.
        """
        if isinstance(data, str):
            data = data.encode()
        elif data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        else:
            data = bytes(data)
        if data in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        try:
            self.connection.send_ping(data)
        except InvalidState:
            raise self._connection_closed() from None
        waiter = self._loop.create_future()
        self._pings[data] = (waiter, time.monotonic())
        self._stream.write_soon()
        return waiter

    async def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong."""
        try:
            self.connection.send_pong(data.encode() if isinstance(data, str) else data)
        except InvalidState:
            raise self._connection_closed() from None
        self._stream.write_soon()

    def _pong_received(self, data: bytes) -> None:
        if data not in self._pings:
            return  # unsolicited
        now = time.monotonic()
        for key in list(self._pings):  # insertion order: oldest first
            waiter, sent = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent)
            if key == data:
                self.latency = now - sent
                break

    def _start_keepalive(self) -> None:
        if self.ping_interval is not None:
            self._keepalive_handle = self._loop.call_later(self.ping_interval, self._keepalive)

    def _keepalive(self) -> None:
        self._keepalive_handle = None
        if not self.open:
            return
        payload = os.urandom(4)
        try:
            self.connection.send_ping(payload)
        except InvalidState:
            return
        waiter = self._loop.create_future()
        self._pings[payload] = (waiter, time.monotonic())
        self._stream.write_now()
        if self.ping_timeout is not None:
            timer = self._loop.call_later(self.ping_timeout, self._ping_timed_out, waiter)
            waiter.add_done_callback(lambda _: timer.cancel())
        if self.ping_interval is not None:
            self._keepalive_handle = self._loop.call_later(self.ping_interval, self._keepalive)

    def _ping_timed_out(self, waiter: "asyncio.Future[float]") -> None:
        if waiter.done() or self._stream.lost.done():
            return
        self.logger.info("%s: keepalive ping timeout; failing the connection", self._peer())
        self._fail(1011, "keepalive ping timeout")

    # -- closing -----------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the TCP connection is
        closed (at most ``close_timeout`` per step; then it is aborted).

        Idempotent: calling it again waits for the same end.
        """
        if self._stream.deferred_failure is not None:
            self._fail_deferred()
        self._start_closing_handshake(code, reason)
        self._stop_queue_limit()
        await self.wait_closed()

    def _start_closing_handshake(self, code: int, reason: str) -> None:
        """Send our close frame unless one was sent or the connection is not
        open, and give the peer ``close_timeout`` to answer it."""
        if self.open:
            self.connection.send_close(code, reason)
            self._stream.write_now()
            self._arm_close_timer()

    def _stop_queue_limit(self) -> None:
        """Once we close, keep reading whatever the queue holds: the peer's
        close frame is behind the messages it sent first."""
        self.max_queue = None
        if self._stream.reading_paused:
            self._stream.resume_reading()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed."""
        await asyncio.shield(self._stream.lost)

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and self.close_timeout is not None:
            self._close_timer = self._loop.call_later(self.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if self._stream.transport is not None and not self._stream.lost.done():
            self.logger.debug("%s: close timeout; aborting the connection", self._peer())
            self._close_transport(abort=True)

    def _close_transport(self, abort: bool = False) -> None:
        """Close the TCP connection (flushing what is buffered unless abort)."""
        stream = self._stream
        stream.writable = False
        if stream.transport is not None:
            if abort:
                stream.transport.abort()
            else:
                stream.transport.close()

    def _fail_deferred(self) -> None:
        stream = self._stream
        handle, stream.deferred_failure = stream.deferred_failure, None
        if handle is not None:
            handle.cancel()
        error = self.connection.error
        if error is not None and not self.connection.close_expected() and not stream.lost.done():
            self._fail(error.close_code, error.reason)

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection: close frame if possible, then end TCP."""
        self.connection.fail(code, reason)
        self._stop_queue_limit()
        self._after_close_expected()

    def _after_close_expected(self) -> None:
        """The codec says the TCP connection should end."""
        self._stream.write_now()
        transport = self._stream.transport
        if transport is None or self._stream.lost.done():
            return
        if self.connection.is_client and self.connection.error is None \
                and self.connection.handshake_error is None:
            # RFC 6455 §7.1.1: the server closes first; give it close_timeout.
            self._arm_close_timer()
        else:
            self._close_transport()  # flushes what is buffered, then closes
            self._arm_close_timer()  # in case the peer does not read

    def _connection_closed(self) -> ConnectionClosed:
        if self._stream.closed_exc is not None:
            return cast(ConnectionClosed, self._stream.closed_exc)
        connection = self.connection
        rcvd = connection.close_rcvd
        sent = connection.close_sent
        code = rcvd[0] if rcvd is not None else 1006
        sent_code = sent[0] if sent is not None else None
        ok = code in (1000, 1001, 1005) and (sent_code is None or sent_code in (1000, 1001, 1005))
        exc = (ConnectionClosedOK if ok else ConnectionClosedError)(
            None if rcvd is None else Close(*rcvd),
            None if sent is None else Close(*sent),
            connection.close_rcvd_then_sent,
        )
        if self._stream.lost.done():
            self._stream.closed_exc = exc  # final: the same exception from now on
        return exc

    def _peer(self) -> str:
        try:
            return str(self.remote_address)
        except Exception:  # noqa: BLE001 - logging must not fail
            return "?"

    # -- protocol callbacks, passed on by the stream core -----------------------

    def connection_made(self, transport: Any) -> None:
        stream = self._stream
        stream.transport = transport
        stream.writable = True  # until the transport closes (_close_transport, connection_lost)
        stream.writelines = _writer_for(transport)
        if self._write_limit is not None:
            high, low = self._write_limit
            transport.set_write_buffer_limits(high, low)

    def _handle_events(self, events: List[Any]) -> None:
        """The slow path: events that need more than queueing."""
        messages = self._stream.messages
        on_message = self.on_message
        for event in events:
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                if on_message is not None and not messages:
                    self._stream.deliver([event], on_message)
                else:
                    messages.append(event)
            elif kind is Pong:
                self._pong_received(event.data)
            elif kind is CloseReceived:
                pass  # the codec answered it; close_expected() follows
            else:
                self._handshake_event(event)
        connection = self.connection
        if connection.error is not None:
            self.logger.debug("%s: protocol error: %s", self._peer(), connection.error)
        if connection.close_expected():
            self._after_close_expected()
        else:
            self._stream.write_now()
            if connection.error is not None and self._stream.deferred_failure is None:
                # The codec deferred failing the connection because messages
                # completed before the violation: let the application take
                # (and answer) them first -- Autobahn's strict order, e.g. an
                # echo before the close -- then fail when it asks for more,
                # closes, or after DEFERRED_FAILURE_LIMIT at the latest.
                if messages:
                    self._stream.deferred_failure = self._loop.call_later(
                        DEFERRED_FAILURE_LIMIT, self._fail_deferred)
                else:
                    self._fail(connection.error.close_code, connection.error.reason)
        if messages or connection.close_rcvd is not None or connection.close_expected():
            self._stream.wake_receiver()
        self._stream.limit_queue()

    def _handshake_event(self, event: Any) -> None:  # pragma: no cover - per role
        raise NotImplementedError

    def eof_received(self) -> Optional[bool]:
        # The peer will send nothing more: let the transport close.
        return None

    def pause_writing(self) -> None:
        self._stream.writing_paused = True
        self.connection.set_writing_paused(True)  # one pong at most until resume_writing

    def resume_writing(self) -> None:
        self._stream.writing_paused = False
        self.connection.set_writing_paused(False)
        self._stream.write_now()  # the pong of the latest ping, if one is owed
        waiters = self._stream.drain_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        stream = self._stream
        stream.writable = False
        self.connection.receive_eof()
        for handle in (self._keepalive_handle, self._close_timer, stream.flush_handle,
                       stream.deferred_failure):
            if handle is not None:
                handle.cancel()
        self._keepalive_handle = self._close_timer = None
        stream.flush_handle = stream.deferred_failure = None
        if not stream.lost.done():
            stream.lost.set_result(None)
        closed = self._connection_closed()
        stream.wake_receiver()
        while stream.drain_waiters:
            waiter = stream.drain_waiters.popleft()
            if not waiter.done():
                waiter.set_exception(closed)
        for ping_waiter, _ in self._pings.values():
            if not ping_waiter.done():
                ping_waiter.set_exception(closed)
                ping_waiter.exception()  # mark retrieved: nobody may be waiting
        self._pings.clear()
        self._connection_lost_hook(exc)

    def _connection_lost_hook(self, exc: Optional[BaseException]) -> None:
        """Subclasses: extra work when the TCP connection ends."""
