"""Back-end selection (DESIGN §3), checked in fresh interpreters."""

from __future__ import annotations

import os
import platform
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
    # "0" selects the default: compiled wherever it is installed (a pure-only
    # run of the suite, WSFAST_NO_EXTENSIONS=1, may still have it installed).
    from wsfast import _backend

    compiled = platform.python_implementation() == "CPython" and _backend.available("cython")
    expected = "cython" if compiled else "python"
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
def test_compiled_cores_are_typed_to_their_back_end():
    """The compiled stream core reads the connection core's fields as C
    members and feeds its reader in place: it takes only a compiled
    ConnectionCore, which in turn takes only the compiled reader and writer.
    A mismatch is a TypeError when the objects are made, not a crash later."""
    import asyncio

    from wsfast import _core_c, _stream_c
    from wsfast.connection import ClientConnection

    pure = ClientConnection("ws://example.com/", backend="python")
    compiled = ClientConnection("ws://example.com/", backend="cython")
    assert type(compiled.core) is _core_c.ConnectionCore
    loop = asyncio.new_event_loop()
    try:
        view = memoryview(bytearray(16))
        with pytest.raises(TypeError):
            _stream_c.StreamCore(None, pure, loop, view, 16)
        stream = _stream_c.StreamCore(None, compiled, loop, view, 16)
        assert stream.core is compiled.core
    finally:
        loop.close()
    with pytest.raises(TypeError):
        compiled.core.reader = pure.kernels.MessageReader(mask_required=False)
    with pytest.raises(TypeError):
        compiled.core.writer = pure.core.writer
    with pytest.raises(TypeError):
        type("Sub", (_core_c.ConnectionCore,), {})  # final, as its .pxd declares


def test_both_connection_cores_have_the_same_fields(both):
    """The pure core's __slots__ and the compiled core's declared fields are
    one contract: the same names, the same initial values."""
    from wsfast.connection import ServerConnection

    compiled, pure = (ServerConnection(backend=b.name).core for b in both)
    for name in type(pure).__slots__:
        assert hasattr(type(compiled), name), name
        if name not in ("writer", "on_control"):  # each connection's own
            assert getattr(compiled, name) == getattr(pure, name), name
