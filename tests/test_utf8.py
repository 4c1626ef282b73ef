"""Strict UTF-8 validation: validate_utf8 and the incremental Utf8Validator.

The reference is CPython's own decoder: ``validate_utf8(b)`` must equal
"``b.decode("utf-8")`` succeeds", and the incremental validator must fail on
the same chunk and at the same offset as CPython's incremental decoder, with
one documented exception where wsfast is stricter (see
``test_surrogate_prefix_fails_one_byte_earlier_than_cpython``).
"""

from __future__ import annotations

import codecs
import platform

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

# Near-valid inputs find more bugs than random bytes: mix valid characters
# from every length class with stray bytes that are interesting to a validator.
INTERESTING_BYTES = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                     0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
pieces = st.one_of(
    st.text(max_size=8).map(lambda s: s.encode("utf-8")),
    st.sampled_from(["a", "é", "€", "😀", "\U0010ffff", "\ud7ff", "\ue000"]).map(
        lambda s: s.encode("utf-8")),
    st.lists(st.sampled_from(INTERESTING_BYTES), min_size=1, max_size=3).map(bytes),
    st.binary(max_size=4),
)
utf8ish = st.lists(pieces, max_size=40).map(b"".join)
# Long ASCII runs move the interesting bytes across the 32-byte SIMD blocks.
utf8ish_long = st.tuples(st.integers(0, 130), utf8ish, st.integers(0, 70)).map(
    lambda t: b"a" * t[0] + t[1] + b"z" * t[2])


def cpython_valid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def chunked(data: bytes, cuts: list) -> list:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


class TestValidateUtf8:
    @given(data=st.binary(max_size=300))
    def test_agrees_with_cpython_on_random_bytes(self, backend, data):
        assert backend.validate_utf8(data) is cpython_valid(data)

    @given(data=utf8ish_long)
    def test_agrees_with_cpython_on_near_valid_bytes(self, backend, simd_mode, data):
        assert backend.validate_utf8(data) is cpython_valid(data)

    @given(text=st.text(max_size=500))
    def test_accepts_every_encoded_string(self, backend, simd_mode, text):
        assert backend.validate_utf8(text.encode("utf-8")) is True

    def test_every_two_byte_sequence(self, backend):
        for first in range(0x80, 0x100):
            for second in range(0x100):
                data = b"x" * 40 + bytes((first, second)) + b"y" * 40
                assert backend.validate_utf8(data) is cpython_valid(data), data[40:42]

    @pytest.mark.parametrize("lead", [0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5])
    def test_every_continuation_after_critical_leads(self, backend, simd_mode, lead):
        for second in range(0x70, 0xD0):
            for third in (0x3F, 0x80, 0xBF, 0xC0):
                for fourth in (0x41, 0x80, 0xBF):
                    data = b"q" * 61 + bytes((lead, second, third, fourth)) + b"q" * 10
                    assert backend.validate_utf8(data) is cpython_valid(data), data[61:65]

    @pytest.mark.parametrize("text", ["", "a", "κόσμε", "日本語", "😀", "\U0010ffff"])
    def test_valid_examples(self, backend, text):
        assert backend.validate_utf8(text.encode()) is True

    @pytest.mark.parametrize(
        "data",
        [b"\x80", b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf",
         b"\xf0\x80\x80\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xce\xba\xe1",
         b"\xe1\x80"],
        ids=["lone-continuation", "overlong-2", "overlong-2-max", "overlong-3", "surrogate-low",
             "surrogate-high", "overlong-4", "above-max", "f5-lead", "ff", "truncated-3",
             "truncated-end"],
    )
    def test_invalid_examples(self, backend, data):
        assert backend.validate_utf8(data) is False
        assert backend.validate_utf8(b"a" * 100 + data) is False

    @pytest.mark.parametrize("make", [bytearray, memoryview, lambda b: memoryview(b)[::1]])
    def test_accepts_bytes_like(self, backend, make):
        assert backend.validate_utf8(make("é".encode())) is True

    def test_accepts_non_contiguous_view(self, backend):
        assert backend.validate_utf8(memoryview(b"a\xffb\xffc")[::2]) is True
        assert backend.validate_utf8(memoryview(b"a\xffb\xffc")[1::2]) is False

    def test_rejects_str(self, backend):
        with pytest.raises(TypeError, match="bytes-like"):
            backend.validate_utf8("text")

    @given(data=utf8ish_long)
    def test_compiled_equals_pure(self, both, data):
        compiled, pure = both
        assert compiled.validate_utf8(data) is pure.validate_utf8(data)


def cpython_incremental(chunks: list):
    """Per chunk: does CPython's incremental decoder accept it? And the error start."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed = 0
    results = []
    for chunk in chunks:
        pending = decoder.getstate()[0]
        try:
            decoder.decode(chunk, False)
        except UnicodeDecodeError as exc:
            results.append(False)
            return results, fed - len(pending) + exc.start, decoder
        fed += len(chunk)
        results.append(True)
    return results, None, decoder


class TestUtf8Validator:
    @given(data=utf8ish, cuts=st.lists(st.integers(0, 200), max_size=8))
    def test_matches_cpython_incremental_decoder(self, backend, data, cuts):
        chunks = chunked(data, cuts)
        expected, error_start, decoder = cpython_incremental(chunks)
        # The one place where CPython is lazier than "fail fast": it holds back
        # ED A0..BF until a third byte arrives. Covered by its own test.
        assume(not (len(decoder.getstate()[0]) >= 2 and decoder.getstate()[0][:1] == b"\xed"))
        validator = backend.Utf8Validator()
        results = []
        for chunk in chunks:
            results.append(validator.feed(chunk))
            if not results[-1]:
                break
        assert results == expected[:len(results)] and len(results) == len(expected)
        assert validator.error_offset == error_start
        assert validator.complete is cpython_valid(data)

    @given(data=utf8ish_long, cuts=st.lists(st.integers(0, 300), max_size=10))
    def test_any_chunking_gives_the_same_verdict(self, backend, simd_mode, data, cuts):
        whole = backend.Utf8Validator()
        whole.feed(data)
        pieces = backend.Utf8Validator()
        for chunk in chunked(data, cuts):
            pieces.feed(chunk)
        assert (pieces.valid, pieces.complete, pieces.error_offset) == (
            whole.valid, whole.complete, whole.error_offset)
        assert whole.complete is cpython_valid(data)

    @given(data=utf8ish_long, cuts=st.lists(st.integers(0, 300), max_size=10))
    def test_compiled_equals_pure(self, both, data, cuts):
        states = []
        for kernels in both:
            validator = kernels.Utf8Validator()
            results = [validator.feed(chunk) for chunk in chunked(data, cuts)]
            states.append((results, validator.valid, validator.complete,
                           validator.error_offset, validator.bytes_fed))
        assert states[0] == states[1]

    def test_fails_at_the_first_impossible_byte_one_byte_at_a_time(self, backend):
        validator = backend.Utf8Validator()
        stream = "κόσμε".encode() + b"\xce" + b"\x41" + b"more"
        verdicts = [validator.feed(stream[i:i + 1]) for i in range(len(stream))]
        first_bad = stream.index(b"\x41")
        assert verdicts == [True] * first_bad + [False] * (len(stream) - first_bad)
        assert validator.error_offset == first_bad - 1  # the lead byte starts the bad sequence

    @pytest.mark.parametrize("prefix", [b"\xe0\x80", b"\xf0\x8f", b"\xf4\x90", b"\xc0", b"\xf5"])
    def test_impossible_prefix_fails_without_waiting_for_more(self, backend, prefix):
        validator = backend.Utf8Validator()
        assert validator.feed(b"ok" + prefix) is False
        assert validator.error_offset == 2

    def test_surrogate_prefix_fails_one_byte_earlier_than_cpython(self, backend):
        # ED A0 can never become valid UTF-8 (it would encode a surrogate).
        # CPython's incremental decoder only notices with the third byte;
        # wsfast fails on the second, as RFC 6455 §8.1 "fail fast" asks.
        validator = backend.Utf8Validator()
        assert validator.feed(b"ab\xed") is True
        assert validator.feed(b"\xa0") is False
        assert validator.error_offset == 2
        decoder = codecs.getincrementaldecoder("utf-8")()
        if platform.python_implementation() != "CPython":
            # PyPy's decoder fails fast as well, at the same offset.
            with pytest.raises(UnicodeDecodeError) as info:
                decoder.decode(b"ab\xed\xa0", False)
            assert info.value.start == 2
            return
        decoder.decode(b"ab\xed\xa0", False)  # CPython: no error yet
        with pytest.raises(UnicodeDecodeError) as info:
            decoder.decode(b"\x80", False)
        assert info.value.start == 0  # == offset 2 of the stream: the same start

    def test_code_point_split_across_feeds_is_complete(self, backend):
        validator = backend.Utf8Validator()
        data = "😀".encode()
        for i in range(4):
            assert validator.feed(data[i:i + 1]) is True
            assert validator.complete is (i == 3)

    def test_stays_failed_until_reset(self, backend):
        validator = backend.Utf8Validator()
        assert validator.feed(b"\xff") is False
        assert validator.feed(b"fine") is False
        assert (validator.valid, validator.complete, validator.error_offset) == (False, False, 0)
        validator.reset()
        assert validator.feed(b"fine") is True
        assert (validator.valid, validator.complete, validator.bytes_fed) == (True, True, 4)

    def test_bytes_fed_counts_the_failing_chunk(self, backend):
        validator = backend.Utf8Validator()
        validator.feed(b"abc")
        validator.feed(b"d\xffe")
        validator.feed(b"ignored")
        assert validator.bytes_fed == 6
        assert validator.error_offset == 4

    def test_empty_feed_keeps_state(self, backend):
        validator = backend.Utf8Validator()
        validator.feed(b"\xe2\x82")
        assert validator.feed(b"") is True
        assert validator.complete is False
        assert validator.feed(b"\xac") is True and validator.complete

    def test_rejects_str(self, backend):
        with pytest.raises(TypeError, match="bytes-like"):
            backend.Utf8Validator().feed("text")
