"""Fuzz target: FrameParser (RFC 6455 §5.2) in both roles, any chunking.

Input: option byte (0x01 server role: mask required; 0x02 RSV1 allowed;
bits 2-4 max_frame_size), cut points (see ``_common.Input.chunks``), stream.

Checks: only ProtocolError (a registered rule) is raised, a failed parser
raises the same error again, and the frames and error do not depend on the
chunking (the stream fed whole gives the same result).
"""

import sys

import _common
from _common import Input, check_protocol_error
from wsfast import _backend
from wsfast.errors import ProtocolError

FrameParser = _backend.default.FrameParser
MAX_FRAME_SIZES = (None, 0, 1, 125, 126, 65535, 65536, 2**20)


def parse(chunks, **options):
    parser = FrameParser(**options)
    frames, error = [], None
    for chunk in chunks:
        try:
            frames += parser.feed(chunk)
        except ProtocolError as exc:
            check_protocol_error(exc)
            frames += exc.frames
            error = exc
            break
    if error is not None:
        try:
            parser.feed(b"\x81\x00")
        except ProtocolError as again:
            assert again is error, (again, error)
        else:
            raise AssertionError("a failed parser accepted more data")
    else:
        assert parser.buffered <= sum(map(len, chunks))
    for frame in frames:
        if frame.opcode >= 8:
            assert frame.fin and len(frame.payload) <= 125, frame
        assert options["max_frame_size"] is None or len(frame.payload) <= options["max_frame_size"]
    return frames, error and (error.rule, error.reason)


def test_one_input(data: bytes) -> None:
    source = Input(data)
    flags = source.byte()
    options = dict(mask_required=bool(flags & 1), rsv1_allowed=bool(flags & 2),
                   max_frame_size=MAX_FRAME_SIZES[(flags >> 2) & 7])
    chunks = source.chunks()
    chunked = parse(chunks, **options)
    whole = parse([b"".join(chunks)], **options)
    assert chunked == whole, f"chunking changed the result:\n{chunked!r}\n{whole!r}"


if __name__ == "__main__":
    _common.run(test_one_input)
