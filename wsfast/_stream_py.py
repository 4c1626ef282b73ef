"""The per-message path of the asyncio WebSocket; twin of src_c/wsfast/_stream_c.pyx.

:class:`StreamCore` is the base of every :class:`wsfast.asyncio.WebSocket`
(the concrete classes are made per back-end: see
``wsfast.asyncio.connection.websocket_class``). It holds what runs once per
read and once per sent message -- the ``BufferedProtocol`` read callbacks,
queueing or handing out messages, ``recv``, ``send`` of a str or bytes,
writing frames -- and nothing else; every
rarer path (control frames, errors, closing, flow control) is a method of
the WebSocket that this class calls by name.

Why it is a separate class with a compiled twin: on a request/response loop
the asyncio layer, not the codec, was most of the CPU time per message (about
twenty Python-level calls per round trip). Compiled, these methods are C
calls; the behaviour is this file's, and the test-suite runs over both.

One difference in form, not in behaviour: ``recv``, ``__anext__`` and
``send`` are coroutines here, while the compiled twin returns an
``Operation``, a coroutine-like object whose steps are C calls (a Cython
coroutine costs three allocations and a StopIteration per await). In Python
a coroutine is the cheaper of the two. ``TestOperations`` in
tests/test_asyncio.py holds both to what a coroutine does: nothing happens
before the await and errors are raised there, ``asyncio.create_task`` takes
them, a cancelled ``send`` spares a fragmented message's lock.

Fields set by ``WebSocket.__init__`` (declared in the compiled twin):
``connection``, ``on_message``, ``max_queue``, ``_loop``, ``_messages`` (deque
of message events), ``_recv_waiter`` (a MessageWaiter, which each twin takes
from its own waiter module), ``_resolved`` (a future resolved with None, see
MessageWaiter._argument_for), ``_frame_writer`` (the connection's
``_writer``, which it never replaces), ``_view`` (the shared read buffer),
``_transport``, ``_writelines``, ``_writable``, ``_reading_paused``, ``_writing_paused``,
``_send_lock``, ``_wrote``, ``_pending_bytes``, ``_flush_handle``, and the
WebSocket's ``_lost`` (future of connection_lost), ``_closed_exc`` and
``_deferred_failure``, which ``recv`` reads on every wait.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Union

from ._waiter_py import MessageWaiter
from .errors import ConcurrencyError, ConnectionClosedOK, InvalidState
from .frames import Opcode
from .state import State

__all__ = ["StreamCore", "FLUSH_THRESHOLD"]

#: Write out collected frames once this many payload bytes are waiting.
FLUSH_THRESHOLD = 64 * 1024

_CONNECTING = State.CONNECTING
_CLOSING = State.CLOSING
_shield = asyncio.shield
_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)

Data = Union[str, bytes]


class StreamCore:
    """Read callbacks, message queueing, recv/send and frame writing of a WebSocket."""

    # -- asyncio.BufferedProtocol ---------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self._wrote = False
        connection = self.connection
        reader = connection._reader
        if reader is not None and not connection._events:
            # receive()'s work, without its two frames (the connection's fast lane)
            view = self._view
            if not 0 <= nbytes <= len(view):  # what the compiled twin reads in place
                raise ValueError(f"buffer_updated({nbytes}) beyond a {len(view)}-byte buffer")
            events = reader.feed(view[:nbytes])
            if reader.control_events or reader.error is not None:
                connection._act_on_control(reader)
                connection.control_received = False
                self._handle_events(events)
                return
        elif connection.state is _CONNECTING:  # the handshake parser keeps what it is given
            self._handle_events(connection.receive(bytes(self._view[:nbytes])))
            return
        else:
            events = connection.receive(self._view[:nbytes])
            if connection.control_received:
                connection.control_received = False
                self._handle_events(events)
                return
        if not events:
            return
        messages = self._messages
        on_message = self.on_message
        if on_message is not None and not messages:
            self._deliver(events, on_message)
            return
        messages.extend(events)
        self._wake_receiver()
        self._limit_queue()

    def data_received(self, data: bytes) -> None:  # pragma: no cover - Protocol fallback
        n = len(data)
        self._view[:n] = data
        self.buffer_updated(n)

    def _wake_receiver(self) -> None:
        """Resolve the recv() waiter: new messages, or the connection ends.
        (It may run the waiting task right here: see MessageWaiter.)"""
        waiter = self._recv_waiter
        if waiter is not None:
            self._recv_waiter = None
            waiter.set_result(None)  # a done waiter ignores it

    def _limit_queue(self) -> None:
        """Pause reading while more than max_queue messages wait for recv()."""
        if (self.max_queue is not None and len(self._messages) > self.max_queue
                and not self._reading_paused and self._writable):
            self._reading_paused = True
            self._transport.pause_reading()

    def _deliver(self, events: list, on_message: Callable[[Data], Any]) -> None:
        """Hand data messages to the on_message callback (in order)."""
        for event in events:
            try:
                on_message(event.data)
            except Exception:  # noqa: BLE001 - report, then fail the connection
                self._callback_failed()
                return

    # -- receiving -----------------------------------------------------------

    async def recv(self) -> Data:
        """Wait for the next message: ``str`` for text (``bytes`` if the
        connection was opened with ``text_as_bytes=True``), ``bytes`` for binary.

        Raises:
            ConnectionClosedOK: the connection was closed normally.
            ConnectionClosedError: it ended with an error or abnormally.
            ConcurrencyError: another coroutine is already waiting in ``recv``.
        """
        messages = self._messages
        while not messages:
            await self._message_waiter()
        event = messages.popleft()
        if self._reading_paused and len(messages) <= self._resume_level():
            self._resume_reading()
        return event.data

    async def __anext__(self) -> Data:
        """``async for message in websocket``: ends quietly on a normal close."""
        messages = self._messages
        while not messages:
            try:
                waiter = self._message_waiter()
            except ConnectionClosedOK:
                raise StopAsyncIteration from None
            await waiter
        event = messages.popleft()
        if self._reading_paused and len(messages) <= self._resume_level():
            self._resume_reading()
        return event.data

    def _message_waiter(self) -> Any:
        """A waiter resolved when messages arrive or the connection ends, or
        the exception to raise now. (A plain function, not a coroutine: one
        frame less per wait on the round-trip path.)"""
        if self._deferred_failure is not None:
            self._fail_deferred()  # everything before the violation was taken
        # connection_lost sets _closed_exc (through _connection_closed) as it
        # resolves _lost: one test covers both.
        if self._closed_exc is not None:
            raise self._connection_closed()
        connection = self.connection
        if connection.state is _CLOSING and connection.close_rcvd is not None:
            raise self._connection_closed()
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            raise ConcurrencyError("another coroutine is already waiting for a message")
        waiter = self._recv_waiter = MessageWaiter(self._loop, self._resolved)
        return waiter

    # -- sending ---------------------------------------------------------------

    async def send(self, message: Any) -> None:
        """Send a message: ``str`` as text, bytes-like as binary; an iterable
        or async iterable of them as one fragmented message.

        Waits while the transport's write buffer is full (backpressure).

        Raises:
            ConnectionClosed: the connection is closing or closed.
            TypeError: unsupported message type.
        """
        while self._send_lock is not None:  # a fragmented message goes first
            await _shield(self._send_lock)
        if type(message) is str or isinstance(message, (bytes, bytearray, memoryview)):
            self.send_nowait(message)
            if self._writing_paused:
                await self._drain()
        else:
            await self._send_iterable(message)

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
        if type(message) is str:
            opcode = _TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            opcode = _BINARY
        else:
            raise TypeError(f"data must be str or bytes-like, not {type(message).__name__}")
        connection = self.connection
        if connection._fast_send:  # send_text / send_binary's work (the fast lane)
            self._frame_writer.write(connection._out, opcode, message)
        else:
            try:
                if opcode is _TEXT:
                    connection.send_text(message)
                else:
                    connection.send_binary(message)
            except InvalidState:
                raise self._send_refused() from None
        self._pending_bytes += len(message)
        self._write_soon()

    def _write_soon(self) -> None:
        """Write what the connection has to send: at once if nothing was
        written since the last read or flush (a reply, a lone message: no
        added latency, no extra loop iteration), else together at the end of
        the loop iteration (a burst: one system call), or when 64 KiB wait."""
        if not self._wrote:
            self._wrote = True
            self._write_now()
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)
        elif self._pending_bytes >= FLUSH_THRESHOLD:
            self._write_now()

    def _flush(self) -> None:
        self._flush_handle = None
        self._wrote = False
        self._write_now()

    def _write_now(self) -> None:
        self._pending_bytes = 0
        connection = self.connection
        data = connection._out  # data_to_send()'s work (the fast lane)
        if data:
            connection._out = []
            if self._writable:
                self._writelines(data)
