"""What the fuzz targets share: the input layout, connection set-up, outcomes.

Every target reads its input through :class:`Input`: a few leading bytes
choose options (role, limits, chunking), the rest is the byte stream. The
layout is fixed and simple so that ``make_corpus.py`` can write seeds that
start from valid protocol data.

Importing this module imports wsfast under ``atheris.instrument_imports()``,
so the Python code of the library (the connection, handshake, deflate, and
the pure kernels) reports coverage to libFuzzer. The compiled kernels are not
instrumented: on the default back-end the fuzzer is guided by the Python code
around them, and crashes (or wrong results) in them are still caught.

Kernels: the process default, i.e. compiled unless ``WSFAST_NO_EXTENSIONS=1``.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any, List, Optional, Sequence, Tuple

import atheris

ROOT = pathlib.Path(__file__).resolve().parent.parent
# tests/helpers.py: open_pair, split (chunking), seeded_random (masks).
sys.path.insert(0, str(ROOT / "tests"))

with atheris.instrument_imports():
    import wsfast
    from wsfast import _backend, deflate, handshake
    from wsfast.connection import ClientConnection, ServerConnection
    from wsfast.deflate import PerMessageDeflate
    from wsfast.errors import RULES, InvalidHandshake, InvalidState, ProtocolError
    from wsfast.events import (BinaryMessage, CloseReceived, MessageFragment, Ping, Pong,
                               Request, Response, TextMessage)
    from wsfast.frames import Opcode
    from helpers import open_pair, seeded_random, split

__all__ = [
    "Input", "run", "split", "seeded_random", "check_protocol_error", "check_handshake_error", "deflate_config",
    "frame_records", "open_connection", "open_pair", "outcome", "FRAME_EVENTS", "CLIENT_MASK", "MAX_SIZES",
]

#: Masking key of the frames the targets build for a server to read.
CLIENT_MASK = b"\x37\xfa\x21\x3d"

#: No message limit (max_message_size=None): fuzzed like the others since the
#: compiled reader reserves at most 1 MiB ahead of a payload (it used to
#: reserve what a header declared: MemoryError for 2**50; fuzz/README.md).
UNLIMITED = None

#: Message-size limits a target picks from: small ones, so the limit paths run.
MAX_SIZES = (UNLIMITED, 0, 1, 16, 125, 126, 1000, 70000)

#: Every event a connection may report after the handshake.
FRAME_EVENTS = (TextMessage, BinaryMessage, MessageFragment, Ping, Pong, CloseReceived)


class Input:
    """Read options from the front of the fuzz input; missing bytes read as 0."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return value

    def u16(self) -> int:
        return (self.byte() << 8) | self.byte()

    def take(self, n: int) -> bytes:
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def cuts(self) -> List[int]:
        """One byte: how many cut points (0-7); then each as 16 bits."""
        return [self.u16() for _ in range(self.byte() & 7)]

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out

    def chunks(self) -> List[bytes]:
        """Cut points, then the rest of the input cut at them."""
        cuts = self.cuts()
        return split(self.rest(), cuts)


def run(test_one_input: Any) -> None:
    """Start libFuzzer on ``test_one_input`` with the command-line arguments."""
    print(f"wsfast fuzz target: kernels {_backend.default.name}", file=sys.stderr)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def check_protocol_error(error: BaseException) -> None:
    """A ProtocolError must be one of the registered rules, with its code."""
    assert isinstance(error, ProtocolError), repr(error)
    cls, code, _ = RULES[error.rule]
    assert type(error) is cls and error.close_code == code, repr(error)
    assert len(error.reason.encode()) <= 123, error.reason  # it is sent as a close reason


def check_handshake_error(error: BaseException, server: bool = True) -> None:
    """An InvalidHandshake; a server refuses with a 4xx or 5xx, a client's
    carries the status the server answered (or 502 for a malformed one)."""
    assert isinstance(error, InvalidHandshake), repr(error)
    if server:
        assert 400 <= error.status < 600, repr(error)
    else:
        assert 100 <= error.status < 1000, repr(error)


def deflate_config(options: int) -> PerMessageDeflate:
    """A permessage-deflate configuration from one byte."""
    bits = (None, 8, 9, 15)
    return PerMessageDeflate(
        server_no_context_takeover=bool(options & 1),
        client_no_context_takeover=bool(options & 2),
        server_max_window_bits=bits[(options >> 2) & 3],
        client_max_window_bits=bits[(options >> 4) & 3],
    )


_RECORD_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION, Opcode.PING,
                   Opcode.PONG, Opcode.CLOSE, Opcode.TEXT, Opcode.BINARY)


def frame_records(source: Input, masked: bool, build_frame: Any) -> bytes:
    """A stream of well-formed frame headers around fuzzed payloads.

    Each record: a flags byte, then the payload length (one byte, or two when
    flag 0x40 is set), then the payload. Flags: bits 0-2 the opcode (from
    ``_RECORD_OPCODES``), 0x08 RSV1, 0x10 not FIN, 0x20 raw (the bytes go
    into the stream unframed, so anything stays reachable). Control payloads
    are cut to 125 bytes and control frames keep FIN, so that the frames get
    past the header checks to the payload code (the inflater, UTF-8).
    """
    out = []
    while source.pos < len(source.data):
        flags = source.byte()
        length = source.u16() if flags & 0x40 else source.byte()
        payload = source.take(length)
        if flags & 0x20:
            out.append(payload)
            continue
        opcode = _RECORD_OPCODES[flags & 7]
        control = opcode >= 8
        if control:
            payload = payload[:125]
        out.append(build_frame(opcode, payload, fin=control or not flags & 0x10,
                               rsv1=bool(flags & 0x08) and not control,
                               mask=CLIENT_MASK if masked else None))
    return b"".join(out)


def outcome(connection: Any, chunks: Sequence[bytes], commands: int = 0,
            stepwise: bool = False) -> Tuple:
    """Feed chunks to an open connection, then run a few commands.

    ``stepwise`` feeds the reader one call at a time, as the asyncio layer
    does (``core.feed``, then ``feed(b"")`` while the reader holds input it
    stopped at after INFLATE_YIELD decompressed bytes), and records each
    call's event count and held bytes; otherwise ``receive_data``.

    Returns everything observable: events, error (type, code, rule, reason),
    bytes sent, state and close status. Commands (bits of ``commands``) are
    the ones an application calls while reading; InvalidState is their
    documented refusal in a state that forbids them.
    """
    events: List[Any] = []
    sent: List[bytes] = []
    steps: List[Tuple[int, int]] = []
    for chunk in chunks:
        core = connection.core
        reader = core.reader
        if stepwise and reader is not None and not core.events:
            got = core.feed(chunk)
            steps.append((len(got), reader.pending))
            while reader.pending and core.reader is reader:
                more = core.feed(b"")
                steps.append((len(more), reader.pending))
                got += more
            events += got
        else:
            connection.receive_data(chunk)
            events += connection.events_received()
        sent += connection.data_to_send()
    refusals = []
    for bit, command in enumerate((
        lambda: connection.send_text("reply é", fin=not commands & 0x40),
        lambda: connection.send_binary(b"\x00\xff" * 70),
        lambda: connection.send_ping(b"p"),
        lambda: connection.send_close(1000, "bye"),
        lambda: connection.fail(1011, "late"),
        lambda: connection.receive_eof(),
    )):
        if commands >> bit & 1:
            try:
                command()
            except InvalidState as exc:
                refusals.append((bit, str(exc)))
    events += connection.events_received()
    sent += connection.data_to_send()
    for event in events:
        assert isinstance(event, FRAME_EVENTS), repr(event)
    error = connection.error
    if error is not None:
        check_protocol_error(error)
        error = (type(error).__name__, error.close_code, error.rule, error.reason)
    return ([(type(e).__name__, e) for e in events], error, b"".join(sent), refusals,
            connection.state, connection.close_rcvd, connection.close_sent,
            connection.close_expected(), steps)


def open_connection(role: str, backend: Optional[str] = None, extensions: Sequence[Any] = (),
                    **options: Any) -> Any:
    """One side (``role``) of an opened pair, with ``options``; ``extensions``
    are configured on both sides, so that they are negotiated."""
    client_options = {"extensions": list(extensions)}
    server_options = {"extensions": list(extensions)}
    (server_options if role == "server" else client_options).update(options)
    client, server = open_pair(backend, client_options=client_options,
                               server_options=server_options)
    return server if role == "server" else client
