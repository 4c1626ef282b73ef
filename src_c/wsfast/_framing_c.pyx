# cython: language_level=3
"""Compiled frame parsing and building; twin of wsfast/_framing_py.py.

The rules live in frame_header.h (wsf_parse_header), shared with the message
reader; this module maps its error codes to wsfast.errors and provides the
public FrameParser, build_frame and the connection's FrameWriter.

Invariants:

* Buffers: an argument (chunk, payload, mask) is the caller's: read in place
  if bytes, otherwise acquired with _buffer.read_view and released in the
  same function's ``finally`` (contract in _buffer.pxd). Frames are parsed
  straight out of it; frame payloads are always copied into new bytes.
* FrameParser.buffer is the parser's own bytearray, holding at most one
  incomplete frame (<= 14 + max_frame_size bytes). It is a cdef attribute,
  unreachable from Python, so nothing else resizes it; pointers into it are
  taken again after every resize (_keep, PyByteArray_Resize).
* Lengths: a header's length is trusted only after wsf_parse_header returned
  WSF_HDR_OK, which bounds it by max_frame (<= WSF_UNLIMITED = 2**62), so
  ``h.size + h.length`` fits a Py_ssize_t; a payload is read only once the
  chunk is checked to hold all of it (_parse, _complete_buffered). Output
  sizes are exact: header bytes from wsf_encode_header plus the payload
  length, allocated before they are written.
* Masking keys: pointers into the writer's 4 KiB pool of random bytes
  (checked to be exactly bytes of KEY_POOL_SIZE). Between _next_key and the
  key's last use only bytes / bytearray objects are allocated (not tracked
  by the GC, so no Python code runs) and the pool cannot be replaced.
* GIL: never released.
* Shared mutable state: ``_scratch``, one bytearray for the whole process in
  which reuse_buffers writers build masked frames; reused only when it has
  no live export, checked and written with the GIL held (see _masked_view).
  The SIMD path is chosen by the one CPU state owned by wsfast._cpu_c.
* No ``boundscheck(False)`` / ``wraparound(False)`` region: unchecked
  accesses are raw-pointer accesses bounded as above.
"""

cimport cython
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_FromStringAndSize,
                                PyByteArray_GET_SIZE, PyByteArray_Resize)
from cpython.memoryview cimport PyMemoryView_FromObject
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8String
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from wsfast._framing_c cimport *
from wsfast._buffer cimport read_view, release_view, view_bytes
from wsfast._cpu_c cimport cpu_state, wsf_cpu_use
from wsfast._mask_c cimport get_mask_key, wsf_mask
from wsfast._records cimport wsf_record_new6, wsf_record_type, wsf_record_type_init

import os

from wsfast.defaults import DEFAULT_MAX_MESSAGE_SIZE
from wsfast.errors import ProtocolError, protocol_error
from wsfast.frames import Frame, Opcode

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    bint PyUnicode_IS_ASCII(object s)
    ctypedef struct PyByteArrayObject:
        Py_ssize_t ob_exports  # live buffer exports (memoryviews) of a bytearray

wsf_cpu_use(cpu_state(__name__))

cdef wsf_record_type FRAME_T
wsf_record_type_init(&FRAME_T, Frame)

# Opcode members by value; None for reserved values (never reached: the header
# parser rejects them first).
cdef tuple OPCODES = tuple(Opcode(i) if i in (0, 1, 2, 8, 9, 10) else None for i in range(16))

cdef enum:
    # Same values as wsfast._framing_py.SPLIT_THRESHOLD / KEY_POOL_SIZE.
    SPLIT_THRESHOLD = 4096
    KEY_POOL_SIZE = 4096
    # Payload sizes of masked frames built in the reusable buffer when
    # reuse_buffers is set (compiled writer only; see FrameWriter).
    REUSE_MIN = 8192
    REUSE_MAX = 1024 * 1024

# The buffer that masked frames are built in when reuse_buffers is set: one
# for the whole process, not one per connection, so that memory kept between
# messages is bounded by REUSE_MAX however many clients there are. Checked
# and filled while holding the GIL, so threads cannot interleave on it.
cdef bytearray _scratch = None

# As wsfast._framing_py.DEFAULT_MAX_FRAME_SIZE.
DEFAULT_MAX_FRAME_SIZE = DEFAULT_MAX_MESSAGE_SIZE


cdef object header_error(int code, const wsf_header *h, uint64_t max_frame):
    if code == WSF_ERR_RESERVED_OPCODE:
        return protocol_error("reserved-opcode", opcode=h.opcode)
    if code == WSF_ERR_RESERVED_BITS:
        return protocol_error("reserved-bits")
    if code == WSF_ERR_RSV1_CONTROL:
        return protocol_error("rsv1-on-control")
    if code == WSF_ERR_RSV1_CONTINUATION:
        return protocol_error("rsv1-on-continuation")
    if code == WSF_ERR_CONTROL_FRAGMENTED:
        return protocol_error("control-fragmented")
    if code == WSF_ERR_CONTROL_TOO_LONG:
        return protocol_error("control-too-long")
    if code == WSF_ERR_UNMASKED:
        return protocol_error("unmasked-frame")
    if code == WSF_ERR_MASKED:
        return protocol_error("masked-frame")
    if code == WSF_ERR_UNEXPECTED_CONTINUATION:
        return protocol_error("unexpected-continuation")
    if code == WSF_ERR_EXPECTED_CONTINUATION:
        return protocol_error("expected-continuation")
    if code == WSF_ERR_NON_MINIMAL_LENGTH:
        return protocol_error("non-minimal-length")
    if code == WSF_ERR_LENGTH_MSB:
        return protocol_error("length-msb-set")
    if code == WSF_ERR_FRAME_TOO_BIG:
        return protocol_error("frame-too-big", size=h.length, limit=max_frame)
    raise AssertionError(f"unknown header error {code}")


cdef uint64_t limit_value(object value, str name) except? 0:
    if value is None:
        return WSF_UNLIMITED
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int or None")
    if value > WSF_UNLIMITED:
        return WSF_UNLIMITED
    return <uint64_t>value


cdef inline object _payload_copy(const unsigned char *src, Py_ssize_t n, const wsf_header *h):
    """The (unmasked) payload as new bytes."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n)
    cdef unsigned char *dst = <unsigned char *>PyBytes_AS_STRING(out)
    if h.masked:
        wsf_mask(dst, src, <size_t>n, h.mask, 0)
    elif n:
        memcpy(dst, src, <size_t>n)
    return out


cdef class FrameParser:
    """Incremental WebSocket frame parser (RFC 6455 §5).

    Feed it the byte stream in chunks of any size; each :meth:`feed` returns
    every frame completed by that chunk, unmasked. Frame-level rules are
    enforced (reserved opcodes and bits, minimal lengths, masking per role,
    control-frame limits, the fragmentation sequence, ``max_frame_size``);
    message-level rules (UTF-8, close payloads, message size) are the
    connection's.

    Args:
        mask_required: ``True`` on the server side (client frames must be
            masked), ``False`` on the client side (server frames must not be).
        max_frame_size: largest payload accepted, checked from the header
            before any payload is buffered; ``None`` for no limit.
        rsv1_allowed: ``True`` when permessage-deflate was negotiated.
    """

    cdef bint mask_required, rsv1_allowed, in_message
    cdef uint64_t max_frame
    # Bytes of an incomplete frame, kept between calls. Only ever one frame's
    # worth: complete frames are parsed straight out of the caller's chunk.
    cdef bytearray buffer
    cdef object error

    def __init__(self, *, mask_required, max_frame_size=DEFAULT_MAX_FRAME_SIZE,
                 rsv1_allowed=False):
        self.mask_required = bool(mask_required)
        self.max_frame = limit_value(max_frame_size, "max_frame_size")
        self.rsv1_allowed = bool(rsv1_allowed)
        self.in_message = False
        self.buffer = bytearray()
        self.error = None

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return PyByteArray_GET_SIZE(self.buffer)

    cdef inline int _header(self, const unsigned char *p, Py_ssize_t n, wsf_header *h) except -1:
        cdef int r = wsf_parse_header(p, <size_t>n, self.mask_required, self.rsv1_allowed,
                                      self.max_frame, self.in_message, h)
        if r < 0:
            raise header_error(r, h, self.max_frame)
        return r

    cdef inline void _emit(self, const unsigned char *payload, const wsf_header *h, list frames) except *:
        frames.append(wsf_record_new6(
            &FRAME_T, OPCODES[h.opcode], _payload_copy(payload, <Py_ssize_t>h.length, h),
            h.fin != 0, h.rsv1 != 0, False, False))
        if h.opcode < 8:
            self.in_message = not h.fin

    cdef inline void _keep(self, const unsigned char *p, Py_ssize_t n) except *:
        """Append p[0..n) to the buffer."""
        cdef Py_ssize_t old = PyByteArray_GET_SIZE(self.buffer)
        if n:
            PyByteArray_Resize(self.buffer, old + n)
            memcpy(PyByteArray_AS_STRING(self.buffer) + old, p, <size_t>n)

    cdef Py_ssize_t _complete_buffered(self, const unsigned char *p, Py_ssize_t n,
                                       list frames) except -1:
        """Finish the buffered frame with bytes from p; returns bytes used."""
        cdef wsf_header h
        cdef Py_ssize_t have = PyByteArray_GET_SIZE(self.buffer)
        cdef Py_ssize_t used = 0, take, total
        if self._header(<unsigned char *>PyByteArray_AS_STRING(self.buffer), have, &h) == WSF_HDR_MORE:
            # Borrow as many bytes as the longest header needs; give back
            # those that turn out to belong to the next frame.
            take = min(WSF_MAX_HEADER - have, n)
            self._keep(p, take)
            have += take
            if self._header(<unsigned char *>PyByteArray_AS_STRING(self.buffer), have, &h) == WSF_HDR_MORE:
                return take  # take == n: everything is buffered
            total = <Py_ssize_t>(h.size + h.length)  # <= 14 + max_frame: fits
            if have > total:
                PyByteArray_Resize(self.buffer, total)
                take -= have - total
                have = total
            used = take
        total = <Py_ssize_t>(h.size + h.length)
        take = min(total - have, n - used)
        self._keep(p + used, take)
        used += take
        if have + take == total:
            self._emit(<unsigned char *>PyByteArray_AS_STRING(self.buffer) + h.size, &h, frames)
            PyByteArray_Resize(self.buffer, 0)
        return used

    cdef void _parse(self, const unsigned char *p, Py_ssize_t n, list frames) except *:
        cdef wsf_header h
        cdef Py_ssize_t pos = 0
        if PyByteArray_GET_SIZE(self.buffer):
            pos = self._complete_buffered(p, n, frames)
        while pos < n:
            if self._header(p + pos, n - pos, &h) == WSF_HDR_MORE:
                break
            # h.length <= max_frame <= 2**63-1, and n - pos - h.size >= 0
            # here, so the comparison is exact.
            if <uint64_t>(n - pos - <Py_ssize_t>h.size) < h.length:
                break
            self._emit(p + pos + h.size, &h, frames)
            pos += <Py_ssize_t>(h.size + h.length)
        if pos < n and not PyByteArray_GET_SIZE(self.buffer):
            self._keep(p + pos, n - pos)

    def feed(self, data) -> list:
        """Parse the next chunk of the stream.

        Returns:
            The frames completed by this chunk, in order (possibly none).

        Raises:
            ProtocolError: the stream breaks a rule. Frames completed earlier
                in the same chunk are attached to it as ``error.frames``; the
                parser is then unusable and raises the same error again.
            TypeError: ``data`` is not bytes-like.
        """
        cdef Py_buffer view
        read_view(data, &view, "data")
        try:
            return self._feed(<const unsigned char *>view.buf, view.len, [])
        finally:
            release_view(&view)

    cdef list _feed(self, const unsigned char *p, Py_ssize_t n, list frames):
        if self.error is not None:
            raise self.error
        try:
            self._parse(p, n, frames)
        except ProtocolError as exc:
            exc.frames = frames
            self.error = exc
            PyByteArray_Resize(self.buffer, 0)
            raise
        return frames


cdef int _check_opcode(object opcode, bint fin, Py_ssize_t length) except -1:
    cdef int op = int(opcode)
    if not (op <= 2 and op >= 0 or 8 <= op <= 10):
        raise ValueError(f"invalid opcode {op}")
    if op >= 8 and (length > 125 or not fin):
        raise ValueError("control frames are unfragmented and carry at most 125 bytes")
    return op


cdef bytes _frame_bytes(int op, const unsigned char *src, Py_ssize_t n, bint fin, bint rsv1,
                        const unsigned char *key):
    """Header and payload (masked with key unless key is NULL) in one bytes."""
    cdef unsigned char head[14]
    cdef size_t hsize = wsf_encode_header(head, op, <uint64_t>n, fin, rsv1, key)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>hsize + n)
    _fill_frame(<unsigned char *>PyBytes_AS_STRING(out), head, hsize, src, n, key)
    return out


cdef inline void _fill_frame(unsigned char *dst, const unsigned char *head, size_t hsize,
                             const unsigned char *src, Py_ssize_t n,
                             const unsigned char *key) noexcept:
    """Write a frame at dst (hsize + n bytes): the header, then the payload,
    masked with key unless key is NULL."""
    memcpy(dst, head, hsize)
    if key != NULL:
        wsf_mask(dst + hsize, src, <size_t>n, key, 0)
    elif n:
        memcpy(dst + hsize, src, <size_t>n)


def build_frame(opcode, payload, *, fin=True, rsv1=False, mask=None) -> bytes:
    """Serialize one frame.

    Args:
        opcode: an :class:`~wsfast.frames.Opcode` (or its int value).
        payload: any bytes-like object (a ``str`` is not accepted: encode it).
        fin: last frame of its message.
        rsv1: set RSV1 (the first frame of a compressed message).
        mask: a 4-byte masking key (client side), or ``None``.

    Returns:
        Header and (masked) payload as one ``bytes``.

    Raises:
        ValueError: unknown opcode, a control frame that is fragmented or
            longer than 125 bytes, or a mask that is not 4 bytes.
        TypeError: ``payload`` or ``mask`` is not bytes-like.
    """
    cdef Py_buffer view
    cdef unsigned char key[4]
    cdef bint has_key = mask is not None
    read_view(payload, &view, "payload")
    try:
        if has_key:
            get_mask_key(mask, key)
        op = _check_opcode(opcode, fin, view.len)
        return _frame_bytes(op, <const unsigned char *>view.buf, view.len, fin, rsv1,
                            key if has_key else NULL)
    finally:
        release_view(&view)


@cython.final
cdef class FrameWriter:
    """Builds outgoing frames for a connection, masking them on the client side.

    Args:
        mask: ``True`` on the client side (RFC 6455 §5.3).
        random_bytes: source of masking keys, called with a byte count;
            ``os.urandom`` by default (keys must be unpredictable, §10.3).

    ``reuse_buffers`` (off by default; the asyncio layer turns it on): a
    masked frame of 8 KiB to 1 MiB is appended as a memoryview of a buffer
    (one per process) that is reused for the next such frame, of any writer,
    once no view of it is left. A client streaming large messages then does
    not allocate, and have glibc return to the system and fault back in, a
    frame-sized block per message (measured: ~4.6 page faults per 64 KiB
    message). A buffer still
    referenced (a transport that queued the frame, a caller that kept it) is
    never written again: the next frame gets a new buffer. The pure writer
    always returns ``bytes``.
    """

    # Fields and C methods: see _framing_c.pxd.

    def __init__(self, mask, random_bytes=os.urandom):
        self.mask = bool(mask)
        self.random = random_bytes
        self.pool = b""
        self.pool_pos = 0
        self.reuse_buffers = False

    cdef const unsigned char *_next_key(self) except NULL:
        cdef const unsigned char *key
        if self.pool_pos + 4 > PyBytes_GET_SIZE(self.pool):
            pool = self.random(KEY_POOL_SIZE)
            if type(pool) is not bytes or PyBytes_GET_SIZE(pool) != KEY_POOL_SIZE:
                raise ValueError("random_bytes returned the wrong number of bytes")
            self.pool = pool
            self.pool_pos = 0
        key = <const unsigned char *>PyBytes_AS_STRING(self.pool) + self.pool_pos
        self.pool_pos += 4
        return key

    cpdef write(self, list out, opcode, payload, bint fin=True, bint rsv1=False):
        """Frame *payload* and append it to *out* as one or two chunks (header
        and payload separately when the payload is large and unmasked), ready
        for ``transport.writelines``. A ``str`` payload is encoded as UTF-8.

        Raises:
            ValueError: unknown opcode or an oversized / fragmented control frame.
            TypeError: ``payload`` is neither ``str`` nor bytes-like.
        """
        cdef Py_buffer view
        cdef const char *p
        cdef Py_ssize_t n
        if type(payload) is str:
            if PyUnicode_IS_ASCII(payload):
                # The UTF-8 of an ASCII str is its own buffer: no copy.
                p = PyUnicode_AsUTF8AndSize(payload, &n)
                self._write(out, opcode, <const unsigned char *>p, n, fin, rsv1, None)
            else:
                payload = PyUnicode_AsUTF8String(payload)
                self._write(out, opcode, <const unsigned char *>PyBytes_AS_STRING(payload),
                            PyBytes_GET_SIZE(payload), fin, rsv1, payload)
            return
        if type(payload) is bytes:
            self._write(out, opcode, <const unsigned char *>PyBytes_AS_STRING(payload),
                        PyBytes_GET_SIZE(payload), fin, rsv1, payload)
            return
        read_view(payload, &view, "payload")
        try:
            # A strided payload was copied into a bytes object (the view's):
            # immutable, so it may be sent as is, like a bytes payload.
            self._write(out, opcode, <const unsigned char *>view.buf, view.len, fin, rsv1,
                        view_bytes(&view))
        finally:
            release_view(&view)

    cdef int _write(self, list out, object opcode, const unsigned char *p, Py_ssize_t n,
                    bint fin, bint rsv1, object owner) except -1:
        """owner: a bytes object holding p[0..n) that may be sent as is, or None."""
        cdef int op = _check_opcode(opcode, fin, n)
        cdef unsigned char head[14]
        cdef size_t hsize
        if self.mask:
            if self.reuse_buffers and REUSE_MIN <= n <= REUSE_MAX:
                out.append(self._masked_view(op, p, n, fin, rsv1))
            else:
                out.append(_frame_bytes(op, p, n, fin, rsv1, self._next_key()))
        elif n >= SPLIT_THRESHOLD:
            hsize = wsf_encode_header(head, op, <uint64_t>n, fin, rsv1, NULL)
            out.append(PyBytes_FromStringAndSize(<char *>head, <Py_ssize_t>hsize))
            out.append(owner if owner is not None else PyBytes_FromStringAndSize(<const char *>p, n))
        else:
            out.append(_frame_bytes(op, p, n, fin, rsv1, NULL))
        return 0

    cdef object _masked_view(self, int op, const unsigned char *p, Py_ssize_t n, bint fin,
                             bint rsv1):
        """The masked frame, built in the reusable buffer, as a memoryview of it.

        Reused only when no export of the buffer is alive: every memoryview
        of the last frame (and any slice of one) holds an export until it is
        released, so ob_exports == 0 proves nobody can still read it.
        """
        global _scratch
        cdef const unsigned char *key = self._next_key()
        cdef unsigned char head[14]
        cdef size_t hsize = wsf_encode_header(head, op, <uint64_t>n, fin, rsv1, key)
        cdef Py_ssize_t total = <Py_ssize_t>hsize + n
        cdef bytearray buf = _scratch
        if buf is None or (<PyByteArrayObject *>buf).ob_exports != 0:
            buf = PyByteArray_FromStringAndSize(NULL, total)
            _scratch = buf
        elif PyByteArray_GET_SIZE(buf) != total:
            PyByteArray_Resize(buf, total)
        # total bytes, after the resize
        _fill_frame(<unsigned char *>PyByteArray_AS_STRING(buf), head, hsize, p, n, key)
        return PyMemoryView_FromObject(buf)
