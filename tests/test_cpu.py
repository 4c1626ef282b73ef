"""Run-time CPU dispatch of the compiled kernels: one state, one switch."""

from __future__ import annotations

import platform

import pytest

from conftest import PURE_ONLY

pytestmark = pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")

#: The compiled modules whose code calls a dispatching kernel (wsf_mask,
#: wsf_utf8_check, wsf_utf8_feed): each must read the one state.
DISPATCHING = ("wsfast._mask_c", "wsfast._utf8_c", "wsfast._framing_c", "wsfast._reader_c")


@pytest.fixture
def cpu():
    from wsfast import _backend, _cpu_c

    _backend.get("cython")  # imports every compiled module
    yield _cpu_c
    _cpu_c.force_portable(False)


def test_every_dispatching_module_reads_the_one_state(cpu):
    assert set(DISPATCHING) <= set(cpu.features()["modules"])


def test_the_state_is_exported_through_the_pxd(cpu):
    """A .pxd that Cython did not find would leave the kernels unattached."""
    assert "cpu_state" in cpu.__pyx_capi__


def test_force_portable_turns_avx2_off_and_back(cpu):
    detected = cpu.features()["avx2"]
    cpu.force_portable(True)
    assert cpu.features()["forced_portable"] is True
    assert cpu.simd() in ("sse2", "scalar")
    cpu.force_portable(False)
    assert cpu.features()["forced_portable"] is False
    assert (cpu.simd() == "avx2") == detected


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 only")
def test_x86_64_has_at_least_sse2(cpu):
    assert cpu.simd() in ("avx2", "sse2")


def test_bench_report_reads_the_same_state(cpu):
    from wsfast import _mask_c

    cpu.force_portable(True)
    assert _mask_c.simd() == cpu.simd()
