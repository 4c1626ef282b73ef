# cython: language_level=3
"""Compiled ConnectionCore; twin of wsfast/_core_py.py (read that first: it
states the contract and who may change each field; this file declares the
fields as C members so that the compiled stream core reads them as loads).

Invariants:

* Buffers: :meth:`feed_buffer` reads ``n`` bytes at ``p``, a buffer the
  caller owns and keeps alive for the call (the asyncio layer's read buffer);
  the reader copies out what it keeps, so nothing refers to it afterwards.
  ``n`` is trusted: the caller checked it against the buffer's length.
  :meth:`feed` acquires its argument's buffer (``_buffer.pxd``) and releases
  it on every path; ``view.len`` is the exporter's own count.
* No GIL release, no module-level mutable state; ``reader`` and ``writer``
  are typed, so a Python-level assignment of anything but the compiled
  MessageReader (or None) and FrameWriter raises TypeError.
"""

from wsfast._buffer cimport read_view, release_view
from wsfast._framing_c cimport FrameWriter
from wsfast._reader_c cimport MessageReader

from wsfast import state as _state


cdef class ConnectionCore:
    """Reader, writer, outbox and state flags of one connection (see
    wsfast/_core_py.py for who may change each field)."""

    def __init__(self, FrameWriter writer not None, on_control):
        self.reader = None
        self.writer = writer
        self.events = []
        self.out = []
        self.on_control = on_control
        self.control_received = False
        _state.initial(self)

    def feed(self, data):
        """The message events *data* completes (``reader`` must be set);
        control frames and errors are handed to ``on_control`` first."""
        cdef Py_buffer view
        read_view(data, &view, "data")  # the reader's own feed(), as C calls
        try:
            return self.feed_buffer(<const unsigned char *>view.buf, view.len)
        finally:
            release_view(&view)

    cdef list feed_buffer(self, const unsigned char *p, Py_ssize_t n):
        """feed() of the n bytes at p, read in place (``reader`` must be set)."""
        cdef MessageReader reader = self.reader
        cdef list events = reader._feed(p, n)
        if reader.control_events or reader.error is not None:
            self.control_received = True
            self.on_control(reader)
        return events

    cpdef write(self, opcode, data):
        """Frame *data* as a whole message or control frame into ``out`` (no
        state check: the caller made it). No optional arguments: the call
        from Python parses two positional ones, nothing more."""
        self.writer.write(self.out, opcode, data, True, False)

    cpdef write_frame(self, opcode, data, bint fin, bint rsv1):
        """Frame *data* with the given FIN and RSV1 bits into ``out``."""
        self.writer.write(self.out, opcode, data, fin, rsv1)

    cpdef list take_out(self):
        """The frames to write, oldest first; ``out`` starts anew."""
        cdef list out = self.out
        self.out = []
        return out
