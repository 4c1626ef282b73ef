"""The speed targets of the project, evaluated from one benchmark run.

A target says: on workload W, contender ``fast`` must be at least ``factor``
times as fast as contender ``slow``, i.e. ``median(slow) / median(fast) >=
factor``. A target is only evaluated when both contenders were measured in
the run (a ``--quick`` or ``--no-peers`` run evaluates fewer).
"""

from __future__ import annotations

from typing import List, NamedTuple

from .workloads import KiB, MiB, JSON_SIZE

__all__ = ["Target", "TARGETS"]


class Target(NamedTuple):
    label: str
    workload: str  # Workload.key: "group/name/size"
    fast: str
    slow: str
    factor: float


CY = "wsfast-cython"
PY = "wsfast-python"


def _mask_vs_pure(size: int, factor: float) -> Target:
    label = f"apply_mask {size // KiB} KiB" if size >= KiB else f"apply_mask {size} B"
    if size >= MiB:
        label = f"apply_mask {size // MiB} MiB"
    return Target(f"{label}: compiled >= {factor:g}x pure", f"mask/apply_mask/{size}", CY, PY,
                  factor)


TARGETS: List[Target] = [
    Target("apply_mask 125 B no slower than a plain copy", "mask/apply_mask/125", CY, "copy", 1.0),
    Target("apply_mask 16 KiB no slower than a plain copy", f"mask/apply_mask/{16 * KiB}", CY,
           "copy", 1.0),
    Target("apply_mask 1 MiB no slower than a plain copy", f"mask/apply_mask/{MiB}", CY, "copy",
           1.0),
    Target("validate_utf8 64 KiB ASCII >= bytes.decode", f"utf8/ascii/{64 * KiB}", CY,
           "bytes.decode", 1.0),
    Target("validate_utf8 64 KiB non-ASCII >= bytes.decode", f"utf8/mixed/{64 * KiB}", CY,
           "bytes.decode", 1.0),
    Target("FrameParser 16 B text frames >= 2x aiohttp reader", "parse/text/16", CY, "aiohttp",
           2.0),
    Target("receive 16 B str >= 12x websockets sans-I/O", "receive/text/16", CY, "websockets",
           12.0),
    Target("receive 16 B str >= 1.5x aiohttp", "receive/text/16", CY, "aiohttp", 1.5),
    Target("receive 64 KiB binary >= aiohttp", f"receive/binary/{64 * KiB}", CY, "aiohttp", 1.0),
    Target("send 16 B text (client) >= 5x websockets", "send/client text/16", CY, "websockets",
           5.0),
    _mask_vs_pure(125, 5.0),
    _mask_vs_pure(16 * KiB, 20.0),
    _mask_vs_pure(64 * KiB, 20.0),
    _mask_vs_pure(MiB, 20.0),
    Target("parse 125 B frames: compiled >= 5x pure", "parse/text/125", CY, PY, 5.0),
    Target("parse 16 KiB frames: compiled >= 20x pure", f"parse/binary/{16 * KiB}", CY, PY, 20.0),
    Target("parse 64 KiB frames: compiled >= 20x pure", f"parse/binary/{64 * KiB}", CY, PY, 20.0),
    Target("pure receive 16 B str no slower than websockets", "receive/text/16", PY, "websockets",
           1.0),
    Target(f"pure receive {JSON_SIZE} B JSON no slower than websockets",
           f"receive/json/{JSON_SIZE}", PY, "websockets", 1.0),
    # Not a target: websockets unmasks with its C extension, pure wsfast with
    # bytes.translate (~1 ns/byte, the fastest pure Python found); shown as a
    # ratio in the receive table only.
    Target("validate_utf8 64 KiB non-ASCII: compiled no slower than pure",
           f"utf8/mixed/{64 * KiB}", CY, PY, 1.0),
]

#: The asyncio loopback echo group (``--echo``): wsfast at least as fast as
#: picows on all three workloads; the ratios to aiohttp and websockets are
#: reported as targets of 1x (implied by the picows ones).
ECHO_WORKLOADS = (("pipelined 32 B text", "echo/pipelined text/32"),
                  ("pipelined 64 KiB binary", f"echo/pipelined binary/{64 * KiB}"),
                  ("round trips 32 B", "echo/round trip/32"))

for _label, _key in ECHO_WORKLOADS:
    TARGETS.append(Target(f"echo {_label} >= picows", _key, CY, "picows", 1.0))
# The same with wsfast's callback API (on_message + send_nowait), the style
# picows itself uses.
for _label, _key in ECHO_WORKLOADS:
    TARGETS.append(Target(f"echo {_label}, callbacks >= picows", _key, "wsfast-cython+cb",
                          "picows", 1.0))
# wsfast's async/await API against picows' own (picows.websockets).
for _label, _key in ECHO_WORKLOADS:
    TARGETS.append(Target(f"echo {_label} >= picows async API", _key, CY, "picows-async", 1.0))
for _peer in ("aiohttp", "websockets"):
    for _label, _key in ECHO_WORKLOADS:
        TARGETS.append(Target(f"echo {_label} >= {_peer}", _key, CY, _peer, 1.0))

#: The compressed echo group (``--echo``): at least websockets' throughput with
#: the same permessage-deflate settings.
TARGETS.append(Target("compressed echo 1 KiB JSON >= websockets (same deflate settings)",
                      "deflate/pipelined JSON/1024", "wsfast-cython+deflate",
                      "websockets+deflate", 1.0))

#: The uvicorn group (``--group uvicorn``, issue 18): the same ASGI echo app
#: under uvicorn, WSFastProtocol against the faster of uvicorn's own two.
for _peer in ("uvicorn+websockets-sansio", "uvicorn+wsproto"):
    TARGETS.append(Target(f"uvicorn pipelined 32 B text: WSFastProtocol >= 1.5x {_peer}",
                          "uvicorn/pipelined text/32", "uvicorn+wsfast", _peer, 1.5))
    TARGETS.append(Target(f"uvicorn pipelined 64 KiB binary: WSFastProtocol >= {_peer}",
                          f"uvicorn/pipelined binary/{64 * KiB}", "uvicorn+wsfast", _peer, 1.0))
