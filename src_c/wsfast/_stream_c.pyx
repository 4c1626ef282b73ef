# cython: language_level=3
"""Compiled per-message path of the asyncio WebSocket; twin of
wsfast/_stream_py.py (read that first: it states the behaviour, the two
contracts the stream core stands between and why it exists; this file only
makes it cheap). Fields: _stream_c.pxd.

The methods are the twin's, statement for statement; what changes is that
the fields are C members (no dictionary lookups), the connection's core is
the compiled ConnectionCore (cimported: its fields are struct members, its
feed_buffer / write / take_out C calls, the reader fed straight from the read
buffer), the message waiter is the compiled one, and ``recv``, ``__anext__``
and ``send`` return an Operation whose steps are C calls installed as its
iterator and am_send slots (``awaitable.h``).
Calls between the cpdef methods are written ``StreamCore._x(self)``: a
direct C call. ``self._x()`` first checks for a Python override, through a
cache keyed on the version of one instance's ``__dict__``, which misses every
time a server turns to another connection (callgrind, two connections taking
turns: 16.9 k instead of 13.9 k instructions per echoed message).

Invariants:

* Buffers: ``view`` is the read buffer the owner hands in (one per thread,
  shared by its connections, kept alive by the memoryview); the transport
  fills its first ``nbytes`` before ``buffer_updated(nbytes)``, which checks
  ``0 <= nbytes <= len(view)`` before the reader reads them in place. The
  reader copies what it keeps, so nothing refers to the buffer afterwards.
* Types: ``core`` is the compiled ConnectionCore (typed field: assigning a
  pure core raises TypeError), so this stream core runs only with the
  compiled kernels, as _backend pairs them.
* No GIL release; no module-level mutable state but the Operation freelist.
"""

cimport cython
from cpython.ref cimport PyObject, Py_INCREF
from cpython.set cimport PySet_Add

from wsfast._core_c cimport ConnectionCore
from wsfast._reader_c cimport MessageReader
from wsfast._records cimport wsf_record_get, wsf_record_type, wsf_record_type_init
from wsfast._waiter_c cimport MessageWaiter, new_waiter

import asyncio
import collections

from wsfast.defaults import FLUSH_THRESHOLD
from wsfast.errors import ConcurrencyError, ConnectionClosedOK, InvalidState
from wsfast.events import BinaryMessage, TextMessage
from wsfast.frames import Opcode
from wsfast.state import State

cdef extern from "Python.h":
    Py_buffer *PyMemoryView_GET_BUFFER(object view)

cdef extern from "wsfast/awaitable.h":
    ctypedef int (*wsf_step_func)(PyObject *self, PyObject **result) except -1
    int wsf_awaitable_install(object type, wsf_step_func step) except -1

cdef object _CONNECTING = State.CONNECTING
cdef object _OPEN = State.OPEN
cdef object _shield = asyncio.shield
cdef object _TEXT = int(Opcode.TEXT)
cdef object _BINARY = int(Opcode.BINARY)
cdef Py_ssize_t _FLUSH_THRESHOLD = FLUSH_THRESHOLD

# The message a queued event carries: its one field, read as records.h
# reads and writes the fields of the records it builds.
cdef wsf_record_type TEXT_T, BINARY_T
wsf_record_type_init(&TEXT_T, TextMessage)
wsf_record_type_init(&BINARY_T, BinaryMessage)
cdef object _TextMessage = TextMessage
cdef object _BinaryMessage = BinaryMessage


cdef object _recoded(data, decode):
    """A message as recv(decode=...) asks for it (twin of _stream_py.recoded)."""
    if decode:
        return data if type(data) is str else bytes(data).decode()
    return data.encode() if type(data) is str else data


cdef inline object _data_of(event):
    """event.data"""
    cls = type(event)
    if cls is _TextMessage:
        return wsf_record_get(&TEXT_T, event, 0)
    if cls is _BinaryMessage:
        return wsf_record_get(&BINARY_T, event, 0)
    return event.data


cdef class StreamCore:
    """Read callbacks, message queueing, recv/send and frame writing of a
    WebSocket. (The protocol the loop drives is StreamProtocol, below: this
    class with asyncio.BufferedProtocol, which a cdef class cannot derive from.)"""

    def __init__(self, owner, connection, loop, memoryview view not None, max_queue):
        self.owner = owner
        self.connection = connection
        self.client_side = connection.is_client
        self.core = connection.core  # typed: the compiled core, else TypeError
        self.loop = loop
        self.view = view
        self.on_message = None
        self.max_queue = max_queue
        self.queue_low = (max_queue or 0) // 4
        self.messages = collections.deque()
        self.recv_waiter = None
        self.resolved = loop.create_future()
        self.resolved.set_result(None)
        self.transport = None
        self.writelines = None
        self.flush_handle = None
        self.send_lock = None
        self.lost = loop.create_future()
        self.closed_exc = None
        self.deferred_failure = None
        self.drain_waiters = collections.deque()

    @property
    def messages(self):
        """The deque of queued message events. Its extend and popleft are
        bound when it is set: a call of a bound method, not a method lookup
        and call, per message."""
        return self._messages

    @messages.setter
    def messages(self, queue):
        self._messages = queue
        self._enqueue = queue.extend
        self._dequeue = queue.popleft

    # -- asyncio.BufferedProtocol ---------------------------------------------

    def connection_made(self, transport):
        self.owner.connection_made(transport)

    def connection_lost(self, exc):
        self.owner.connection_lost(exc)

    def pause_writing(self):
        self.owner.pause_writing()

    def resume_writing(self):
        self.owner.resume_writing()

    def eof_received(self):
        return self.owner.eof_received()

    def get_buffer(self, Py_ssize_t sizehint):
        return self.view

    def buffer_updated(self, Py_ssize_t nbytes):
        cdef ConnectionCore core = self.core
        cdef MessageReader reader = core.reader
        cdef list events
        self.wrote = False
        if reader is not None:
            # the connection's receive(), without its frames (the core's fast path)
            view = self.view
            if not 0 <= nbytes <= len(view):  # what is read in place below
                raise ValueError(f"buffer_updated({nbytes}) beyond a {len(view)}-byte buffer")
            # The reader reads the read buffer in place, the first nbytes
            # that the transport filled: no slice object, no method lookup.
            events = core.feed_buffer(<const unsigned char *>PyMemoryView_GET_BUFFER(view).buf,
                                      nbytes)
            if core.events:  # left by the handshake: they come first
                events = self.connection.events_received() + events
            if reader.held.len:
                StreamCore.hold_input(self)
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
        on_message = self.on_message
        if on_message is not None and not self._messages:
            StreamCore.deliver(self, events, on_message)
            return
        self._enqueue(events)
        StreamCore.wake_receiver(self)
        StreamCore.limit_queue(self)

    def data_received(self, data):  # Protocol fallback
        cdef Py_ssize_t n = len(data)
        self.view[:n] = data
        self.buffer_updated(n)

    cpdef wake_receiver(self):
        """Resolve the recv() waiter: new messages, or the connection ends."""
        waiter = self.recv_waiter
        if waiter is not None:
            self.recv_waiter = None
            (<MessageWaiter?>waiter).set_result(None)  # a C call; a done waiter ignores it

    cpdef limit_queue(self):
        """Pause reading while more than max_queue messages wait for recv()."""
        if (self.max_queue is not None and len(self._messages) > self.max_queue
                and not self.reading_paused and self.writable):
            self.reading_paused = True
            if not self.input_held:
                self.transport.pause_reading()

    cpdef resume_reading(self):
        """The queue has room again: parse what the reader holds first, then
        read from the transport."""
        self.reading_paused = False
        if self.input_held:
            StreamCore.schedule_input(self)
        elif self.transport is not None and not self.lost.done():
            self.transport.resume_reading()

    cpdef hold_input(self):
        """The reader stopped mid-chunk and keeps the rest (see the twin)."""
        if not self.input_held:
            self.input_held = True
            if not self.reading_paused and self.writable:
                self.transport.pause_reading()
        if not self.reading_paused:
            StreamCore.schedule_input(self)

    cpdef schedule_input(self):
        if not self.input_scheduled:
            self.input_scheduled = True
            self.loop.call_soon(self.continue_input)

    def continue_input(self):
        """Parse on where the reader stopped (see hold_input)."""
        cdef MessageReader reader
        self.input_scheduled = False
        if self.reading_paused or self.lost.done():
            return  # resume_reading() calls again when the queue has room
        reader = self.core.reader
        if reader is not None and reader.held.len:
            self.buffer_updated(0)  # calls hold_input again if it stops again
            reader = self.core.reader
            if reader is not None and reader.held.len:
                return
        self.input_held = False
        if not self.reading_paused and self.transport is not None and not self.lost.done():
            self.transport.resume_reading()

    cpdef deliver(self, list events, on_message):
        """Hand data messages to the on_message callback (in order)."""
        for event in events:
            try:
                on_message(_data_of(event))
            except Exception:
                self.owner._callback_failed()
                return

    # -- receiving -----------------------------------------------------------

    def __aiter__(self):
        return self

    def recv(self, decode=None):
        """Wait for the next message (see WebSocket.recv)."""
        return _operation(self, RECEIVE, decode)

    def __anext__(self):
        """``async for message in websocket``: ends quietly on a normal close."""
        return _operation(self, ITERATE, None)

    cdef object message_waiter(self):
        """A waiter resolved when messages arrive or the connection ends, or
        the exception to raise now."""
        if (self.deferred_failure is not None or self.closed_exc is not None
                or self.core.recv_closed):
            refusal = self.owner._recv_refusal()
            if refusal is not None:
                raise refusal
        waiter = self.recv_waiter
        if waiter is not None and not waiter.done():
            raise ConcurrencyError("another coroutine is already waiting for a message")
        fresh = new_waiter(self.loop, self.resolved)  # C calls
        self.recv_waiter = fresh
        return fresh

    # -- sending ---------------------------------------------------------------

    def send(self, message, text=None):
        """Send a message (see WebSocket.send)."""
        if text is not None:  # the frame type is the caller's, not the data's
            return self.owner._send_as(message, text)
        if type(message) is str or isinstance(message, (bytes, bytearray, memoryview)):
            return _operation(self, SEND, message)
        return self._send_other(message)

    async def _send_other(self, message):
        while self.send_lock is not None:  # a fragmented message goes first
            await _shield(self.send_lock)
        await self.owner._send_iterable(message)

    def send_nowait(self, message):
        """Send a str or bytes-like message without waiting (see WebSocket.send_nowait)."""
        self.send_message(message)

    cdef send_message(self, message):
        cdef ConnectionCore core = self.core
        if type(message) is str:
            opcode = _TEXT
        elif isinstance(message, (bytes, bytearray, memoryview)):
            opcode = _BINARY
        else:
            raise TypeError(f"data must be str or bytes-like, not {type(message).__name__}")
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
        StreamCore.write_soon(self)

    cpdef drain_waiter(self):
        """A future resolved when the write buffer is below its low-water
        mark (resume_writing), or the exception to raise now."""
        if self.lost.done():
            raise self.owner._send_refusal()
        waiter = self.loop.create_future()
        self.drain_waiters.append(waiter)
        return waiter

    cpdef write_soon(self):
        """Write at once if nothing was written since the last read or flush,
        else at the end of the loop iteration, or when FLUSH_THRESHOLD bytes wait."""
        if not self.wrote:
            self.wrote = True
            StreamCore.write_now(self)
        elif self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self.flush)
        elif self.pending_bytes >= _FLUSH_THRESHOLD:
            StreamCore.write_now(self)

    def flush(self):
        self.flush_handle = None
        self.wrote = False
        StreamCore.write_now(self)

    cpdef write_now(self):
        cdef ConnectionCore core = self.core
        self.pending_bytes = 0
        if core.out:
            data = core.take_out()
            if self.writable:
                self.writelines(data)

    cpdef write_frame_now(self, bytes frame):
        """Write a frame built elsewhere, behind whatever waits, now (see the twin)."""
        cdef ConnectionCore core = self.core
        if core.out:
            core.out.append(frame)
            StreamCore.write_now(self)
            return
        self.pending_bytes = 0
        if self.writable:
            self.transport.write(frame)


# -- broadcast's loop -------------------------------------------------------------

cdef object _Policy = None  # wsfast.fanout.SlowConsumerPolicy, imported on first use
cdef object _OpenConnections = None  # wsfast.fanout.OpenConnections, likewise


cdef object _open_connections_type():
    global _OpenConnections
    if _OpenConnections is None:
        from wsfast.fanout import OpenConnections  # not at import: fanout imports the back-end
        _OpenConnections = OpenConnections
    return _OpenConnections


cdef bint _is_slow(policy, websocket, StreamCore stream) except -1:
    """policy.is_slow(websocket), the same computation in C for the library's
    own policy class (a subclass may override it: then its method is called)."""
    global _Policy
    if _Policy is None:
        from wsfast.fanout import SlowConsumerPolicy  # not at import: fanout imports the back-end
        _Policy = SlowConsumerPolicy
    if type(policy) is not _Policy:
        return bool(policy.is_slow(websocket))
    transport = stream.transport
    if transport is None:
        return False
    unsent = transport.get_write_buffer_size() + stream.pending_bytes
    limit = policy.limit
    if limit is None:
        limit = transport.get_write_buffer_limits()[1]
    return bool(unsent > limit)


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define WSF_PREFETCH(p) __builtin_prefetch(p)
    #else
    #define WSF_PREFETCH(p) ((void)0)
    #endif
    """
    void WSF_PREFETCH(const void *p) nogil


def open_connections(dict registry not None):
    """``server.connections`` (see the twin): the owners of the stream
    cores in *registry* as an OpenConnections set, which carries the list
    of those stream cores for fan_out. Each stream core is read for its
    owner, the first field of its struct, and each owner for its hash and
    reference count: misses independent from one entry to the next, so the
    next entries are prefetched. ``PySet_Add`` is set's own insertion: the
    subclass's ``add``, which forgets the stream cores, is not called."""
    cdef list streams = list(registry.values())
    connections = _open_connections_type()()
    cdef Py_ssize_t i, n = len(streams)
    cdef StreamCore ahead
    for i in range(n):
        # i + 8 < n and i + 4 < n: the indexes are in the list (bounds checked).
        if i + 8 < n:
            WSF_PREFETCH(<PyObject *>streams[i + 8])
        if i + 4 < n and isinstance(streams[i + 4], StreamCore):
            ahead = <StreamCore>streams[i + 4]
            WSF_PREFETCH(<PyObject *>ahead.owner)
        stream = streams[i]
        if isinstance(stream, StreamCore):
            PySet_Add(connections, (<StreamCore>stream).owner)
        else:  # a stream core of the other back-end
            PySet_Add(connections, stream.owner)
    connections.streams = streams
    return connections


cdef inline object _owner(list sockets, Py_ssize_t i, object stream):
    """The connection of the i-th recipient: from the list fan_out was
    given, or (for server.connections, which carries stream cores) the
    stream core's owner -- read only when needed, so that the usual
    recipient's connection object is never touched."""
    if sockets is not None:
        return sockets[i]
    if isinstance(stream, StreamCore):
        return (<StreamCore>stream).owner
    return stream.owner


def fan_out(websockets, bytes frame not None, policy, bint lookup):
    """The per-connection loop of broadcast (see the twin): write *frame* to
    each open connection that can take it as is; return ``(policy,
    leftovers)``.

    Per connection it does what the plain-asyncio floor does --
    ``transport.write`` -- plus C field reads, and its cost is their cache
    misses: each ``send`` system call in between evicts what the loop read.
    So the stream cores come with ``server.connections`` (OpenConnections)
    or are looked up first, in a loop of their own (no system call between
    them: the processor overlaps those misses), and the objects of the next
    connections are prefetched while this one is written."""
    cdef list sockets = None
    cdef list streams
    if type(websockets) is _open_connections_type() and websockets.streams is not None:
        streams = websockets.streams  # server.connections, unchanged
    else:
        sockets = list(websockets)
        streams = [websocket._stream for websocket in sockets]
    cdef list leftovers = []
    cdef Py_ssize_t i, n = len(streams)
    cdef StreamCore stream, ahead
    cdef ConnectionCore core
    for i in range(n):
        # i + 2 < n and i + 1 < n: the indexes are in the list (bounds checked).
        if i + 2 < n:
            WSF_PREFETCH(<PyObject *>streams[i + 2])
        if i + 1 < n and isinstance(streams[i + 1], StreamCore):
            ahead = <StreamCore>streams[i + 1]
            WSF_PREFETCH(<PyObject *>ahead.core)
            WSF_PREFETCH(<PyObject *>ahead.transport)
        candidate = streams[i]
        if not isinstance(candidate, StreamCore):
            websocket = _owner(sockets, i, candidate)
            if websocket.connection.state is not _OPEN:
                continue
            if lookup:
                lookup = False
                policy = getattr(getattr(websocket, "server", None), "broadcast_policy", None)
            leftovers.append((websocket, None))
            continue
        stream = <StreamCore>candidate
        core = stream.core
        if core.state is not _OPEN:
            continue
        if lookup:
            lookup = False
            policy = getattr(getattr(_owner(sockets, i, stream), "server", None),
                             "broadcast_policy", None)
        if policy is not None and _is_slow(policy, _owner(sockets, i, stream), stream):
            leftovers.append((_owner(sockets, i, stream), True))
            continue
        if not core.fast_send or stream.send_lock is not None or stream.client_side:
            leftovers.append((_owner(sockets, i, stream), False))
            continue
        try:
            StreamCore.write_frame_now(stream, frame)
        except Exception as exc:  # one failure must not stop the rest
            leftovers.append((_owner(sockets, i, stream), exc))
    return policy, leftovers


class StreamProtocol(StreamCore, asyncio.BufferedProtocol):
    """The stream core as the asyncio.BufferedProtocol the event loop drives
    (asyncio's transports check isinstance). No instance dictionary: the
    fields are StreamCore's."""

    __slots__ = ()


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
    cdef object _message  # SEND: what to send, until it is sent; RECEIVE: recv's decode
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
        messages = core._messages
        if not messages:
            if self._kind == ITERATE:
                try:
                    waiter = core.message_waiter()
                except ConnectionClosedOK:
                    raise StopAsyncIteration from None
            else:
                waiter = core.message_waiter()
            waiter._asyncio_future_blocking = True
            self._waiting = waiter
            self._finished = False
            return waiter
        event = core._dequeue()
        if core.reading_paused and len(messages) <= core.queue_low:
            StreamCore.resume_reading(core)
        if self._message is None:  # recv(decode=None), __anext__
            return _data_of(event)
        return _recoded(_data_of(event), self._message)

    cdef object _send_step(self):
        cdef StreamCore core = self._core
        if not self._sent:
            if core.send_lock is not None:  # a fragmented message goes first
                return self._wait_for(_shield(core.send_lock))
            core.send_message(self._message)  # a C call
            self._sent = True
            self._message = None
            if core.writing_paused:
                return self._wait_for(StreamCore.drain_waiter(core))
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
