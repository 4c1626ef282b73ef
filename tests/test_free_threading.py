"""wsfast on free-threaded CPython never runs its compiled kernels without the GIL.

The compiled modules are built with ``freethreading_compatible = False``
(setup.py; why: docs/free-threading.md), so a free-threaded CPython turns
the GIL back on when it imports them. Only ``PYTHON_GIL=0`` / ``-X gil=0``
can keep it off; then wsfast._backend refuses the compiled back-end and runs
the pure one, and says so. The first tests simulate a GIL that stays off on
this (ordinary) build; the last ones run only on a free-threaded build
(cibuildwheel's cp314t wheels run them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

from conftest import PURE_ONLY
from wsfast import _backend

FREE_THREADED_BUILD = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def run_python(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run *code* in a fresh interpreter; *env* entries set to None are removed."""
    full_env = dict(os.environ)
    full_env.pop("WSFAST_NO_EXTENSIONS", None)
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True,
                          timeout=60, env=full_env)


def test_gil_disabled_reads_the_interpreter(monkeypatch):
    monkeypatch.delattr(sys, "_is_gil_enabled", raising=False)
    assert _backend.gil_disabled() is False  # before 3.13: there is always a GIL
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: True, raising=False)
    assert _backend.gil_disabled() is False
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    assert _backend.gil_disabled() is True


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_compiled_backend_refused_while_the_gil_is_off(monkeypatch):
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    with pytest.raises(ImportError, match="not free-threading safe"):
        _backend._compiled()


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_import_falls_back_to_pure_and_warns_when_the_gil_stays_off():
    # What `import wsfast` does on a free-threaded build run with PYTHON_GIL=0.
    result = run_python(
        "import sys; sys._is_gil_enabled = lambda: False\n"
        "import wsfast, wsfast._backend as b\n"
        "print(wsfast.IMPLEMENTATION, type(b.IMPORT_ERROR).__name__)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "ImportError"]
    assert "RuntimeWarning: wsfast: the compiled kernels are not free-threading safe" in result.stderr


@pytest.mark.skipif(FREE_THREADED_BUILD, reason="a free-threaded build warns that it enables the GIL")
@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_ordinary_import_keeps_the_compiled_backend_and_is_silent():
    result = run_python("import wsfast; print(wsfast.IMPLEMENTATION)", "-W", "error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cython"]


@pytest.mark.skipif(not FREE_THREADED_BUILD, reason="needs a free-threaded CPython (3.13t, 3.14t)")
@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_free_threaded_build_reenables_the_gil_for_the_compiled_kernels():
    result = run_python(
        "import sys, wsfast\nprint(wsfast.IMPLEMENTATION, sys._is_gil_enabled())",
        env={"PYTHON_GIL": None},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cython", "True"]
    assert "The global interpreter lock (GIL) has been enabled" in result.stderr


@pytest.mark.skipif(not FREE_THREADED_BUILD, reason="needs a free-threaded CPython (3.13t, 3.14t)")
def test_free_threaded_build_with_the_gil_forced_off_runs_pure_python():
    result = run_python(
        "import sys, wsfast\nprint(wsfast.IMPLEMENTATION, sys._is_gil_enabled())",
        env={"PYTHON_GIL": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "False"]
