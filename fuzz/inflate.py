"""Fuzz target: the inflate path (RFC 7692 §7.2.2) of an open connection.

Input: byte 0 options (0x01 client role, 0x02 text_as_bytes, 0x04
streaming, bits 3-5 max_message_size, small ones mostly), byte 1 the
permessage-deflate configuration of both sides (``_common.deflate_config``),
byte 2 commands, cut points, then frame records (``_common.frame_records``):
valid headers, RSV1 where the fuzzer sets it, fuzzed compressed payloads.

Checks: nothing raises while reading; errors are registered ProtocolErrors
(invalid-compressed-data, decompressed-too-big, ...); no message delivered is
larger than max_message_size.
"""

import _common
from _common import (MAX_SIZES, Input, deflate_config, frame_records, open_connection, outcome,
                     split)
from wsfast import _backend


def size(data) -> int:
    return len(data.encode()) if isinstance(data, str) else len(data)


def test_one_input(data: bytes) -> None:
    source = Input(data)
    flags = source.byte()
    config = deflate_config(source.byte())
    commands = source.byte()
    role = "client" if flags & 1 else "server"
    limit = MAX_SIZES[(flags >> 3) & 7]
    connection = open_connection(role, extensions=[config], text_as_bytes=bool(flags & 2),
                                 streaming=bool(flags & 4), max_message_size=limit)
    assert connection.compression is not None
    cuts = source.cuts()
    stream = frame_records(source, role == "server", _backend.default.build_frame)
    events = outcome(connection, split(stream, cuts), commands)[0]
    if limit is None:
        return
    total = 0
    for name, event in events:
        if name in ("TextMessage", "BinaryMessage"):
            assert size(event.data) <= limit, (name, size(event.data), limit)
        elif name == "MessageFragment":
            total += size(event.data)
            assert total <= limit, (name, total, limit)
            if event.fin:
                total = 0


if __name__ == "__main__":
    _common.run(test_one_input)
