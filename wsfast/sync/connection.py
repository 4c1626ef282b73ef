"""The threading WebSocket connection shared by clients and servers.

A :class:`Connection` moves bytes between a blocking socket and a sans-I/O
:class:`wsfast.connection.Connection` (the ``protocol``); every protocol rule
is there, and the per-message work is done by its kernels (compiled or pure,
as the connection's back-end says). No asyncio loop is involved.

Threading model -- why it is shaped like this
----------------------------------------------

**The thread that calls recv() reads the socket itself.** Handing each
message from a reading thread to the application thread costs a thread wake
and a GIL hand-over per message: measured on this project's 2-core machine,
~60 us per round trip, more than websockets' whole overhead. So whoever wants
messages holds the *read role* (a lock) and calls ``socket.recv`` directly; a
request/response loop then costs what the raw socket costs plus the codec.

**A background thread per connection** covers the time nobody reads: it
answers pings and close frames, sends keepalive pings, enforces
``close_timeout`` and the keepalive ``ping_timeout``. It takes the read role
only when no application thread has asked for a message for a short while
(:data:`IDLE`) and the queue is below its high-water mark -- or at once when
the connection is closing. While it reads, a ``recv`` caller waits for the
messages it queues (one thread hand-over, after an idle spell only).

**Backpressure, both ways, bounded memory.** Incoming: the socket is read
only when someone needs to: ``recv`` reads when the queue is empty, the
background thread only while fewer than ``max_queue`` messages wait (and
again below the low-water mark, a quarter of it by default); the kernel's
socket buffer then fills up and TCP stops the peer. Outgoing: ``send``
blocks in ``socket.sendall`` while the peer does not read; pongs and other
frames produced meanwhile wait in the protocol's outbox and go out with the
blocked sender's next write (a peer that pings without reading is answered
for its latest ping only, as RFC 6455 §5.5.3 allows). A blocked ``send``
unblocks with :exc:`~wsfast.exceptions.ConnectionClosed` when the connection
ends: closing it shuts the socket down, which wakes every thread in a
socket call.

Thread-safety rules
-------------------

* :meth:`Connection.send`, :meth:`ping`, :meth:`pong` and :meth:`close` may
  be called from any thread, concurrently: sends are serialized (frames of
  one message, including a fragmented one, are never interleaved with
  another message's).
* :meth:`Connection.recv`, :meth:`recv_streaming` and iteration may be used
  by one thread at a time; a second concurrent caller gets
  :exc:`~wsfast.exceptions.ConcurrencyError` (which message would be whose
  is undefined otherwise).
* Attributes (``state``, ``close_code``, ...) may be read from any thread.
* Internal order of locks: send lock, then the protocol mutex; the read
  role is never requested while holding either.
"""

from __future__ import annotations

import collections
import logging
import mmap
import os
import select
import socket
import threading
import time
import uuid
from typing import Any, Deque, Dict, Iterable, Iterator, List, Optional, Tuple, Union, cast

from ..connection import Connection as Protocol
from ..connection import State
from ..defaults import CLOSE_TIMEOUT, DEFERRED_FAILURE_LIMIT, MAX_QUEUE, PING_INTERVAL, PING_TIMEOUT
from ..errors import (ConcurrencyError, ConnectionClosed, ConnectionClosedError,
                      ConnectionClosedOK, InvalidState)
from ..events import BinaryMessage, Pong, TextMessage
from ..frames import Close

__all__ = ["Connection", "IDLE"]

#: Seconds without a ``recv`` call after which the background thread takes the
#: read role (it would otherwise steal messages from a thread about to call
#: recv again, and cost it a thread hand-over per message).
IDLE = 0.05

_BUFSIZE = 65536
_CLOSE_FRAME_OK = (1000, 1001, 1005)
_EOF = b""
_CONTINUE: Any = memoryview(b"")  # _process: parse on what the reader holds

Data = Union[str, bytes]


_local = threading.local()


def _read_buffer() -> memoryview:
    """This thread's read buffer: page-aligned anonymous memory (the kernel's
    copy into a page-aligned destination is measurably cheaper for large
    reads, see wsfast.asyncio.connection), one per thread that reads."""
    try:
        view: memoryview = _local.view
    except AttributeError:
        if hasattr(mmap, "MAP_PRIVATE"):
            pages = mmap.mmap(-1, _BUFSIZE, flags=mmap.MAP_PRIVATE)
        else:  # pragma: no cover - Windows
            pages = mmap.mmap(-1, _BUFSIZE)
        view = _local.view = memoryview(pages)
    return view


def queue_limits(max_queue: Any) -> Tuple[Optional[int], Optional[int]]:
    """``max_queue`` as (high, low) water marks: an int is the high mark with
    a quarter of it as the low one; ``(high, low)`` with either ``None``."""
    if max_queue is None:
        return None, None
    if isinstance(max_queue, int):
        high, low = max_queue, None
    else:
        high, low = max_queue
    if high is not None and low is None:
        low = high // 4
    if high is None and low is not None:
        high = low * 4
    if high is not None and low is not None and not 0 <= low <= high:
        raise ValueError("max_queue must satisfy 0 <= low <= high")
    return high, low


class Connection:
    """One WebSocket connection over a blocking socket (see the module
    docstring for the threading rules).

    Created by :func:`wsfast.sync.client.connect` and
    :func:`wsfast.sync.server.serve`; not meant to be instantiated directly.

    Attributes:
        socket: the socket (a ``ssl.SSLSocket`` for TLS).
        protocol: the sans-I/O :class:`wsfast.connection.Connection`.
        id: a UUID identifying the connection in logs.
        logger: where the connection logs.
        request, response: the opening handshake.
        latency: round-trip time of the last keepalive ping, seconds.
    """

    recv_bufsize = _BUFSIZE

    def __init__(
        self,
        sock: socket.socket,
        protocol: Protocol,
        *,
        ping_interval: Optional[float] = PING_INTERVAL,
        ping_timeout: Optional[float] = PING_TIMEOUT,
        close_timeout: Optional[float] = CLOSE_TIMEOUT,
        max_queue: Any = MAX_QUEUE,
        logger: Any = None,
    ) -> None:
        self.socket = sock
        self.protocol = protocol
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_queue_high, self.max_queue_low = queue_limits(max_queue)
        self.id = uuid.uuid4()
        if logger is None:
            logger = logging.getLogger("wsfast.sync")
        elif isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger
        self.request: Any = None
        self.response: Any = None
        self.latency = 0.0
        self._core = protocol.core
        # protocol state and the fields below; also the condition recv waits on
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._send_lock = threading.Lock()  # the right to write to the socket
        self._read_lock = threading.Lock()  # the read role
        self._recv_guard = threading.Lock()  # one recv caller at a time
        self._messages: Deque[Any] = collections.deque()
        self._waiting = 0  # threads waiting on the condition (recv, close)
        self._background_waiting = False  # the background thread waits for the read role
        self._app_active = 0.0  # monotonic time of the last recv activity
        self._sending_fragments = False
        self._ended = False  # TCP connection over (EOF, error or abort)
        self._fd_closed = False
        self._half_close = False  # shut the write side once the outbox is empty
        self._half_closed = False
        self._writing_paused = False  # told the protocol: one pong owed at most
        self._close_deadline: Optional[float] = None
        self._deferred_deadline: Optional[float] = None
        self._aborting = False
        self._closed_exc: Optional[ConnectionClosed] = None
        self._pings: Dict[bytes, Tuple[threading.Event, float, bool]] = {}
        self._next_ping: Optional[float] = None
        self._ping_deadline: Optional[float] = None
        self._background: Optional[threading.Thread] = None
        self._aborting_due = False
        self._ended_event = threading.Event()
        try:
            self._poll_fd = sock.fileno()
        except OSError:  # pragma: no cover - a closed socket
            self._poll_fd = -1

    # -- attributes -------------------------------------------------------------

    @property
    def local_address(self) -> Any:
        """The local end of the socket (``socket.getsockname()``)."""
        return self.socket.getsockname()

    @property
    def remote_address(self) -> Any:
        """The remote end of the socket (``socket.getpeername()``)."""
        return self.socket.getpeername()

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def subprotocol(self) -> Optional[str]:
        """The subprotocol agreed in the handshake, or ``None``."""
        return self.protocol.subprotocol

    @property
    def close_code(self) -> Optional[int]:
        """Close code received (1006 without a close frame) once the
        connection is closed; ``None`` before."""
        if not self._ended:
            return None
        rcvd = self.protocol.close_rcvd
        return rcvd[0] if rcvd is not None else 1006

    @property
    def close_reason(self) -> Optional[str]:
        """Close reason received once the connection is closed (see
        :attr:`close_code`)."""
        if not self._ended:
            return None
        rcvd = self.protocol.close_rcvd
        return rcvd[1] if rcvd is not None else ""

    # -- receiving ----------------------------------------------------------------

    def __iter__(self) -> Iterator[Data]:
        """Iterate on messages until the connection closes: quietly on a
        normal close, with :exc:`ConnectionClosedError` otherwise."""
        try:
            while True:
                yield self.recv()
        except ConnectionClosedOK:
            return

    def recv(self, timeout: Optional[float] = None, decode: Optional[bool] = None) -> Data:
        """Receive the next message: ``str`` for text, ``bytes`` for binary.

        Args:
            timeout: seconds to wait; ``None`` waits forever, ``0`` only
                takes a message already received (or readable now).
            decode: ``False`` returns text as UTF-8 ``bytes``; ``True``
                decodes binary messages as UTF-8.

        Raises:
            TimeoutError: no message within ``timeout``.
            ConnectionClosedOK / ConnectionClosedError: the connection is
                closed (normally / not).
            ConcurrencyError: another thread is in :meth:`recv`.
        """
        guard = self._recv_guard
        if not guard.acquire(False):
            raise ConcurrencyError("another thread is already running recv or recv_streaming")
        try:
            messages = self._messages
            if not messages:
                self._wait_for_message(timeout)
            event = messages.popleft()
            if self._background_waiting:
                self._after_pop()
        finally:
            self._app_active = time.monotonic()
            guard.release()
        data: Union[str, bytes] = event.data
        if decode is None:
            return data
        if type(event) is TextMessage:
            if decode is False and type(data) is str:
                return data.encode()
            return cast(bytes, data).decode() if decode and type(data) is not str else data
        return cast(bytes, data).decode() if decode else data  # binary: bytes

    def recv_streaming(self, decode: Optional[bool] = None) -> Iterator[Data]:
        """Receive the next message as an iterator of fragments.

        wsfast assembles (and bounds, and UTF-8-checks) messages in the
        codec, so the iterator yields the whole message as one piece; code
        written for fragment-by-fragment delivery works unchanged.
        """
        yield self.recv(None, decode)

    def _wait_for_message(self, timeout: Optional[float]) -> None:
        """Read (or wait for whoever reads) until a message is queued."""
        messages = self._messages
        deadline = None if timeout is None else time.monotonic() + timeout
        read_lock = self._read_lock
        while not messages:
            if self._deferred_deadline is not None:
                self._fail_deferred()
            if self._ended or self._core.recv_closed:
                # As websockets: the exception (and close_code) once the TCP
                # connection has ended -- at most close_timeout from now.
                if not messages and not self._ended:
                    self._wait_ended()
                if messages:
                    # Since the loop's test, another thread (the background
                    # one) read the last messages with the close frame: they
                    # are delivered first.
                    return
                raise self._connection_closed()
            if read_lock.acquire(False):
                try:
                    if not messages:
                        self._read_once(deadline)
                finally:
                    read_lock.release()
                    if self._background_waiting:
                        self._notify()
                if messages:
                    return
            else:
                with self._cond:
                    # counted before looking at the read role: its holder
                    # looks at the count after letting go (no lost wake-up)
                    self._waiting += 1
                    try:
                        if messages or not read_lock.locked():
                            continue
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise TimeoutError("timed out waiting for a message")
                        self._cond.wait(remaining)
                    finally:
                        self._waiting -= 1
            if deadline is not None and not messages and time.monotonic() >= deadline:
                raise TimeoutError("timed out waiting for a message")

    def _after_pop(self) -> None:
        low = self.max_queue_low
        if low is None or len(self._messages) <= low:
            self._notify()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    # -- reading (holder of the read role only) ------------------------------------

    def _read_once(self, deadline: Optional[float]) -> bool:
        """Read once (waiting until *deadline* at most) and process what came.

        Returns False when nothing came before the deadline; raises
        TimeoutError instead when called from recv (deadline semantics are
        the caller's). The caller holds the read role.
        """
        sock = self.socket
        if self._ended:
            return True
        reader = self._core.reader
        if reader is not None and reader.pending:
            # The reader stopped after INFLATE_YIELD decompressed bytes and
            # holds the rest of a read: parse on before reading more (the
            # callers come here only while the queue has room).
            self._process(_CONTINUE)
            return True
        if deadline is not None:
            pending = getattr(sock, "pending", None)
            if not (pending is not None and pending()):
                remaining = max(0.0, deadline - time.monotonic())
                poller = select.poll()
                poller.register(self._poll_fd, select.POLLIN)
                try:
                    if not poller.poll(remaining * 1000.0):
                        return False
                except (OSError, ValueError):
                    pass  # the socket went away: recv says how
        try:
            if self._core.reader is not None:
                # into this thread's buffer: no bytes object per read (the
                # codec copies out what it keeps)
                view = _read_buffer()
                data: Union[bytes, memoryview] = view[
                    :sock.recv_into(view, min(self.recv_bufsize, len(view)))]
            else:  # the handshake parser keeps what it is given
                data = sock.recv(self.recv_bufsize)
        except (OSError, ValueError) as exc:  # reset, shut down, closed
            self.logger.debug("%s: read failed: %s", self.id, exc)
            data = _EOF
        self._process(data)
        return True

    def _process(self, data: Any) -> None:
        """Feed *data* (``b""`` for EOF, :data:`_CONTINUE` to parse on held
        input) to the protocol and act on it."""
        core = self._core
        protocol = self.protocol
        flush = False
        eof = data is not _CONTINUE and not len(data)
        with self._mutex:
            if not self._writing_paused and self._send_lock.locked():
                # A sender holds the socket, perhaps blocked on a peer that
                # does not read: until it lets go, the protocol owes one pong
                # at most, however many pings come (RFC 6455 §5.5.3); the
                # holder sends it when done (see _flush_locked).
                self._writing_paused = True
                protocol.set_writing_paused(True)
            reader = core.reader
            if eof:
                protocol.receive_eof()
                events = protocol.events_received()
            elif reader is None:  # the handshake, or reading has stopped
                events = [] if data is _CONTINUE else protocol.receive(data)
            else:
                # not protocol.receive(), which would parse everything held
                # (see _read_once): one call's worth, INFLATE_YIELD at most
                events = core.feed(b"" if data is _CONTINUE else data)
                if core.events:  # left by the handshake: they come first
                    events = protocol.events_received() + events
            if core.control_received:
                core.control_received = False
                self._handle_events(events)
            elif events:
                if type(events[0]) is TextMessage or type(events[0]) is BinaryMessage:
                    self._messages.extend(events)
                else:
                    self._handle_events(events)
            if eof:
                self._ended = True
            self._check_closing()
            if core.out or self._writing_paused or (self._half_close and not self._half_closed):
                flush = self._send_lock.acquire(False)
            if self._waiting:
                self._cond.notify_all()
        if flush:
            self._flush_locked()
        if eof:
            self._end()

    def _handle_events(self, events: List[Any]) -> None:
        """The slow path (mutex held): control frames, errors, handshake."""
        messages = self._messages
        for event in events:
            kind = type(event)
            if kind is TextMessage or kind is BinaryMessage:
                messages.append(event)
            elif kind is Pong:
                self._pong_received(event.data)
            else:
                self._other_event(event)
        protocol = self.protocol
        if protocol.error is not None and not protocol.close_expected() \
                and self._deferred_deadline is None:
            # The codec deferred failing the connection because messages came
            # before the violation: the application takes (and may answer)
            # them first -- Autobahn's strict order -- then the close follows.
            self.logger.debug("%s: protocol error: %s", self.id, protocol.error)
            if messages:
                self._deferred_deadline = time.monotonic() + DEFERRED_FAILURE_LIMIT
            else:
                protocol.fail(protocol.error.close_code, protocol.error.reason)

    def _other_event(self, event: Any) -> None:
        """Handshake events (subclasses)."""

    def _check_closing(self) -> None:
        """Mutex held: once the protocol expects the TCP connection to end,
        start the clock (close_timeout) and, as a server or after a failure,
        close our side first (RFC 6455 §7.1.1)."""
        protocol = self.protocol
        if not protocol.close_expected():
            return
        if not self._half_close and (not protocol.is_client or protocol.error is not None
                                     or protocol.handshake_error is not None):
            self._half_close = True
        if self._close_deadline is None:
            timeout = self.close_timeout
            self._close_deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        if self._background_waiting:
            self._cond.notify_all()

    def _fail_deferred(self) -> None:
        with self._mutex:
            if self._deferred_deadline is None:
                return
            self._deferred_deadline = None
            protocol = self.protocol
            if protocol.error is not None and not protocol.close_expected() and not self._ended:
                protocol.fail(protocol.error.close_code, protocol.error.reason)
                self._check_closing()
            flush = self._send_lock.acquire(False)
        if flush:
            self._flush_locked()

    # -- writing -------------------------------------------------------------------

    def _flush_locked(self) -> None:
        """Write the protocol's outbox; the caller holds the send lock, which
        is released here -- under the mutex, once the outbox is seen empty, so
        that a thread that queued frames and failed to take the send lock can
        count on the holder to write them."""
        core = self._core
        sock = self.socket
        while True:
            with self._mutex:
                if self._writing_paused:
                    # the pong owed for the latest ping joins the outbox
                    self._writing_paused = False
                    self.protocol.set_writing_paused(False)
                out = core.take_out() if core.out else None
                if out is None or self._ended or self._aborting:
                    if self._half_close and not self._half_closed and not self._ended \
                            and not self._aborting:
                        self._half_closed = True
                        try:
                            sock.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    self._send_lock.release()
                    break
            try:
                sock.sendall(out[0] if len(out) == 1 else b"".join(out))
            except (OSError, ValueError) as exc:
                self.logger.debug("%s: write failed: %s", self.id, exc)
                self._abort()
        if self._ended:
            self._close_fd()

    def _write(self, opcode_call: Any, *args: Any) -> None:
        """Run a protocol command under the send lock and write its frames."""
        self._send_lock.acquire()
        try:
            with self._mutex:
                if self._ended or self._aborting:
                    raise self._connection_closed()
                try:
                    opcode_call(*args)
                except InvalidState:
                    raise self._connection_closed() from None
                self._check_closing()
        except BaseException:
            self._release_send_lock()
            raise
        self._flush_locked()
        if self._aborting:
            raise self._connection_closed()

    def _release_send_lock(self) -> None:
        self._send_lock.release()
        if self._ended:
            self._close_fd()

    def send(self, message: Any, text: Optional[bool] = None) -> None:
        """Send a message: ``str`` as text, bytes-like as binary; an iterable
        of them as one fragmented message (all of the same type).

        ``text=True`` sends UTF-8 bytes as text, ``text=False`` a ``str`` as
        binary. Blocks while the peer does not read (backpressure).

        Raises:
            ConnectionClosed: the connection is closed (also when it closes
                while this call is blocked).
            TypeError: unsupported type; dicts are refused (send their keys
                explicitly if that is really meant).
        """
        kind = type(message)
        if text is None and (kind is str or kind is bytes):
            # The hot path: a whole message, nothing else to check than the
            # codec's fast_send flag (open, no close sent, no fragmented
            # message, no compression) -- a third of the general path's cost.
            core = self._core
            mutex = self._mutex
            self._send_lock.acquire()
            mutex.acquire()
            if core.fast_send and not self._aborting:
                core.write(1 if kind is str else 2, message)
                out = core.take_out()
                mutex.release()
                try:
                    self.socket.sendall(out[0] if len(out) == 1 else b"".join(out))
                except (OSError, ValueError) as exc:
                    self.logger.debug("%s: write failed: %s", self.id, exc)
                    self._abort()
                mutex.acquire()
                if core.out or self._aborting or self._ended or self._writing_paused or (
                        self._half_close and not self._half_closed):
                    mutex.release()
                    self._flush_locked()  # releases the send lock
                    if self._aborting:
                        raise self._connection_closed()
                    return
                self._send_lock.release()  # under the mutex: see _flush_locked
                mutex.release()
                return
            mutex.release()
            self._release_send_lock()
        protocol = self.protocol
        if kind is str:
            if text is False:
                self._write(protocol.send_binary, message.encode())
            else:
                self._write(protocol.send_text, message)
        elif kind is bytes or kind is bytearray or kind is memoryview:
            if text:
                self._write(protocol.send_text, message)
            else:
                self._write(protocol.send_binary, message)
        elif isinstance(message, (str, bytes, bytearray, memoryview)):
            self.send(str(message) if isinstance(message, str) else bytes(message), text)
        elif isinstance(message, dict) or hasattr(message, "keys"):
            raise TypeError("data is a dict-like object: send(d.keys()) to send its keys")
        elif isinstance(message, Iterable):
            self._send_fragments(iter(message), text)
        else:
            raise TypeError("data must be str, bytes-like or an iterable of them")

    def _send_fragments(self, fragments: Iterator[Any], text: Optional[bool]) -> None:
        try:
            first = next(fragments)
        except StopIteration:
            return  # RFC 6455 has no empty fragmented message: send nothing
        if isinstance(first, str):
            is_text = text is not False
            encode = text is False
        elif isinstance(first, (bytes, bytearray, memoryview)):
            is_text, encode = bool(text), False
        else:
            raise TypeError("fragments must be str or bytes-like")
        first_type = str if isinstance(first, str) else bytes
        protocol = self.protocol
        self._send_lock.acquire()
        started = False
        try:
            piece: Any = first
            while True:
                if isinstance(piece, str) is not (first_type is str) or not isinstance(
                        piece, (str, bytes, bytearray, memoryview)):
                    raise TypeError("all fragments must be of the same type (str or bytes)")
                if encode:
                    piece = cast(str, piece).encode()  # encode: the fragments are str
                with self._mutex:
                    if self._ended or self._aborting:
                        raise self._connection_closed()
                    try:
                        if not started:
                            (protocol.send_text if is_text else protocol.send_binary)(
                                piece, fin=False)
                            started = True
                            self._sending_fragments = True
                        else:
                            protocol.send_continuation(piece, fin=False)
                    except InvalidState:
                        raise self._connection_closed() from None
                self._send_lock_flush()
                piece = next(fragments, _EOF_MARK)
                if piece is _EOF_MARK:
                    break
            with self._mutex:
                try:
                    protocol.send_continuation(b"", fin=True)
                except InvalidState:
                    raise self._connection_closed() from None
                self._sending_fragments = False
        except BaseException:
            # Half a message was sent and can never be finished: any other
            # data frame would break the peer's reassembly. Fail (1011).
            with self._mutex:
                if started and self._sending_fragments and self._core.can_send_control:
                    protocol.fail(1011, "error in fragmented message")
                    self._check_closing()
                self._sending_fragments = False
            self._flush_locked()
            raise
        self._flush_locked()
        if self._aborting:
            raise self._connection_closed()

    def _send_lock_flush(self) -> None:
        """Write the outbox while keeping the send lock (fragments)."""
        core = self._core
        while True:
            with self._mutex:
                if self._writing_paused:  # as in _flush_locked
                    self._writing_paused = False
                    self.protocol.set_writing_paused(False)
                out = core.take_out() if core.out else None
            if not out or self._ended or self._aborting:
                break
            try:
                self.socket.sendall(out[0] if len(out) == 1 else b"".join(out))
            except (OSError, ValueError):
                self._abort()
                raise self._connection_closed() from None

    # -- pings ---------------------------------------------------------------------

    def ping(self, data: Any = None, *, ack_on_close: bool = False) -> threading.Event:
        """Send a ping; return an event set when its pong arrives (or any
        later one: a pong acknowledges every earlier ping).

        ``data`` defaults to 4 random bytes; ``str`` is encoded as UTF-8.
        With ``ack_on_close``, the event is also set when the connection
        closes (check :attr:`state` to tell which).

        Raises:
            ConnectionClosed: the connection is closed.
            ConcurrencyError: a ping with the same payload awaits its pong.
        """
        if isinstance(data, str):
            data = data.encode()
        elif isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        elif data is not None:
            raise TypeError("data must be str or bytes-like")
        event = threading.Event()

        def command() -> None:
            nonlocal data
            if data is not None and data in self._pings:
                raise ConcurrencyError("already waiting for a pong with the same data")
            while data is None or data in self._pings:
                data = os.urandom(4)
            self.protocol.send_ping(data)
            self._pings[data] = (event, time.monotonic(), ack_on_close)

        self._write(command)
        return event

    def pong(self, data: Any = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        if isinstance(data, str):
            data = data.encode()
        self._write(self.protocol.send_pong, bytes(data))

    def _pong_received(self, data: bytes) -> None:
        """Mutex held: acknowledge the ping with this payload and older ones."""
        if data not in self._pings:
            return  # unsolicited
        now = time.monotonic()
        for key in list(self._pings):  # insertion order: oldest first
            event, sent, _ = self._pings.pop(key)
            event.set()
            if key == data:
                self.latency = now - sent
                break
        if not self._pings:
            self._ping_deadline = None

    # -- closing -------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait until the TCP connection
        ends (``close_timeout`` at most per step; then abort it).

        Idempotent. A close during a fragmented send fails the connection
        with 1011 instead.
        """
        if self._deferred_deadline is not None:
            self._fail_deferred()
        timeout = self.close_timeout
        if self._send_lock.acquire(True, -1 if timeout is None else timeout):
            try:
                with self._mutex:
                    protocol = self.protocol
                    if not self._ended and self._core.can_send_control:
                        if self._sending_fragments:
                            protocol.fail(1011, "close during fragmented message")
                        elif protocol.state is State.OPEN:
                            protocol.send_close(code, reason)
                    self._check_closing()
                    if self._close_deadline is None and not self._ended:
                        self._close_deadline = time.monotonic() + (
                            timeout if timeout is not None else 1e9)
            except BaseException:
                self._release_send_lock()
                raise
            self._flush_locked()
        else:
            self._abort()  # a send is blocked: the peer does not read
        self._wait_ended()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Wait until the connection is closed; whether it is."""
        return self._ended_event.wait(timeout)

    def _wait_ended(self) -> None:
        """Take part in reading until the TCP connection ends, aborting it
        at the close deadline."""
        read_lock = self._read_lock
        while not self._ended:
            deadline = self._close_deadline
            if deadline is not None and time.monotonic() >= deadline:
                self._abort()
            if read_lock.acquire(False):
                try:
                    if not self._ended:
                        self._read_once(deadline if deadline is not None else
                                        time.monotonic() + 1.0)
                finally:
                    read_lock.release()
                    self._notify()
            else:
                with self._cond:
                    if not self._ended and read_lock.locked():
                        self._waiting += 1
                        try:
                            self._cond.wait(0.05)
                        finally:
                            self._waiting -= 1
        self._ended_event.wait()

    def _abort(self) -> None:
        """End the TCP connection now: shut the socket down, which wakes any
        thread blocked in recv or sendall; the reader then ends it."""
        with self._mutex:
            if self._aborting or self._fd_closed:
                return
            self._aborting = True
            if self._close_deadline is None:
                self._close_deadline = time.monotonic()
            self._cond.notify_all()
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _end(self) -> None:
        """The reader saw EOF or an error: the connection is over."""
        with self._mutex:
            self._ended = True
            closed = self._connection_closed()
            for event, _, ack_on_close in self._pings.values():
                if ack_on_close:
                    event.set()
            self._pings.clear()
            self._cond.notify_all()
        if self._send_lock.acquire(False):
            self._close_fd()
            self._send_lock.release()
        self._ended_event.set()
        self._connection_ended(closed)

    def _connection_ended(self, closed: ConnectionClosed) -> None:
        """Subclasses: extra work once the connection is over."""

    def _close_fd(self) -> None:
        with self._mutex:
            if self._fd_closed:
                return
            self._fd_closed = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.socket.close()

    def _connection_closed(self) -> ConnectionClosed:
        """The exception for using a closed connection (final once the TCP
        connection has ended)."""
        if self._closed_exc is not None:
            return self._closed_exc
        protocol = self.protocol
        rcvd = protocol.close_rcvd
        sent = protocol.close_sent
        code = rcvd[0] if rcvd is not None else 1006
        sent_code = sent[0] if sent is not None else None
        ok = code in _CLOSE_FRAME_OK and (sent_code is None or sent_code in _CLOSE_FRAME_OK)
        exc = (ConnectionClosedOK if ok else ConnectionClosedError)(
            None if rcvd is None else Close(*rcvd),
            None if sent is None else Close(*sent),
            protocol.close_rcvd_then_sent,
        )
        if self._ended:
            self._closed_exc = exc
        return exc

    # -- the background thread ------------------------------------------------------

    def start_background(self) -> None:
        """Start the background thread (once the handshake is done)."""
        if self.ping_interval is not None:
            self._next_ping = time.monotonic() + self.ping_interval
        with self._mutex:
            self._check_closing()
        thread = threading.Thread(target=self._run_background, daemon=True,
                                  name=f"wsfast-{self.id}")
        self._background = thread
        thread.start()

    def _run_background(self) -> None:
        try:
            while self._background_step():
                pass
        except Exception:  # noqa: BLE001 - never die silently
            self.logger.error("%s: background thread failed", self.id, exc_info=True)
            self._abort()

    def _timers(self, now: float) -> Tuple[Optional[float], bool]:
        """Mutex held: act on due timers; the next deadline and whether
        frames were queued."""
        queued = False
        protocol = self.protocol
        nearest: Optional[float] = None
        if self._deferred_deadline is not None:
            if now >= self._deferred_deadline:
                self._deferred_deadline = None
                if protocol.error is not None and not protocol.close_expected():
                    protocol.fail(protocol.error.close_code, protocol.error.reason)
                    self._check_closing()
                    queued = True
            else:
                nearest = self._deferred_deadline
        if self._ping_deadline is not None:
            if now >= self._ping_deadline:
                self._ping_deadline = None
                if self._pings and self._core.can_send_control:
                    self.logger.info("%s: keepalive ping timeout; failing the connection",
                                     self.id)
                    protocol.fail(1011, "keepalive ping timeout")
                    self._check_closing()
                    queued = True
            elif nearest is None or self._ping_deadline < nearest:
                nearest = self._ping_deadline
        if self._next_ping is not None and protocol.state is State.OPEN:
            if now >= self._next_ping:
                data = os.urandom(4)
                while data in self._pings:
                    data = os.urandom(4)
                protocol.send_ping(data)
                self._pings[data] = (threading.Event(), now, False)
                queued = True
                if self.ping_timeout is not None and self._ping_deadline is None:
                    self._ping_deadline = now + self.ping_timeout
                self._next_ping = now + self.ping_interval  # type: ignore[operator]
            if nearest is None or self._next_ping < nearest:
                nearest = self._next_ping
        if self._close_deadline is not None:
            if now >= self._close_deadline:
                self._aborting_due = True
            elif nearest is None or self._close_deadline < nearest:
                nearest = self._close_deadline
        return nearest, queued

    def _background_step(self) -> bool:
        """One turn of the background thread; False when it is done."""
        read_lock = self._read_lock
        with self._mutex:
            if self._ended:
                return False
            now = time.monotonic()
            self._aborting_due = False
            nearest, queued = self._timers(now)
            abort = self._aborting_due and not self._aborting
            flush = queued and self._send_lock.acquire(False)
            take = False
            wait: Optional[float] = None
            if not abort and not flush:
                urgent = self._close_deadline is not None or self._aborting
                high = self.max_queue_high
                # set before looking (see _wait_for_message), cleared below
                self._background_waiting = True
                if read_lock.locked() or self._waiting:
                    wait = -1.0  # until notified (or the next timer)
                elif not urgent and high is not None and len(self._messages) >= high:
                    wait = -1.0  # paused: recv() resumes it
                elif not urgent and now - self._app_active < IDLE:
                    # a timed wait: no wake-up per recv() meanwhile
                    self._background_waiting = False
                    wait = IDLE - (now - self._app_active)
                else:
                    take = read_lock.acquire(False)
                if wait is not None:
                    if wait < 0:
                        wait = None if nearest is None else max(0.0, nearest - now)
                    elif nearest is not None:
                        wait = min(wait, max(0.0, nearest - now))
                    self._cond.wait(wait)
                self._background_waiting = False
        if flush:
            self._flush_locked()
        if abort:
            self._abort()  # the reader (perhaps this thread, next turn) then ends it
            return True
        if take:
            try:
                self._read_once(nearest if nearest is not None else time.monotonic() + 3600.0)
            finally:
                read_lock.release()
                if self._waiting:
                    self._notify()
        return True


_EOF_MARK: Any = object()
