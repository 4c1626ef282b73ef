"""The reader stops a chunk after INFLATE_YIELD decompressed bytes.

64 KiB of compressed messages can inflate to 64 MiB. The reader therefore
hands over at most INFLATE_YIELD bytes of decompressed messages (plus the one
message that crossed it) per call, keeps the unparsed rest of the chunk
(``reader.pending``) and goes on with ``feed(b"")``. The sans-I/O connection
drains at once (``receive_data`` still returns everything its data
completes); the asyncio layer goes on only while its queue has room, so a
full queue stops inflation too (tests/test_bug_classes.py,
``TestParsingAfterReadingWasPaused``, holds the queue bound).

Every test runs on both back-ends; the differential test holds the twins to
the same events *per call*, not only in total.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wsfast
from helpers import open_pair, run, split
from wsfast.defaults import INFLATE_YIELD
from wsfast.deflate import PerMessageDeflate
from wsfast.events import BinaryMessage, CloseReceived, Ping, TextMessage

KiB = 1024
MiB = 1024 * KiB
KEY = b"\x9a\xf3\x5c\x81"


def deflated(data: bytes) -> bytes:
    """One permessage-deflate message payload (no context takeover needed:
    a fresh compressor per message, which any inflater accepts)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def frame(opcode: int, payload: bytes, *, rsv1: bool = False, fin: bool = True) -> bytes:
    """A masked client-to-server frame, built here (not by wsfast)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    stream = (KEY * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(n, "big")
    return head + KEY + masked


def compressed(data: bytes, opcode: int = 2) -> bytes:
    return frame(opcode, deflated(data), rsv1=True)


def server(backend: str, **options: Any) -> Any:
    """A server connection with permessage-deflate negotiated: the victim."""
    options.setdefault("extensions", [PerMessageDeflate()])
    _, victim = open_pair(backend, client_options=dict(extensions=[PerMessageDeflate()]),
                          server_options=options)
    return victim


def payload_of(i: int, size: int) -> bytes:
    return i.to_bytes(4, "big") * (size // 4)


def sizes_of(events: List[Any]) -> List[int]:
    return [len(e.data) for e in events if isinstance(e, (BinaryMessage, TextMessage))]


class TestReader:
    """The core's feed() (one reader call) against the connection's
    receive_data() (every call its data needs)."""

    @pytest.fixture(autouse=True)
    def _backend(self, backend: Any) -> None:
        self.backend = backend.name

    def test_a_call_stops_after_the_message_that_crosses_the_mark(self):
        victim = server(self.backend)
        size = INFLATE_YIELD + 1  # each message alone crosses it
        chunk = b"".join(compressed(payload_of(i, size)) for i in range(5))
        core = victim.core
        calls = []
        events = core.feed(chunk)
        while True:
            calls.append(sizes_of(events))
            if not core.reader.pending:
                break
            # What is left is exactly the frames not parsed yet.
            assert core.reader.pending < len(chunk)
            events = core.feed(b"")
        assert calls == [[size - size % 4]] * 5
        assert core.reader.pending == 0

    def test_small_messages_are_cut_into_calls_of_the_mark(self):
        victim = server(self.backend)
        size = 1000
        count = 3 * INFLATE_YIELD // size + 7
        chunk = b"".join(compressed(payload_of(i, size)) for i in range(count))
        core = victim.core
        per_call = [len(core.feed(chunk))]
        while core.reader.pending:
            per_call.append(len(core.feed(b"")))
        whole = -(-INFLATE_YIELD // size)  # messages until the mark is reached
        assert per_call == [whole] * (count // whole) + ([count % whole] if count % whole else [])

    def test_uncompressed_messages_never_stop_a_call(self):
        victim = server(self.backend)
        chunk = b"".join(frame(2, payload_of(i, 10 * KiB)) for i in range(40))
        events = victim.core.feed(chunk)
        assert len(events) == 40 and victim.core.reader.pending == 0

    def test_receive_data_still_returns_everything(self):
        victim = server(self.backend)
        size = 200 * KiB
        chunk = b"".join(compressed(payload_of(i, size)) for i in range(6))
        chunk += frame(0x9, b"ping") + frame(0x8, (1000).to_bytes(2, "big") + b"bye")
        victim.receive_data(chunk)
        events = victim.events_received()
        assert [e.data[:4] for e in events[:6]] == [i.to_bytes(4, "big") for i in range(6)]
        assert isinstance(events[6], Ping) and events[6].data == b"ping"
        assert isinstance(events[7], CloseReceived) and events[7].code == 1000
        assert victim.core.reader is None or victim.core.reader.pending == 0

    def test_data_received_while_input_is_held_comes_after_it(self):
        victim = server(self.backend)
        size = INFLATE_YIELD
        first = b"".join(compressed(payload_of(i, size)) for i in range(3))
        second = b"".join(compressed(payload_of(i, size)) for i in range(3, 5))
        core = victim.core
        got = sizes_of(core.feed(first))
        assert core.reader.pending
        # A transport that delivers after pause_reading (the bug class of
        # test_bug_classes): appended behind what is held, order kept.
        events = core.feed(second)
        while core.reader.pending:
            events += core.feed(b"")
        got_all = [e.data[:4] for e in events]
        assert len(got) == 1
        assert got_all == [i.to_bytes(4, "big") for i in range(1, 5)]

    def test_an_error_in_held_input_comes_after_the_messages_before_it(self):
        victim = server(self.backend)
        chunk = b"".join(compressed(payload_of(i, INFLATE_YIELD)) for i in range(3))
        chunk += frame(0x3, b"")  # reserved opcode: 1002
        core = victim.core
        reader = core.reader
        events = core.feed(chunk)
        while reader.pending:
            events += core.feed(b"")
        assert len(sizes_of(events)) == 3
        assert reader.error is not None and reader.error.close_code == 1002
        assert reader.pending == 0

    def test_a_close_frame_in_held_input_stops_the_reader(self):
        victim = server(self.backend)
        chunk = b"".join(compressed(payload_of(i, INFLATE_YIELD)) for i in range(2))
        chunk += frame(0x8, (1001).to_bytes(2, "big")) + frame(2, b"after the close")
        core = victim.core
        reader = core.reader
        events = core.feed(chunk)
        while reader.pending:
            events += core.feed(b"")
        assert len(sizes_of(events)) == 2
        assert isinstance(events[-1], CloseReceived) and events[-1].code == 1001
        assert reader.stopped and reader.pending == 0


messages = st.lists(
    st.tuples(st.booleans(), st.sampled_from([0, 10, 5000, INFLATE_YIELD - 1, INFLATE_YIELD,
                                              3 * INFLATE_YIELD])),
    min_size=1, max_size=12)


@given(messages=messages, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_both_back_ends_stop_at_the_same_places(both, messages, cuts):
    """Per call, the compiled and the pure reader hand over the same events
    and keep the same number of bytes, whatever the chunking."""
    wire = b"".join(compressed(payload_of(i, size)) if packed else frame(2, payload_of(i, size))
                    for i, (packed, size) in enumerate(messages))
    outcomes: List[List[Tuple[List[bytes], int]]] = []
    for backend in both:
        core = server(backend.name, max_message_size=None).core
        calls = []
        for chunk in split(wire, cuts):
            events = core.feed(chunk)
            calls.append(([e.data for e in events], core.reader.pending))
            while core.reader.pending:
                events = core.feed(b"")
                calls.append(([e.data for e in events], core.reader.pending))
        outcomes.append(calls)
    assert outcomes[0] == outcomes[1]
    delivered = [d for events, _ in outcomes[0] for d in events]
    assert delivered == [payload_of(i, size) for i, (_, size) in enumerate(messages)]


@pytest.mark.parametrize("on_message", [False, True])
def test_asyncio_delivers_held_messages_in_order_then_the_close(backend, on_message):
    """A peer sends 40 compressed 256 KiB messages and its close frame in one
    burst to a receiver with max_queue=1: every message arrives, in order,
    and then the closing handshake completes with the peer's code."""
    count, size = 40, 256 * KiB

    async def main():
        received: List[bytes] = []
        done = asyncio.get_running_loop().create_future()

        async def handler(websocket):
            if on_message:
                websocket.on_message = received.append
                await websocket.wait_closed()
            else:
                async for message in websocket:
                    received.append(message)
                    await asyncio.sleep(0)  # a slow consumer: the queue fills
            done.set_result(websocket.close_code)

        options = dict(backend=backend.name, compression="deflate", ping_interval=None, close_timeout=5)
        async with wsfast.serve(handler, "127.0.0.1", 0, max_queue=1, **options) as srv:
            port = srv.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", **options) as client:
                for i in range(count):
                    client.send_nowait(payload_of(i, size))
                await client.close(1001, "done")
            code = await asyncio.wait_for(done, 10)
        assert [m[:4] for m in received] == [i.to_bytes(4, "big") for i in range(count)]
        assert all(len(m) == size for m in received)
        assert code == 1001

    run(main())
