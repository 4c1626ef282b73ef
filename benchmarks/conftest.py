"""pytest-benchmark suite over the workloads of :mod:`wsfast.bench.workloads`.

Each test module names its groups in a module-level ``BENCH_GROUPS``; every
test taking ``workload`` and ``contender`` arguments is parametrized over all
(workload, contender) pairs of those groups, with ids such as
``mask-apply_mask-125B-wsfast-cython``. Contenders that cannot run here (a
peer that is not installed) are skipped with the reason. These are
benchmarks, not tests: see README.md.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import pytest

from wsfast.bench import workloads as _workloads

_cache: Dict[Tuple[str, ...], List[_workloads.Workload]] = {}


def _workloads_of(groups: Tuple[str, ...]) -> List[_workloads.Workload]:
    if groups not in _cache:
        _cache[groups] = _workloads.build(groups)
    return _cache[groups]


def pytest_generate_tests(metafunc: Any) -> None:
    if not {"workload", "contender"} <= set(metafunc.fixturenames):
        return
    groups = tuple(getattr(metafunc.module, "BENCH_GROUPS"))
    params = []
    for workload in _workloads_of(groups):
        for contender in workload.contenders:
            name = contender.name.replace(" ", "").replace("(", "[").replace(")", "]")
            params.append(pytest.param(workload, contender, id=f"{workload.id}-{name}"))
    metafunc.parametrize(("workload", "contender"), params)


@pytest.fixture
def run_workload(benchmark: Any) -> Any:
    """``run_workload(workload, contender)``: check the contender, then time
    ``Bench.run(workload.batch)`` — ``batch * units`` operations per call."""

    def run(workload: _workloads.Workload, contender: _workloads.Contender) -> None:
        if contender.unavailable is not None:
            pytest.skip(f"{contender.name}: {contender.unavailable}")
        bench = contender.make()
        try:
            bench.check()  # a benchmark of a broken path is worse than none
            benchmark.group = f"{workload.group} {workload.name} {workload.label}"
            benchmark.extra_info.update(
                workload=workload.key,
                contender=contender.name,
                unit=workload.unit,
                ops_per_call=workload.batch * workload.units,
                payload_bytes=workload.size,
            )
            benchmark(bench.run, workload.batch)
            bench.recheck()
        finally:
            bench.close()

    return run
