# cython: language_level=3
"""Compiled message reader; twin of wsfast/_reader_py.py (read that first:
it states the behaviour; this file only makes it fast).

Where the time goes, and how it is kept small:

* A frame that is a whole, uncompressed message and lies entirely inside the
  chunk (the common case for small messages) is turned into its event in
  one step: one payload object (unmasked straight into it, or into a scratch
  buffer and then into a ``str``) and one event object built without running
  Python code (records.h).
* Everything else goes through a state machine that consumes each byte once:
  payload bytes are unmasked as they arrive, straight into the message
  buffer (or into the final ``bytes`` object when a binary message is a
  single frame), and text is validated as it arrives (fail-fast).
* Nothing of the input chunk is kept except an incomplete header (<= 14
  bytes in a fixed array), and the unparsed rest of a chunk after a call
  that decompressed INFLATE_YIELD bytes (``held``, copied once; see the
  twin's docstring for why).

Invariants:

* Buffers: the chunk passed to feed() is the caller's: read in place if
  bytes, otherwise acquired with _buffer.read_view and released in feed()'s
  ``finally`` (contract in _buffer.pxd); the export also keeps a bytearray
  from being resized while the chunk is processed, even by the Python code
  that processing may run (the inflater, finalizers). ``msg`` and ``zbuf``
  and ``held`` are malloc'd by this object and freed in __dealloc__ (and
  after a large message, so that an idle connection does not keep a megabyte
  buffer; ``held`` once it is consumed);
  pointers into them are taken again after every buf_reserve. ``direct`` is
  a bytes object written in place while the reader holds its only reference,
  until the message is complete. Events only ever hold new ``bytes``/``str``
  objects, never views of these buffers.
* Lengths: ``frame.length`` is trusted only after wsf_parse_header accepted
  the header, which bounds it by max_frame (<= 2**62) and a control frame's
  by 125 (the size of ``cbuf``). ``hbuf`` receives at most WSF_MAX_HEADER
  bytes in all. Payload is copied ``min(left in frame, left in chunk)``
  bytes at a time, so ``received <= frame.length`` always; ``msg`` is
  reserved for the bytes about to be written, after the limit checks of
  _check_frame (sums of two values <= 2**62 cannot overflow; the fragment
  charge saturates instead).
* The inflater is wsfast's own (wsfast.deflate); calling feed() again from
  inside it, on the same reader, is not supported.
* GIL: never released.
* Shared mutable state: none here; the SIMD paths of wsf_mask and the UTF-8
  check are chosen by the one CPU state owned by wsfast._cpu_c.
* No ``boundscheck(False)`` / ``wraparound(False)`` region: unchecked
  accesses are raw-pointer accesses bounded as above.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memmove

from wsfast._framing_c cimport *
from wsfast._buffer cimport read_view, release_view
from wsfast._cpu_c cimport cpu_state, wsf_cpu_use
from wsfast._mask_c cimport wsf_mask
from wsfast._records cimport (wsf_record_new1, wsf_record_new2, wsf_record_new3,
                              wsf_record_type, wsf_record_type_init)
from wsfast._utf8_c cimport wsf_is_ascii, wsf_utf8_check, wsf_utf8_feed, wsf_utf8_state, wsf_utf8_state_reset

from wsfast.defaults import DEFAULT_FRAGMENT_OVERHEAD, INFLATE_YIELD
from wsfast.errors import ProtocolError, protocol_error
from wsfast.events import BinaryMessage, CloseReceived, MessageFragment, Ping, Pong, TextMessage
from wsfast.frames import parse_close

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object s)

wsf_cpu_use(cpu_state(__name__))

cdef wsf_record_type TEXT_T, BINARY_T, FRAGMENT_T, PING_T, PONG_T, CLOSE_T
wsf_record_type_init(&TEXT_T, TextMessage)
wsf_record_type_init(&BINARY_T, BinaryMessage)
wsf_record_type_init(&FRAGMENT_T, MessageFragment)
wsf_record_type_init(&PING_T, Ping)
wsf_record_type_init(&PONG_T, Pong)
wsf_record_type_init(&CLOSE_T, CloseReceived)

cdef enum:
    # Keep a message buffer between messages only up to this capacity.
    KEEP_BUFFER = 65536
    # Reserve room for a frame's payload up front only up to this size: a
    # header alone must not make us allocate what it declares (with no
    # message limit, 2**50 bytes). A larger payload grows the buffer as it
    # arrives, so memory follows what was received, not what was announced.
    RESERVE_LIMIT = 1 << 20

cdef uint64_t _INFLATE_YIELD = INFLATE_YIELD


cdef int buf_reserve(Buf *b, Py_ssize_t extra) except -1:
    """Make room for `extra` more bytes (callers have checked `extra`
    against the message limits, so this never exceeds them by more than
    the doubling slack)."""
    cdef Py_ssize_t need = b.len + extra
    cdef Py_ssize_t cap
    cdef unsigned char *p
    if need <= b.cap:
        return 0
    cap = b.cap * 2
    if cap < need:
        cap = need
    if cap < 256:
        cap = 256
    p = <unsigned char *>realloc(b.data, <size_t>cap)
    if p == NULL:
        raise MemoryError()
    b.data = p
    b.cap = cap
    return 0


cdef inline void buf_release_if_large(Buf *b):
    b.len = 0
    if b.cap > KEEP_BUFFER:
        free(b.data)
        b.data = NULL
        b.cap = 0


cdef object _utf8_str(const unsigned char *p, Py_ssize_t n):
    """str from UTF-8 bytes; raises the invalid-utf8 ProtocolError."""
    cdef object s
    if n == 0:
        return ""
    if wsf_is_ascii(p, <size_t>n):
        s = PyUnicode_New(n, 127)
        memcpy(PyUnicode_DATA(s), p, <size_t>n)
        return s
    try:
        return PyUnicode_DecodeUTF8(<const char *>p, n, NULL)
    except UnicodeDecodeError:
        raise protocol_error("invalid-utf8") from None


@cython.final
cdef class MessageReader:
    """Bytes in, message events out (one direction of one connection).

    See wsfast._reader_py.MessageReader for the arguments and behaviour.
    """

    def __cinit__(self):
        self.msg.data = NULL
        self.msg.len = self.msg.cap = 0
        self.zbuf.data = NULL
        self.zbuf.len = self.zbuf.cap = 0
        self.held.data = NULL
        self.held.len = self.held.cap = 0
        self.held_pos = 0

    def __dealloc__(self):
        free(self.msg.data)
        free(self.zbuf.data)
        free(self.held.data)

    def __init__(self, *, mask_required, max_frame_size, max_message_size, max_fragments=None,
                 fragment_overhead=DEFAULT_FRAGMENT_OVERHEAD, text_as_bytes=False,
                 streaming=False, inflater=None):
        self.mask_required = bool(mask_required)
        self.max_frame = limit_value(max_frame_size, "max_frame_size")
        self.max_message = limit_value(max_message_size, "max_message_size")
        self.max_fragments = limit_value(max_fragments, "max_fragments")
        self.overhead = limit_value(fragment_overhead, "fragment_overhead")
        self.text_as_bytes = bool(text_as_bytes)
        self.streaming = bool(streaming)
        self.inflater = inflater
        self.rsv1_allowed = inflater is not None
        self.control_events = []
        self.error = None
        self._stopped = False
        self.hlen = 0
        self.in_frame = False
        self.msg_opcode = 0
        self.msg_compressed = False
        self.direct = None
        wsf_utf8_state_reset(&self.utf8)

    @property
    def stopped(self) -> bool:
        """``True`` after a close frame or an error: further input is ignored."""
        return self._stopped

    @property
    def pending(self) -> int:
        """Bytes received but not parsed yet (see the twin)."""
        return self.held.len - self.held_pos

    def feed(self, data) -> list:
        """Process the next chunk of the stream; return the events it completed."""
        cdef Py_buffer view
        read_view(data, &view, "data")
        try:
            return self._feed(<const unsigned char *>view.buf, view.len)
        finally:
            release_view(&view)

    cdef list _feed(self, const unsigned char *p, Py_ssize_t n):
        cdef list events = []
        cdef Py_ssize_t stop
        cdef bint from_pending = self.held.len != 0
        if self.control_events:
            self.control_events = []
        if self._stopped:
            return events
        if from_pending:
            # The rest of an earlier chunk comes first, then whatever was
            # received after it (normally nothing). Nothing appends to
            # ``held`` while _process reads it (no re-entrant feed).
            if n:
                buf_reserve(&self.held, n)
                memcpy(self.held.data + self.held.len, p, <size_t>n)
                self.held.len += n
            p = self.held.data + self.held_pos
            n = self.held.len - self.held_pos
        self.inflated = 0
        try:
            stop = self._process(p, n, events)
            # 0 <= stop <= n: positions _process reached inside p[0:n].
            if from_pending:
                if stop == n:
                    buf_release_if_large(&self.held)
                    self.held_pos = 0
                else:
                    self.held_pos += stop
            elif stop < n:
                # Copied once per INFLATE_YIELD bytes of output at most.
                buf_reserve(&self.held, n - stop)
                memcpy(self.held.data, p + stop, <size_t>(n - stop))
                self.held.len = n - stop
                self.held_pos = 0
        except ProtocolError as exc:
            self.error = exc
            self._stopped = True
            self._discard_message()
            buf_release_if_large(&self.held)
            self.held_pos = 0
        if self.streaming and not self._stopped and self.msg_opcode:
            self._flush_fragment(events, False)
        return events

    # -- framing ---------------------------------------------------------

    cdef int _header(self, const unsigned char *p, Py_ssize_t n) except -1:
        cdef int r = wsf_parse_header(p, <size_t>n, self.mask_required, self.rsv1_allowed,
                                      self.max_frame, self.msg_opcode != 0, &self.frame)
        if r < 0:
            raise header_error(r, &self.frame, self.max_frame)
        return r

    cdef Py_ssize_t _process(self, const unsigned char *p, Py_ssize_t n, list events) except -1:
        """Parse p[0:n]; return where it stopped (n unless the call
        decompressed INFLATE_YIELD bytes before the end)."""
        cdef Py_ssize_t pos = 0, had, take
        cdef uint64_t left
        while not self._stopped:
            if not self.in_frame:
                if self.hlen:
                    # Complete a header split across chunks: borrow at most
                    # the bytes a header can need, give back what it did not use.
                    had = self.hlen
                    take = min(WSF_MAX_HEADER - had, n - pos)
                    memcpy(self.hbuf + had, p + pos, <size_t>take)
                    self.hlen += take
                    if self._header(self.hbuf, self.hlen) == WSF_HDR_MORE:
                        return n  # take == n - pos: all buffered
                    pos += <Py_ssize_t>self.frame.size - had
                    self.hlen = 0
                else:
                    if self._header(p + pos, n - pos) == WSF_HDR_MORE:
                        # n - pos < WSF_MAX_HEADER, or the header would be complete.
                        memcpy(self.hbuf, p + pos, <size_t>(n - pos))
                        self.hlen = n - pos
                        return n
                    pos += <Py_ssize_t>self.frame.size
                    # Fast path: a whole uncompressed message inside the chunk.
                    # frame.length <= max_frame <= 2**62 and n - pos >= 0.
                    if (self.frame.fin and (self.frame.opcode == 1 or self.frame.opcode == 2)
                            and not self.frame.rsv1 and not self.streaming
                            and <uint64_t>(n - pos) >= self.frame.length):
                        self._check_frame()
                        self._whole_message(p + pos, <Py_ssize_t>self.frame.length, events)
                        pos += <Py_ssize_t>self.frame.length
                        continue
                self._check_frame()
                self._prepare_payload()
            # Payload: take what is there, up to the end of the frame.
            left = self.frame.length - self.received
            take = n - pos
            if <uint64_t>take > left:
                take = <Py_ssize_t>left
            if take:
                self._payload(p + pos, take)
                pos += take
            if self.received < self.frame.length:
                return n
            self._end_frame(events)
            if pos == n:
                return n
            if self.inflated >= _INFLATE_YIELD:
                return pos
        return n

    cdef int _check_frame(self) except -1:
        """Start the frame just parsed: message state and the limits that the
        header alone decides (before any payload is buffered)."""
        cdef int opcode = self.frame.opcode
        self.in_frame = True
        self.received = 0
        if opcode >= 8:
            return 0
        if opcode != 0:  # first frame of a message
            self.msg_opcode = opcode
            self.msg_compressed = self.frame.rsv1
            self.msg_size = 0
            self.fragments = 0
            if opcode == 1:
                wsf_utf8_state_reset(&self.utf8)
        self.fragments += 1
        if self.fragments > self.max_fragments:
            raise protocol_error("too-many-fragments", limit=self.max_fragments)
        if not self.msg_compressed:
            # msg_size and frame.length are <= 2**62 each: no overflow.
            if self._charge(self.msg_size + self.frame.length) > self.max_message:
                raise protocol_error("message-too-big", limit=self.max_message)
        elif self._charge(self.msg_size) > self.max_message:
            raise protocol_error("decompressed-too-big", limit=self.max_message)
        return 0

    cdef int _prepare_payload(self) except -1:
        """Where the payload of a data frame that is not wholly in the chunk will go."""
        cdef int opcode = self.frame.opcode
        if opcode >= 8 or self.msg_compressed or self.streaming:
            return 0
        if self.frame.length > RESERVE_LIMIT:
            return 0  # _payload grows the message buffer as the bytes arrive
        if opcode != 0 and self.frame.fin and (opcode == 2 or self.text_as_bytes):
            # A single-frame message: fill its final bytes object directly.
            self.direct = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>self.frame.length)
        else:
            # The whole frame fits the message limit (checked): reserve once.
            buf_reserve(&self.msg, <Py_ssize_t>self.frame.length)
        return 0

    cdef uint64_t _charge(self, uint64_t size):
        """size plus the per-fragment charge, saturating instead of overflowing."""
        cdef uint64_t extra = (self.fragments - 1) * self.overhead
        if self.overhead and extra / self.overhead != self.fragments - 1:
            return WSF_SATURATED
        if size + extra < size:
            return WSF_SATURATED
        return size + extra

    cdef int _whole_message(self, const unsigned char *src, Py_ssize_t n, list events) except -1:
        """Fast path: the event for a complete single-frame message at src."""
        cdef object data
        cdef unsigned char *dst
        self.in_frame = False
        self.msg_opcode = 0
        if self.frame.opcode == 2 or self.text_as_bytes:
            data = PyBytes_FromStringAndSize(NULL, n)
            dst = <unsigned char *>PyBytes_AS_STRING(data)
            self._unmask(dst, src, n, 0)
            if self.frame.opcode == 1:
                if wsf_utf8_check(dst, <size_t>n) >= 0:
                    raise protocol_error("invalid-utf8")
                events.append(wsf_record_new1(&TEXT_T, data))
            else:
                events.append(wsf_record_new1(&BINARY_T, data))
            return 0
        # Text as str: unmask into the (idle) message buffer, then decode.
        buf_reserve(&self.msg, n)
        self._unmask(self.msg.data, src, n, 0)
        data = _utf8_str(self.msg.data, n)
        events.append(wsf_record_new1(&TEXT_T, data))
        buf_release_if_large(&self.msg)
        return 0

    cdef void _unmask(self, unsigned char *dst, const unsigned char *src, Py_ssize_t n,
                             uint64_t phase) noexcept:
        if self.frame.masked:
            wsf_mask(dst, src, <size_t>n, self.frame.mask, <size_t>(phase & 3))
        elif n:
            memcpy(dst, src, <size_t>n)

    cdef int _payload(self, const unsigned char *src, Py_ssize_t n) except -1:
        cdef unsigned char *dst
        cdef ptrdiff_t err
        if self.frame.opcode >= 8:
            # received + n <= length <= 125: fits cbuf.
            self._unmask(self.cbuf + self.received, src, n, self.received)
        elif self.msg_compressed:
            buf_reserve(&self.zbuf, n)
            self._unmask(self.zbuf.data + self.zbuf.len, src, n, self.received)
            self.zbuf.len += n
        elif self.direct is not None:
            # received + n <= length == len(direct).
            dst = <unsigned char *>PyBytes_AS_STRING(self.direct) + self.received
            self._unmask(dst, src, n, self.received)
            self.msg_size += <uint64_t>n
            if self.msg_opcode == 1 and not wsf_utf8_feed(&self.utf8, dst, <size_t>n, &err):
                raise protocol_error("invalid-utf8")
        else:
            buf_reserve(&self.msg, n)  # normally reserved in _prepare_payload
            dst = self.msg.data + self.msg.len
            self._unmask(dst, src, n, self.received)
            self._appended(dst, n)
        self.received += <uint64_t>n
        return 0

    cdef int _appended(self, unsigned char *dst, Py_ssize_t n) except -1:
        """Account for n message bytes just written at dst; validate text."""
        cdef ptrdiff_t err
        self.msg.len += n
        self.msg_size += <uint64_t>n
        if self.msg_opcode == 1 and not wsf_utf8_feed(&self.utf8, dst, <size_t>n, &err):
            raise protocol_error("invalid-utf8")
        return 0

    cdef int _end_frame(self, list events) except -1:
        self.in_frame = False
        if self.frame.opcode >= 8:
            self._end_control(events)
            return 0
        if self.msg_compressed:
            self._inflate(self.frame.fin)
        if self.frame.fin:
            self._end_message(events)
        return 0

    cdef int _inflate(self, bint fin) except -1:
        cdef bytes compressed = PyBytes_FromStringAndSize(<char *>self.zbuf.data, self.zbuf.len)
        cdef uint64_t budget = self.max_message - self._charge(self.msg_size)
        cdef Py_ssize_t n
        self.zbuf.len = 0
        output = self.inflater.decompress(compressed, fin, budget)
        if type(output) is not bytes:
            output = bytes(output)
        n = PyBytes_GET_SIZE(output)
        if <uint64_t>n > budget:
            raise protocol_error("decompressed-too-big", limit=self.max_message)
        self.inflated += <uint64_t>n
        buf_reserve(&self.msg, n)
        if n:
            memcpy(self.msg.data + self.msg.len, PyBytes_AS_STRING(output), <size_t>n)
        self._appended(self.msg.data + self.msg.len, n)
        return 0

    cdef int _end_message(self, list events) except -1:
        cdef bint is_text = self.msg_opcode == 1
        if is_text and self.utf8.npending:
            raise protocol_error("invalid-utf8")
        if self.streaming:
            self._flush_fragment(events, True)
        elif self.direct is not None:
            events.append(wsf_record_new1(&TEXT_T if is_text else &BINARY_T, self.direct))
        elif is_text and not self.text_as_bytes:
            events.append(wsf_record_new1(&TEXT_T, _utf8_str(self.msg.data, self.msg.len)))
        else:
            events.append(wsf_record_new1(
                &TEXT_T if is_text else &BINARY_T,
                PyBytes_FromStringAndSize(<char *>self.msg.data, self.msg.len)))
        self._discard_message()
        return 0

    cdef void _discard_message(self) noexcept:
        self.msg_opcode = 0
        self.msg_compressed = False
        self.direct = None
        buf_release_if_large(&self.msg)
        buf_release_if_large(&self.zbuf)

    cdef int _flush_fragment(self, list events, bint fin) except -1:
        """Streaming mode: hand over what the message has so far."""
        cdef bint is_text = self.msg_opcode == 1
        cdef Py_ssize_t cut = self.msg.len
        cdef object data
        if is_text and not self.text_as_bytes:
            # Cut at the last code point boundary; keep the rest for later.
            if not fin:
                cut -= self.utf8.npending
            data = _utf8_str(self.msg.data, cut)
        else:
            data = PyBytes_FromStringAndSize(<char *>self.msg.data, cut)
        # Move the kept bytes (at most 3) to the front.
        if self.msg.len > cut:
            memmove(self.msg.data, self.msg.data + cut, <size_t>(self.msg.len - cut))
        self.msg.len -= cut
        if cut or fin:
            events.append(wsf_record_new3(&FRAGMENT_T, data, is_text, fin))
        return 0

    cdef int _end_control(self, list events) except -1:
        cdef bytes payload = PyBytes_FromStringAndSize(<char *>self.cbuf,
                                                       <Py_ssize_t>self.frame.length)
        cdef int opcode = self.frame.opcode
        if opcode == 9:
            event = wsf_record_new1(&PING_T, payload)
            self.control_events.append(event)
        elif opcode == 10:
            event = wsf_record_new1(&PONG_T, payload)
            self.control_events.append(event)
        else:
            code, reason = parse_close(payload)
            event = wsf_record_new2(&CLOSE_T, code, reason)
            self.control_events.append(event)
            self._stopped = True  # §5.5.1: nothing follows a close frame
        events.append(event)
        return 0
