"""The .pyi stubs of the compiled modules describe what the modules expose.

Type checkers never see a compiled module, only its stub (wsfast/_X_c.pyi,
shipped in every wheel), so a stub that drifts from its .pyx makes users'
type checkers wrong without any test failing. These tests compare each stub
with the compiled module itself, as imported:

* names: every public class, function and constant defined by the module is
  in the stub, and the stub declares nothing the module lacks;
* classes: the public methods and attributes of each compiled class, both
  ways (dunder protocol methods included where the stub declares them);
* signatures: parameter names, kinds and which ones have defaults, taken
  from ``inspect.signature`` (Cython functions carry real signatures:
  ``binding=True`` is Cython 3's default, and setup.py sets
  ``embedsignature``). ``__init__`` of a cdef class is a slot wrapper with
  no signature: its parameters come from the signature Cython embeds in the
  class docstring, compared by name and default only, because Cython (3.3)
  renders ``__init__(self, *, a, b=1)`` there as ``A(a, *, b=1)``.

The stubs are parsed with ``ast``, not imported, so this needs no type
checker; ``mypy --strict`` on the stubs themselves runs in CI.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import re

import pytest

import wsfast
from wsfast.defaults import COMPILED_MODULES

from conftest import load_backend

STUBS = pathlib.Path(wsfast.__file__).parent

# Attributes every Cython class or module has, that no stub needs to declare.
IMPLICIT = {"__pyx_vtable__", "__reduce_cython__", "__setstate_cython__", "__test__"}


@pytest.fixture
def module(compiled_module):
    load_backend("cython")  # errors, rather than skips, when the build is missing
    return importlib.import_module(f"wsfast.{compiled_module}")


def stub_tree(name: str) -> ast.Module:
    path = STUBS / f"{name}.pyi"
    assert path.exists(), f"no stub {path.name} for the compiled module {name}"
    return ast.parse(path.read_text(), filename=str(path))


def stub_names(tree: ast.Module) -> dict[str, ast.AST]:
    """Top-level names a stub declares (imports and private helpers excluded)."""
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return {k: v for k, v in names.items() if not k.startswith("_")}


def defined_here(module, name: str, value) -> bool:
    """Whether *name* is part of the module's own interface (not an import)."""
    if inspect.ismodule(value):
        return False
    if isinstance(value, type) or callable(value):
        return getattr(value, "__module__", None) == module.__name__
    return True  # constants (module-level ints): declared in the stub either way


def runtime_names(module) -> set[str]:
    if hasattr(module, "__all__"):
        return set(module.__all__)
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and defined_here(module, name, value)
    }


def test_stub_declares_the_public_names(module):
    """Everything the module defines is declared; a stub may also declare a
    name the module re-exports (``_mask_c.simd``), never one it lacks."""
    declared = set(stub_names(stub_tree(module.__name__.rsplit(".", 1)[1])))
    assert runtime_names(module) <= declared
    assert declared <= set(vars(module))


def test_stub_declares_the_same_kind_of_object(module):
    for name, node in stub_names(stub_tree(module.__name__.rsplit(".", 1)[1])).items():
        value = getattr(module, name)
        if isinstance(node, ast.ClassDef):
            assert isinstance(value, type), name
        elif isinstance(node, ast.FunctionDef):
            assert callable(value) and not isinstance(value, type), name
        else:
            assert not callable(value), name


# -- signatures ----------------------------------------------------------------

Param = tuple  # (name, kind, has_default)


def stub_params(func: ast.FunctionDef, *, drop_self: bool) -> list[Param]:
    a = func.args
    out: list[Param] = []
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    for i, arg in enumerate(positional):
        kind = "POSITIONAL_ONLY" if arg in a.posonlyargs else "POSITIONAL_OR_KEYWORD"
        out.append((arg.arg, kind, i >= first_default))
    if a.vararg:
        out.append((a.vararg.arg, "VAR_POSITIONAL", False))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, "KEYWORD_ONLY", default is not None))
    if a.kwarg:
        out.append((a.kwarg.arg, "VAR_KEYWORD", False))
    if drop_self and out and out[0][0] == "self":
        out = out[1:]
    return out


def runtime_params(func, *, drop_self: bool) -> list[Param] | None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None  # a C slot wrapper: nothing to compare against
    out = [
        (p.name, p.kind.name, p.default is not inspect.Parameter.empty)
        for p in sig.parameters.values()
    ]
    if drop_self and out and out[0][0] == "self":
        out = out[1:]
    return out


def docstring_init_params(cls) -> list[tuple[str, bool]] | None:
    """(name, has_default) of __init__, from the signature Cython embedded in
    the class docstring; None when the class has no __init__ of its own."""
    first = (cls.__doc__ or "").split("\n", 1)[0]
    match = re.fullmatch(rf"{cls.__name__}\((.*)\)", first)
    if not match:
        return None
    params = []
    for part in match.group(1).split(","):
        part = part.strip()
        if not part or part in ("*", "/"):
            continue
        declared = part.split("=", 1)[0].strip()
        name = declared.split()[-1]  # "FrameWriter writer" -> "writer"
        params.append((name, "=" in part))
    return params


def test_function_signatures_match(module):
    tree = stub_tree(module.__name__.rsplit(".", 1)[1])
    checked = 0
    for name, node in stub_names(tree).items():
        if isinstance(node, ast.FunctionDef):
            assert runtime_params(getattr(module, name), drop_self=False) == stub_params(
                node, drop_self=False
            ), name
            checked += 1
    assert checked or not any(isinstance(n, ast.FunctionDef) for n in tree.body)


def class_members(cls) -> set[str]:
    names = set()
    for klass in cls.__mro__:
        if klass.__module__ != cls.__module__:
            continue  # asyncio.BufferedProtocol's methods: typeshed declares them
        for name in vars(klass):
            if name in IMPLICIT or (name.startswith("__") and name.endswith("__")):
                continue
            names.add(name)
    return names


def stub_members(node: ast.ClassDef) -> dict[str, ast.AST]:
    members: dict[str, ast.AST] = {}
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            members[item.name] = item
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members[item.target.id] = item
    return members


def stub_classes(module):
    tree = stub_tree(module.__name__.rsplit(".", 1)[1])
    for name, node in stub_names(tree).items():
        if isinstance(node, ast.ClassDef):
            yield getattr(module, name), node


def test_class_members_match(module):
    for cls, node in stub_classes(module):
        declared = {
            name for name in stub_members(node)
            if not (name.startswith("__") and name.endswith("__"))
        }
        # A stub class that only names its bases (StreamProtocol) inherits
        # the members it declares through them.
        inherited = set()
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in stub_names(
                stub_tree(module.__name__.rsplit(".", 1)[1])
            ):
                inherited |= class_members(getattr(module, base.id))
        assert declared | inherited == class_members(cls), cls.__name__


def test_dunder_methods_in_stubs_exist(module):
    for cls, node in stub_classes(module):
        for name in stub_members(node):
            if name.startswith("__") and name.endswith("__"):
                assert hasattr(cls, name), f"{cls.__name__}.{name}"


def test_method_signatures_match(module):
    for cls, node in stub_classes(module):
        for name, item in stub_members(node).items():
            if not isinstance(item, ast.FunctionDef) or name == "__init__":
                continue
            if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                assert isinstance(inspect.getattr_static(cls, name), property) or hasattr(
                    inspect.getattr_static(cls, name), "__get__"
                ), f"{cls.__name__}.{name} is not a property"
                continue
            runtime = runtime_params(getattr(cls, name), drop_self=True)
            if runtime is None:
                continue  # C slot (__next__, __await__): no signature to read
            assert runtime == stub_params(item, drop_self=True), f"{cls.__name__}.{name}"


def test_init_signatures_match(module):
    for cls, node in stub_classes(module):
        init = stub_members(node).get("__init__")
        embedded = docstring_init_params(cls)
        if init is None:
            assert embedded is None, f"{cls.__name__}.__init__ missing from the stub"
            continue
        assert isinstance(init, ast.FunctionDef)
        declared = [(n, has_default) for n, _, has_default in stub_params(init, drop_self=True)]
        assert declared == embedded, f"{cls.__name__}.__init__"


def test_every_compiled_module_has_a_stub():
    assert sorted(p.stem for p in STUBS.glob("_*_c.pyi")) == sorted(COMPILED_MODULES)
