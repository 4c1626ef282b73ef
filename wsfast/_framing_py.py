"""Pure-Python frame parsing and building; twin of src_c/wsfast/_framing_c.pyx.

This module is the readable reference for the frame-level rules of RFC 6455.
:func:`parse_header` checks them in a fixed order, and as early as the bytes
allow: everything decidable from the first two bytes is checked as soon as
those two bytes have arrived, the length rules as soon as the extended length
has arrived, the size limit before any payload is buffered.

Frame layout (RFC 6455 §5.2)::

    byte 0   FIN RSV1 RSV2 RSV3 opcode(4)
    byte 1   MASK length(7)          126: 16-bit length follows, 127: 64-bit
    [2 or 8 bytes extended length, network order]
    [4 bytes masking key if MASK]
    payload
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Union

from ._buffers import as_bytes, mask_key
from ._mask_py import _masked
from ._record import fast_constructor
from .defaults import DEFAULT_MAX_MESSAGE_SIZE
from .errors import ProtocolError, protocol_error
from .frames import Frame, Opcode

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "Header",
    "parse_header",
    "FrameParser",
    "build_frame",
    "encode_header",
    "FrameWriter",
]

#: Default limit on one frame's payload: the message limit (wsfast.defaults),
#: as websockets' max_size bounds both.
DEFAULT_MAX_FRAME_SIZE = DEFAULT_MAX_MESSAGE_SIZE

#: Opcode values that RFC 6455 defines; others are reserved (§5.2).
_KNOWN_OPCODES = (0x0, 0x1, 0x2, 0x8, 0x9, 0xA)
_OPCODES = {int(op): op for op in Opcode}
_frame = fast_constructor(Frame)

#: What a limit of ``None`` means: larger than any frame a peer can make us
#: buffer, small enough that sums of two lengths never overflow in C.
UNLIMITED = 2**62

#: Largest header: 2 + 8 (64-bit length) + 4 (masking key).
MAX_HEADER_SIZE = 14


class Header:
    """A parsed frame header (internal; not part of the public API)."""

    __slots__ = ("fin", "rsv1", "opcode", "length", "mask", "size")

    def __init__(self, fin: bool, rsv1: bool, opcode: int, length: int,
                 mask: Optional[bytes], size: int) -> None:
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.length = length
        self.mask = mask
        self.size = size


def parse_header(
    buf: object,
    start: int,
    end: int,
    mask_required: bool,
    rsv1_allowed: bool,
    max_frame_size: int,
    in_message: bool,
) -> Optional[Header]:
    """Parse the frame header at ``buf[start:end]``.

    ``in_message`` tells whether a fragmented data message is in progress.

    Returns:
        The header, or ``None`` if more bytes are needed.

    Raises:
        ProtocolError: the first rule the header breaks, in the order below.
    """
    available = end - start
    if available < 2:
        return None
    b0 = buf[start]  # type: ignore[index]
    b1 = buf[start + 1]  # type: ignore[index]
    opcode = b0 & 0x0F
    fin = b0 & 0x80
    # §5.2: reserved opcodes.
    if opcode not in _KNOWN_OPCODES:
        raise protocol_error("reserved-opcode", opcode=opcode)
    # §5.2: RSV2 and RSV3 are never negotiated; RSV1 only with
    # permessage-deflate, and then only on the first frame of a data message
    # (RFC 7692 §6).
    if b0 & 0x30 or (b0 & 0x40 and not rsv1_allowed):
        raise protocol_error("reserved-bits")
    is_control = opcode >= 0x8
    if b0 & 0x40:
        if is_control:
            raise protocol_error("rsv1-on-control")
        if opcode == 0x0:
            raise protocol_error("rsv1-on-continuation")
    length = b1 & 0x7F
    if is_control:
        # §5.5: control frames are never fragmented and carry <= 125 bytes.
        if not fin:
            raise protocol_error("control-fragmented")
        if length > 125:
            raise protocol_error("control-too-long")
    # §5.1: clients mask, servers do not.
    masked = b1 & 0x80
    if mask_required and not masked:
        raise protocol_error("unmasked-frame")
    if masked and not mask_required:
        raise protocol_error("masked-frame")
    # §5.4: fragments of one message are not interleaved with another.
    if opcode == 0x0 and not in_message:
        raise protocol_error("unexpected-continuation")
    if (opcode == 0x1 or opcode == 0x2) and in_message:
        raise protocol_error("expected-continuation")
    size = 2
    if length == 126:
        if available < 4:
            return None
        length = (buf[start + 2] << 8) | buf[start + 3]  # type: ignore[index]
        if length < 126:  # §5.2: the minimal number of bytes must be used
            raise protocol_error("non-minimal-length")
        size = 4
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(bytes(buf[start + 2:start + 10]), "big")  # type: ignore[index]
        if length >> 63:  # §5.2: the most significant bit must be 0
            raise protocol_error("length-msb-set")
        if length < 65536:
            raise protocol_error("non-minimal-length")
        size = 10
    if length > max_frame_size:
        raise protocol_error("frame-too-big", size=length, limit=max_frame_size)
    mask = None
    if masked:
        if available < size + 4:
            return None
        mask = bytes(buf[start + size:start + size + 4])  # type: ignore[index]
        size += 4
    return Header(bool(fin), bool(b0 & 0x40), opcode, length, mask, size)


def check_limit(value: Optional[int], name: str) -> int:
    """A size limit as an int; ``None`` means unlimited."""
    if value is None:
        return UNLIMITED
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int or None")
    return min(value, UNLIMITED)


class FrameParser:
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

    def __init__(
        self,
        *,
        mask_required: bool,
        max_frame_size: Optional[int] = DEFAULT_MAX_FRAME_SIZE,
        rsv1_allowed: bool = False,
    ) -> None:
        self._mask_required = bool(mask_required)
        self._max_frame_size = check_limit(max_frame_size, "max_frame_size")
        self._rsv1_allowed = bool(rsv1_allowed)
        self._buffer = bytearray()
        self._in_message = False
        self._error: Optional[ProtocolError] = None

    def feed(self, data: object) -> List[Frame]:
        """Parse the next chunk of the stream.

        Returns:
            The frames completed by this chunk, in order (possibly none).

        Raises:
            ProtocolError: the stream breaks a rule. Frames completed earlier
                in the same chunk are attached to it as ``error.frames``; the
                parser is then unusable and raises the same error again.
            TypeError: ``data`` is not bytes-like.
        """
        view = as_bytes(data)
        if self._error is not None:
            raise self._error
        buf = self._buffer
        buf += view
        frames: List[Frame] = []
        pos = 0
        end = len(buf)
        try:
            while True:
                header = parse_header(
                    buf, pos, end, self._mask_required, self._rsv1_allowed,
                    self._max_frame_size, self._in_message,
                )
                if header is None or end - pos - header.size < header.length:
                    break
                start = pos + header.size
                payload = bytes(buf[start:start + header.length])
                if header.mask is not None:
                    payload = _masked(payload, header.mask)
                opcode = header.opcode
                if opcode < 0x8:
                    self._in_message = not header.fin
                frames.append(_frame(_OPCODES[opcode], payload, header.fin, header.rsv1, False, False))
                pos = start + header.length
        except ProtocolError as exc:
            exc.frames = frames  # type: ignore[attr-defined]
            self._error = exc
            del buf[:]
            raise
        del buf[:pos]
        return frames

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete frame."""
        return len(self._buffer)


def encode_header(opcode: int, length: int, fin: bool, rsv1: bool, mask: Optional[bytes]) -> bytes:
    """The header of a frame with a payload of *length* bytes."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    mbit = 0x80 if mask is not None else 0
    if length < 126:
        head = bytes((b0, mbit | length))
    elif length < 65536:
        head = bytes((b0, mbit | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((b0, mbit | 127)) + length.to_bytes(8, "big")
    return head + mask if mask is not None else head


def _check_opcode(opcode: int, fin: bool, length: int) -> int:
    op = int(opcode)
    if op not in _KNOWN_OPCODES:
        raise ValueError(f"invalid opcode {op}")
    if op >= 0x8 and (length > 125 or not fin):
        raise ValueError("control frames are unfragmented and carry at most 125 bytes")
    return op


def build_frame(
    opcode: int,
    payload: object,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: Optional[object] = None,
) -> bytes:
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
    data = as_bytes(payload, "payload")
    key = mask_key(mask) if mask is not None else None
    op = _check_opcode(opcode, fin, len(data))
    header = encode_header(op, len(data), fin, rsv1, key)
    if key is not None:
        return header + _masked(data, key)
    return header + bytes(data)


#: Unmasked payloads at least this long are handed over separately from their
#: header, so that a large send is never copied (transport.writelines takes
#: both). Both back-ends use the same split, so their output lists are equal.
SPLIT_THRESHOLD = 4096

#: Masking keys are drawn from os.urandom in batches of this many bytes.
KEY_POOL_SIZE = 4096


class FrameWriter:
    """Builds outgoing frames for a connection, masking them on the client side.

    Args:
        mask: ``True`` on the client side (RFC 6455 §5.3).
        random_bytes: source of masking keys, called with a byte count;
            ``os.urandom`` by default (keys must be unpredictable, §10.3).
    """

    def __init__(self, mask: bool, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._mask = bool(mask)
        self._random = random_bytes
        self._pool = b""
        self._pool_pos = 0
        #: Accepted for parity with the compiled writer, which then builds
        #: large masked frames in a reused buffer; this one always returns bytes.
        self.reuse_buffers = False

    def _next_key(self) -> bytes:
        if self._pool_pos + 4 > len(self._pool):
            pool = self._random(KEY_POOL_SIZE)
            if type(pool) is not bytes or len(pool) != KEY_POOL_SIZE:
                raise ValueError("random_bytes returned the wrong number of bytes")
            self._pool = pool
            self._pool_pos = 0
        key = self._pool[self._pool_pos:self._pool_pos + 4]
        self._pool_pos += 4
        return key

    def write(self, out: List[bytes], opcode: int, payload: object, fin: bool = True,
              rsv1: bool = False) -> None:
        """Frame *payload* and append it to *out* as one or two chunks (header
        and payload separately when the payload is large and unmasked), ready
        for ``transport.writelines``. A ``str`` payload is encoded as UTF-8.

        Raises:
            ValueError: unknown opcode or an oversized / fragmented control frame.
            TypeError: ``payload`` is neither ``str`` nor bytes-like.
        """
        if isinstance(payload, str):
            data: Union[bytes, memoryview] = payload.encode("utf-8")
        else:
            data = as_bytes(payload, "payload")
        length = len(data)
        op = _check_opcode(opcode, fin, length)
        if self._mask:
            key = self._next_key()
            out.append(encode_header(op, length, fin, rsv1, key) + _masked(data, key))
        elif length >= SPLIT_THRESHOLD:
            out.append(encode_header(op, length, fin, rsv1, None))
            out.append(bytes(data))
        else:
            out.append(encode_header(op, length, fin, rsv1, None) + bytes(data))

