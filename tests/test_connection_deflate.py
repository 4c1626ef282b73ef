"""permessage-deflate through the sans-I/O connection (RFC 7692), both roles,
both back-ends: negotiation, round trips, context takeover, opt-out, bombs."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import need_tracemalloc, open_pair, split, transfer
from wsfast.connection import ClientConnection, ServerConnection, State
from wsfast.deflate import PerMessageDeflate
from wsfast.events import BinaryMessage, TextMessage
from wsfast.frames import Opcode

MASK = b"\x01\x02\x03\x04"

# Every combination of the four parameters, on either side.
FLAGS = list(itertools.product([False, True], [False, True], [None, 9, 15], [None, 8, 12]))


def config(server_nct, client_nct, server_bits, client_bits):
    return PerMessageDeflate(server_no_context_takeover=server_nct,
                             client_no_context_takeover=client_nct,
                             server_max_window_bits=server_bits,
                             client_max_window_bits=client_bits)


def deflate_pair(backend, server_config, client_config, **options):
    return open_pair(backend.name,
                     client_options={"extensions": [client_config], **options},
                     server_options={"extensions": [server_config], **options})


MESSAGES = ["", "a", "hello " * 100, "κόσμε" * 300, bytes(range(256)) * 40, b"\x00" * 100000]


def exchange(sender, receiver, messages, fragmented=False):
    for message in messages:
        send = sender.send_text if isinstance(message, str) else sender.send_binary
        if fragmented and len(message) > 3:
            third = len(message) // 3
            send(message[:third], fin=False)
            sender.send_continuation(message[third:2 * third], fin=False)
            sender.send_continuation(message[2 * third:], fin=True)
        else:
            send(message)
    expected = [TextMessage(m) if isinstance(m, str) else BinaryMessage(m) for m in messages]
    assert transfer(sender, receiver) == expected


class TestNegotiatedRoundTrips:
    @pytest.mark.parametrize("client_flags", FLAGS[::3], ids=str)
    @pytest.mark.parametrize("server_flags", FLAGS[::4], ids=str)
    def test_parameter_combinations(self, backend, server_flags, client_flags):
        client, server = deflate_pair(backend, config(*server_flags), config(*client_flags))
        assert client.compression is not None and server.compression is not None
        for fragmented in (False, True):
            exchange(client, server, MESSAGES, fragmented)
            exchange(server, client, MESSAGES, fragmented)

    def test_compressed_frames_carry_rsv1_on_the_first_frame_only(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate())
        server.send_text("abc" * 100, fin=False)
        server.send_continuation("def" * 100, fin=True)
        data = b"".join(server.data_to_send())
        assert data[0] == 0x41  # RSV1 + TEXT, not FIN
        second = 2 + data[1]  # header and payload of the first frame
        assert data[second] == 0x80  # FIN + CONTINUATION, no RSV1
        client.receive_data(data)
        assert client.events_received() == [TextMessage("abc" * 100 + "def" * 100)]

    def test_context_takeover_makes_repeats_smaller(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate())
        message = "the same sentence, again and again. " * 10
        sizes = []
        for _ in range(2):
            server.send_text(message)
            sizes.append(len(b"".join(server.data_to_send())))
        assert sizes[1] < sizes[0] / 3

    def test_no_context_takeover_keeps_messages_independent(self, backend):
        server_config = PerMessageDeflate(server_no_context_takeover=True)
        client, server = deflate_pair(backend, server_config, PerMessageDeflate())
        message = "the same sentence, again and again. " * 10
        frames = []
        for _ in range(2):
            server.send_text(message)
            frames.append(b"".join(server.data_to_send()))
        assert frames[0] == frames[1]
        # The second frame alone decompresses on a fresh client.
        fresh, _ = deflate_pair(backend, server_config, PerMessageDeflate())
        fresh.receive_data(frames[1])
        assert fresh.events_received() == [TextMessage(message)]

    def test_per_message_opt_out(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate())
        server.send_text("x" * 1000, compress=False)
        data = b"".join(server.data_to_send())
        assert data[0] == 0x81 and len(data) == 4 + 1000  # no RSV1, not compressed
        client.receive_data(data)
        assert client.events_received() == [TextMessage("x" * 1000)]

    def test_threshold_leaves_small_messages_uncompressed(self, backend):
        small = PerMessageDeflate(threshold=100)
        client, server = deflate_pair(backend, small, PerMessageDeflate())
        server.send_binary(b"y" * 99)
        assert b"".join(server.data_to_send())[0] == 0x82
        server.send_binary(b"y" * 100)
        assert b"".join(server.data_to_send())[0] == 0xC2

    def test_control_frames_are_never_compressed(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate())
        server.send_ping(b"p" * 100)
        assert b"".join(server.data_to_send())[0] == 0x89

    @pytest.mark.parametrize("compress_level,mem_level", [(1, 1), (9, 9), (0, 8)])
    def test_compression_and_memory_levels(self, backend, compress_level, mem_level):
        tuned = PerMessageDeflate(compress_level=compress_level, mem_level=mem_level)
        client, server = deflate_pair(backend, tuned, tuned)
        exchange(client, server, MESSAGES)
        exchange(server, client, MESSAGES)

    def test_low_memory_preset(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate.low_memory(),
                                      PerMessageDeflate.low_memory())
        exchange(client, server, MESSAGES, fragmented=True)
        exchange(server, client, MESSAGES)


class TestNegotiationThroughTheHandshake:
    def offer(self, backend, header_value):
        server = ServerConnection(backend=backend.name, extensions=[PerMessageDeflate()])
        server.receive_data(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Extensions: " + header_value + b"\r\n\r\n")
        (request,) = server.events_received()
        response = server.accept(request)
        return response.headers.get("Sec-WebSocket-Extensions"), response.status_code

    @pytest.mark.parametrize("value", [
        b"permessage-deflate; server_max_window_bits=16",
        b"permessage-deflate; server_max_window_bits=08",
        b"permessage-deflate; client_max_window_bits=7",
        b"permessage-deflate; unknown=1",
        b"permessage-deflate; server_no_context_takeover=1",
        b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        b"x-webkit-deflate-frame",
    ])
    def test_unacceptable_offers_are_declined(self, backend, value):
        extensions, status = self.offer(backend, value)
        assert status == 101 and extensions is None

    def test_first_acceptable_offer_wins(self, backend):
        extensions, _ = self.offer(
            backend, b"permessage-deflate; server_max_window_bits=99, "
                     b"permessage-deflate; server_max_window_bits=10, permessage-deflate")
        assert extensions == "permessage-deflate; server_max_window_bits=10"

    def test_valueless_client_max_window_bits(self, backend):
        extensions, _ = self.offer(backend, b"permessage-deflate; client_max_window_bits")
        assert extensions.startswith("permessage-deflate")

    def test_malformed_extension_header_is_a_400(self, backend):
        _, status = self.offer(backend, b"permessage-deflate; =bad")
        assert status == 400

    @pytest.mark.parametrize("value", [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; bogus",
        "permessage-deflate; client_no_context_takeover=x",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate, permessage-deflate",
    ])
    def test_client_fails_on_an_invalid_response(self, backend, value):
        client = ClientConnection("ws://x/", backend=backend.name, extensions=[PerMessageDeflate()])
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = transfer(client, server)
        response = server.accept(request)
        response.headers["Sec-WebSocket-Extensions"] = value
        server.send_response(response)
        transfer(server, client)
        assert client.state is State.CLOSED and client.handshake_error is not None

    def test_client_fails_on_window_bits_larger_than_requested(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name,
                                  extensions=[PerMessageDeflate(server_max_window_bits=10)])
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = transfer(client, server)
        response = server.accept(request)
        response.headers["Sec-WebSocket-Extensions"] = "permessage-deflate; server_max_window_bits=12"
        server.send_response(response)
        transfer(server, client)
        assert client.handshake_error.rule == "bad-deflate-response"


class TestCompressedProtocolErrors:
    def test_rsv1_without_negotiation_is_refused(self, backend):
        _, server = open_pair(backend.name)
        server.receive_data(bytes((0xC1, 0x80)) + MASK)
        assert server.error.rule == "reserved-bits"

    def test_corrupt_compressed_data_fails_with_1002(self, backend):
        _, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate())
        server.receive_data(backend.build_frame(Opcode.TEXT, b"\xff\xff\xff\xff", rsv1=True,
                                                mask=MASK))
        assert (server.error.rule, server.error.close_code) == ("invalid-compressed-data", 1002)

    def test_compressed_invalid_utf8_fails_with_1007(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate())
        client.send_text(b"valid start \xff invalid")
        transfer(client, server)
        assert server.error.close_code == 1007

    def test_decompressed_size_limit(self, backend):
        client, server = deflate_pair(backend, PerMessageDeflate(), PerMessageDeflate(),
                                      max_message_size=10000)
        client.send_binary(b"\x00" * 10000)
        assert transfer(client, server) == [BinaryMessage(b"\x00" * 10000)]
        client.send_binary(b"\x00" * 10001)  # compresses to a few bytes
        assert transfer(client, server) == []
        assert (server.error.rule, server.error.close_code) == ("decompressed-too-big", 1009)


BOMB = textwrap.dedent("""
    import sys, tracemalloc, zlib
    sys.path[:0] = {paths!r}
    sys.setrecursionlimit(10000)
    from helpers import open_pair
    from wsfast.deflate import PerMessageDeflate
    from wsfast.frames import Opcode
    from wsfast import _backend

    backend = _backend.get({backend!r})
    client, server = open_pair({backend!r},
        client_options={{"extensions": [PerMessageDeflate()]}},
        server_options={{"extensions": [PerMessageDeflate()], "max_message_size": 2**20,
                         "max_frame_size": 2**22}})
    # 1 GiB of zeros, compressed (about 1 MB), as frames of one message.
    # Once the window is all zeros, every further MiB compresses to the same
    # bytes: compress three, then repeat the steady one.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\\0" * 2**20
    first, second, third = (compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
                            for _ in range(3))
    assert second == third
    payload = (first + second * 1023)[:-4]
    frames = []
    step = len(payload) // {frames}
    for i in range({frames}):
        chunk = payload[i * step:] if i == {frames} - 1 else payload[i * step:(i + 1) * step]
        opcode = Opcode.BINARY if i == 0 else Opcode.CONTINUATION
        frames.append(backend.build_frame(opcode, chunk, fin=i == {frames} - 1, rsv1=i == 0,
                                          mask=b"abcd"))
    data = b"".join(frames)
    tracemalloc.start()
    for start in range(0, len(data), 65536):
        server.receive_data(data[start:start + 65536])
    peak = tracemalloc.get_traced_memory()[1]
    print(server.error.rule, server.error.close_code, peak, len(data))
""")


@pytest.mark.parametrize("frames", [1, 8])
def test_decompression_bomb_is_refused_with_bounded_memory(backend, frames):
    """1 GiB of zeros (~1 MB compressed) against a 1 MiB limit: refused with
    1009, having allocated little more than the limit (measured in a fresh
    interpreter so that nothing else counts)."""
    need_tracemalloc()  # the fresh interpreter measures with it
    import pathlib

    here = pathlib.Path(__file__).resolve().parent
    code = BOMB.format(paths=[str(here), str(here.parent)], backend=backend.name, frames=frames)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    rule, close_code, peak, sent = result.stdout.split()
    assert (rule, close_code) == ("decompressed-too-big", "1009")
    # The compressed frames are buffered (up to 4 MiB here) plus the 1 MiB
    # limit of output, plus zlib's working memory: nowhere near 1 GiB.
    assert int(peak) < int(sent) + 4 * 2**20, result.stdout


conversation = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300),
              st.sampled_from(["repeat " * 40, b"\x00" * 3000])),
    max_size=8,
)


class TestProperties:
    @given(messages=conversation, cuts=st.lists(st.integers(0, 10**5), max_size=8),
           flips=st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)), max_size=2))
    def test_both_back_ends_agree_on_compressed_streams(self, both, messages, cuts, flips):
        sender, _ = deflate_pair(both[1], PerMessageDeflate(), PerMessageDeflate())
        for message in messages:
            (sender.send_text if isinstance(message, str) else sender.send_binary)(message)
        data = bytearray(b"".join(sender.data_to_send()))
        for position, value in flips:
            if data:
                data[position % len(data)] = value
        results = []
        for kernels in both:
            _, server = deflate_pair(kernels, PerMessageDeflate(), PerMessageDeflate(),
                                     max_message_size=5000)
            events = []
            for chunk in split(bytes(data), cuts):
                server.receive_data(chunk)
                events += server.events_received()
            error = server.error and (server.error.rule, server.error.close_code)
            results.append((events, error, b"".join(server.data_to_send())))
        assert results[0] == results[1]
