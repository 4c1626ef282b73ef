"""No leaks: memory is flat however many messages go through a connection.

A leak in a codec shows only with numbers: one object kept per message is
16 MB after a million messages and nothing after a thousand. So each test
warms up (every cache, free list and buffer reaches its steady size), then
sends many messages of every kind and checks that the memory traced by
tracemalloc (Python objects, what a forgotten reference keeps) and the
resident set (also C allocations, what a missing free() keeps) end where they
started. The compiled back-end runs a million messages; the pure one, ten
times slower, a tenth of that -- still megabytes for one leaked object per
message. The resident-set bound is there for the compiled back-end's own C
allocations (checked: a 40-byte malloc kept per binary message grows it by
23 MiB over the million); the pure back-end has none of its own.

The reference-count tests check the compiled back-end's bookkeeping directly:
a payload delivered to the application is referenced by the application
only, and a payload given to send is let go once its frame was taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import platform
import sys
import weakref
try:
    import tracemalloc
except ImportError:  # PyPy: the tests that measure with it skip (helpers.need_tracemalloc)
    tracemalloc = None  # type: ignore[assignment]
from typing import Any, Callable, Iterator, Tuple

import pytest

import wsfast
from helpers import need_tracemalloc, open_pair, run
from wsfast.deflate import PerMessageDeflate
from wsfast.events import BinaryMessage, Ping, Pong, TextMessage

KiB = 1024
MiB = 1024 * KiB

#: Every test here bounds the resident set too.
pytestmark = pytest.mark.memory_bound

#: Most traced bytes a run may end above its warmed-up start: allocator and
#: interpreter noise, far below one object per thousand messages.
TRACED_SLACK = 64 * KiB
#: Most the resident set may grow over a run (the heap's own noise); a
#: 32-byte C allocation kept per message is over 32 MB over a million.
RSS_SLACK = 8 * MiB


def resident() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KiB
    raise RuntimeError("no VmRSS in /proc/self/status")


@contextlib.contextmanager
def traced() -> Iterator[None]:
    gc.collect()
    need_tracemalloc()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def growth(run_batches: Callable[[int], None], warmup: int, batches: int) -> Tuple[int, int]:
    """(traced growth, resident growth) of run_batches(batches) after
    run_batches(warmup); tracemalloc must be on."""
    run_batches(warmup)
    gc.collect()
    traced_before, rss_before = tracemalloc.get_traced_memory()[0], resident()
    run_batches(batches)
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - traced_before, resident() - rss_before


def check_flat(traced_growth: int, rss_growth: int, messages: int) -> None:
    assert traced_growth < TRACED_SLACK, (
        f"{traced_growth} traced bytes kept over {messages} messages")
    assert rss_growth < RSS_SLACK, f"RSS grew {rss_growth / MiB:.1f} MiB over {messages} messages"


# -- (a) the sans-I/O connection --------------------------------------------------


BATCH = 1000
LARGE = 70 * KiB  # above the compiled reader's KEEP_BUFFER: freed after each message


def sans_io_batches(client: Any, server: Any) -> Callable[[int], None]:
    """A function that runs n batches: BATCH small messages client -> server
    (text and binary; every batch also a fragmented message, a ping and a
    large message), fed whole or cut at odd places, and a reply per ten."""
    texts = [f"message {i} κόσμε" for i in range(BATCH)]
    binaries = [b"binary %d" % i for i in range(BATCH)]
    large = bytes(range(256)) * (LARGE // 256)

    def batches(n: int) -> None:
        for b in range(n):
            for i in range(BATCH):
                if i & 1:
                    client.send_text(texts[i])
                else:
                    client.send_binary(binaries[i])
            client.send_text("frag", fin=False)
            client.send_continuation("ment", fin=False)
            client.send_continuation(b"ed", fin=True)
            client.send_ping(b"%d" % b)
            client.send_binary(large)
            data = b"".join(client.data_to_send())
            if b & 1:  # the state machine's path: frames across reads
                for start in range(0, len(data), 4093):
                    server.receive_data(data[start:start + 4093])
            else:
                server.receive_data(data)
            events = server.events_received()
            assert len(events) == BATCH + 3, (len(events), server.error)
            for i in range(0, BATCH, 10):
                server.send_text(texts[i])
            for chunk in server.data_to_send():
                client.receive_data(chunk)
            replies = client.events_received()
            assert len(replies) == BATCH // 10 + 1  # and the pong
            del events, replies

    return batches


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])
def test_sans_io_memory_is_flat_over_many_messages(backend, compressed):
    """A million messages through a client/server pair on the compiled
    back-end, 100 000 on the pure one; with deflate, 50 000 and 10 000."""
    if backend.name == "cython":
        messages = 50_000 if compressed else 1_000_000
    else:
        messages = 10_000 if compressed else 100_000
    options = {"extensions": [PerMessageDeflate()]} if compressed else {}
    client, server = open_pair(backend.name, client_options=options, server_options=options)
    assert (client.compression is not None) is compressed
    batches = sans_io_batches(client, server)
    with traced():
        traced_growth, rss_growth = growth(batches, warmup=10, batches=messages // BATCH)
    check_flat(traced_growth, rss_growth, messages)


# -- (b) asyncio over loopback -----------------------------------------------------


async def echo(websocket: Any) -> None:
    async for message in websocket:
        await websocket.send(message)


def test_asyncio_memory_is_flat_over_many_messages(backend):
    """100 000 messages echoed over loopback (the pure back-end 25 000), both
    ends in this process: the server's and the client's memory together."""
    messages = 100_000 if backend.name == "cython" else 25_000
    batch = 500
    payloads = [f"text {i}" if i & 1 else b"binary %d" % i for i in range(batch)]

    async def main() -> Tuple[int, int]:
        options = dict(backend=backend.name, compression=None, ping_interval=None)
        async with wsfast.serve(echo, "127.0.0.1", 0, **options) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", max_queue=None,
                                      **options) as websocket:
                async def round_trips(n: int) -> None:
                    for _ in range(n):
                        for payload in payloads:
                            websocket.send_nowait(payload)
                        for payload in payloads:
                            assert await websocket.recv() == payload

                await round_trips(20)
                gc.collect()
                before = tracemalloc.get_traced_memory()[0], resident()
                await round_trips(messages // batch)
                gc.collect()
                after = tracemalloc.get_traced_memory()[0], resident()
                return after[0] - before[0], after[1] - before[1]

    with traced():
        traced_growth, rss_growth = run(main(), timeout=120)
    check_flat(traced_growth, rss_growth, messages)


# -- (c) reference counts ----------------------------------------------------------


#: The reference-count tests need sys.getrefcount, which only CPython has.
needs_refcounts = pytest.mark.skipif(
    not hasattr(sys, "getrefcount"),
    reason="PyPy has no reference counts (no sys.getrefcount); there "
           "test_delivered_events_are_collected_once_dropped checks with weak references")


def fresh_refcount() -> int:
    """What sys.getrefcount says of an object held by one local variable."""
    probe = bytes(bytearray(b"fresh object"))
    return sys.getrefcount(probe)


SIZES = [2, 125, 126, 4096, 65535, 65536, LARGE, 2 * MiB]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["text", "text_as_bytes", "binary"])
@pytest.mark.parametrize("how", ["whole", "split", "fragmented", "deflate"])
@needs_refcounts
def test_delivered_payload_has_no_extra_reference(backend, kind, how, size):
    options = {"max_message_size": None, "text_as_bytes": kind == "text_as_bytes"}
    if how == "deflate":
        options["extensions"] = [PerMessageDeflate()]
    client, server = open_pair(backend.name, server_options=options,
                               client_options={"extensions": options.get("extensions", [])})
    payload = os.urandom(size // 2 + 1).hex()[:size]
    data = payload if kind == "text" else payload.encode()
    send = client.send_binary if kind == "binary" else client.send_text
    if how == "fragmented":
        send(data[:size // 2], fin=False)
        client.send_continuation(data[size // 2:], fin=True)
    else:
        send(data)
    wire = b"".join(client.data_to_send())
    if how == "split":
        events = server.receive(wire[:len(wire) // 2]) + server.receive(wire[len(wire) // 2:])
    else:
        events = server.receive(wire)
    (event,) = events
    del events
    assert type(event) is (BinaryMessage if kind == "binary" else TextMessage)
    assert sys.getrefcount(event) == fresh_refcount()
    received = event.data
    del event
    assert received == (payload.encode() if kind != "text" else payload)
    assert type(received) is (str if kind == "text" else bytes)
    assert sys.getrefcount(received) == fresh_refcount(), "the codec kept a reference"
    # The next message does not free it behind our back either.
    client.send_binary(b"next")
    server.receive(b"".join(client.data_to_send()))
    assert sys.getrefcount(received) == fresh_refcount()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "deflate"])
@needs_refcounts
def test_sent_payload_is_not_retained_after_data_to_send(backend, role, compressed, size):
    options = {"extensions": [PerMessageDeflate()]} if compressed else {}
    client, server = open_pair(backend.name, client_options=options, server_options=options)
    sender = client if role == "client" else server
    as_bytes = os.urandom(size)
    as_str = os.urandom(size // 2 + 1).hex()[:size]
    as_bytearray = bytearray(os.urandom(size))
    sender.send_binary(as_bytes)
    sender.send_text(as_str)
    sender.send_binary(as_bytearray)
    sender.send_text(as_bytes, fin=False)  # a fragmented send holds nothing either
    sender.send_continuation(as_bytearray, fin=True)
    output = sender.data_to_send()
    assert output
    del output
    assert sys.getrefcount(as_bytes) == fresh_refcount()
    assert sys.getrefcount(as_str) == fresh_refcount()
    assert sys.getrefcount(as_bytearray) == fresh_refcount()
    as_bytearray.extend(b"!")  # BufferError if a view of it were still exported


@needs_refcounts
def test_control_payloads_have_no_extra_reference(backend):
    client, server = open_pair(backend.name, server_options={"auto_pong": False})
    ping_payload = os.urandom(100)
    client.send_ping(ping_payload)
    (ping,) = server.receive(b"".join(client.data_to_send()))
    assert type(ping) is Ping
    server.send_pong(ping.data)
    (pong,) = client.receive(b"".join(server.data_to_send()))
    assert type(pong) is Pong and pong.data == ping_payload
    received = ping.data
    del ping, pong
    client.send_binary(b"next")  # the reader lets go of the last control events
    server.receive(b"".join(client.data_to_send()))
    assert sys.getrefcount(received) == fresh_refcount()
    assert sys.getrefcount(ping_payload) == fresh_refcount()


@pytest.mark.skipif(platform.python_implementation() != "PyPy",
                    reason="CPython: events take no weak references (__slots__); the "
                           "reference-count tests above check them there")
@pytest.mark.parametrize("how", ["whole", "split", "fragmented", "deflate"])
def test_delivered_events_are_collected_once_dropped(backend, how):
    """PyPy's form of the reference-count tests: once the application drops
    the events, the codec holds none of them (a weak reference to each is
    dead after a collection), whatever the path a message took."""
    options = {"extensions": [PerMessageDeflate()]} if how == "deflate" else {}
    client, server = open_pair(backend.name, server_options={"auto_pong": False, **options},
                               client_options=options)
    payload = os.urandom(70_000).hex()
    if how == "fragmented":
        client.send_text(payload[:1000], fin=False)
        client.send_continuation(payload[1000:], fin=True)
    else:
        client.send_text(payload)
    client.send_binary(payload.encode())
    client.send_ping(b"ping")
    wire = b"".join(client.data_to_send())
    if how == "split":
        events = server.receive(wire[:len(wire) // 2]) + server.receive(wire[len(wire) // 2:])
    else:
        events = server.receive(wire)
    assert [type(event) for event in events] == [TextMessage, BinaryMessage, Ping]
    assert events[0].data == payload and events[1].data == payload.encode()
    refs = [weakref.ref(event) for event in events]
    del events
    client.send_binary(b"next")  # the reader lets go of the last events
    server.receive(b"".join(client.data_to_send()))
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None], "the codec kept an event"
