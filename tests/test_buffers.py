"""The compiled kernels release every buffer they acquire, on every path.

A bytearray cannot be resized while a buffer export of it is alive, so
resizing one after the call proves the kernel released it (src_c/wsfast/
_buffer.pxd states the contract). Compiled back-end only: the pure kernels
hold memoryviews that a caught exception's traceback keeps alive until the
exception is dropped, which is Python's business, not theirs.
"""

from __future__ import annotations

import pytest

from conftest import load_backend
from wsfast.errors import ProtocolError

KEY = b"\x01\x02\x03\x04"


@pytest.fixture
def compiled():
    return load_backend("cython")


def released(buffer: bytearray) -> bool:
    try:
        buffer.extend(b"x")
    except BufferError:
        return False
    del buffer[-1]
    return True


class TestReleasedAfterSuccess:
    def test_apply_mask(self, compiled):
        data, mask = bytearray(100), bytearray(KEY)
        compiled.apply_mask(data, mask)
        assert released(data) and released(mask)

    def test_apply_mask_inplace(self, compiled):
        data = bytearray(100)
        compiled.apply_mask_inplace(data, KEY)
        assert released(data)

    def test_validate_and_feed(self, compiled):
        data = bytearray(b"caf\xc3\xa9")
        compiled.validate_utf8(data)
        compiled.Utf8Validator().feed(data)
        assert released(data)

    def test_parsers(self, compiled):
        data = bytearray(compiled.build_frame(2, b"abc", mask=KEY))
        compiled.FrameParser(mask_required=True).feed(data)
        compiled.MessageReader(mask_required=True, max_frame_size=None,
                               max_message_size=None).feed(data)
        assert released(data)

    def test_builders(self, compiled):
        data = bytearray(5000)
        compiled.build_frame(2, data, mask=KEY)
        for masked in (True, False):
            compiled.FrameWriter(masked).write([], 2, data)
        assert released(data)


class TestReleasedAfterError:
    def test_mask_of_wrong_length(self, compiled):
        mask = bytearray(3)
        with pytest.raises(ValueError):
            compiled.apply_mask(b"abcd", mask)
        assert released(mask)

    def test_build_frame_with_bad_mask_after_the_payload_was_taken(self, compiled):
        payload = bytearray(10)
        with pytest.raises(ValueError):
            compiled.build_frame(2, payload, mask=b"abc")
        assert released(payload)

    def test_build_frame_with_bad_opcode(self, compiled):
        payload = bytearray(10)
        with pytest.raises(ValueError):
            compiled.build_frame(3, payload)
        assert released(payload)

    def test_writer_with_oversized_control_frame(self, compiled):
        payload = bytearray(126)
        with pytest.raises(ValueError):
            compiled.FrameWriter(True).write([], 9, payload)
        assert released(payload)

    def test_parser_on_a_protocol_error(self, compiled):
        data = bytearray(b"\x83\x80" + KEY)  # reserved opcode 3
        with pytest.raises(ProtocolError):
            compiled.FrameParser(mask_required=True).feed(data)
        assert released(data)


class TestNonContiguousInput:
    """A strided buffer is read from a C-order copy that the view owns."""

    def test_every_reader_accepts_it(self, compiled):
        strided = memoryview(bytearray(b"aXbXcX"))[::2]
        assert compiled.apply_mask(strided, KEY) == compiled.apply_mask(b"abc", KEY)
        assert compiled.validate_utf8(strided) is True
        assert compiled.build_frame(2, strided) == compiled.build_frame(2, b"abc")

    def test_large_unmasked_strided_payload_is_sent_as_its_copy(self, compiled):
        strided = memoryview(bytes(range(256)) * 64)[::2]  # 8 KiB, split frame
        out = []
        compiled.FrameWriter(False).write(out, 2, strided)
        assert b"".join(out) == compiled.build_frame(2, strided.tobytes())

    def test_strided_mask_is_refused(self, compiled):
        with pytest.raises(TypeError, match="mask must be a bytes-like object"):
            compiled.apply_mask(b"abcd", memoryview(b"aXbXcXdX")[::2])
