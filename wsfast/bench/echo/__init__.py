"""The ``echo`` group: asyncio loopback echo, each library against itself.

Run with ``python -m wsfast bench --echo`` (or ``--group echo``), with
``python -m wsfast.bench.echo [--quick] [--loop asyncio] [--json PATH]``, or
through ``benchmarks/test_echo.py``.

Method:

* **Two processes.** Every contender runs its *own* echo server in a child
  process and its *own* client in the benchmark process (on a 2-core machine:
  one core each). Servers are started together when the group starts, listen
  on a free port chosen by the kernel (port 0) and report it on stdout; they
  live in their own process group and exit when their stdin closes (so they
  die with the benchmark even if it is killed); :func:`stop_all` kills what is
  left, and is registered with ``atexit``.
* **Equal settings.** Compression off, no keepalive pings, size limits of
  16 MiB, each library's other defaults (queue sizes, write limits). The same
  event loop everywhere, server and client: uvloop when installed, else
  asyncio; ``--loop asyncio`` (or ``WSFAST_BENCH_LOOP=asyncio``) forces
  asyncio.
* **Placement** (``WSFAST_BENCH_PIN``, or ``--placement``). ``same``, the
  default: the servers and the client are pinned to one CPU, so that a round
  trip costs the CPU time of both sides and two context switches -- what a
  library controls -- and the figures do not depend on where the scheduler
  puts the processes (the figures the issue quotes for picows and plain TCP
  were measured like this). ``split``: servers on one CPU, the client on
  another (needs two CPUs); a round trip then also pays two cross-CPU
  wake-ups, which cost more than a whole small-message round trip on one CPU
  and swing 2x between runs on a shared machine, so it tests throughput with
  both sides running in parallel rather than per-message cost. ``0``: no
  pinning (the scheduler's choice, bimodal). Every client gets ``str`` messages for text and ``bytes`` for
  binary and hands back the same types (picows, whose API takes bytes, encodes
  the ``str`` it is given and decodes echoes with
  ``get_payload_as_utf8_text``).
* **Each library's own API.** wsfast and websockets: ``serve`` / ``connect``,
  ``send`` / ``recv``; aiohttp: a ``web.WebSocketResponse`` handler and
  ``ClientSession.ws_connect``, ``send_str`` / ``send_bytes`` / ``receive``;
  picows: ``ws_create_server`` / ``ws_connect`` with ``WSListener`` callbacks
  (its server echoes each frame's payload without decoding it: picows does not
  validate UTF-8, the three others do); ``picows-async``: picows' own
  async/await API (``picows.websockets``: websockets' API on picows' core),
  with the same handler and client code as wsfast and websockets -- the
  like-for-like peer of wsfast's ``recv``/``send``; ``tcp``: a plain ``asyncio.Protocol``
  echo, no WebSocket at all, the floor of the callback APIs; ``tcp-async``:
  plain TCP behind ``await send`` / ``await recv`` on both sides (a future per
  wait, no WebSocket): on round trips, where every message is a wait and a
  task switch, the floor of an async/await API before it parses a single
  frame; pipelined, its per-message ``recv`` is plain Python and no floor.
* **Workloads.** *pipelined*: the client keeps at most ``window`` messages
  outstanding, sending ``window / 2`` at a time whenever at most half the
  window is outstanding (for the async APIs a sender task and the receiving
  loop; for the callback APIs the receive callback sends), and counts the
  echoes: messages/s, and MB/s of payload one way for 64 KiB. *round trip*:
  send one 32-byte message, wait for its echo, repeat (async APIs: ``await
  send`` then ``await recv``; callback APIs: the receive callback sends the
  next one).
* **Correctness.** Before timing, and again on the timed connection after
  timing, a full exchange is compared message by message (type and payload);
  every timed run checks the count of echoes and the last one.
* **Timing** as every group (:mod:`wsfast.bench.runner`): calibration (also
  the warm-up), then interleaved round-robin rounds, medians; echo rounds last
  at least 150 ms (50 ms with ``--quick``).

Modules: :mod:`.placement` (loopback address, size limit, event loop, CPU
pinning), :mod:`.servers` (the echo servers and the server process's main),
:mod:`.process` (starting and stopping server processes, the servers of one
build), :mod:`.clients` (the clients, in the benchmark process),
:mod:`.workloads` (contenders, payloads, checks, the ``echo`` and ``deflate``
groups and :func:`register`, which :mod:`wsfast.bench.runner` calls),
``__main__`` (the command line). Nothing here imports the runner, except
``__main__`` when it runs it.
"""

from __future__ import annotations

from .placement import loop_name
from .process import stop_all
from .workloads import DEFLATE_LIBRARIES, LIBRARIES, describe, register

__all__ = ["LIBRARIES", "DEFLATE_LIBRARIES", "loop_name", "describe", "register", "stop_all"]
