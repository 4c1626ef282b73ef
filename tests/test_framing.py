"""RFC 6455 §5 framing: FrameParser, build_frame and FrameWriter on both back-ends."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsfast.errors import PayloadTooBig, ProtocolError
from wsfast.frames import Frame, Opcode

MASK = b"\x37\xfa\x21\x3d"


def parse_all(backend, chunks, *, mask_required, **options):
    parser = backend.FrameParser(mask_required=mask_required, **options)
    frames = []
    for chunk in chunks:
        frames += parser.feed(chunk)
    return frames, parser


def parse_outcome(backend, chunks, **options):
    """(frames, error summary) for a stream that may be invalid."""
    parser = backend.FrameParser(**options)
    frames = []
    try:
        for chunk in chunks:
            frames += parser.feed(chunk)
    except ProtocolError as exc:
        return frames + exc.frames, (type(exc), exc.close_code, exc.rule, exc.reason)
    return frames, None


def split(data: bytes, cuts) -> list:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def rejects(backend, data: bytes, rule: str, *, mask_required=True, code=1002, **options):
    """Assert that data is refused with rule, also when it arrives a byte at a time."""
    for chunks in ([data], [data[i:i + 1] for i in range(len(data))]):
        parser = backend.FrameParser(mask_required=mask_required, **options)
        with pytest.raises(ProtocolError) as info:
            for chunk in chunks:
                parser.feed(chunk)
        assert (info.value.rule, info.value.close_code) == (rule, code)
    return info.value


class TestRfcExamples:
    """The example frames of RFC 6455 §5.7."""

    def test_single_frame_unmasked_text(self, backend):
        frames, _ = parse_all(backend, [bytes.fromhex("810548656c6c6f")], mask_required=False)
        assert frames == [Frame(Opcode.TEXT, b"Hello")]

    def test_single_frame_masked_text(self, backend):
        data = bytes.fromhex("818537fa213d7f9f4d5158")
        frames, _ = parse_all(backend, [data], mask_required=True)
        assert frames == [Frame(Opcode.TEXT, b"Hello")]
        assert backend.build_frame(Opcode.TEXT, b"Hello", mask=MASK) == data

    def test_fragmented_unmasked_text(self, backend):
        data = bytes.fromhex("010348656c") + bytes.fromhex("80026c6f")
        frames, _ = parse_all(backend, [data], mask_required=False)
        assert frames == [Frame(Opcode.TEXT, b"Hel", fin=False),
                          Frame(Opcode.CONTINUATION, b"lo")]

    def test_unmasked_ping_and_masked_pong(self, backend):
        ping = bytes.fromhex("890548656c6c6f")
        pong = bytes.fromhex("8a8537fa213d7f9f4d5158")
        assert parse_all(backend, [ping], mask_required=False)[0] == [Frame(Opcode.PING, b"Hello")]
        assert parse_all(backend, [pong], mask_required=True)[0] == [Frame(Opcode.PONG, b"Hello")]
        assert backend.build_frame(Opcode.PING, b"Hello") == ping
        assert backend.build_frame(Opcode.PONG, b"Hello", mask=MASK) == pong

    def test_256_bytes_binary_uses_16_bit_length(self, backend):
        payload = bytes(range(256))
        data = bytes.fromhex("827e0100") + payload
        assert backend.build_frame(Opcode.BINARY, payload) == data
        assert parse_all(backend, [data], mask_required=False)[0] == [Frame(Opcode.BINARY, payload)]

    def test_64_kib_binary_uses_64_bit_length(self, backend):
        payload = os.urandom(65536)
        data = bytes.fromhex("827f0000000000010000") + payload
        assert backend.build_frame(Opcode.BINARY, payload) == data
        assert parse_all(backend, [data], mask_required=False)[0] == [Frame(Opcode.BINARY, payload)]


BOUNDARY_LENGTHS = [0, 1, 2, 3, 4, 5, 125, 126, 127, 65535, 65536]


class TestBoundaryTable:
    @pytest.mark.parametrize("length", BOUNDARY_LENGTHS)
    @pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
    def test_round_trip_on_length_boundaries(self, backend, simd_mode, length, masked):
        payload = bytes((i * 31) & 0xFF for i in range(length))
        data = backend.build_frame(Opcode.BINARY, payload, mask=MASK if masked else None)
        header = 2 + (2 if 126 <= length < 65536 else 8 if length >= 65536 else 0)
        assert len(data) == header + (4 if masked else 0) + length
        frames, parser = parse_all(backend, [data], mask_required=masked, max_frame_size=None)
        assert frames == [Frame(Opcode.BINARY, payload)] and parser.buffered == 0

    @pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 300])
    def test_one_byte_at_a_time(self, backend, length):
        payload = bytes(i & 0xFF for i in range(length))
        data = backend.build_frame(Opcode.TEXT, payload, mask=MASK) * 3
        frames, parser = parse_all(backend, [data[i:i + 1] for i in range(len(data))],
                                   mask_required=True)
        assert frames == [Frame(Opcode.TEXT, payload)] * 3 and parser.buffered == 0

    @pytest.mark.parametrize("declared", [2**31 - 1, 2**32, 2**62])
    def test_huge_declared_length_waits_without_buffering_it(self, backend, declared):
        header = bytes((0x82, 127)) + declared.to_bytes(8, "big")
        frames, parser = parse_all(backend, [header, b"\x00" * 10], mask_required=False,
                                   max_frame_size=None)
        assert frames == [] and parser.buffered == len(header) + 10

    @pytest.mark.parametrize("declared", [2**31 - 1, 2**63 - 1])
    def test_huge_declared_length_is_refused_by_the_limit(self, backend, declared):
        header = bytes((0x82, 127)) + declared.to_bytes(8, "big")
        error = rejects(backend, header, "frame-too-big", mask_required=False, code=1009)
        assert isinstance(error, PayloadTooBig)

    @pytest.mark.parametrize("declared", [2**63, 2**64 - 1])
    def test_64_bit_length_with_top_bit_set(self, backend, declared):
        header = bytes((0x82, 127)) + declared.to_bytes(8, "big")
        rejects(backend, header, "length-msb-set", mask_required=False, max_frame_size=None)

    def test_mask_with_every_bit_set(self, backend):
        payload = bytes(range(256))
        data = backend.build_frame(Opcode.BINARY, payload, mask=b"\xff\xff\xff\xff")
        assert data[8:] == bytes(b ^ 0xFF for b in payload)  # 2 + 2 length + 4 key
        assert parse_all(backend, [data], mask_required=True)[0] == [Frame(Opcode.BINARY, payload)]


class TestHeaderRules:
    """One test per frame-level rule of RFC 6455 §5 (and RFC 7692 §6 for RSV1)."""

    @pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    def test_reserved_opcode(self, backend, opcode):
        error = rejects(backend, bytes((0x80 | opcode, 0x80)) + MASK, "reserved-opcode")
        assert str(opcode) in error.reason

    @pytest.mark.parametrize("bits", [0x40, 0x20, 0x10, 0x70], ids=["rsv1", "rsv2", "rsv3", "all"])
    def test_reserved_bits_without_extension(self, backend, bits):
        rejects(backend, bytes((0x81 | bits, 0x80)) + MASK, "reserved-bits")

    @pytest.mark.parametrize("bits", [0x20, 0x10])
    def test_rsv2_rsv3_refused_even_with_deflate(self, backend, bits):
        rejects(backend, bytes((0x81 | bits, 0x80)) + MASK, "reserved-bits", rsv1_allowed=True)

    def test_rsv1_accepted_on_first_data_frame_with_deflate(self, backend):
        frames, _ = parse_all(backend, [bytes((0xC1, 0x80)) + MASK], mask_required=True,
                              rsv1_allowed=True)
        assert frames == [Frame(Opcode.TEXT, b"", rsv1=True)]

    def test_rsv1_on_control_frame(self, backend):
        rejects(backend, bytes((0xC9, 0x80)) + MASK, "rsv1-on-control", rsv1_allowed=True)

    def test_rsv1_on_continuation_frame(self, backend):
        data = bytes((0x41, 0x80)) + MASK + bytes((0xC0, 0x80)) + MASK
        rejects(backend, data, "rsv1-on-continuation", rsv1_allowed=True)

    def test_non_minimal_16_bit_length(self, backend):
        rejects(backend, bytes((0x82, 0xFE, 0x00, 0x7D)) + MASK, "non-minimal-length")

    def test_non_minimal_64_bit_length(self, backend):
        rejects(backend, bytes((0x82, 0xFF)) + (65535).to_bytes(8, "big") + MASK,
                "non-minimal-length")

    def test_server_rejects_unmasked_frame(self, backend):
        rejects(backend, bytes.fromhex("810548656c6c6f"), "unmasked-frame", mask_required=True)

    def test_client_rejects_masked_frame(self, backend):
        rejects(backend, bytes.fromhex("818537fa213d7f9f4d5158"), "masked-frame",
                mask_required=False)

    def test_control_frame_longer_than_125(self, backend):
        rejects(backend, bytes((0x89, 0xFE, 0x00, 0x7E)) + MASK, "control-too-long")

    @pytest.mark.parametrize("opcode", [0x8, 0x9, 0xA])
    def test_fragmented_control_frame(self, backend, opcode):
        rejects(backend, bytes((opcode, 0x80)) + MASK, "control-fragmented")

    def test_continuation_without_message(self, backend):
        rejects(backend, bytes((0x80, 0x80)) + MASK, "unexpected-continuation")

    @pytest.mark.parametrize("opcode", [0x1, 0x2])
    def test_new_data_frame_during_fragmented_message(self, backend, opcode):
        data = bytes((0x01, 0x80)) + MASK + bytes((0x80 | opcode, 0x80)) + MASK
        rejects(backend, data, "expected-continuation")

    def test_control_frames_between_fragments_are_fine(self, backend):
        data = (backend.build_frame(Opcode.TEXT, b"a", fin=False, mask=MASK)
                + backend.build_frame(Opcode.PING, b"p", mask=MASK)
                + backend.build_frame(Opcode.CONTINUATION, b"b", mask=MASK))
        frames, _ = parse_all(backend, [data], mask_required=True)
        assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.PING, Opcode.CONTINUATION]

    def test_frame_too_big_is_refused_from_the_header(self, backend):
        # Only the header has arrived: the limit is enforced before the payload.
        header = bytes((0x82, 0xFE)) + (1001).to_bytes(2, "big") + MASK
        error = rejects(backend, header, "frame-too-big", code=1009, max_frame_size=1000)
        assert "1001" in error.reason and "1000" in error.reason

    def test_frame_at_the_limit_is_accepted(self, backend):
        data = backend.build_frame(Opcode.BINARY, b"x" * 1000, mask=MASK)
        frames, _ = parse_all(backend, [data], mask_required=True, max_frame_size=1000)
        assert len(frames) == 1

    def test_rules_decided_by_two_bytes_fail_before_the_rest_arrives(self, backend):
        parser = backend.FrameParser(mask_required=True)
        with pytest.raises(ProtocolError, match="reserved opcode"):
            parser.feed(b"\x83\xff")  # a 64-bit length would follow: not needed


class TestParserBehaviour:
    def test_every_complete_frame_of_a_chunk_in_one_call(self, backend):
        data = b"".join(backend.build_frame(Opcode.BINARY, bytes([i]) * i, mask=MASK)
                        for i in range(50))
        frames, parser = parse_all(backend, [data + data[:3]], mask_required=True)
        assert [f.payload for f in frames] == [bytes([i]) * i for i in range(50)]
        assert parser.buffered == 3

    def test_error_keeps_frames_completed_earlier_in_the_chunk(self, backend):
        good = backend.build_frame(Opcode.TEXT, b"one", mask=MASK)
        parser = backend.FrameParser(mask_required=True)
        with pytest.raises(ProtocolError) as info:
            parser.feed(good + good + b"\x83\x80")
        assert info.value.frames == [Frame(Opcode.TEXT, b"one")] * 2

    def test_parser_stays_failed(self, backend):
        parser = backend.FrameParser(mask_required=True)
        with pytest.raises(ProtocolError):
            parser.feed(b"\x83\x80")
        with pytest.raises(ProtocolError, match="reserved opcode"):
            parser.feed(backend.build_frame(Opcode.TEXT, b"ok", mask=MASK))

    @pytest.mark.parametrize("make", [bytearray, memoryview, lambda b: memoryview(b).toreadonly()])
    def test_accepts_bytes_like_chunks(self, backend, make):
        data = backend.build_frame(Opcode.TEXT, b"hello", mask=MASK)
        frames, _ = parse_all(backend, [make(data)], mask_required=True)
        assert frames == [Frame(Opcode.TEXT, b"hello")]

    def test_rejects_str(self, backend):
        with pytest.raises(TypeError, match="bytes-like"):
            backend.FrameParser(mask_required=True).feed("text")

    @pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
    def test_rejects_invalid_limit(self, backend, bad):
        with pytest.raises(ValueError, match="max_frame_size"):
            backend.FrameParser(mask_required=True, max_frame_size=bad)


frame_specs = st.lists(
    st.tuples(
        st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE]),
        st.one_of(st.binary(max_size=40), st.binary(min_size=120, max_size=300)),
    ),
    max_size=8,
)


def build_stream(backend, specs, mask):
    out = []
    for opcode, payload in specs:
        if opcode >= 8:
            payload = payload[:125]
        out.append(backend.build_frame(opcode, payload, mask=mask))
    return b"".join(out)


class TestProperties:
    @given(specs=frame_specs, cuts=st.lists(st.integers(0, 10**6), max_size=12),
           masked=st.booleans())
    def test_any_chunking_gives_the_same_frames(self, backend, specs, cuts, masked):
        data = build_stream(backend, specs, MASK if masked else None)
        whole, _ = parse_all(backend, [data], mask_required=masked)
        pieces, parser = parse_all(backend, split(data, cuts), mask_required=masked)
        assert pieces == whole and parser.buffered == 0
        assert [(f.opcode, f.payload) for f in whole] == [
            (op, p[:125] if op >= 8 else p) for op, p in specs]

    @given(specs=frame_specs, mask=st.binary(min_size=4, max_size=4), data=st.data())
    def test_build_with_one_back_end_parse_with_the_other(self, both, specs, mask, data):
        builder, parser = data.draw(st.permutations(both))
        stream = build_stream(builder, specs, mask)
        frames, _ = parse_all(parser, [stream], mask_required=True)
        assert [(f.opcode, f.payload) for f in frames] == [
            (op, p[:125] if op >= 8 else p) for op, p in specs]

    @given(specs=frame_specs, mask=st.binary(min_size=4, max_size=4))
    def test_compiled_and_pure_build_identical_bytes(self, both, specs, mask):
        assert build_stream(both[0], specs, mask) == build_stream(both[1], specs, mask)

    @given(stream=st.binary(max_size=200), cuts=st.lists(st.integers(0, 300), max_size=6),
           mask_required=st.booleans(), rsv1=st.booleans())
    def test_random_bytes_give_identical_outcomes(self, both, stream, cuts, mask_required, rsv1):
        options = dict(mask_required=mask_required, rsv1_allowed=rsv1, max_frame_size=100)
        chunks = split(stream, cuts)
        assert parse_outcome(both[0], chunks, **options) == parse_outcome(both[1], chunks, **options)

    @given(specs=frame_specs, flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                             min_size=1, max_size=3),
           cuts=st.lists(st.integers(0, 10**6), max_size=6))
    def test_mutated_streams_give_identical_outcomes(self, both, specs, flips, cuts):
        data = bytearray(build_stream(both[1], specs, MASK))
        if not data:
            return
        for position, value in flips:
            data[position % len(data)] = value
        chunks = split(bytes(data), cuts)
        options = dict(mask_required=True, max_frame_size=250)
        outcomes = [parse_outcome(b, chunks, **options) for b in both]
        assert outcomes[0] == outcomes[1]
        # And the outcome does not depend on the chunking.
        assert parse_outcome(both[0], [bytes(data)], **options) == outcomes[0]


class TestBuildFrame:
    @pytest.mark.parametrize("opcode", [3, 7, 11, 15, 16, -1])
    def test_rejects_invalid_opcode(self, backend, opcode):
        with pytest.raises(ValueError, match="invalid opcode"):
            backend.build_frame(opcode, b"")

    def test_rejects_long_control_frame(self, backend):
        with pytest.raises(ValueError, match="at most 125"):
            backend.build_frame(Opcode.PING, b"x" * 126)

    def test_rejects_fragmented_control_frame(self, backend):
        with pytest.raises(ValueError, match="unfragmented"):
            backend.build_frame(Opcode.CLOSE, b"", fin=False)

    def test_rejects_bad_mask(self, backend):
        with pytest.raises(ValueError, match="4 bytes"):
            backend.build_frame(Opcode.TEXT, b"x", mask=b"abc")

    def test_rejects_str_payload(self, backend):
        with pytest.raises(TypeError, match="payload must be a bytes-like object"):
            backend.build_frame(Opcode.TEXT, "text")

    def test_sets_fin_and_rsv1(self, backend):
        assert backend.build_frame(Opcode.TEXT, b"", fin=False, rsv1=True) == b"\x41\x00"
        assert backend.build_frame(Opcode.CONTINUATION, b"", fin=True) == b"\x80\x00"

    def test_accepts_non_contiguous_payload(self, backend):
        payload = memoryview(bytes(range(100)))[::2]
        assert backend.build_frame(Opcode.BINARY, payload) == b"\x82\x32" + bytes(range(0, 100, 2))


def counting_random(seed: int):
    rng = random.Random(seed)
    return lambda n: bytes(rng.getrandbits(8) for _ in range(n))


class TestFrameWriter:
    def test_client_frames_are_masked_with_keys_from_the_source(self, backend):
        writer = backend.FrameWriter(True, counting_random(1))
        out: list = []
        writer.write(out, Opcode.TEXT, "hello")
        key = counting_random(1)(4096)[:4]
        assert out == [backend.build_frame(Opcode.TEXT, b"hello", mask=key)]

    def test_every_frame_gets_a_new_key(self, backend):
        writer = backend.FrameWriter(True)
        out: list = []
        for _ in range(3000):  # more than one pool of keys
            writer.write(out, Opcode.BINARY, b"")
        keys = {frame[2:6] for frame in out}
        assert len(keys) > 2900  # 32-bit keys from os.urandom: collisions are rare

    def test_large_unmasked_payload_is_not_copied(self, backend):
        payload = b"x" * 5000
        out: list = []
        backend.FrameWriter(False).write(out, Opcode.BINARY, payload)
        assert out[0] == b"\x82\x7e\x13\x88" and out[1] is payload

    def test_small_unmasked_frame_is_one_chunk(self, backend):
        out: list = []
        backend.FrameWriter(False).write(out, Opcode.TEXT, "é")
        assert out == [b"\x81\x02\xc3\xa9"]

    def test_text_is_encoded_as_utf8(self, backend):
        out: list = []
        backend.FrameWriter(False).write(out, Opcode.TEXT, "κόσμε" * 1000)
        assert b"".join(out)[4:] == ("κόσμε" * 1000).encode()

    def test_unencodable_str_raises(self, backend):
        with pytest.raises(UnicodeEncodeError):
            backend.FrameWriter(False).write([], Opcode.TEXT, "\ud800")

    def test_random_source_must_return_bytes(self, backend):
        writer = backend.FrameWriter(True, lambda n: b"short")
        with pytest.raises(ValueError, match="random_bytes"):
            writer.write([], Opcode.TEXT, b"x")

    @pytest.mark.parametrize("size", [8191, 8192, 65536, 2**20, 2**20 + 1])
    def test_reused_buffers_give_the_same_frames(self, backend, size):
        """reuse_buffers changes where a frame is built, never its bytes."""
        payload = os.urandom(size)
        frames = []
        for reuse in (False, True):
            writer = backend.FrameWriter(True, counting_random(7))
            writer.reuse_buffers = reuse
            out: list = []
            writer.write(out, Opcode.BINARY, payload)
            writer.write(out, Opcode.BINARY, payload)
            frames.append([bytes(chunk) for chunk in out])
        assert frames[0] == frames[1]

    def test_reused_buffer_only_once_the_last_frame_is_released(self, backend):
        if backend.name == "python":
            writer = backend.FrameWriter(True)
            writer.reuse_buffers = True
            out: list = []
            writer.write(out, Opcode.BINARY, b"x" * 65536)
            assert type(out[0]) is bytes  # the pure writer has no buffer to reuse
            return
        writer = backend.FrameWriter(True, counting_random(3))
        writer.reuse_buffers = True
        first = b"a" * 65536
        out: list = []
        writer.write(out, Opcode.BINARY, first)
        kept = out[0]
        kept_bytes = bytes(kept)
        assert type(kept) is memoryview
        # The first frame is still referenced: the next one must not overwrite it.
        writer.write(out, Opcode.BINARY, b"b" * 65536)
        assert out[1].obj is not kept.obj and bytes(kept) == kept_bytes
        # Once every view of a buffer is gone, the next frame is built in it.
        buffer = out[1].obj
        del out[:], kept
        writer.write(out, Opcode.BINARY, b"c" * 40000)
        assert out[0].obj is buffer
        frame, = backend.FrameParser(mask_required=True).feed(out[0])
        assert frame.payload == b"c" * 40000
        # A slice of a view (what a transport keeps of a partial write) holds it too.
        tail = out[0][100:]
        del out[:]
        writer.write(out, Opcode.BINARY, b"d" * 40000)
        assert out[0].obj is not buffer and tail.obj is buffer
        frame, = backend.FrameParser(mask_required=True).feed(b"".join(out))
        assert frame.payload == b"d" * 40000

    def test_reused_buffer_is_shared_by_writers(self, both):
        """One buffer for all connections (compiled writer): what is kept
        between messages does not grow with the number of clients."""
        compiled, _ = both
        buffers = []
        for _ in range(3):
            writer = compiled.FrameWriter(True)
            writer.reuse_buffers = True
            out: list = []
            writer.write(out, Opcode.BINARY, b"s" * 20000)
            buffers.append(out[0].obj)  # the bytearray, not a view: no export kept
            del out
        assert buffers[1] is buffers[0] and buffers[2] is buffers[0]

    def test_reuse_leaves_small_huge_and_server_frames_alone(self, backend):
        for mask, size in ((True, 8191), (True, 2**20 + 1), (False, 65536)):
            writer = backend.FrameWriter(mask)
            writer.reuse_buffers = True
            out: list = []
            writer.write(out, Opcode.BINARY, b"z" * size)
            assert all(type(chunk) is bytes for chunk in out)

    @given(messages=st.lists(st.tuples(st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
                                       st.one_of(st.text(max_size=50), st.binary(max_size=5000)),
                                       st.booleans()), max_size=10),
           masked=st.booleans(), seed=st.integers(0, 2**32))
    def test_compiled_and_pure_write_identical_chunks(self, both, messages, masked, seed):
        outputs = []
        for kernels in both:
            writer = kernels.FrameWriter(masked, counting_random(seed))
            out: list = []
            for opcode, payload, fin in messages:
                writer.write(out, opcode, payload, fin)
            outputs.append(out)
        assert outputs[0] == outputs[1]
