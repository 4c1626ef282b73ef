"""Test configuration: every codec test runs on both back-ends.

The ``backend`` fixture gives the compiled kernels and the pure-Python ones
in turn. If the compiled back-end cannot be imported the test ERRORS (it
does not skip: a broken build must not pass silently), unless pure Python was
asked for with WSFAST_NO_EXTENSIONS=1 or the interpreter is not CPython.
"""

from __future__ import annotations

import os
import platform

import pytest
from hypothesis import HealthCheck, settings

from wsfast import _backend
from wsfast.defaults import COMPILED_MODULES

PURE_ONLY = (
    os.environ.get("WSFAST_NO_EXTENSIONS", "") not in ("", "0")
    or platform.python_implementation() != "CPython"
)

# The back-end fixtures are constants for the duration of a test, so sharing
# them across generated examples is what we want.
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=SUPPRESSED
)
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=SUPPRESSED
)
settings.register_profile(
    "thorough", max_examples=5000, deadline=None, suppress_health_check=SUPPRESSED
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def load_backend(name: str) -> _backend.Backend:
    if name == "cython":
        if PURE_ONLY:
            pytest.skip("pure Python was requested (WSFAST_NO_EXTENSIONS or not CPython)")
        try:
            return _backend.get("cython")
        except ImportError as exc:
            pytest.fail(f"the compiled back-end did not build or import: {exc!r}")
    return _backend.get("python")


@pytest.fixture(params=["cython", "python"])
def backend(request: pytest.FixtureRequest) -> _backend.Backend:
    """The kernels of one back-end (the test runs once per back-end)."""
    return load_backend(request.param)


@pytest.fixture
def both() -> tuple:
    """(compiled, pure): for differential tests that compare the two."""
    return load_backend("cython"), load_backend("python")


@pytest.fixture(params=COMPILED_MODULES)
def compiled_module(request: pytest.FixtureRequest) -> str:
    """The name of each compiled module the build makes (wsfast.defaults)."""
    return request.param


@pytest.fixture(params=["simd", "portable"])
def simd_mode(request: pytest.FixtureRequest):
    """Run compiled kernels with their SIMD paths on, and forced off, so that
    both paths are tested on a machine that has AVX2."""
    if PURE_ONLY:
        yield request.param
        return
    from wsfast import _cpu_c  # the one switch for every compiled kernel

    _cpu_c.force_portable(request.param == "portable")
    try:
        yield request.param
    finally:
        _cpu_c.force_portable(False)
