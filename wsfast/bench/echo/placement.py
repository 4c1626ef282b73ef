"""Where and on what the echo benchmark runs: the loopback address and size
limit every server and client uses, the event loop (uvloop or asyncio) and the
CPUs the servers and the client are pinned to (``WSFAST_BENCH_PIN``; the
placements are explained in :mod:`wsfast.bench.echo`)."""

from __future__ import annotations

import asyncio
import os
from typing import FrozenSet, Optional, Tuple

from .. import peers

#: Size limit given to every server and client (above every message sent).
MAX_SIZE = peers.MAX_SIZE

HOST = "127.0.0.1"

#: The CPUs this process could use when it was imported (before any pinning).
_AFFINITY: Optional[FrozenSet[int]] = (frozenset(os.sched_getaffinity(0))
                                  if hasattr(os, "sched_getaffinity") else None)


# -- event loop ---------------------------------------------------------------


def loop_name(requested: Optional[str] = None) -> str:
    """``"uvloop"`` or ``"asyncio"``: *requested*, else ``$WSFAST_BENCH_LOOP``,
    else uvloop when it is installed."""
    name = requested or os.environ.get("WSFAST_BENCH_LOOP") or "auto"
    if name not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"unknown event loop {name!r}: uvloop, asyncio or auto")
    if name == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if name == "uvloop":
            raise
        return "asyncio"
    return "uvloop"


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _loop_label(name: str) -> str:
    if name == "uvloop":
        return f"uvloop {peers.version('uvloop') or ''}".strip()
    return "asyncio"


# -- CPU placement --------------------------------------------------------------


#: Values of WSFAST_BENCH_PIN / --placement (see :mod:`wsfast.bench.echo`).
PLACEMENTS = ("same", "split", "0")


def placement() -> str:
    value = os.environ.get("WSFAST_BENCH_PIN", "same")
    if value not in PLACEMENTS:
        raise ValueError(f"WSFAST_BENCH_PIN must be one of {PLACEMENTS}, not {value!r}")
    return value


def cpu_plan() -> Optional[Tuple[int, int]]:
    """``(client CPU, server CPU)``, or None when not pinning (``0``, no
    ``sched_setaffinity``, or ``split`` with a single CPU)."""
    mode = placement()
    if mode == "0" or not _AFFINITY:
        return None
    cpus = sorted(_AFFINITY)
    if mode == "same":
        return cpus[0], cpus[0]
    if len(cpus) < 2:
        return None
    return cpus[0], cpus[1]


def _placement_label() -> str:
    plan = cpu_plan()
    if plan is None:
        return "not pinned"
    return "both on one CPU" if plan[0] == plan[1] else "one CPU each"


def _pin(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})


def _unpin() -> None:
    if _AFFINITY and hasattr(os, "sched_setaffinity") and os.sched_getaffinity(0) != _AFFINITY:
        os.sched_setaffinity(0, _AFFINITY)
