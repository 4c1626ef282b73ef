"""The one place that chooses between the compiled and the pure-Python kernels.

Every other module imports kernels from here, never from ``_X_c`` / ``_X_py``
directly, so the choice is made once and for all kernels together.

Rules (DESIGN §3):

* default: compiled;
* ``WSFAST_NO_EXTENSIONS=1`` (any non-empty value but ``0``), or an interpreter
  other than CPython, selects pure Python;
* if the compiled modules fail to import, fall back to pure Python and keep the
  reason in :data:`IMPORT_ERROR`;
* free-threaded CPython (3.13t, 3.14t): the compiled modules are not declared
  free-threading compatible, so importing them re-enables the GIL (CPython
  says so with a RuntimeWarning) and they run as on any other build. If the
  GIL stays off all the same (``PYTHON_GIL=0`` or ``-X gil=0`` overrides
  that), the compiled back-end is refused with an ImportError and pure Python
  runs, with a RuntimeWarning: their shared buffers would otherwise be raced
  on (docs/free-threading.md).

:func:`get` gives either back-end explicitly, which is how the tests run the
whole suite over both in one process.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import types
import warnings
from typing import Dict, Optional

from .defaults import COMPILED_MODULES

__all__ = ["IMPLEMENTATION", "IMPORT_ERROR", "KERNELS", "Backend", "get", "available"]

#: Names every back-end provides.
KERNELS = (
    "apply_mask",
    "apply_mask_inplace",
    "validate_utf8",
    "Utf8Validator",
    "FrameParser",
    "build_frame",
    "MessageReader",
    "FrameWriter",
    "MessageWaiter",
    "ConnectionCore",
    "StreamCore",
    "fan_out",
    "open_connections",
)


class Backend(types.SimpleNamespace):
    """The kernels of one back-end; ``name`` is ``"cython"`` or ``"python"``."""

    name: str


def _pure() -> Backend:
    from . import _core_py, _framing_py, _mask_py, _reader_py, _stream_py, _utf8_py, _waiter_py

    return Backend(
        name="python",
        apply_mask=_mask_py.apply_mask,
        apply_mask_inplace=_mask_py.apply_mask_inplace,
        validate_utf8=_utf8_py.validate_utf8,
        Utf8Validator=_utf8_py.Utf8Validator,
        FrameParser=_framing_py.FrameParser,
        build_frame=_framing_py.build_frame,
        FrameWriter=_framing_py.FrameWriter,
        MessageReader=_reader_py.MessageReader,
        MessageWaiter=_waiter_py.MessageWaiter,
        ConnectionCore=_core_py.ConnectionCore,
        StreamCore=_stream_py.StreamCore,
        fan_out=_stream_py.fan_out,
        open_connections=_stream_py.open_connections,
    )


def _compiled() -> Backend:
    # Every module the build makes, in dependency order: one that is missing
    # or fails to import makes the whole back-end unavailable (ImportError),
    # even if no kernel below comes from it.
    m = {name: importlib.import_module(f".{name}", __package__) for name in COMPILED_MODULES}
    if gil_disabled():
        raise ImportError(FREE_THREADING_REFUSAL)
    return Backend(
        name="cython",
        apply_mask=m["_mask_c"].apply_mask,
        apply_mask_inplace=m["_mask_c"].apply_mask_inplace,
        validate_utf8=m["_utf8_c"].validate_utf8,
        Utf8Validator=m["_utf8_c"].Utf8Validator,
        FrameParser=m["_framing_c"].FrameParser,
        build_frame=m["_framing_c"].build_frame,
        FrameWriter=m["_framing_c"].FrameWriter,
        MessageReader=m["_reader_c"].MessageReader,
        MessageWaiter=m["_waiter_c"].MessageWaiter,
        ConnectionCore=m["_core_c"].ConnectionCore,
        StreamCore=m["_stream_c"].StreamProtocol,
        fan_out=m["_stream_c"].fan_out,
        open_connections=m["_stream_c"].open_connections,
    )


#: Why the compiled back-end is refused when the GIL is off.
FREE_THREADING_REFUSAL = (
    "the compiled kernels are not free-threading safe and the GIL is disabled "
    "(PYTHON_GIL=0 or -X gil=0); wsfast uses its pure-Python kernels "
    "(see docs/free-threading.md)"
)


def gil_disabled() -> bool:
    """Whether Python code runs without the GIL here: a free-threaded build
    whose GIL is still off after the compiled modules were imported (their
    import turns it back on unless PYTHON_GIL=0 / -X gil=0 forbids it)."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return is_gil_enabled is not None and not is_gil_enabled()


def _pure_requested() -> bool:
    value = os.environ.get("WSFAST_NO_EXTENSIONS", "")
    return value not in ("", "0")


_cache: Dict[str, Backend] = {}

#: Why the compiled back-end is not in use (``None`` when it is, or when pure
#: Python was asked for and the compiled modules were never tried).
IMPORT_ERROR: Optional[BaseException] = None


def get(name: str) -> Backend:
    """Return the ``"cython"`` or ``"python"`` back-end.

    Raises:
        ImportError: ``"cython"`` was asked for and the extension modules
            cannot be imported.
        ValueError: unknown name.
    """
    if name not in ("cython", "python"):
        raise ValueError(f"unknown back-end {name!r}; use 'cython' or 'python'")
    if name not in _cache:
        _cache[name] = _compiled() if name == "cython" else _pure()
    return _cache[name]


def available(name: str) -> bool:
    """Whether the back-end *name* can be loaded."""
    try:
        get(name)
    except ImportError:
        return False
    return True


def _select() -> Backend:
    global IMPORT_ERROR
    if _pure_requested():
        return get("python")
    if platform.python_implementation() != "CPython":
        IMPORT_ERROR = ImportError(
            f"compiled kernels are for CPython; this is {platform.python_implementation()}"
        )
        return get("python")
    try:
        return get("cython")
    except ImportError as exc:
        IMPORT_ERROR = exc
        if str(exc) == FREE_THREADING_REFUSAL:
            # Not an installation problem the user would look for: say it.
            warnings.warn(f"wsfast: {exc}", RuntimeWarning, stacklevel=2)
        return get("python")


default: Backend = _select()

#: ``"cython"`` or ``"python"``: which kernels this process runs.
IMPLEMENTATION: str = default.name
