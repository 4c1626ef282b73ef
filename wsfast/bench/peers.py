"""Adapters that drive other WebSocket libraries the way the benchmarks drive wsfast.

None of these libraries is a dependency: every accessor returns ``None`` when
its library (or the part of it that is needed) cannot be imported, and
:func:`status` says why. The adapters use each library the way its own
users (or its own upper layer) use it, with its default options except the
size limits, which are raised so that no workload hits them:

* **websockets** — ``websockets.speedups.apply_mask`` (its C kernel) and the
  sans-I/O ``Protocol``. Its receive side yields *frames* with ``bytes`` data;
  it does not validate UTF-8, so "receive" adds the ``data.decode()`` that its
  asyncio layer (and uvicorn) performs for every text frame.
* **aiohttp** — the Cython ``WebSocketReader`` from ``aiohttp._websocket``
  (private but stable since 3.10), fed the way aiohttp's protocol feeds it;
  messages are taken out of the queue's deque and the queue is replaced
  between passes before its unsigned byte counter could stall the reader.
  Its mask kernel (``_websocket_mask_cython``) works in place on a bytearray.
* **wsaccel** — ``XorMaskerSimple(mask).process(data)`` and
  ``Utf8Validator().validate(data)`` (reset between messages).
* **wsproto** — ``FrameProtocol`` for frame parsing (it decodes text frames
  to ``str`` as it goes, so its "parse" does a little more than the others)
  and the post-handshake ``Connection`` for messages and sending.
* **picows** — offers no standalone mask or parse API: both are C-level and
  reachable only through ``WSProtocol`` on a live asyncio transport. It is
  listed (version, reason) but not measured here; the asyncio echo group is
  where it belongs.
"""

from __future__ import annotations

import collections
import importlib
from itertools import repeat
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = [
    "PEERS",
    "version",
    "status",
    "websockets_apply_mask",
    "aiohttp_mask_inplace",
    "wsaccel_masker",
    "wsaccel_utf8_validator",
    "websockets_reader",
    "aiohttp_reader",
    "wsproto_frame_reader",
    "wsproto_reader",
    "websockets_sender",
    "wsproto_sender",
]

#: The libraries this module knows, in the order tables list them.
PEERS = ("websockets", "aiohttp", "wsaccel", "wsproto", "picows")

#: Why a peer (or one of its parts) is unavailable, filled in as accessors run.
_problems: Dict[str, str] = {}

#: A list of ``(is_text, data)`` pairs: what a reader produced, for checks.
Messages = List[Tuple[bool, Any]]

# Exhausts an iterator at C speed.
_consume: Callable[[Iterable[Any]], None] = collections.deque(maxlen=0).extend

#: Limits passed to the peers: above every workload, so none is refused.
MAX_SIZE = 16 * 2**20


def version(name: str) -> Optional[str]:
    """The installed version of distribution *name*, or ``None``."""
    try:
        from importlib.metadata import PackageNotFoundError, version as _version
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return _version(name)
    except PackageNotFoundError:
        return None


def _import(peer: str, module: str) -> Any:
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install
        _problems.setdefault(peer, f"cannot import {module}: {exc}")
        return None


def status() -> Dict[str, str]:
    """``{peer: "ok" | reason}`` for every peer in :data:`PEERS`."""
    # Touch every accessor so that the reasons are recorded.
    for accessor in (websockets_apply_mask, aiohttp_mask_inplace, wsaccel_masker,
                     wsproto_frame_reader, picows_usable):
        accessor()
    result = {}
    for peer in PEERS:
        if version(peer) is None:
            result[peer] = "not installed"
        else:
            result[peer] = _problems.get(peer, "ok")
    return result


# -- kernels ------------------------------------------------------------------


def websockets_apply_mask() -> Optional[Callable[[Any, bytes], bytes]]:
    """``websockets.speedups.apply_mask(data, mask) -> bytes`` (C)."""
    module = _import("websockets", "websockets.speedups")
    return None if module is None else module.apply_mask


def aiohttp_mask_inplace() -> Optional[Callable[[bytes, bytearray], None]]:
    """aiohttp's Cython kernel ``_websocket_mask_cython(mask, bytearray)``, in place."""
    module = _import("aiohttp", "aiohttp._websocket.mask")
    if module is None:
        return None
    return getattr(module, "_websocket_mask_cython", None)


def wsaccel_masker() -> Optional[Any]:
    """``wsaccel.xormask.XorMaskerSimple``: ``XorMaskerSimple(mask).process(data)``."""
    module = _import("wsaccel", "wsaccel.xormask")
    return None if module is None else module.XorMaskerSimple


def wsaccel_utf8_validator() -> Optional[Any]:
    """``wsaccel.utf8validator.Utf8Validator`` (incremental; ``validate`` returns a tuple)."""
    module = _import("wsaccel", "wsaccel.utf8validator")
    return None if module is None else module.Utf8Validator


def picows_usable() -> None:
    """Always ``None``: picows has no standalone kernel API (see the module doc)."""
    if version("picows") is not None:
        _problems.setdefault(
            "picows",
            "no standalone mask/parse API (C-level, only behind WSProtocol on a live "
            "transport); measured by the echo group only",
        )
    return None


# -- stream readers -----------------------------------------------------------
#
# Each reader is built on a list of chunks (the wire stream cut in 64 KiB
# pieces) and has ``run(loops)``, which feeds the whole stream ``loops`` times
# and drops what comes out (timed), and ``collect()``, which feeds it once and
# returns the messages as ``(is_text, data)`` (correctness checks). The stream
# always ends on a frame boundary, so passes can follow each other.


class _WebsocketsReader:
    """websockets' sans-I/O ``Protocol`` on the server side, state OPEN."""

    def __init__(self, chunks: Sequence[bytes], decode_text: bool) -> None:
        from websockets.frames import Opcode
        from websockets.protocol import Protocol, Side, State

        self._chunks = chunks
        self._decode = decode_text
        self._text = Opcode.TEXT
        # Any: events_received() is typed as every event the protocol makes
        # (requests, responses); once OPEN it only yields frames.
        self._protocol: Any = Protocol(Side.SERVER, state=State.OPEN, max_size=MAX_SIZE)

    def run(self, loops: int) -> None:
        receive = self._protocol.receive_data
        events = self._protocol.events_received
        chunks = self._chunks
        text = self._text
        if self._decode:
            # What its asyncio layer does with each text frame.
            for _ in repeat(None, loops):
                for chunk in chunks:
                    receive(chunk)
                    for frame in events():
                        if frame.opcode is text:
                            frame.data.decode()
        else:
            for _ in repeat(None, loops):
                for chunk in chunks:
                    receive(chunk)
                    events()

    def collect(self) -> Messages:
        out: Messages = []
        for chunk in self._chunks:
            self._protocol.receive_data(chunk)
            for frame in self._protocol.events_received():
                is_text = frame.opcode is self._text
                data = frame.data.decode() if (is_text and self._decode) else bytes(frame.data)
                out.append((is_text, data))
        return out


class _DummyProtocol:
    """Stands in for aiohttp's protocol: the queue only pauses it."""

    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True


class _AiohttpReader:
    """aiohttp's Cython ``WebSocketReader`` with a ``WebSocketDataQueue``."""

    #: Replace the queue once its byte counter (an unsigned int that only
    #: grows, since nothing reads the messages the official way) passes this;
    #: far below the limit at which the reader would stall.
    RESET_AT = 2**29

    def __init__(self, chunks: Sequence[bytes], decode_text: bool, module: Any) -> None:
        self._chunks = chunks
        self._decode = decode_text
        self._module = module
        self._new()

    def _new(self) -> None:
        self._queue = self._module.WebSocketDataQueue(_DummyProtocol(), 2**30, loop=None)
        self._reader = self._module.WebSocketReader(self._queue, MAX_SIZE, False, self._decode)

    def run(self, loops: int) -> None:
        chunks = self._chunks
        for _ in repeat(None, loops):
            feed = self._reader.feed_data
            clear = self._queue._buffer.clear
            for chunk in chunks:
                feed(chunk)
                clear()
            if self._queue._size > self.RESET_AT:
                self._new()

    def collect(self) -> Messages:
        out: Messages = []
        for chunk in self._chunks:
            self._reader.feed_data(chunk)
            for message, _size in self._queue._buffer:
                is_text = int(message.type) == 1
                out.append((is_text, message.data))
            self._queue._buffer.clear()
        return out


class _WsprotoFrameReader:
    """wsproto's ``FrameProtocol`` (server side): frames, text decoded."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        from wsproto.frame_protocol import FrameProtocol, Opcode

        self._chunks = chunks
        self._text = Opcode.TEXT
        self._protocol = FrameProtocol(client=False, extensions=[])

    def run(self, loops: int) -> None:
        receive = self._protocol.receive_bytes
        frames = self._protocol.received_frames
        chunks = self._chunks
        for _ in repeat(None, loops):
            for chunk in chunks:
                receive(chunk)
                _consume(frames())

    def collect(self) -> Messages:
        # A frame cut by a chunk boundary comes out in pieces (frame_finished
        # false on all but the last): join them.
        out: Messages = []
        parts: List[Any] = []
        for chunk in self._chunks:
            self._protocol.receive_bytes(chunk)
            for frame in self._protocol.received_frames():
                parts.append(frame)
                if frame.frame_finished:
                    payload = parts[0].payload[:0].join(p.payload for p in parts)
                    out.append((parts[0].opcode is self._text, payload))
                    parts = []
        return out


class _WsprotoReader:
    """wsproto's post-handshake ``Connection`` (server side): message events."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        from wsproto.connection import Connection, ConnectionType
        from wsproto.events import TextMessage

        self._chunks = chunks
        self._text_type = TextMessage
        # Any: wsproto types events() as every event; these are all messages.
        self._connection: Any = Connection(ConnectionType.SERVER)

    def run(self, loops: int) -> None:
        receive = self._connection.receive_data
        events = self._connection.events
        chunks = self._chunks
        for _ in repeat(None, loops):
            for chunk in chunks:
                receive(chunk)
                _consume(events())

    def collect(self) -> Messages:
        # Messages cut by a chunk boundary come out in pieces: join them.
        out: Messages = []
        parts: List[Any] = []
        for chunk in self._chunks:
            self._connection.receive_data(chunk)
            for event in self._connection.events():
                parts.append(event)
                if event.message_finished:
                    data = parts[0].data[:0].join(p.data for p in parts)
                    out.append((isinstance(parts[0], self._text_type), data))
                    parts = []
        return out


def websockets_reader(decode_text: bool) -> Optional[Callable[[Sequence[bytes]], Any]]:
    """Factory ``chunks -> reader`` for websockets' sans-I/O server protocol."""
    if _import("websockets", "websockets.protocol") is None:
        return None
    return lambda chunks: _WebsocketsReader(chunks, decode_text)


def aiohttp_reader(decode_text: bool) -> Optional[Callable[[Sequence[bytes]], Any]]:
    """Factory ``chunks -> reader`` for aiohttp's Cython reader (None if only
    the pure-Python reader is installed: that is not what aiohttp users run)."""
    module = _import("aiohttp", "aiohttp._websocket.reader_c")
    if module is None:
        return None
    return lambda chunks: _AiohttpReader(chunks, decode_text, module)


def wsproto_frame_reader() -> Optional[Callable[[Sequence[bytes]], Any]]:
    """Factory ``chunks -> reader`` for wsproto's ``FrameProtocol``."""
    if _import("wsproto", "wsproto.frame_protocol") is None:
        return None
    return _WsprotoFrameReader


def wsproto_reader() -> Optional[Callable[[Sequence[bytes]], Any]]:
    """Factory ``chunks -> reader`` for wsproto's ``Connection``."""
    if _import("wsproto", "wsproto.connection") is None:
        return None
    return _WsprotoReader


# -- senders ------------------------------------------------------------------
#
# ``sender(is_client, is_text, payload)`` returns ``(run, output)``: ``run(loops)``
# sends the message ``loops`` times and takes the bytes each time (timed);
# ``output()`` sends it once and returns the bytes written (checks).


def websockets_sender(is_client: bool, is_text: bool,
                      payload: Any) -> Optional[Tuple[Callable[[int], None], Callable[[], bytes]]]:
    """websockets' sans-I/O protocol, state OPEN. Text goes in as ``str`` and
    is encoded first, as its asyncio layer does."""
    if _import("websockets", "websockets.protocol") is None:
        return None
    from websockets.protocol import Protocol, Side, State

    if is_client:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        protocol: Any = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN,
                                       max_size=MAX_SIZE)
    else:
        protocol = Protocol(Side.SERVER, state=State.OPEN, max_size=MAX_SIZE)
    data_to_send = protocol.data_to_send

    if is_text:
        send_text = protocol.send_text

        def run(loops: int) -> None:
            for _ in repeat(None, loops):
                send_text(payload.encode())
                data_to_send()

        def output() -> bytes:
            send_text(payload.encode())
            return b"".join(data_to_send())
    else:
        send_binary = protocol.send_binary

        def run(loops: int) -> None:
            for _ in repeat(None, loops):
                send_binary(payload)
                data_to_send()

        def output() -> bytes:
            send_binary(payload)
            return b"".join(data_to_send())

    return run, output


def wsproto_sender(is_client: bool, is_text: bool,
                   payload: Any) -> Optional[Tuple[Callable[[int], None], Callable[[], bytes]]]:
    """wsproto's ``Connection.send(TextMessage | BytesMessage) -> bytes``."""
    if _import("wsproto", "wsproto.connection") is None:
        return None
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import BytesMessage, TextMessage

    connection = Connection(ConnectionType.CLIENT if is_client else ConnectionType.SERVER)
    send = connection.send
    event_type = TextMessage if is_text else BytesMessage

    def run(loops: int) -> None:
        for _ in repeat(None, loops):
            send(event_type(data=payload))

    def output() -> bytes:
        frame: bytes = send(event_type(data=payload))
        return frame

    return run, output
