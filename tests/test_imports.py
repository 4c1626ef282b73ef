"""Every module of the package imports first, in a fresh interpreter.

An import cycle shows only when a module of the cycle is imported before the
others: if ``wsfast.uri`` needed a name from ``wsfast.handshake``, which
imports ``wsfast.uri``, then ``import wsfast.handshake`` would work and a
first ``import wsfast.uri`` would fail. A plain ``python -c "import
wsfast.uri"`` cannot show that, because Python runs the package's
``__init__`` first, and it imports the handshake modules in its own order. So
each module gets its own interpreter, which imports it before anything else
of wsfast and only then runs the package's ``__init__`` (which must still
work on top of it).

The list is walked from the package, so a new module is covered without
editing this file. The benchmark modules are included: they import their
peers (aiohttp, websockets, ...) only when a benchmark runs.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import wsfast

MODULES = sorted(
    ["wsfast"] + [info.name for info in pkgutil.walk_packages(wsfast.__path__, "wsfast.")]
)

# Create the package without running its __init__, import the module named
# in argv[1] (and whatever it imports), then run the package's __init__.
IMPORT_FIRST = """\
import importlib, importlib.util, sys
spec = importlib.util.find_spec("wsfast")
package = importlib.util.module_from_spec(spec)
sys.modules["wsfast"] = package
importlib.import_module(sys.argv[1])
spec.loader.exec_module(package)
"""


def test_the_walk_finds_the_handshake_modules():
    assert {"wsfast.headers", "wsfast.http11", "wsfast.uri", "wsfast.handshake"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first_in_a_fresh_interpreter(module):
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_FIRST, module], capture_output=True, text=True
    )
    assert result.returncode == 0, f"importing {module} first failed:\n{result.stderr}"
