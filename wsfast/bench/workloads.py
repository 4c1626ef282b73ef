"""Every benchmark case, defined once for ``python -m wsfast bench`` and the
pytest-benchmark suite in ``benchmarks/``.

Vocabulary:

* a :class:`Workload` is one thing to measure (group, name, payload size),
  with the :class:`Contender` s that do it: ``wsfast-cython``,
  ``wsfast-python``, a baseline (plain copy, ``bytes.decode``) and the peers;
* a contender's ``make()`` builds a :class:`Bench`: ``run(loops)`` performs
  ``loops * workload.units`` operations (timed), ``check()`` raises
  :class:`CheckFailed` when the contender does not produce what it should (it
  is called before any timing: a benchmark of a broken path is worse than
  none), ``close()`` releases what ``make()`` set up;
* a group is a list of workloads built by a function registered with
  :func:`register_group`; :func:`build` selects groups and options.

Streams (parse, receive) are the wire bytes of many frames, masked with
varying keys as a client sends them, cut in 64 KiB chunks as a socket read
delivers them (frames straddle chunk boundaries); one pass feeds them all, and
the time is reported per frame / message. The frames are encoded here by an
independent few-line encoder, not by the code under test.

The inner loops call the measured function directly (no wrapper per call), so
a per-call figure includes one Python-level call, exactly what a user pays.
"""

from __future__ import annotations

import functools
import random
import struct
from itertools import repeat
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import _backend
from . import peers

__all__ = [
    "KiB",
    "MiB",
    "LADDER",
    "CHUNK",
    "CheckFailed",
    "Bench",
    "Contender",
    "Workload",
    "Group",
    "GROUPS",
    "register_group",
    "build",
    "size_label",
]

KiB = 1024
MiB = 1024 * KiB

#: The size ladder: payload lengths on the RFC 6455 §5.2 length-encoding
#: boundaries (125: largest 7-bit length, 126: smallest 16-bit, 65535 / 65536:
#: the 16-/64-bit edge) plus typical sizes. Each group takes a subset.
LADDER = (0, 2, 16, 125, 126, KiB, 16 * KiB, 65535, 65536, MiB)

#: Read size used to cut streams: what one socket read typically delivers.
CHUNK = 64 * KiB

#: Masking key of the kernel benchmarks (every byte distinct and >= 0x20).
MASK = b"\x37\xfa\x21\x3d"

Runner = Callable[[int], None]


class CheckFailed(AssertionError):
    """A contender produced the wrong result: it must not be timed."""


class Bench:
    """A contender ready to run.

    ``run(loops)`` is timed; ``check()`` runs before timing (on fresh state);
    ``recheck()`` runs after timing, on the state that was timed (stateful
    readers: proves the timed instance was still producing messages);
    ``close()`` releases resources.
    """

    __slots__ = ("run", "_check", "_recheck", "_close")

    def __init__(self, run: Runner, check: Optional[Callable[[], None]] = None,
                 close: Optional[Callable[[], None]] = None,
                 recheck: Optional[Callable[[], None]] = None) -> None:
        self.run = run
        self._check = check
        self._recheck = recheck
        self._close = close

    def check(self) -> None:
        if self._check is not None:
            self._check()

    def recheck(self) -> None:
        if self._recheck is not None:
            self._recheck()

    def close(self) -> None:
        if self._close is not None:
            self._close()


class Contender:
    """One library (or baseline) doing one workload.

    Args:
        name: ``wsfast-cython``, ``wsfast-python``, a baseline name or a peer
            name (possibly with a variant, ``aiohttp (in place)``).
        make: builds the :class:`Bench`; called just before the measurement.
        kind: ``"wsfast"``, ``"baseline"`` or ``"peer"``.
        unavailable: why it cannot run here (peer not installed...), or None.
    """

    __slots__ = ("name", "make", "kind", "unavailable")

    def __init__(self, name: str, make: Optional[Callable[[], Bench]], kind: str = "wsfast",
                 unavailable: Optional[str] = None) -> None:
        self.name = name
        self.make = make
        self.kind = kind
        self.unavailable = unavailable if make is not None else (unavailable or "unavailable")

    def __repr__(self) -> str:
        return f"Contender({self.name!r})"


class Workload:
    """One measured operation at one size, with its contenders.

    Args:
        group: group name (``mask``, ``utf8``...).
        name: what is measured inside the group (``apply_mask``, ``ascii``...).
        size: payload bytes per operation (for throughput), or None.
        contenders: in table order.
        baseline: name of the contender the group compares against.
        unit: what one operation is (``call``, ``frame``, ``message``).
        units: operations per loop of ``Bench.run`` (frames per stream pass).
        batch: loops per call in the pytest-benchmark suite.
        label: size label; default from ``size``.
        min_round: shortest timed round in seconds (the runner's round target
            is raised to it: network round trips need longer rounds).
    """

    def __init__(self, group: str, name: str, size: Optional[int], contenders: List[Contender],
                 *, baseline: str, unit: str = "call", units: int = 1, batch: int = 1,
                 label: Optional[str] = None, min_round: float = 0.0) -> None:
        self.group = group
        self.name = name
        self.size = size
        self.contenders = contenders
        self.baseline = baseline
        self.unit = unit
        self.units = units
        self.batch = batch
        self.label = label if label is not None else size_label(size)
        self.min_round = min_round

    @property
    def key(self) -> str:
        """``group/name/size``: how targets and JSON refer to it."""
        return f"{self.group}/{self.name}/{self.size}"

    @property
    def id(self) -> str:
        """Short id without spaces, for pytest."""
        return f"{self.group}-{self.name}-{self.label}".replace(" ", "")

    def __repr__(self) -> str:
        return f"Workload({self.key!r})"


def size_label(size: Optional[int]) -> str:
    if size is None:
        return "-"
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MiB"
    if size >= KiB and size % KiB == 0:
        return f"{size // KiB} KiB"
    return f"{size} B"


# -- the group registry -------------------------------------------------------


class Options:
    """What :func:`build` was asked for."""

    __slots__ = ("quick", "peers")

    def __init__(self, quick: bool = False, peers: bool = True) -> None:
        self.quick = quick
        self.peers = peers


class Group:
    __slots__ = ("name", "title", "build", "default")

    def __init__(self, name: str, title: str, build: Callable[[Options], List[Workload]],
                 default: bool) -> None:
        self.name = name
        self.title = title
        self.build = build
        self.default = default


#: Registered groups in table order. The asyncio ``echo`` group (and
#: ``deflate``) is registered by :func:`wsfast.bench.echo.register`, which
#: :mod:`wsfast.bench.runner` calls (``default=False``: ``python -m wsfast
#: bench --echo`` or ``--group echo`` selects it); its ``Bench.run(loops)``
#: drives an event loop and ``close()`` stops its servers.
GROUPS: Dict[str, Group] = {}


def register_group(name: str, title: str, build: Callable[[Options], List[Workload]],
                   *, default: bool = True) -> None:
    """Add a group; ``build(options)`` returns its workloads. Groups with
    ``default=False`` run only when asked for by name."""
    GROUPS[name] = Group(name, title, build, default)


def build(groups: Optional[Sequence[str]] = None, *, quick: bool = False,
          peers: bool = True) -> List[Workload]:
    """The workloads of *groups* (default: every default group), in order.

    Contenders that cannot run here stay in the list with ``unavailable``
    set (the CLI hides them, pytest skips them); with ``peers=False`` peer
    contenders are left out altogether.

    Raises:
        KeyError: an unknown group name.
    """
    names = [g.name for g in GROUPS.values() if g.default] if groups is None else list(groups)
    options = Options(quick=quick, peers=peers)
    result: List[Workload] = []
    for name in names:
        for workload in GROUPS[name].build(options):
            if not peers:
                workload.contenders = [c for c in workload.contenders if c.kind != "peer"]
            result.append(workload)
    return result


# -- data ---------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).getrandbits(8 * size).to_bytes(size, "little") if size else b""


def ascii_text(size: int) -> bytes:
    """*size* bytes of JSON-like ASCII text."""
    unit = b'{"id":12345,"name":"wsfast","tags":["fast","safe"],"ok":true} '
    return (unit * (size // len(unit) + 1))[:size]


#: Greek, CJK and emoji: 2-, 3- and 4-byte sequences with some ASCII between.
MIXED_UNIT = "Καλημέρα κόσμε, 你好，世界！ 😀🚀 γειά σου, 日本語のテキスト 👋🏽 "


@functools.lru_cache(maxsize=None)
def mixed_text(size: int) -> bytes:
    """*size* bytes of valid UTF-8, mostly non-ASCII, cut on a code point
    boundary and padded with spaces to the exact size."""
    unit = MIXED_UNIT.encode("utf-8")
    data = (unit * (size // len(unit) + 1))[:size]
    while data:
        try:
            data.decode("utf-8")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return data + b" " * (size - len(data))


def xor_mask(data: bytes, key: bytes) -> bytes:
    """Reference masking (RFC 6455 §5.3), independent of the code measured."""
    n = len(data)
    if not n:
        return b""
    keystream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(keystream, "little")).to_bytes(
        n, "little")


def encode_frame(opcode: int, payload: bytes, key: Optional[bytes]) -> bytes:
    """One unfragmented frame, independent of the code measured."""
    n = len(payload)
    first = bytes([0x80 | opcode])
    bit = 0x80 if key is not None else 0
    if n < 126:
        header = first + bytes([bit | n])
    elif n < 65536:
        header = first + bytes([bit | 126]) + struct.pack("!H", n)
    else:
        header = first + bytes([bit | 127]) + struct.pack("!Q", n)
    if key is None:
        return header + payload
    return header + key + xor_mask(payload, key)


def decode_frames(data: bytes) -> List[Tuple[int, bool, bytes]]:
    """``[(opcode, masked, payload)]`` of a byte string of whole frames (checks)."""
    frames = []
    pos = 0
    while pos < len(data):
        opcode = data[pos] & 0x0F
        masked = bool(data[pos + 1] & 0x80)
        n = data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        key = None
        if masked:
            key = data[pos:pos + 4]
            pos += 4
        payload = data[pos:pos + n]
        if len(payload) != n:
            raise CheckFailed("truncated frame in the output")
        pos += n
        frames.append((opcode, masked, xor_mask(payload, key) if key is not None else payload))
    return frames


class Stream:
    """Masked client frames of one kind, cut in :data:`CHUNK` pieces.

    ``messages`` holds what a reader must produce: ``(is_text, payload bytes)``.
    """

    def __init__(self, kind: str, size: int, count: int) -> None:
        rng = random.Random(size * 1000 + count)
        self.kind = kind
        self.size = size
        if kind == "text":
            payloads = [_counter_text(i, size) for i in range(count)]
        elif kind == "json":
            payloads = [_json_text(i) for i in range(count)]
        else:
            pool = random_bytes(size + count, seed=7)
            payloads = [pool[i:i + size] for i in range(count)]
        is_text = kind != "binary"
        opcode = 1 if is_text else 2
        wire = b"".join(
            encode_frame(opcode, p, rng.getrandbits(32).to_bytes(4, "little")) for p in payloads
        )
        self.messages = [(is_text, p) for p in payloads]
        self.count = count
        self.wire_size = len(wire)
        self.chunks = [wire[i:i + CHUNK] for i in range(0, len(wire), CHUNK)]


def _counter_text(i: int, size: int) -> bytes:
    """ASCII text of exactly *size* bytes that differs from message to message."""
    tag = b"msg %d " % i
    return (tag + b"x" * size)[:size]


#: ~75-byte JSON messages, as a trading or chat feed sends them.
JSON_TEMPLATE = '{"op":"tick","seq":%08d,"sym":"EURUSD","bid":1.08423,"ask":1.0843,"q":5}'
JSON_SIZE = len(JSON_TEMPLATE % 0)


def _json_text(i: int) -> bytes:
    return (JSON_TEMPLATE % i).encode()


@functools.lru_cache(maxsize=8)
def stream(kind: str, size: int, count: int) -> Stream:
    return Stream(kind, size, count)


def check_messages(got: Sequence[Tuple[bool, Any]], expected: Sequence[Tuple[bool, bytes]],
                   *, as_str: Optional[bool]) -> None:
    """Raise CheckFailed unless *got* matches *expected*: the count, every
    message's kind, and the payload of the first, middle and last message.

    ``as_str``: True requires text as ``str``; False requires ``bytes``
    everywhere; None accepts either for text (frame parsers may decode).
    """
    if len(got) != len(expected):
        raise CheckFailed(f"{len(got)} messages instead of {len(expected)}")
    for i, ((is_text, _), (want_text, _)) in enumerate(zip(got, expected)):
        if bool(is_text) != want_text:
            raise CheckFailed(f"message {i}: wrong type")
    for i in sorted({0, len(expected) // 2, len(expected) - 1}):
        is_text, data = got[i]
        want = expected[i][1]
        if is_text and isinstance(data, str):
            if as_str is False:
                raise CheckFailed(f"message {i}: str where bytes were expected")
            data = data.encode("utf-8")
        elif is_text and as_str:
            raise CheckFailed(f"message {i}: {type(data).__name__} where str was expected")
        if bytes(data) != want:
            raise CheckFailed(f"message {i}: wrong payload {bytes(data)[:40]!r}...")


# -- helpers for contenders ---------------------------------------------------


def _backend_contender(name: str, make: Callable[[_backend.Backend], Bench],
                       suffix: str = "") -> Contender:
    """``wsfast-<name><suffix>``; unavailable when that back-end cannot be imported."""
    label = f"wsfast-{name}{suffix}"
    try:
        kernels = _backend.get(name)
    except ImportError as exc:
        return Contender(label, None, unavailable=f"cannot import the {name} back-end: {exc}")
    return Contender(label, lambda: make(kernels))


def _peer_contender(name: str, factory: Optional[Any], make: Callable[[Any], Bench]) -> Contender:
    if factory is None:
        status = peers.status().get(name.split()[0], "unavailable")
        return Contender(name, None, kind="peer", unavailable=status)
    return Contender(name, lambda: make(factory), kind="peer")


def _loop2(fn: Callable[[Any, Any], Any], a: Any, b: Any) -> Runner:
    def run(loops: int) -> None:
        for _ in repeat(None, loops):
            fn(a, b)
    return run


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# -- mask ---------------------------------------------------------------------


def _mask_workloads(options: Options) -> List[Workload]:
    sizes = (16, 125, 16 * KiB, MiB) if options.quick else (
        2, 16, 125, KiB, 16 * KiB, 64 * KiB, MiB)
    workloads = []
    for size in sizes:
        data = random_bytes(size)
        expected = xor_mask(data, MASK)

        def kernel(k: _backend.Backend, data: bytes = data, expected: bytes = expected) -> Bench:
            fn = k.apply_mask

            def check() -> None:
                _expect(fn(data, MASK) == expected, "wrong output")
                _expect(fn(memoryview(data)[::-1], MASK) == xor_mask(data[::-1], MASK),
                        "wrong output on a non-contiguous view")
            return Bench(_loop2(fn, data, MASK), check)

        def inplace(k: _backend.Backend, data: bytes = data, expected: bytes = expected) -> Bench:
            fn = k.apply_mask_inplace
            buf = bytearray(data)

            def check() -> None:
                copy = bytearray(data)
                fn(copy, MASK)
                _expect(copy == expected, "wrong output")
            return Bench(_loop2(fn, buf, MASK), check)

        def copy(data: bytes = data) -> Bench:
            source = bytearray(data)

            def run(loops: int) -> None:
                for _ in repeat(None, loops):
                    bytes(source)
            return Bench(run)

        def websockets_make(fn: Any, data: bytes = data, expected: bytes = expected) -> Bench:
            return Bench(_loop2(fn, data, MASK),
                         lambda: _expect(fn(data, MASK) == expected, "wrong output"))

        def aiohttp_inplace(fn: Any, data: bytes = data, expected: bytes = expected) -> Bench:
            buf = bytearray(data)

            def check() -> None:
                copy = bytearray(data)
                fn(MASK, copy)
                _expect(copy == expected, "wrong output")
            return Bench(_loop2(fn, MASK, buf), check)

        def aiohttp_copy(fn: Any, data: bytes = data, expected: bytes = expected) -> Bench:
            # The apply_mask contract: a new object from immutable input.
            def run(loops: int) -> None:
                for _ in repeat(None, loops):
                    fn(MASK, bytearray(data))

            def check() -> None:
                copy = bytearray(data)
                fn(MASK, copy)
                _expect(copy == expected, "wrong output")
            return Bench(run, check)

        def wsaccel_make(masker: Any, data: bytes = data, expected: bytes = expected) -> Bench:
            # A masker carries the key phase: one per frame, as its users do.
            def run(loops: int) -> None:
                for _ in repeat(None, loops):
                    masker(MASK).process(data)
            return Bench(run, lambda: _expect(
                masker(MASK).process(data) == expected, "wrong output"))

        contenders = [
            _backend_contender("cython", kernel),
            _backend_contender("python", kernel),
            Contender("copy", copy, kind="baseline"),
            _backend_contender("cython", inplace, suffix=" (in place)"),
            _peer_contender("websockets", peers.websockets_apply_mask(), websockets_make),
            _peer_contender("aiohttp (in place)", peers.aiohttp_mask_inplace(), aiohttp_inplace),
            _peer_contender("aiohttp (copy+in place)", peers.aiohttp_mask_inplace(), aiohttp_copy),
            _peer_contender("wsaccel", peers.wsaccel_masker(), wsaccel_make),
        ]
        workloads.append(Workload(
            "mask", "apply_mask", size, contenders, baseline="copy",
            batch=max(1, min(1000, (256 * KiB) // size)),
        ))
    return workloads


# -- utf8 ---------------------------------------------------------------------


#: Invalid inputs every validator must refuse (surrogate, overlong, truncated,
#: beyond U+10FFFF).
INVALID_UTF8 = (b"ab\xed\xa0\x80", b"\xc0\xaf", b"abc\xe2\x82", b"\xf4\x90\x80\x80")


def _utf8_workloads(options: Options) -> List[Workload]:
    sizes = (125, 64 * KiB) if options.quick else (16, 125, KiB, 64 * KiB, MiB)
    workloads = []
    for kind in ("ascii", "mixed"):
        for size in sizes:
            data = ascii_text(size) if kind == "ascii" else mixed_text(size)
            assert len(data) == size

            def kernel(k: _backend.Backend, data: bytes = data) -> Bench:
                fn = k.validate_utf8

                def run(loops: int) -> None:
                    for _ in repeat(None, loops):
                        fn(data)

                def check() -> None:
                    _expect(fn(data) is True, "valid text refused")
                    for bad in INVALID_UTF8:
                        _expect(fn(data + bad) is False, f"accepted invalid {bad!r}")
                return Bench(run, check)

            def decode(data: bytes = data) -> Bench:
                def run(loops: int) -> None:
                    for _ in repeat(None, loops):
                        data.decode()
                return Bench(run)

            def wsaccel_make(validator_type: Any, data: bytes = data) -> Bench:
                validator = validator_type()
                reset = validator.reset
                validate = validator.validate

                def run(loops: int) -> None:
                    for _ in repeat(None, loops):
                        reset()
                        validate(data)

                def check() -> None:
                    reset()
                    valid, ends_on_code_point = validate(data)[:2]
                    _expect(valid and ends_on_code_point, "valid text refused")
                    for bad in INVALID_UTF8:
                        reset()
                        valid, ends_on_code_point = validate(data + bad)[:2]
                        _expect(not (valid and ends_on_code_point), f"accepted invalid {bad!r}")
                return Bench(run, check)

            contenders = [
                _backend_contender("cython", kernel),
                _backend_contender("python", kernel),
                Contender("bytes.decode", decode, kind="baseline"),
                _peer_contender("wsaccel", peers.wsaccel_utf8_validator(), wsaccel_make),
            ]
            workloads.append(Workload(
                "utf8", kind, size, contenders, baseline="bytes.decode",
                batch=max(1, min(1000, (256 * KiB) // size)),
            ))
    return workloads


# -- parse and receive: stream workloads --------------------------------------


#: (kind, payload size, frames per pass) of the parse group; a pass is
#: about 128 KiB or more of wire bytes, so frames straddle chunk boundaries.
PARSE_STREAMS = (("text", 16, 6000), ("text", 125, 1000), ("text", 126, 1000),
                 ("binary", 16 * KiB, 16), ("binary", 65535, 16), ("binary", 64 * KiB, 16))
PARSE_QUICK = (("text", 16, 6000), ("text", 125, 1000), ("binary", 64 * KiB, 16))

RECEIVE_STREAMS = (("text", 16, 6000), ("json", JSON_SIZE, 1600), ("binary", 64 * KiB, 16))


def _peer_stream(name: str, factory: Optional[Callable[[Sequence[bytes]], Any]], s: Stream,
                 as_str: Optional[bool]) -> Contender:
    def make(factory: Callable[[Sequence[bytes]], Any]) -> Bench:
        def check() -> None:
            reader = factory(s.chunks)
            for _ in range(2):  # passes follow each other on one reader
                check_messages(reader.collect(), s.messages, as_str=as_str)
        timed = factory(s.chunks)
        return Bench(timed.run, check, recheck=lambda: check_messages(
            timed.collect(), s.messages, as_str=as_str))
    return _peer_contender(name, factory, make)


def _parse_workloads(options: Options) -> List[Workload]:
    workloads = []
    for kind, size, count in (PARSE_QUICK if options.quick else PARSE_STREAMS):
        s = stream(kind, size, count)

        def parser(k: _backend.Backend, s: Stream = s) -> Bench:
            def new() -> Any:
                return k.FrameParser(mask_required=True, max_frame_size=peers.MAX_SIZE)
            chunks = s.chunks
            timed = new()
            feed = timed.feed

            def run(loops: int) -> None:
                for _ in repeat(None, loops):
                    for chunk in chunks:
                        feed(chunk)

            def collect(p: Any) -> None:
                got = [(int(f.opcode) == 1, f.payload) for c in chunks for f in p.feed(c)]
                check_messages(got, s.messages, as_str=False)

            def check() -> None:
                p = new()
                collect(p)
                collect(p)
            return Bench(run, check, recheck=lambda: collect(timed))

        contenders = [
            _backend_contender("cython", parser),
            _backend_contender("python", parser),
            _peer_stream("aiohttp", peers.aiohttp_reader(decode_text=False), s, as_str=False),
            _peer_stream("websockets", peers.websockets_reader(decode_text=False), s,
                         as_str=False),
            _peer_stream("wsproto", peers.wsproto_frame_reader(), s, as_str=None),
        ]
        workloads.append(Workload(
            "parse", kind, size, contenders, baseline="wsfast-python", unit="frame",
            units=count, batch=1,
        ))
    return workloads


def _receive_workloads(options: Options) -> List[Workload]:
    from ..connection import ServerConnection

    workloads = []
    for kind, size, count in RECEIVE_STREAMS:
        s = stream(kind, size, count)

        def connection(k: _backend.Backend, s: Stream = s) -> Bench:
            def new() -> Any:
                conn = ServerConnection(backend=k.name, max_message_size=peers.MAX_SIZE)
                # Private: skip the HTTP handshake and start reading frames the
                # way a 101 response does; what is timed is the OPEN state.
                conn._open(b"")
                return conn
            conn = new()
            receive = conn.receive_data
            events = conn.events_received
            chunks = s.chunks

            def run(loops: int) -> None:
                for _ in repeat(None, loops):
                    for chunk in chunks:
                        receive(chunk)
                        events()

            def collect(c: Any) -> None:
                got = []
                for chunk in chunks:
                    c.receive_data(chunk)
                    for event in c.events_received():
                        got.append((type(event).__name__ == "TextMessage", event.data))
                _expect(c.error is None, f"connection failed: {c.error}")
                check_messages(got, s.messages, as_str=True)

            def check() -> None:
                c = new()
                collect(c)
                collect(c)
            return Bench(run, check, recheck=lambda: collect(conn))

        contenders = [
            _backend_contender("cython", connection),
            _backend_contender("python", connection),
            _peer_stream("aiohttp", peers.aiohttp_reader(decode_text=True), s, as_str=True),
            _peer_stream("websockets", peers.websockets_reader(decode_text=True), s, as_str=True),
            _peer_stream("wsproto", peers.wsproto_reader(), s, as_str=True),
        ]
        workloads.append(Workload(
            "receive", kind, size, contenders, baseline="wsfast-python", unit="message",
            units=count, batch=1,
        ))
    return workloads


# -- send ---------------------------------------------------------------------


#: (name, client side?, text?, payload size)
SEND_CASES = (("client text", True, True, 16), ("server binary", False, False, 16),
              ("server binary", False, False, 64 * KiB))


def _check_sent(output: bytes, masked: bool, opcode: int, payload: bytes) -> None:
    frames = decode_frames(output)
    _expect(len(frames) == 1, f"{len(frames)} frames written instead of 1")
    got_opcode, got_masked, got_payload = frames[0]
    _expect(got_opcode == opcode, f"opcode {got_opcode} instead of {opcode}")
    _expect(got_masked == masked, "masked" if got_masked else "not masked")
    _expect(got_payload == payload, "wrong payload")


def _send_workloads(options: Options) -> List[Workload]:
    from ..connection import ClientConnection, ServerConnection

    workloads = []
    for name, is_client, is_text, size in SEND_CASES:
        raw = _counter_text(1, size) if is_text else random_bytes(size, seed=3)
        payload: Any = raw.decode() if is_text else raw
        opcode = 1 if is_text else 2

        def connection(k: _backend.Backend, is_client: bool = is_client, is_text: bool = is_text,
                       payload: Any = payload, raw: bytes = raw, opcode: int = opcode) -> Bench:
            def new() -> Any:
                if is_client:
                    conn: Any = ClientConnection("ws://localhost/", backend=k.name)
                else:
                    conn = ServerConnection(backend=k.name)
                conn._open(b"")  # private: skip the handshake (see receive)
                return conn
            conn = new()
            send = conn.send_text if is_text else conn.send_binary
            data_to_send = conn.data_to_send

            def run(loops: int) -> None:
                for _ in repeat(None, loops):
                    send(payload)
                    data_to_send()

            def check() -> None:
                c = new()
                (c.send_text if is_text else c.send_binary)(payload)
                _check_sent(b"".join(c.data_to_send()), is_client, opcode, raw)
            return Bench(run, check)

        def peer(sender: Callable[..., Any], is_client: bool = is_client, is_text: bool = is_text,
                 payload: Any = payload, raw: bytes = raw, opcode: int = opcode) -> Bench:
            run, _ = sender(is_client, is_text, payload)
            _, output = sender(is_client, is_text, payload)
            return Bench(run, lambda: _check_sent(output(), is_client, opcode, raw))

        ws_available = peers.websockets_sender if peers.websockets_reader(False) else None
        wsproto_available = peers.wsproto_sender if peers.wsproto_reader() else None
        contenders = [
            _backend_contender("cython", connection),
            _backend_contender("python", connection),
            _peer_contender("websockets", ws_available, peer),
            _peer_contender("wsproto", wsproto_available, peer),
        ]
        workloads.append(Workload(
            "send", name, size, contenders, baseline="wsfast-python", unit="message",
            batch=1000 if size < KiB else 100,
        ))
    return workloads


register_group("mask", "apply_mask(data, mask) -> bytes, per call", _mask_workloads)
register_group("utf8", "validate_utf8(data) -> bool, per call", _utf8_workloads)
register_group("parse", "frame parsing: masked client frames fed in 64 KiB chunks, per frame",
               _parse_workloads)
register_group("receive", "server receive_data + events_received: whole messages (text as "
               "str), 64 KiB chunks, per message", _receive_workloads)
register_group("send", "send_text / send_binary + data_to_send, per message", _send_workloads)
