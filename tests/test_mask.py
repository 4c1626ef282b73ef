"""RFC 6455 §5.3 masking: apply_mask and apply_mask_inplace on both back-ends."""

from __future__ import annotations

import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

#: Sizes on the length-encoding boundaries and around the SIMD block sizes.
SIZES = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 125, 126, 127, 128,
         129, 255, 256, 4095, 4096, 4097, 65535, 65536, 65537]
MASKS = [b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04", b"\x80\x7f\xfe\x01"]


def reference_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class TestApplyMask:
    @pytest.mark.parametrize("size", SIZES)
    @pytest.mark.parametrize("mask", MASKS)
    def test_boundary_sizes_match_reference(self, backend, simd_mode, size, mask):
        data = bytes((i * 7 + 3) & 0xFF for i in range(size))
        assert backend.apply_mask(data, mask) == reference_mask(data, mask)

    @given(data=st.binary(max_size=3000), mask=st.binary(min_size=4, max_size=4))
    def test_matches_reference(self, backend, data, mask):
        assert backend.apply_mask(data, mask) == reference_mask(data, mask)

    @given(data=st.binary(max_size=5000), mask=st.binary(min_size=4, max_size=4),
           start=st.integers(0, 40))
    def test_compiled_equals_pure_at_any_alignment(self, both, data, mask, start):
        compiled, pure = both
        view = memoryview(data)[start:]
        assert compiled.apply_mask(view, mask) == pure.apply_mask(view, mask)

    def test_masking_twice_restores_the_data(self, backend):
        data = bytes(range(256)) * 5
        assert backend.apply_mask(backend.apply_mask(data, b"abcd"), b"abcd") == data

    @pytest.mark.parametrize(
        "make",
        [bytes, bytearray, memoryview, lambda b: memoryview(b).toreadonly(),
         lambda b: memoryview(bytearray(b))],
        ids=["bytes", "bytearray", "memoryview", "readonly-view", "writable-view"],
    )
    def test_accepts_every_bytes_like(self, backend, make):
        data = bytes(range(100))
        result = backend.apply_mask(make(data), b"\x10\x20\x30\x40")
        assert type(result) is bytes
        assert result == reference_mask(data, b"\x10\x20\x30\x40")

    def test_accepts_non_contiguous_memoryview(self, backend):
        base = bytes(range(200))
        view = memoryview(base)[::3]
        assert backend.apply_mask(view, b"wxyz") == reference_mask(base[::3], b"wxyz")

    def test_accepts_multibyte_item_format(self, backend):
        data = array.array("I", range(50))
        raw = data.tobytes()
        assert backend.apply_mask(data, b"wxyz") == reference_mask(raw, b"wxyz")

    def test_mask_may_be_any_bytes_like(self, backend):
        data = b"hello world"
        expected = reference_mask(data, b"abcd")
        assert backend.apply_mask(data, bytearray(b"abcd")) == expected
        assert backend.apply_mask(data, memoryview(b"abcd")) == expected

    def test_input_is_not_modified(self, backend):
        data = bytearray(b"payload")
        backend.apply_mask(data, b"abcd")
        assert data == b"payload"

    @pytest.mark.parametrize("mask", [b"", b"abc", b"abcde"])
    def test_rejects_mask_of_wrong_length(self, backend, mask):
        with pytest.raises(ValueError, match="mask must contain 4 bytes"):
            backend.apply_mask(b"data", mask)

    def test_rejects_str_data(self, backend):
        with pytest.raises(TypeError, match="data must be a bytes-like object, not str"):
            backend.apply_mask("text", b"abcd")

    def test_rejects_str_mask(self, backend):
        with pytest.raises(TypeError, match="mask must be a bytes-like object, not str"):
            backend.apply_mask(b"data", "abcd")


class TestApplyMaskInPlace:
    @pytest.mark.parametrize("size", SIZES)
    def test_masks_bytearray_in_place(self, backend, simd_mode, size):
        data = bytes((i * 13) & 0xFF for i in range(size))
        buffer = bytearray(data)
        assert backend.apply_mask_inplace(buffer, b"\xde\xad\xbe\xef") is None
        assert bytes(buffer) == reference_mask(data, b"\xde\xad\xbe\xef")

    def test_masks_writable_memoryview_slice(self, backend):
        buffer = bytearray(b"0123456789")
        backend.apply_mask_inplace(memoryview(buffer)[2:6], b"\x01\x01\x01\x01")
        assert buffer == b"01" + reference_mask(b"2345", b"\x01\x01\x01\x01") + b"6789"

    @pytest.mark.parametrize(
        "make", [bytes, lambda b: memoryview(bytearray(b))[::2]], ids=["read-only", "non-contiguous"]
    )
    def test_rejects_unusable_buffers(self, backend, make):
        with pytest.raises(TypeError, match="writable contiguous buffer"):
            backend.apply_mask_inplace(make(b"abcdefgh"), b"abcd")
