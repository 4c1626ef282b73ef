"""Timing, statistics and reports for ``python -m wsfast bench``.

Method (also printed in the report header):

* Every contender is checked first (:meth:`Bench.check`); one that fails is
  reported as BROKEN and not timed.
* Calibration: the number of loops is chosen so that one round takes about
  ``target`` seconds (20 ms by default; a contender whose single loop is
  longer runs one loop per round). Calibration doubles as warm-up.
* Rounds: all contenders of one workload run interleaved, round-robin, in the
  same process, the starting contender rotating from round to round, so that
  a burst of machine noise hits all of them alike.
* Statistic: the **median** time per operation over the rounds; the minimum
  and the interquartile range relative to the median (a noise indicator) are
  reported beside it.
* Garbage collector: left **enabled** while timing — allocation-heavy paths
  (event objects, ``str``) pay their generation-0 collections as they would
  in production — with ``gc.collect()`` before every round so that no round
  inherits another's garbage. The heap that exists before the first round
  (imported modules, test data) is frozen with ``gc.freeze()`` so that those
  collections, and automatic full ones, cost the same whichever peers happen
  to be imported.
* Ratios are of medians: ``time/base`` is a contender's median divided by the
  group baseline's (lower is faster), ``time/cython`` divided by
  wsfast-cython's; a target compares two contenders of the same workload.
"""

from __future__ import annotations

import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Any, Dict, IO, List, Optional, Sequence

from .. import _backend
from . import asgi as _asgi
from . import echo as _echo
from . import fanout as _fanout
from . import hub as _hub
from . import peers as _peers
from . import sync as _sync
from .targets import TARGETS, Target
from .workloads import GROUPS, Bench, Workload

__all__ = ["Measurement", "CaseResult", "measure", "report", "metadata", "run_cli"]

_echo.register()  # the "echo" and "deflate" groups (workloads.py registers its own)
_sync.register()  # the "sync" group (threading clients)
_asgi.register()  # the "uvicorn" group
_fanout.register()  # the "fanout" group: broadcast to N connections
_hub.register()  # the "hub" group: publish -> delivered through Redis

CYTHON = "wsfast-cython"

#: Run-to-run variation seen on a shared machine even when the rounds of one
#: run agree closely: a verdict closer than this to its threshold may flip.
NOISE_FLOOR = 0.05


class Measurement:
    """The result of one contender on one workload."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        self.status = "ok"  # "ok", "broken" (check failed), "error" (raised)
        self.error: Optional[str] = None
        self.loops = 0
        self.times: List[float] = []  # seconds per operation, one per round

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def minimum(self) -> float:
        return min(self.times)

    @property
    def iqr_rel(self) -> float:
        """Interquartile range of the rounds divided by the median."""
        if len(self.times) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4, method="inclusive")
        return (q3 - q1) / self.median


class CaseResult:
    def __init__(self, workload: Workload, measurements: List[Measurement]) -> None:
        self.workload = workload
        self.measurements = measurements

    def get(self, name: str) -> Optional[Measurement]:
        for m in self.measurements:
            if m.name == name and m.ok:
                return m
        return None


# -- timing -------------------------------------------------------------------


def _time(run: Any, loops: int) -> float:
    start = time.perf_counter()
    run(loops)
    return time.perf_counter() - start


def _calibrate(run: Any, target: float) -> int:
    """Loops for one round of about *target* seconds."""
    loops = 1
    elapsed = _time(run, loops)
    for _ in range(20):
        if elapsed >= target / 2:
            break
        if elapsed <= 0:
            loops *= 10
        else:
            loops = max(loops * 2, min(loops * 100, int(loops * target / elapsed)))
        elapsed = _time(run, loops)
    return max(1, int(round(loops * target / elapsed))) if elapsed > 0 else loops


def measure(workloads: Sequence[Workload], *, rounds: int = 7, target: float = 0.02,
            progress: Optional[IO[str]] = None) -> List[CaseResult]:
    """Check, calibrate and time every available contender of every workload."""
    results = []
    tty = progress is not None and progress.isatty()
    total = len(workloads)
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    try:
        for index, workload in enumerate(workloads, 1):
            contenders = [c for c in workload.contenders if c.unavailable is None]
            if progress is not None:
                line = (f"[{index:>{len(str(total))}}/{total}] {workload.group} {workload.name} "
                        f"{workload.label} ({len(contenders)} contenders)")
                progress.write(("\r\033[K" + line) if tty else line + "\n")
                progress.flush()
            results.append(_measure_one(workload, contenders, rounds,
                                        max(target, workload.min_round)))
    finally:
        if hasattr(gc, "unfreeze"):
            gc.unfreeze()
        if tty and progress is not None:
            progress.write("\r\033[K")
            progress.flush()
    return results


def _measure_one(workload: Workload, contenders: Sequence[Any], rounds: int,
                 target: float) -> CaseResult:
    measurements: List[Measurement] = []
    active: List[Any] = []  # (measurement, bench)
    for contender in contenders:
        m = Measurement(contender.name, contender.kind)
        measurements.append(m)
        bench: Optional[Bench] = None
        try:
            bench = contender.make()
            bench.check()
            m.loops = _calibrate(bench.run, target)
        except AssertionError as exc:
            m.status, m.error = "broken", f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            m.status, m.error = "error", f"{type(exc).__name__}: {exc}"
        if m.status == "ok" and bench is not None:
            active.append((m, bench))
        elif bench is not None:
            bench.close()
    per_loop = workload.units
    try:
        for r in range(rounds):
            shift = r % len(active) if active else 0
            for m, bench in active[shift:] + active[:shift]:
                if m.status != "ok":
                    continue
                gc.collect()
                try:
                    elapsed = _time(bench.run, m.loops)
                except Exception as exc:
                    m.status, m.error = "error", f"{type(exc).__name__}: {exc}"
                    continue
                m.times.append(elapsed / (m.loops * per_loop))
        for m, bench in active:
            if m.status != "ok":
                continue
            try:
                bench.recheck()
            except AssertionError as exc:
                m.status, m.error = "broken", f"after timing: {type(exc).__name__}: {exc}"
    finally:
        for _, bench in active:
            bench.close()
    return CaseResult(workload, measurements)


# -- formatting ---------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.1f} ns" if seconds < 1e-8 else f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us" if seconds < 1e-5 else f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e3:.2f} ms"


def fmt_rate(per_second: float) -> str:
    for factor, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if per_second >= factor * 0.9995:  # 999.6 k prints as 1 M, not 1e+03 k
            return f"{per_second / factor:.3g}{suffix}"
    return f"{per_second:.3g}"


def fmt_bytes_rate(bytes_per_second: float) -> str:
    if bytes_per_second >= 0.9995e9:
        return f"{bytes_per_second / 1e9:.3g} GB/s"
    return f"{bytes_per_second / 1e6:.3g} MB/s"


def fmt_ratio(value: Optional[float]) -> str:
    if value is None:
        return ""
    for limit, digits in ((100, 0), (10, 1), (0.1, 2)):
        if value >= limit:
            return f"{value:.{digits}f}"
    return f"{value:.3f}"


def _table(group: str, results: Sequence[CaseResult]) -> List[str]:
    title = GROUPS[group].title if group in GROUPS else group
    sized = any(r.workload.size for r in results)
    unit = results[0].workload.unit
    lines = [f"## {group}: {title}", ""]
    header = ["case", "size", "contender", f"median/{unit}", "min", "IQR", f"{unit}s/s"]
    if sized:
        header.append("throughput")
    header += ["time/base", "time/cython"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" if i < 3 else "---:" for i in range(len(header))) + "|")
    for result in results:
        w = result.workload
        base = result.get(w.baseline)
        cython = result.get(CYTHON)
        for m in result.measurements:
            row = [w.name, w.label, m.name + (" *" if m.name == w.baseline else "")]
            if not m.ok:
                reason = m.error or "no measurement"
                label = "BROKEN" if m.status == "broken" else "ERROR"
                row += [f"{label}: {reason}"] + [""] * (len(header) - 4)
                lines.append("| " + " | ".join(row) + " |")
                continue
            med = m.median
            row += [fmt_time(med), fmt_time(m.minimum), f"{m.iqr_rel * 100:.0f}%",
                    fmt_rate(1 / med)]
            if sized:
                row.append(fmt_bytes_rate(w.size / med) if w.size else "")
            row.append(fmt_ratio(med / base.median) if base else "")
            row.append(fmt_ratio(med / cython.median) if cython else "")
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


class TargetResult:
    def __init__(self, target: Target, ratio: float, noise: float) -> None:
        self.target = target
        self.ratio = ratio
        self.noise = noise

    @property
    def passed(self) -> bool:
        return self.ratio >= self.target.factor

    @property
    def within_noise(self) -> bool:
        return abs(self.ratio / self.target.factor - 1) <= max(self.noise, NOISE_FLOOR)


def evaluate_targets(results: Sequence[CaseResult]) -> List[TargetResult]:
    """The targets whose two contenders were both measured."""
    by_key = {r.workload.key: r for r in results}
    evaluated = []
    for target in TARGETS:
        result = by_key.get(target.workload)
        if result is None:
            continue
        fast = result.get(target.fast)
        slow = result.get(target.slow)
        if fast is None or slow is None:
            continue
        # Half-IQRs of both, combined: a rough relative uncertainty of the ratio.
        noise = math.hypot(fast.iqr_rel / 2, slow.iqr_rel / 2)
        evaluated.append(TargetResult(target, slow.median / fast.median, noise))
    return evaluated


def _targets_section(evaluated: Sequence[TargetResult]) -> List[str]:
    lines = ["## targets", ""]
    if not evaluated:
        return lines + ["(no target has both of its contenders in this run)", ""]
    lines += [
        "Speed-up = median(slower contender) / median(faster one). noise = the half-IQRs",
        "of both contenders combined. `~` marks a verdict within that noise or within",
        f"{NOISE_FLOOR:.0%} of the threshold, whichever is larger: it may flip from run to run.",
        "",
        "| target | speed-up | required | noise | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for t in evaluated:
        verdict = ("PASS" if t.passed else "FAIL") + (" ~" if t.within_noise else "")
        lines.append(f"| {t.target.label} | {t.ratio:.2f}x | >= {t.target.factor:g}x "
                     f"| {t.noise * 100:.0f}% | {verdict} |")
    passed = sum(t.passed for t in evaluated)
    lines += ["", f"{passed}/{len(evaluated)} targets met "
              f"({len(TARGETS) - len(evaluated)} not evaluated in this run).", ""]
    return lines


def report(results: Sequence[CaseResult], meta: Dict[str, Any], *, rounds: int,
           target: float) -> str:
    """The whole markdown report: header, one table per group, targets."""
    lines = ["# wsfast benchmarks", ""]
    lines.append(f"- wsfast {meta['wsfast']}: default back-end **{meta['implementation']}**, "
                 f"mask SIMD path: {meta['simd']}")
    lines.append(f"- {meta['python']} on {meta['platform']}; CPU: {meta['cpu']} "
                 f"({meta['cpu_count']} logical CPUs)")
    present = [f"{name} {v}" for name, v in meta["peers"].items()
               if v and meta["peer_status"].get(name) == "ok"]
    missing = [f"{name} ({meta['peer_status'][name]})" for name in meta["peers"]
               if meta["peer_status"].get(name) != "ok"]
    if not meta.get("peers_enabled", True):
        lines.append("- peers: not measured (--no-peers)")
    else:
        lines.append(f"- peers measured: {', '.join(present) if present else 'none'}")
        if missing:
            lines.append(f"- peers not measured: {'; '.join(missing)}")
    lines += [
        f"- numbers are **medians** of {rounds} interleaved rounds of ~{target * 1e3:.0f} ms per "
        "contender, gc enabled (collected between rounds); IQR = interquartile range / median.",
        "- this may be a shared machine (here: "
        f"{meta['cpu_count']} CPUs): expect 10-20 % noise; compare ratios within one run.",
        "- `*` = the group's baseline; time/base and time/cython = median / that contender's "
        "median (lower is faster); throughput counts payload bytes.",
    ]
    echo = meta.get("echo")
    if echo:
        loop = echo["loop"] + (f" {echo['loop_version']}" if echo.get("loop_version") else "")
        lines.append(f"- echo group: event loop **{loop}** in servers and clients; rounds of at "
                     f"least {echo['round_s'] * 1e3:.0f} ms ({echo['quick_round_s'] * 1e3:.0f} ms "
                     f"with --quick); {echo['cpus']}; picows transport: "
                     + echo["picows_transport"])
    lines += [
        "",
    ]
    groups: List[str] = []
    for r in results:
        if r.workload.group not in groups:
            groups.append(r.workload.group)
    for group in groups:
        lines += _table(group, [r for r in results if r.workload.group == group])
    lines += _targets_section(evaluate_targets(results))
    return "\n".join(lines)


# -- metadata and JSON ----------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def metadata() -> Dict[str, Any]:
    import wsfast

    from ..version import version as wsfast_version

    try:
        from .. import _mask_c

        simd = _mask_c.simd()
    except ImportError:
        simd = "none (pure Python)"
    status = _peers.status()
    return {
        "wsfast": wsfast_version,
        "implementation": wsfast.IMPLEMENTATION,
        "import_error": repr(_backend.IMPORT_ERROR) if _backend.IMPORT_ERROR else None,
        "simd": simd,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.machine()}",
        "platform_full": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "peers": {name: _peers.version(name) for name in _peers.PEERS},
        "peer_status": status,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def to_json(results: Sequence[CaseResult], meta: Dict[str, Any], *, rounds: int,
            target: float, quick: bool) -> Dict[str, Any]:
    rows = []
    for result in results:
        w = result.workload
        base = result.get(w.baseline)
        cython = result.get(CYTHON)
        for m in result.measurements:
            row: Dict[str, Any] = {
                "group": w.group, "workload": w.key, "name": w.name, "size": w.size,
                "size_label": w.label, "unit": w.unit, "contender": m.name, "kind": m.kind,
                "status": "error" if (m.status == "ok" and not m.ok) else m.status,
                "error": m.error,
            }
            if m.ok:
                row.update({
                    "median_s": m.median, "min_s": m.minimum, "iqr_rel": m.iqr_rel,
                    "ops_per_s": 1 / m.median,
                    "bytes_per_s": (w.size / m.median) if w.size else None,
                    "loops_per_round": m.loops, "ops_per_loop": w.units,
                    "rounds_s_per_op": m.times,
                    "time_vs_baseline": m.median / base.median if base else None,
                    "time_vs_cython": m.median / cython.median if cython else None,
                })
            rows.append(row)
    targets = [{
        "label": t.target.label, "workload": t.target.workload, "fast": t.target.fast,
        "slow": t.target.slow, "required": t.target.factor, "speedup": t.ratio,
        "noise": t.noise, "passed": t.passed,
    } for t in evaluate_targets(results)]
    return {"meta": dict(meta, rounds=rounds, round_target_s=target, quick=quick),
            "results": rows, "targets": targets}


# -- command line ---------------------------------------------------------------


def run_cli(*, quick: bool = False, json_path: Optional[str] = None,
            groups: Optional[Sequence[str]] = None, peers: bool = True, echo: bool = False,
            memory: bool = False, rounds: Optional[int] = None,
            target_ms: Optional[float] = None,
            out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """``python -m wsfast bench``: measure, print the report, write JSON."""
    from .workloads import build

    selected = list(groups) if groups else [g.name for g in GROUPS.values() if g.default]
    if echo:
        selected += [g for g in ("echo", "deflate") if g not in selected]
    unknown = [g for g in selected if g not in GROUPS]
    if unknown:
        err.write(f"error: unknown group(s) {', '.join(unknown)}; "
                  f"known: {', '.join(GROUPS)}\n")
        return 2
    rounds = rounds or (3 if quick else 7)
    target = (target_ms / 1e3) if target_ms else (0.008 if quick else 0.02)
    started = time.perf_counter()
    workloads = build(selected, quick=quick, peers=peers)
    meta = metadata()
    meta["peers_enabled"] = peers
    meta["groups"] = selected
    if "echo" in selected or "deflate" in selected:
        meta["echo"] = _echo.describe()
        if meta["peer_status"].get("picows") not in (None, "not installed"):
            meta["peer_status"]["picows"] = "ok"  # measured by the echo group
    try:
        results = measure(workloads, rounds=rounds, target=target, progress=err)
    finally:
        _echo.stop_all()  # echo servers still running (normally none)
    out.write(report(results, meta, rounds=rounds, target=target) + "\n")
    memory_rows = None
    if memory:
        from . import memory as _memory

        err.write("memory per connection ...\n")
        memory_rows = _memory.run(100 if quick else 200)
        out.write("\n" + _memory.table(memory_rows, 100 if quick else 200) + "\n")
    out.flush()
    elapsed = time.perf_counter() - started
    if json_path:
        data = to_json(results, meta, rounds=rounds, target=target, quick=quick)
        data["meta"]["wall_time_s"] = elapsed
        if memory_rows is not None:
            data["memory_per_connection"] = memory_rows
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        err.write(f"results written to {json_path}\n")
    err.write(f"{len(workloads)} workloads measured in {elapsed:.1f} s\n")
    return 0

