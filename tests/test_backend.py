"""Back-end selection (DESIGN §3), checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import PURE_ONLY


def run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "WSFAST_NO_EXTENSIONS"}
    environment.update(env)
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                            text=True, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_compiled_back_end_is_the_default():
    assert run("import wsfast; print(wsfast.IMPLEMENTATION)") == "cython"


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_default_kernels_are_the_compiled_ones():
    code = ("import wsfast; print(type(wsfast.FrameParser).__name__, "
            "wsfast.apply_mask.__module__, wsfast._backend.IMPORT_ERROR)")
    assert run(code) == "type wsfast._mask_c None"


def test_environment_variable_forces_pure_python():
    code = "import wsfast; print(wsfast.IMPLEMENTATION, wsfast.apply_mask.__module__)"
    assert run(code, WSFAST_NO_EXTENSIONS="1") == "python wsfast._mask_py"


def test_zero_does_not_force_pure_python():
    expected = "python" if PURE_ONLY else "cython"
    assert run("import wsfast; print(wsfast.IMPLEMENTATION)", WSFAST_NO_EXTENSIONS="0") == expected


def test_import_failure_falls_back_and_records_why():
    code = (
        "import sys; sys.modules['wsfast._reader_c'] = None\n"
        "import wsfast\n"
        "print(wsfast.IMPLEMENTATION, isinstance(wsfast._backend.IMPORT_ERROR, ImportError))"
    )
    assert run(code) == "python True"


def test_unknown_back_end_name_is_refused():
    from wsfast import _backend

    with pytest.raises(ValueError, match="unknown back-end"):
        _backend.get("rust")


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_pxd_declarations_were_used():
    """A .pxd that Cython did not find compiles silently into a slower,
    untyped module: the framing module must export the C functions its .pxd
    declares, and the reader, the frame writer and the message waiter must be
    the final classes the .pxd files declare (the asyncio core calls them
    directly)."""
    from wsfast import _framing_c, _reader_c, _waiter_c

    assert {"header_error", "limit_value"} <= set(_framing_c.__pyx_capi__)
    for final in (_reader_c.MessageReader, _framing_c.FrameWriter, _waiter_c.MessageWaiter):
        with pytest.raises(TypeError):
            type("Sub", (final,), {})  # final: cannot be subclassed


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_compiled_stream_core_takes_only_a_connection():
    """The compiled StreamCore reads its Connection's hot fields by slot
    offset (slots.h), so it refuses any other object as its connection, and
    the offsets it reads are those of the fields getattr reads."""
    from wsfast import _stream_c
    from wsfast.connection import ClientConnection

    core = _stream_c.StreamCore()
    with pytest.raises(TypeError, match="a Connection is required"):
        core.connection = object()
    connection = ClientConnection("ws://example.com/")
    core.connection = connection
    assert core.connection is connection
    # _write_now reads and replaces connection._out by offset
    connection._out = sentinel = [b"frame"]
    written = []
    core._writelines = written.append
    core._writable = True
    core._write_now()
    assert written == [sentinel] and connection._out == [] and connection._out is not sentinel
