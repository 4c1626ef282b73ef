# cython: language_level=3
"""Compiled per-message path of the asyncio WebSocket; twin of
wsfast/_stream_py.py (read that first: it states the behaviour, the fields and
why the class exists; this file only makes it cheap).

The methods are the twin's, statement for statement; what changes is that
the fields are C slots (no dictionary lookups), the calls between these
methods are C calls, and the read callback does no argument parsing beyond
one integer; the compiled reader, frame writer and message waiter
(cimported, final) are called as C functions, the reader straight on the
read buffer; the Connection's per-message fields are read by slot offset
(``slots.h``); ``recv``, ``__anext__`` and ``send`` return an Operation whose
steps are C calls installed as its iterator and am_send slots (``awaitable.h``).
Calls between the cpdef methods are written ``StreamCore._x(self)``: a
direct C call. ``self._x()`` first checks for a Python override, through a
cache keyed on the version of one instance's ``__dict__``, which misses every
time a server turns to another connection (callgrind, two connections taking
turns: 16.9 k instead of 13.9 k instructions per echoed message).
Rarer paths (``_handle_events``, ``_callback_failed``, ``_send_refused``,
``_send_iterable``, ``_fail_deferred``...) stay Python methods of the
WebSocket, called by name.
"""

from wsfast._framing_c cimport FrameWriter
from wsfast._reader_c cimport MessageReader
from wsfast._waiter_c cimport MessageWaiter, new_waiter

cimport cython
from cpython.ref cimport PyObject, Py_INCREF

import asyncio

from wsfast.connection import Connection
from wsfast.errors import ConcurrencyError, ConnectionClosedOK, InvalidState
from wsfast.events import BinaryMessage, TextMessage
from wsfast.frames import Opcode
from wsfast.state import State

cdef extern from "Python.h":
    Py_buffer *PyMemoryView_GET_BUFFER(object view)

cdef extern from "wsfast/awaitable.h":
    ctypedef int (*wsf_step_func)(PyObject *self, PyObject **result) except -1
    int wsf_awaitable_install(object type, wsf_step_func step) except -1

cdef extern from "wsfast/slots.h":
    Py_ssize_t wsf_slot_offset(object cls, const char *name) except -1
    object wsf_slot_get(object obj, Py_ssize_t offset, object name)
    void wsf_slot_set(object obj, Py_ssize_t offset, object value)

cdef object _CONNECTING = State.CONNECTING
cdef object _CLOSING = State.CLOSING
cdef object _shield = asyncio.shield
cdef object _TEXT = int(Opcode.TEXT)
cdef object _BINARY = int(Opcode.BINARY)

# The Connection fields read on every message, by slot offset (slots.h):
# StreamCore.connection only accepts Connection instances.
cdef Py_ssize_t _READER = wsf_slot_offset(Connection, b"_reader")
cdef Py_ssize_t _EVENTS = wsf_slot_offset(Connection, b"_events")
cdef Py_ssize_t _OUT = wsf_slot_offset(Connection, b"_out")
cdef Py_ssize_t _FAST_SEND = wsf_slot_offset(Connection, b"_fast_send")
cdef Py_ssize_t _STATE = wsf_slot_offset(Connection, b"state")
cdef Py_ssize_t _CLOSE_RCVD = wsf_slot_offset(Connection, b"close_rcvd")

# The message a queued event carries, by slot offset too (the two exact types).
cdef object _TextMessage = TextMessage
cdef object _BinaryMessage = BinaryMessage
cdef Py_ssize_t _TEXT_DATA = wsf_slot_offset(TextMessage, b"data")
cdef Py_ssize_t _BINARY_DATA = wsf_slot_offset(BinaryMessage, b"data")


cdef inline object _data_of(event):
    """event.data"""
    cls = type(event)
    if cls is _TextMessage:
        return wsf_slot_get(event, _TEXT_DATA, "data")
    if cls is _BinaryMessage:
        return wsf_slot_get(event, _BINARY_DATA, "data")
    return event.data

#: Write out collected frames once this many payload bytes are waiting.
FLUSH_THRESHOLD = 64 * 1024
cdef Py_ssize_t _FLUSH_THRESHOLD = FLUSH_THRESHOLD


cdef class StreamCore:
    """Read callbacks, message queueing, recv/send and frame writing of a WebSocket."""

    cdef object _connection
    cdef public object on_message
    cdef public object max_queue
    cdef public object _loop
    cdef object _message_queue
    cdef object _enqueue  # its extend and popleft, bound once (see _messages)
    cdef object _dequeue
    cdef public object _recv_waiter
    cdef public FrameWriter _frame_writer
    cdef public object _resolved
    cdef public object _send_lock
    cdef public memoryview _view
    cdef public object _transport
    cdef public object _writelines
    cdef public object _flush_handle
    cdef public object _lost
    cdef public object _closed_exc
    cdef public object _deferred_failure
    cdef public bint _writable
    cdef public bint _reading_paused
    cdef public bint _writing_paused
    cdef public bint _wrote
    cdef public Py_ssize_t _pending_bytes

    @property
    def connection(self):
        """The sans-I/O Connection (a Connection: its fields are read by offset)."""
        return self._connection

    @connection.setter
    def connection(self, connection):
        if not isinstance(connection, Connection):
            raise TypeError(f"a Connection is required, not {type(connection).__name__}")
        self._connection = connection

    @property
    def _messages(self):
        """The deque of queued message events. Its extend and popleft are
        bound when it is set: a call of a bound method, not a method lookup
        and call, per message."""
        return self._message_queue

    @_messages.setter
    def _messages(self, queue):
        self._message_queue = queue
        self._enqueue = queue.extend
        self._dequeue = queue.popleft

    # -- asyncio.BufferedProtocol ---------------------------------------------

    def get_buffer(self, Py_ssize_t sizehint):
        return self._view

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef MessageReader creader
        self._wrote = False
        connection = self._connection
        reader = wsf_slot_get(connection, _READER, "_reader")
        if reader is not None and not wsf_slot_get(connection, _EVENTS, "_events"):
            # receive()'s work, without its two frames (the connection's fast lane)
            view = self._view
            if not 0 <= nbytes <= len(view):  # what is read in place below
                raise ValueError(f"buffer_updated({nbytes}) beyond a {len(view)}-byte buffer")
            # This core is only paired with the compiled kernels (checked
            # cast): the reader reads the buffer in place, the read buffer
            # whose first nbytes the transport filled. No slice object, no
            # method lookup.
            creader = <MessageReader?>reader
            events = creader._feed(<const unsigned char *>PyMemoryView_GET_BUFFER(view).buf,
                                   nbytes)
            if creader.control_events or creader.error is not None:
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
        on_message = self.on_message
        if on_message is not None and not self._message_queue:
            StreamCore._deliver(self, events, on_message)
            return
        self._enqueue(events)
        StreamCore._wake_receiver(self)
        StreamCore._limit_queue(self)

    def data_received(self, data):  # Protocol fallback
        cdef Py_ssize_t n = len(data)
        self._view[:n] = data
        self.buffer_updated(n)

    cpdef _wake_receiver(self):
        """Resolve the recv() waiter: new messages, or the connection ends."""
        waiter = self._recv_waiter
        if waiter is not None:
            self._recv_waiter = None
            (<MessageWaiter?>waiter).set_result(None)  # a C call; a done waiter ignores it

    cpdef _limit_queue(self):
        """Pause reading while more than max_queue messages wait for recv()."""
        if (self.max_queue is not None and len(self._message_queue) > self.max_queue
                and not self._reading_paused and self._writable):
            self._reading_paused = True
            self._transport.pause_reading()

    cpdef _deliver(self, list events, on_message):
        """Hand data messages to the on_message callback (in order)."""
        for event in events:
            try:
                on_message(_data_of(event))
            except Exception:
                self._callback_failed()
                return

    # -- receiving -----------------------------------------------------------

    def recv(self):
        """Wait for the next message: ``str`` for text (``bytes`` if the
        connection was opened with ``text_as_bytes=True``), ``bytes`` for binary.

        Raises:
            ConnectionClosedOK: the connection was closed normally.
            ConnectionClosedError: it ended with an error or abnormally.
            ConcurrencyError: another coroutine is already waiting in ``recv``.
        """
        return _operation(self, RECEIVE, None)

    def __anext__(self):
        """``async for message in websocket``: ends quietly on a normal close."""
        return _operation(self, ITERATE, None)

    cdef MessageWaiter _message_waiter(self):
        """A waiter resolved when messages arrive or the connection ends, or
        the exception to raise now. (A plain function, not a coroutine: one
        frame less per wait on the round-trip path.)"""
        if self._deferred_failure is not None:
            self._fail_deferred()  # everything before the violation was taken
        # connection_lost sets _closed_exc (through _connection_closed) as it
        # resolves _lost: one test covers both.
        if self._closed_exc is not None:
            raise self._connection_closed()
        connection = self._connection
        if (wsf_slot_get(connection, _STATE, "state") is _CLOSING
                and wsf_slot_get(connection, _CLOSE_RCVD, "close_rcvd") is not None):
            raise self._connection_closed()
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            raise ConcurrencyError("another coroutine is already waiting for a message")
        fresh = new_waiter(self._loop, self._resolved)  # C calls
        self._recv_waiter = fresh
        return fresh

    # -- sending ---------------------------------------------------------------

    def send(self, message):
        """Send a message: ``str`` as text, bytes-like as binary; an iterable
        or async iterable of them as one fragmented message.

        Waits while the transport's write buffer is full (backpressure).

        Raises:
            ConnectionClosed: the connection is closing or closed.
            TypeError: unsupported message type.
        """
        if type(message) is str or isinstance(message, (bytes, bytearray, memoryview)):
            return _operation(self, SEND, message)
        return self._send_other(message)

    async def _send_other(self, message):
        while self._send_lock is not None:  # a fragmented message goes first
            await _shield(self._send_lock)
        await self._send_iterable(message)

    def send_nowait(self, message):
        """Send a ``str`` (text) or bytes-like (binary) message without
        waiting: the frame is written at once or at the end of the loop
        iteration. For ``on_message`` callbacks and other synchronous code;
        such a sender should respect :attr:`writing_paused` (or ``await
        drain()``) so that a slow peer cannot make the write buffer grow.

        Raises:
            ConnectionClosed: the connection is closing or closed.
            TypeError: neither str nor bytes-like.
        """
        self._send_nowait(message)

    cdef _send_nowait(self, message):
        if type(message) is str:
            opcode = _TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            opcode = _BINARY
        else:
            raise TypeError(f"data must be str or bytes-like, not {type(message).__name__}")
        connection = self._connection
        if wsf_slot_get(connection, _FAST_SEND, "_fast_send"):  # send_text / send_binary's work
            # (the fast lane) with the connection's compiled writer, held here
            self._frame_writer.write(wsf_slot_get(connection, _OUT, "_out"), opcode, message)
        else:
            try:
                if opcode is _TEXT:
                    connection.send_text(message)
                else:
                    connection.send_binary(message)
            except InvalidState:
                raise self._send_refused() from None
        self._pending_bytes += len(message)
        StreamCore._write_soon(self)

    cpdef _write_soon(self):
        """Write at once if nothing was written since the last read or flush,
        else at the end of the loop iteration, or when 64 KiB wait."""
        if not self._wrote:
            self._wrote = True
            StreamCore._write_now(self)
        elif self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)
        elif self._pending_bytes >= _FLUSH_THRESHOLD:
            StreamCore._write_now(self)

    def _flush(self):
        self._flush_handle = None
        self._wrote = False
        StreamCore._write_now(self)

    cpdef _write_now(self):
        self._pending_bytes = 0
        connection = self._connection
        data = wsf_slot_get(connection, _OUT, "_out")  # data_to_send()'s work (the fast lane)
        if data:
            wsf_slot_set(connection, _OUT, [])
            if self._writable:
                self._writelines(data)


# -- the awaitable of recv() and send() ----------------------------------------

cdef enum:
    RECEIVE = 0  # recv()
    ITERATE = 1  # __anext__(): a normal close ends the iteration
    SEND = 2  # send() of a str or bytes-like message


@cython.final
@cython.freelist(8)
cdef class Operation:
    """What recv(), __anext__() and send() return: a coroutine-like object
    (it has send, throw and close, so asyncio.create_task takes it) whose
    steps are C calls (awaitable.h), from a freelist. It does what the
    twin's coroutines do, in the same order: nothing before it is awaited;
    it yields to the Task the futures those coroutines await (the message
    waiter; a fragmented message's lock, shielded; the drain future)."""

    cdef StreamCore _core
    cdef int _kind
    cdef bint _finished  # returned its result, raised, or was closed
    cdef bint _sent  # SEND: the frame is written
    cdef object _message  # SEND: what to send, until it is sent
    cdef object _waiting  # the future yielded and not yet looked at

    # Its iterator (tp_iternext) and am_send slots are awaitable.h's, calling
    # _step_operation; they are installed at import (end of this file).

    def __await__(self):
        return self

    def send(self, value):
        """Advance (what a 3.9 Task calls); the value sent in is ignored."""
        return next(self)

    def throw(self, typ, val=None, tb=None):
        """Raise the exception where the operation waits (cancellation)."""
        self._waiting = None
        self._finished = True
        if val is None:
            raise typ
        raise val

    def close(self):
        self._waiting = None
        self._finished = True

    cdef object _step(self):
        """The next step; once finished, refused as a used coroutine is."""
        if self._finished:
            raise RuntimeError("cannot reuse already awaited coroutine")
        # A step that returns the result or raises finishes the operation;
        # one that yields a future clears the flag again.
        self._finished = True
        return self._advance()

    cdef object _advance(self):
        waiting = self._waiting
        if waiting is not None:  # resumed: what it waited for is done (or cancelled)
            self._waiting = None
            if self._kind == SEND:
                waiting.result()
            else:  # result(), as a C call
                (<MessageWaiter>waiting)._check_result()
        if self._kind == SEND:
            return self._send_step()
        return self._receive_step()

    cdef object _receive_step(self):
        cdef StreamCore core = self._core
        cdef MessageWaiter waiter
        messages = core._message_queue
        if not messages:
            if self._kind == ITERATE:
                try:
                    waiter = core._message_waiter()
                except ConnectionClosedOK:
                    raise StopAsyncIteration from None
            else:
                waiter = core._message_waiter()
            waiter._asyncio_future_blocking = True
            self._waiting = waiter
            self._finished = False
            return waiter
        event = core._dequeue()
        if core._reading_paused and len(messages) <= core._resume_level():
            core._resume_reading()
        return _data_of(event)

    cdef object _send_step(self):
        cdef StreamCore core = self._core
        if not self._sent:
            if core._send_lock is not None:  # a fragmented message goes first
                return self._wait_for(_shield(core._send_lock))
            core._send_nowait(self._message)  # a C call
            self._sent = True
            self._message = None
            if core._writing_paused:
                return self._wait_for(core._drain_waiter())
        return None

    cdef object _wait_for(self, future):
        future._asyncio_future_blocking = True
        self._waiting = future
        self._finished = False
        return future


cdef inline Operation _operation(StreamCore core, int kind, message):
    cdef Operation operation = Operation.__new__(Operation)  # from the freelist
    operation._core = core
    operation._kind = kind
    operation._message = message
    return operation


cdef int _step_operation(PyObject *obj, PyObject **result) except -1:
    operation = <Operation>obj
    value = operation._step()
    Py_INCREF(value)
    result[0] = <PyObject *>value
    return operation._finished


wsf_awaitable_install(Operation, _step_operation)
