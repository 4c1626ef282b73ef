"""wsfast.adapters.wsaccel against wsaccel itself: same results on random
inputs cut into random chunks, on both back-ends."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from wsfast.adapters import wsaccel as adapter

wsaccel_utf8 = pytest.importorskip("wsaccel.utf8validator")
wsaccel_xor = pytest.importorskip("wsaccel.xormask")


def test_wsaccel_is_the_version_compared_with():
    from importlib.metadata import version

    # (wsaccel 0.6.7's own __version__ still says 0.6.6.)
    assert version("wsaccel") == adapter.COMPATIBLE_WSACCEL


def chunked(data, cuts):
    """*data* cut at the (sorted, clipped) offsets *cuts*, empty chunks included."""
    points = sorted(min(c, len(data)) for c in cuts)
    pieces, last = [], 0
    for point in points + [len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


# Mostly-UTF-8 bytes, with the troublemakers: lead bytes, continuation bytes,
# E0/ED/F0/F4 boundaries, bytes that never appear.
utf8ish = st.one_of(
    st.text().map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from([0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                              0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4,
                              0xF5, 0xFF]), max_size=40).map(bytes),
    st.binary(max_size=64),
)


@given(streams=st.lists(st.tuples(utf8ish, st.lists(st.integers(0, 80), max_size=6)),
                        min_size=1, max_size=4))
def test_utf8_validator_matches_wsaccel(backend, streams):
    ours = adapter.Utf8Validator(backend=backend.name)
    theirs = wsaccel_utf8.Utf8Validator()
    for data, cuts in streams:  # several streams: reset() between them
        for chunk in chunked(data, cuts):
            assert ours.validate(chunk) == theirs.validate(chunk), chunk
            assert ours.i == theirs.i
        ours.reset()
        theirs.reset()


def test_utf8_validator_examples(backend):
    validator = adapter.Utf8Validator(backend=backend.name)
    assert validator.validate(b"ab\xc3") == (True, False, 3, 3)
    assert validator.validate(bytearray(b"\xa9x")) == (True, True, 2, 5)
    assert validator.validate(memoryview(b"a\xe0\x80")) == (False, False, 2, 7)
    assert validator.validate(b"a") == (False, False, 0, 7)
    assert validator.validate(b"") == (True, False, 0, 7)  # as wsaccel
    with pytest.raises(TypeError):
        validator.validate("text")


@given(mask=st.binary(min_size=4, max_size=4), data=st.binary(max_size=300),
       cuts=st.lists(st.integers(0, 300), max_size=8))
def test_xor_masker_matches_wsaccel(backend, mask, data, cuts):
    ours = adapter.XorMaskerSimple(mask, backend=backend.name)
    theirs = wsaccel_xor.XorMaskerSimple(mask)
    for chunk in chunked(data, cuts):
        assert ours.process(chunk) == theirs.process(chunk)
        assert ours.pointer() == theirs.pointer()
    ours.reset()
    theirs.reset()
    assert ours.process(bytearray(data)) == theirs.process(bytearray(data))


def test_xor_masker_large_and_errors(backend):
    data = bytes(range(256)) * 4096 + b"xyz"
    ours = adapter.XorMaskerSimple(b"\x01\x80\xff\x7f", backend=backend.name)
    theirs = wsaccel_xor.XorMaskerSimple(b"\x01\x80\xff\x7f")
    assert ours.process(data[:3]) == theirs.process(data[:3])
    assert ours.process(data) == theirs.process(data)
    with pytest.raises(ValueError, match="4byte"):
        adapter.XorMaskerSimple(b"abc")
    with pytest.raises(TypeError):
        ours.process("text")
    assert adapter.createXorMasker(b"abcd").process(b"abcd") == b"\0\0\0\0"
    null = adapter.XorMaskerNull()
    assert null.process(b"same") == b"same" and null.pointer() == 4
