"""Pure-Python message reader; twin of src_c/wsfast/_reader_c.pyx.

The reader turns the received byte stream into events: it parses frames
(with the rules of :func:`wsfast._framing_py.parse_header`), unmasks payloads
as they arrive, assembles fragmented messages, validates text fail-fast
(an invalid byte is reported in the chunk it arrives in, even mid-frame),
inflates compressed messages within the size limit, and enforces the limits.

It never raises for a protocol violation: it stops, keeps the error in
:attr:`error`, and returns the events completed before it, so that nothing
already accepted is lost. After a close frame it stops reading too.

Memory accounting: a message's bytes plus ``fragment_overhead`` for every
fragment after the first must stay within ``max_message_size``, so a flood of
tiny fragments is bounded by the same budget as the payload itself.

Inflation is bounded per call too: once a call has decompressed
``INFLATE_YIELD`` bytes, it stops at the next frame boundary, keeps the rest
of the chunk (:attr:`pending`) and returns. A chunk of compressed messages
could otherwise hand over a thousand times its size at once, before the
caller can stop reading; the caller resumes with ``feed(b"")`` (the sans-I/O
connection at once, the asyncio layer when its queue has room).
"""

from __future__ import annotations

import codecs
from typing import Any, List, Optional, Union

from ._buffers import as_bytes
from ._framing_py import MAX_HEADER_SIZE, Header, check_limit, parse_header
from ._mask_py import _masked
from ._record import fast_constructor
from ._utf8_py import surrogate_prefix
from .defaults import DEFAULT_FRAGMENT_OVERHEAD, INFLATE_YIELD
from .errors import ProtocolError, protocol_error
from .events import BinaryMessage, CloseReceived, MessageFragment, Ping, Pong, TextMessage
from .frames import parse_close

__all__ = ["MessageReader", "DEFAULT_FRAGMENT_OVERHEAD"]

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

_text_message = fast_constructor(TextMessage)
_binary_message = fast_constructor(BinaryMessage)
_fragment = fast_constructor(MessageFragment)
_ping = fast_constructor(Ping)
_pong = fast_constructor(Pong)
_close_received = fast_constructor(CloseReceived)


class MessageReader:
    """Bytes in, message events out (one direction of one connection).

    Args:
        mask_required: ``True`` on the server side.
        max_frame_size: largest frame payload (``None``: no limit).
        max_message_size: largest message, after decompression, including the
            fragment charge (``None``: no limit).
        max_fragments: largest number of frames in one message (``None``:
            bounded only by the fragment charge).
        fragment_overhead: bytes charged per fragment after the first.
        text_as_bytes: deliver text messages as validated UTF-8 ``bytes``.
        streaming: deliver :class:`~wsfast.events.MessageFragment` events as
            data arrives instead of whole messages.
        inflater: a permessage-deflate decompressor (see :mod:`wsfast.deflate`)
            when the extension was negotiated; it also allows RSV1.
    """

    def __init__(
        self,
        *,
        mask_required: bool,
        max_frame_size: Optional[int],
        max_message_size: Optional[int],
        max_fragments: Optional[int] = None,
        fragment_overhead: int = DEFAULT_FRAGMENT_OVERHEAD,
        text_as_bytes: bool = False,
        streaming: bool = False,
        inflater: Any = None,
    ) -> None:
        self._mask_required = bool(mask_required)
        self._max_frame = check_limit(max_frame_size, "max_frame_size")
        self._max_message = check_limit(max_message_size, "max_message_size")
        self._max_fragments = check_limit(max_fragments, "max_fragments")
        self._overhead = check_limit(fragment_overhead, "fragment_overhead")
        self._text_as_bytes = bool(text_as_bytes)
        self._streaming = bool(streaming)
        self._inflater = inflater
        self._rsv1_allowed = inflater is not None
        #: Control events (Ping, Pong, CloseReceived) of the last feed: the
        #: connection (and its I/O layer) has to act on them.
        self.control_events: List[Any] = []
        #: The protocol error that stopped the reader, if any.
        self.error: Optional[ProtocolError] = None
        self._stopped = False
        self._header_buf = bytearray()
        self._frame: Optional[Header] = None
        self._received = 0  # payload bytes of the current frame already read
        self._control = bytearray()
        self._compressed_frame = bytearray()
        # Message in progress: 0 none, 1 text, 2 binary.
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg = bytearray()
        self._msg_size = 0  # bytes of the message so far (decompressed)
        self._fragments = 0
        self._utf8: Any = None
        # Input not parsed yet because a call stopped after INFLATE_YIELD.
        self._pending = b""
        self._inflated = 0  # bytes decompressed by the current call

    @property
    def stopped(self) -> bool:
        """``True`` after a close frame or an error: further input is ignored."""
        return self._stopped

    @property
    def pending(self) -> int:
        """Bytes received but not parsed yet: the last call stopped after
        decompressing ``INFLATE_YIELD`` bytes; ``feed(b"")`` goes on."""
        return len(self._pending)

    def feed(self, data: object) -> List[Any]:
        """Process the next chunk of the stream; return the events it completed.

        Input left from a call that stopped (:attr:`pending`) comes first."""
        view = as_bytes(data)
        events: List[Any] = []
        self.control_events = []
        if self._stopped:
            return events
        if self._pending:
            # Whatever was received after it (data is normally empty here).
            view = self._pending + bytes(view)
            self._pending = b""
        self._inflated = 0
        try:
            stop = self._process(view, events)
            if stop < len(view):
                # Copied at most once per INFLATE_YIELD bytes of output.
                self._pending = bytes(view[stop:])
        except ProtocolError as exc:
            self.error = exc
            self._stopped = True
            self._discard_message()
        if self._streaming and not self._stopped and self._msg_opcode:
            self._flush_fragment(events, fin=False)
        return events

    # -- framing ---------------------------------------------------------

    def _process(self, data: Any, events: List[Any]) -> int:
        """Parse data; return where it stopped (``len(data)`` unless the
        call decompressed INFLATE_YIELD bytes before the end)."""
        pos = 0
        end = len(data)
        while not self._stopped:
            frame = self._frame
            if frame is None:
                if self._header_buf:
                    # Complete a header split across chunks: borrow at most
                    # the bytes a header can need, give back what it did not use.
                    had = len(self._header_buf)
                    take = min(MAX_HEADER_SIZE - had, end - pos)
                    self._header_buf += data[pos:pos + take]
                    frame = self._parse_header(self._header_buf, 0, len(self._header_buf))
                    if frame is None:
                        return end
                    pos += frame.size - had
                    self._header_buf.clear()
                else:
                    if not self._msg_opcode and not self._streaming:
                        stop = self._whole_message(data, pos, end, events)
                        if stop:
                            pos = stop
                            if pos == end:
                                return end
                            continue
                    frame = self._parse_header(data, pos, end)
                    if frame is None:
                        self._header_buf += data[pos:end]
                        return end
                    pos += frame.size
                self._start_frame(frame)
            # Payload: take what is there, up to the end of the frame.
            take = min(frame.length - self._received, end - pos)
            if take:
                self._payload(frame, data[pos:pos + take])
                pos += take
            if self._received < frame.length:
                return end
            self._end_frame(frame, events)
            if pos == end:
                return end
            if self._inflated >= INFLATE_YIELD:
                return pos
        return end

    def _whole_message(self, data: Any, pos: int, end: int, events: List[Any]) -> int:
        """Fast path: a complete, unfragmented, uncompressed text or binary
        frame at ``data[pos:]`` with a 7- or 16-bit length, within the limits,
        from the right role. Returns where it ends, or 0 to let the general
        path handle (and report) anything else."""
        if end - pos < 2:
            return 0
        b0 = data[pos]
        if b0 != 0x81 and b0 != 0x82:  # FIN, no RSV bits, TEXT or BINARY
            return 0
        b1 = data[pos + 1]
        length = b1 & 0x7F
        start = pos + 2
        if length == 126:
            if end - start < 2:
                return 0
            length = (data[start] << 8) | data[start + 1]
            if length < 126:
                return 0
            start += 2
        elif length == 127:
            return 0
        masked = b1 & 0x80
        if (masked != 0) is not self._mask_required:
            return 0
        if masked:
            key = bytes(data[start:start + 4])
            start += 4
        stop: int = start + length
        if (stop > end or length > self._max_frame or length > self._max_message
                or self._max_fragments < 1):
            return 0
        payload = data[start:stop]
        if masked:
            payload = _masked(payload, key)
        elif type(payload) is not bytes:
            payload = bytes(payload)
        if b0 == 0x81:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError:
                raise protocol_error("invalid-utf8") from None
            events.append(_text_message(payload if self._text_as_bytes else text))
        else:
            events.append(_binary_message(payload))
        return stop

    def _parse_header(self, buf: Any, start: int, end: int) -> Optional[Header]:
        return parse_header(
            buf, start, end, self._mask_required, self._rsv1_allowed,
            self._max_frame, self._msg_opcode != 0,
        )

    def _start_frame(self, frame: Header) -> None:
        self._frame = frame
        self._received = 0
        opcode = frame.opcode
        if opcode >= 0x8:
            self._control.clear()
            return
        if opcode != 0x0:  # first frame of a message
            self._msg_opcode = opcode
            self._msg_compressed = frame.rsv1
            self._msg_size = 0
            self._fragments = 0
            self._utf8 = _Utf8Decoder() if opcode == 0x1 else None
        self._fragments += 1
        if self._fragments > self._max_fragments:
            raise protocol_error("too-many-fragments", limit=self._max_fragments)
        if not self._msg_compressed:
            # Checked from the header, before any payload is buffered.
            if self._charge(self._msg_size + frame.length) > self._max_message:
                raise protocol_error("message-too-big", limit=self._max_message)
        elif self._charge(self._msg_size) > self._max_message:
            raise protocol_error("decompressed-too-big", limit=self._max_message)

    def _charge(self, size: int) -> int:
        return size + (self._fragments - 1) * self._overhead

    def _payload(self, frame: Header, chunk: Any) -> None:
        if frame.mask is not None:
            chunk = _masked(chunk, frame.mask, self._received & 3)
        else:
            chunk = bytes(chunk)
        self._received += len(chunk)
        if frame.opcode >= 0x8:
            self._control += chunk
        elif self._msg_compressed:
            self._compressed_frame += chunk
        else:
            self._append(chunk)

    def _append(self, chunk: bytes) -> None:
        """Add message bytes: validate text as they arrive (fail fast)."""
        self._msg_size += len(chunk)
        if self._utf8 is not None:
            try:
                self._utf8.decode(chunk, False)
            except UnicodeDecodeError:
                raise protocol_error("invalid-utf8") from None
            if surrogate_prefix(self._utf8.getstate()[0]):
                raise protocol_error("invalid-utf8")
        self._msg += chunk

    def _end_frame(self, frame: Header, events: List[Any]) -> None:
        self._frame = None
        opcode = frame.opcode
        if opcode >= 0x8:
            self._end_control(opcode, bytes(self._control), events)
            return
        if self._msg_compressed:
            self._inflate(frame.fin)
        if frame.fin:
            self._end_message(events)

    def _inflate(self, fin: bool) -> None:
        compressed = bytes(self._compressed_frame)
        self._compressed_frame.clear()
        budget = self._max_message - self._charge(self._msg_size)
        # The inflater returns at most budget + 1 bytes, and raises the
        # invalid-compressed-data ProtocolError itself for a corrupt stream.
        output = self._inflater.decompress(compressed, fin, budget)
        if len(output) > budget:
            raise protocol_error("decompressed-too-big", limit=self._max_message)
        self._inflated += len(output)
        self._append(output)

    def _end_message(self, events: List[Any]) -> None:
        is_text = self._msg_opcode == 0x1
        if is_text:
            try:
                self._utf8.decode(b"", True)
            except UnicodeDecodeError:
                raise protocol_error("invalid-utf8") from None
        if self._streaming:
            self._flush_fragment(events, fin=True)
        else:
            data = bytes(self._msg)
            if is_text:
                events.append(_text_message(data if self._text_as_bytes else data.decode("utf-8")))
            else:
                events.append(_binary_message(data))
        self._discard_message()

    def _discard_message(self) -> None:
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg.clear()
        self._compressed_frame.clear()
        self._utf8 = None

    def _flush_fragment(self, events: List[Any], fin: bool) -> None:
        """Streaming mode: hand over what the message has so far."""
        is_text = self._msg_opcode == 0x1
        raw = bytes(self._msg)
        data: Union[bytes, str] = raw
        if is_text and not self._text_as_bytes:
            # Cut at the last code point boundary; keep the rest for later.
            held = len(self._utf8.getstate()[0]) if not fin else 0
            cut = len(raw) - held
            self._msg = bytearray(raw[cut:])
            data = raw[:cut].decode("utf-8")
        else:
            self._msg.clear()
        if data or fin:
            events.append(_fragment(data, is_text, fin))

    def _end_control(self, opcode: int, payload: bytes, events: List[Any]) -> None:
        if opcode == 0x9:
            event: Any = _ping(payload)
            self.control_events.append(event)
        elif opcode == 0xA:
            event = _pong(payload)
            self.control_events.append(event)
        else:
            code, reason = parse_close(payload)
            event = _close_received(code, reason)
            self.control_events.append(event)
            self._stopped = True  # §5.5.1: nothing follows a close frame
        events.append(event)
