"""Fuzz target: an open connection (after the handshake) fed hostile bytes.

Input: option bytes, cut points, stream (see ``_common.Input``).
Byte 0: 0x01 client role (else server), 0x02 text_as_bytes, 0x04
streaming, 0x08 defer_failure, 0x10 auto_pong off, bits 5-7 max_message_size.
Byte 1: commands run after the stream (see ``_common.outcome``).

Checks: the connection never raises while reading (errors go to
``connection.error``, a registered ProtocolError), events are event objects,
and after an error nothing more is read.
"""

import _common
from _common import MAX_SIZES, Input, open_connection, outcome


def test_one_input(data: bytes) -> None:
    source = Input(data)
    flags = source.byte()
    commands = source.byte()
    connection = open_connection(
        "client" if flags & 1 else "server",
        text_as_bytes=bool(flags & 2), streaming=bool(flags & 4),
        defer_failure=bool(flags & 8), auto_pong=not flags & 0x10,
        max_message_size=MAX_SIZES[flags >> 5])
    chunks = source.chunks()
    outcome(connection, chunks, commands)
    if connection.error is not None:
        connection.receive_data(b"\x81\x00\x89\x00")
        assert connection.events_received() == [], "events after a protocol error"


if __name__ == "__main__":
    _common.run(test_one_input)
