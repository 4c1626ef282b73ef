"""Run a handler in several processes that share one port (``SO_REUSEPORT``).

Why processes: a WebSocket server's work per message is Python code, so one
process uses one core whatever the number of threads. Why ``SO_REUSEPORT``
rather than a listening socket inherited from the parent: each worker binds
its own socket to the same address, and the kernel spreads new connections
over them by a hash of the client's address -- no thundering herd on one
accept queue, and a worker that dies takes only its own socket (and its own
connections) with it. Linux and the BSDs have it; elsewhere the worker fails
to bind, with the system's error.

The supervisor (:func:`run_workers`, ``python -m wsfast serve
module:handler --workers N``) starts N workers, starts a new one in place of
any that exits (waiting longer, up to 5 s, while they keep dying at once, so
that a handler that cannot even import does not spin a core), and on SIGINT
or SIGTERM forwards SIGTERM once to every worker: each closes its
connections with 1001 (going away) within ``close_timeout``, as ``python -m
wsfast echo`` does, and exits 0. A second signal forwards a second SIGTERM,
which makes the workers abort the connections still closing. Workers run in
their own session, so a Ctrl-C in a terminal reaches the supervisor only and
each worker is told exactly once.

Rooms that span the workers need a broker: see :mod:`wsfast.hub` and its
Redis back-end (each worker is a process of the hub).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, cast

__all__ = ["run_workers", "load_handler"]

logger = logging.getLogger(__name__)

#: How long the supervisor waits for its workers after forwarding a signal,
#: on top of their close_timeout, before it kills them.
SHUTDOWN_GRACE = 5.0


def load_handler(spec: str) -> Any:
    """Import ``"package.module:attribute"`` (attribute may be dotted).

    Raises:
        ValueError: *spec* has no ``:`` or an empty side.
        ImportError, AttributeError: as the import does.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"handler must be 'module:attribute', not {spec!r}")
    target: Any = importlib.import_module(module_name)
    for name in attribute.split("."):
        target = getattr(target, name)
    return target


def run_workers(spec: str, host: str, port: int, *, workers: int, factory: bool = False,
                app_dir: Optional[str] = None, uvloop: bool = False,
                **serve_options: Any) -> int:
    """Serve ``module:handler`` in *workers* processes on *host*:*port*, until
    SIGINT or SIGTERM; returns the exit status (0 after a clean shutdown).

    Args:
        spec: ``"module:attribute"`` naming the handler, importable in a new
            process from *app_dir* (default: the current directory).
        host, port: the shared address; *port* must be fixed (not 0: each
            worker would get a port of its own).
        workers: number of processes.
        factory: *spec* names a function (or coroutine function) called
            with no arguments in each worker, on its running loop, that
            returns the handler -- to open per-process resources such as a
            :class:`wsfast.hub.Hub` -- or a dict of :func:`wsfast.serve`
            keywords with the handler as ``"handler"``, for options that
            cannot travel on a command line (``process_request``...).
        app_dir: directory put first on the workers' import path.
        uvloop: run the workers on uvloop.
        **serve_options: keywords of :func:`wsfast.serve`, JSON-serializable
            (they go to the workers on their command line) -- and
            ``broadcast_policy``, a :class:`~wsfast.fanout.SlowConsumerPolicy`
            whose settings go instead (each worker has one of its own, with
            its own counters); checked here, at the call.

    Raises:
        TypeError: a keyword :func:`wsfast.serve` does not take.
        ValueError: *workers* < 1 or *port* is 0.
    """
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not port:
        raise ValueError("workers need a fixed port (with port 0 each would get its own)")
    from .asyncio import serve

    serve(_unused_handler, host, port, reuse_port=True, **serve_options)  # TypeError now
    options = dict(serve_options)
    policy = options.pop("broadcast_policy", None)
    config = {"spec": spec, "host": host, "port": port, "factory": factory, "uvloop": uvloop,
              "app_dir": os.path.abspath(app_dir or os.getcwd()), "options": options,
              "broadcast_policy": None if policy is None else policy.settings()}
    try:
        argument = json.dumps(config)
    except TypeError as exc:
        raise TypeError(f"serve options must be JSON-serializable for the workers: {exc}") from None
    return _Supervisor(argument, workers, serve_options.get("close_timeout", 10.0)).run()


async def _unused_handler(websocket: Any) -> None:  # pragma: no cover - never called
    pass


class _Supervisor:
    def __init__(self, argument: str, count: int, close_timeout: Optional[float]) -> None:
        self.argument = argument
        self.count = count
        self.close_timeout = close_timeout or 0.0
        self.processes: "Dict[int, subprocess.Popen[bytes]]" = {}   # slot -> process
        self.started: Dict[int, float] = {}
        self.quick_deaths: Dict[int, int] = {}
        self.signals: List[int] = []

    def start(self, slot: int) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "wsfast.workers", self.argument, str(slot)],
            start_new_session=True)  # see the module docstring: signals come from us only
        self.processes[slot] = process
        self.started[slot] = time.monotonic()

    def on_signal(self, signum: int, frame: Any) -> None:
        self.signals.append(signum)
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    def run(self) -> int:
        previous = {signum: signal.signal(signum, self.on_signal)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in range(self.count):
                self.start(slot)
            print(f"wsfast: {self.count} worker(s), pids "
                  f"{', '.join(str(p.pid) for p in self.processes.values())}; Ctrl-C to stop",
                  file=sys.stderr, flush=True)
            restart_at: Dict[int, float] = {}
            while not self.signals:
                now = time.monotonic()
                for slot, process in list(self.processes.items()):
                    if slot in restart_at:
                        if now >= restart_at[slot]:
                            del restart_at[slot]
                            self.start(slot)
                        continue
                    code = process.poll()
                    if code is None or self.signals:
                        continue
                    lived = now - self.started[slot]
                    quick = self.quick_deaths[slot] = (
                        self.quick_deaths.get(slot, 0) + 1 if lived < 1.0 else 0)
                    delay = min(0.1 * 2 ** quick, 5.0) if quick else 0.0
                    print(f"wsfast: worker {slot} (pid {process.pid}) exited with {code}; "
                          f"restarting it" + (f" in {delay:.1f} s" if delay else ""),
                          file=sys.stderr, flush=True)
                    restart_at[slot] = now + delay
                time.sleep(0.05)
            return self.shutdown()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def shutdown(self) -> int:
        deadline = time.monotonic() + self.close_timeout + SHUTDOWN_GRACE
        status = 0
        for slot, process in self.processes.items():
            try:
                code = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"wsfast: worker {slot} (pid {process.pid}) did not stop; killing it",
                      file=sys.stderr, flush=True)
                process.kill()
                code = process.wait()
            if code != 0:
                status = 1
        return status


async def _stop_when_orphaned(serving: "asyncio.Task[Any]") -> None:
    """A worker whose supervisor died without telling it (SIGKILL, a crash)
    shuts down as if told: it runs in a session of its own, so nothing else
    would stop it."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    logger.warning("wsfast worker %d: the supervisor is gone; shutting down", os.getpid())
    serving.cancel()


def _worker(argument: str, slot: int) -> int:
    config = json.loads(argument)
    sys.path.insert(0, config["app_dir"])
    from .__main__ import _stop_on_signals
    from .asyncio import serve

    async def main() -> None:
        target = load_handler(config["spec"])
        handler: Any = target
        options = dict(config["options"])
        if config["broadcast_policy"] is not None:
            from .fanout import SlowConsumerPolicy

            options["broadcast_policy"] = SlowConsumerPolicy(**config["broadcast_policy"])
        if config["factory"]:
            handler = target()
            if inspect.isawaitable(handler):
                handler = await handler
            if isinstance(handler, dict):
                options.update(handler)
                handler = options.pop("handler")
        async with serve(handler, config["host"], config["port"], reuse_port=True,
                         **options) as server:
            _stop_on_signals(server, asyncio.current_task())
            orphaned = asyncio.get_running_loop().create_task(
                # current_task() is this coroutine's task, never None here.
                _stop_when_orphaned(cast("asyncio.Task[Any]", asyncio.current_task())))
            try:
                await server.serve_forever()
            except asyncio.CancelledError:
                pass
            finally:
                orphaned.cancel()

    runner: Callable[[Any], Any] = asyncio.run
    if config["uvloop"]:
        try:
            import uvloop
        except ImportError:
            logger.warning("uvloop is not installed; using asyncio's loop")
        else:
            runner = getattr(uvloop, "run", None) or asyncio.run
            if runner is asyncio.run:
                uvloop.install()
    runner(main())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(_worker(sys.argv[1], int(sys.argv[2])))
