"""The compiled modules: one list (wsfast.defaults.COMPILED_MODULES) that
setup.py builds, the back-end selector imports and these tests check."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from conftest import PURE_ONLY, load_backend
from wsfast.defaults import COMPILED_MODULES

SRC = Path(__file__).resolve().parent.parent / "src_c" / "wsfast"
CIMPORT = re.compile(r"^\s*(?:from\s+wsfast\.(\w+)\s+cimport|cimport\s+wsfast\.(\w+))", re.M)


def test_every_pyx_is_listed_and_every_listed_module_has_its_pyx():
    assert sorted(p.stem for p in SRC.glob("*.pyx")) == sorted(COMPILED_MODULES)


def test_list_is_in_dependency_order(compiled_module):
    """A module comes after every compiled module it cimports (modules that
    are only a .pxd, such as _buffer and _records, have nothing to build)."""
    text = (SRC / f"{compiled_module}.pyx").read_text()
    cimported = {a or b for a, b in CIMPORT.findall(text)} - {compiled_module}
    earlier = set(COMPILED_MODULES[: COMPILED_MODULES.index(compiled_module)])
    built = {name for name in cimported if (SRC / f"{name}.pyx").exists()}
    assert built <= earlier


@pytest.mark.skipif(PURE_ONLY, reason="pure Python was requested")
def test_compiled_back_end_imports_every_listed_module(compiled_module):
    load_backend("cython")
    module = importlib.import_module(f"wsfast.{compiled_module}")
    assert module.__file__.endswith((".so", ".pyd"))
