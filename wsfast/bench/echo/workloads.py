"""The ``echo`` and ``deflate`` groups: their contenders and settings, the
payloads and checks, one :class:`~wsfast.bench.workloads.Bench` per
(workload, contender) driving a client against its server, and
:func:`register`, which adds both groups to the benchmark registry."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Optional, Sequence

from .. import peers
from ..workloads import (Bench, CheckFailed, Contender, KiB, Options, Workload, register_group)
from .clients import CLIENTS
from .placement import _loop_label, _placement_label, cpu_plan, loop_name, new_loop, placement
from .process import START_TIMEOUT, _Session

#: Contenders, in table order; ``tcp`` and ``tcp-async`` are floors.
LIBRARIES = ("wsfast-cython", "wsfast-cython+cb", "wsfast-python", "picows", "picows-async",
             "aiohttp", "websockets", "tcp", "tcp-async")

#: Contenders of the ``deflate`` group: permessage-deflate on both sides with
#: websockets' default settings (12-bit windows, memory level 5, context
#: takeover), which wsfast's ``compression="deflate"`` also uses.
DEFLATE_LIBRARIES = ("wsfast-cython+deflate", "wsfast-python+deflate", "websockets+deflate")

#: (name, size, window) of the compressed workload: varied JSON-like text.
DEFLATE_WORKLOAD = ("pipelined JSON", 1024, 100)

#: (name, payload size, text?, window, messages per loop) of the workloads.
#: Windows: 1000 small messages (32 KB in flight), 16 large ones (1 MiB).
PIPELINED = (("pipelined text", 32, True, 1000), ("pipelined binary", 64 * KiB, False, 16))
ROUND_TRIP = ("round trip", 32, 50)  # name, size, round trips per loop

#: Minimum duration of one timed round (seconds), full and --quick.
ROUND_S, QUICK_ROUND_S = 0.15, 0.05

#: How long one timed run may take before it is declared hung.
RUN_TIMEOUT = 120.0


def describe(name: Optional[str] = None) -> Dict[str, Any]:
    """What the echo group runs on (for the report and the JSON)."""
    name = loop_name(name)
    plan = cpu_plan()
    return {"loop": name, "loop_version": peers.version("uvloop") if name == "uvloop" else None,
            "placement": placement(),
            "cpus": (f"client on CPU {plan[0]}, servers on CPU {plan[1]}" if plan
                     else "not pinned"),
            "round_s": ROUND_S, "quick_round_s": QUICK_ROUND_S,
            "pipelined_windows": {n: w for n, _, _, w in PIPELINED},
            "picows_transport": "aiofastnet" if peers.version("aiofastnet") else "asyncio"}


# -- payloads -------------------------------------------------------------------


def _text_payloads(count: int, size: int) -> List[str]:
    """*count* distinct ASCII ``str`` of *size* characters (bytes)."""
    return [(f"echo {i:06d} " + "x" * size)[:size] for i in range(count)]


def _binary_payloads(count: int, size: int) -> List[bytes]:
    from ..workloads import random_bytes

    pool = random_bytes(size + count, seed=11)
    return [pool[i:i + size] for i in range(count)]


def _check_echoes(got: Sequence[Any], sent: Sequence[Any], n: int) -> None:
    if len(got) != n:
        raise CheckFailed(f"{len(got)} echoes instead of {n}")
    count = len(sent)
    for i, message in enumerate(got):
        want = sent[i % count]
        if type(message) is not type(want):
            raise CheckFailed(f"echo {i}: {type(message).__name__} instead of "
                              f"{type(want).__name__}")
        if message != want:
            raise CheckFailed(f"echo {i}: wrong payload {message[:40]!r}...")


def _check_last(last: Any, sent: Sequence[Any], n: int) -> None:
    want = sent[(n - 1) % len(sent)]
    if type(last) is not type(want) or last != want:
        raise CheckFailed(f"last echo of {n}: {last!r:.60} instead of {want!r:.60}")


# -- contenders ---------------------------------------------------------------------


def _unavailable(library: str) -> Optional[str]:
    """Why *library* cannot take part here, or None."""
    library = library.split("+")[0]
    if library in ("wsfast-cython", "wsfast-python"):
        from ... import _backend

        try:
            _backend.get(library.split("-")[1])
        except ImportError as exc:
            return f"cannot import the {library.split('-')[1]} back-end: {exc}"
        return None
    if library in ("tcp", "tcp-async"):
        return None
    module = {"websockets": "websockets.asyncio.client", "aiohttp": "aiohttp",
              "picows": "picows", "picows-async": "picows.websockets"}[library]
    try:
        __import__(module)
    except ImportError as exc:
        distribution = library.split("-")[0]
        return f"not installed ({exc})" if peers.version(distribution) is None else f"{exc}"
    return None


def _make_bench(session: _Session, library: str,
                job: Callable[[Any, int, Optional[List[Any]]], Any],
                units: int, check_n: int, check: Callable[[List[Any], int], None],
                last_check: Callable[[Any, int], None]) -> Bench:
    """Open *library*'s client on its own event loop, connected to its server.

    ``job(client, n, collect)`` is the coroutine of one run of *n* operations.
    """
    port = session.acquire(library)
    backend = library.split("+")[0].split("-")[1] if library.startswith("wsfast-") else ""
    try:
        loop = new_loop(session.loop)
    except BaseException:
        session.release(library)
        raise
    try:
        client = CLIENTS[library]()
        loop.run_until_complete(asyncio.wait_for(client.open(port, backend), START_TIMEOUT))
    except BaseException:
        loop.close()
        session.release(library)
        raise

    def run_once(n: int, collect: Optional[List[Any]]) -> Any:
        return loop.run_until_complete(asyncio.wait_for(job(client, n, collect), RUN_TIMEOUT))

    def run(loops: int) -> None:
        n = loops * units
        last_check(run_once(n, None), n)

    def full_check() -> None:
        got: List[Any] = []
        run_once(check_n, got)
        check(got, check_n)

    closed = False

    def close() -> None:
        nonlocal closed
        if closed:
            return
        closed = True
        try:
            loop.run_until_complete(asyncio.wait_for(client.close(), 10))
        except Exception:  # noqa: BLE001 - the server is stopped anyway
            pass
        finally:
            loop.close()
            session.release(library)

    return Bench(run, full_check, close, recheck=full_check)


def _workloads(options: Options) -> List[Workload]:
    loop = loop_name()
    session = _Session(loop)
    libraries = [lib for lib in LIBRARIES if not (options.quick and lib == "wsfast-python")]
    if not options.peers:
        libraries = [lib for lib in libraries if lib.startswith(("wsfast-", "tcp"))]
    reasons = {lib: _unavailable(lib) for lib in libraries}
    round_s = QUICK_ROUND_S if options.quick else ROUND_S
    workloads = []

    def contenders(make_for: Callable[[str], Callable[[], Bench]]) -> List[Contender]:
        result = []
        for lib in libraries:
            kind = ("wsfast" if lib.startswith("wsfast-") else
                    "baseline" if lib.startswith("tcp") else "peer")
            if reasons[lib] is None:
                session.expect(lib)
                result.append(Contender(lib, make_for(lib), kind=kind))
            else:
                result.append(Contender(lib, None, kind=kind, unavailable=reasons[lib]))
        return result

    for name, size, text, window in PIPELINED:
        half = window // 2
        payloads = _text_payloads(window, size) if text else _binary_payloads(window, size)

        def job(client: Any, n: int, collect: Optional[List[Any]], text: bool = text,
                payloads: Sequence[Any] = payloads, window: int = window) -> Any:
            return client.pipelined(text, payloads, n, window, collect)

        def make_for(lib: str, job: Any = job, half: int = half, window: int = window,
                     payloads: Sequence[Any] = payloads) -> Callable[[], Bench]:
            return lambda: _make_bench(
                session, lib, job, half, 2 * window,
                lambda got, n: _check_echoes(got, payloads, n),
                lambda last, n: _check_last(last, payloads, n))

        workloads.append(Workload("echo", name, size, contenders(make_for), baseline="picows",
                                  unit="message", units=half,
                                  batch=max(1, (512 * KiB if text else 16 * 1024 * KiB)
                                            // (size * half)),
                                  min_round=round_s))

    name, size, per_loop = ROUND_TRIP
    payloads = _text_payloads(1000, size)

    def rt_job(client: Any, n: int, collect: Optional[List[Any]]) -> Any:
        return client.round_trips(payloads, n, collect)

    def rt_make_for(lib: str) -> Callable[[], Bench]:
        return lambda: _make_bench(
            session, lib, rt_job, per_loop, 200,
            lambda got, n: _check_echoes(got, payloads, n),
            lambda last, n: _check_last(last, payloads, n))

    workloads.append(Workload("echo", name, size, contenders(rt_make_for), baseline="picows",
                              unit="round trip", units=per_loop, batch=20,
                              min_round=round_s))
    from ..workloads import GROUPS

    GROUPS["echo"].title = (
        f"asyncio loopback echo, server and client in separate processes "
        f"({_placement_label()}), event loop "
        f"{_loop_label(loop)}; compression off, no pings; time/base = vs picows; "
        f"tcp = plain TCP echo (floor), tcp-async = plain TCP with await send/recv")
    return workloads


def _json_payloads(count: int, size: int) -> List[str]:
    """Varied, compressible JSON-like text messages of *size* bytes."""
    out = []
    for i in range(count):
        record = (f'{{"id": {i}, "event": "trade", "symbol": "SYM{i % 37}", '
                  f'"price": {100 + (i * 7919) % 1000 / 100:.2f}, "size": {(i * 31) % 500}}}, ')
        out.append((record * (size // len(record) + 1))[:size])
    return out


def _deflate_workloads(options: Options) -> List[Workload]:
    loop = loop_name()
    session = _Session(loop)
    libraries = [lib for lib in DEFLATE_LIBRARIES
                 if not (options.quick and lib.startswith("wsfast-python"))]
    if not options.peers:
        libraries = [lib for lib in libraries if lib.startswith("wsfast-")]
    reasons = {lib: _unavailable(lib) for lib in libraries}
    name, size, window = DEFLATE_WORKLOAD
    half = window // 2
    payloads = _json_payloads(window, size)

    def job(client: Any, n: int, collect: Optional[List[Any]]) -> Any:
        return client.pipelined(True, payloads, n, window, collect)

    contenders = []
    for lib in libraries:
        kind = "wsfast" if lib.startswith("wsfast-") else "peer"
        if reasons[lib] is None:
            session.expect(lib)
            make = (lambda lib=lib: _make_bench(
                session, lib, job, half, 2 * window,
                lambda got, n: _check_echoes(got, payloads, n),
                lambda last, n: _check_last(last, payloads, n)))
            contenders.append(Contender(lib, make, kind=kind))
        else:
            contenders.append(Contender(lib, None, kind=kind, unavailable=reasons[lib]))
    from ..workloads import GROUPS

    GROUPS["deflate"].title = (
        f"compressed asyncio loopback echo, permessage-deflate on both sides with websockets' "
        f"defaults (12-bit windows, memLevel 5, context takeover), event loop "
        f"{_loop_label(loop)}; time/base = vs websockets")
    return [Workload("deflate", name, size, contenders, baseline="websockets+deflate",
                     unit="message", units=half, batch=4,
                     min_round=QUICK_ROUND_S if options.quick else ROUND_S)]


def register() -> None:
    """Add the ``echo`` and ``deflate`` groups to the registry of
    :mod:`wsfast.bench.workloads` (``default=False``: they run when named, or
    with ``--echo``). :mod:`wsfast.bench.runner` calls this."""
    register_group("echo", "asyncio loopback echo (server and client in separate processes)",
                   _workloads, default=False)
    register_group("deflate", "compressed asyncio loopback echo against websockets",
                   _deflate_workloads, default=False)
