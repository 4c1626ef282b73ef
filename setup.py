"""Build script: the Cython kernels, with a tri-state switch.

WSFAST_BUILD_EXTENSION (DESIGN §3):
    yes    the compiled kernels must build; any failure is fatal (CI, wheels)
    no     pure-Python build, no compiler needed
    unset  best effort: try to compile, fall back to pure Python with a warning,
           so that a user without a compiler still gets a working install

Non-CPython interpreters (PyPy) always get the pure build.

WSFAST_SANITIZE (development; gcc or clang on Linux/macOS):
    address, undefined, or address,undefined
           compile and link the kernels with -fsanitize=<value> (ASan, UBSan),
           -fno-sanitize-recover=undefined (undefined behaviour aborts instead
           of printing and going on), -fno-omit-frame-pointer -g -O1 (readable
           reports) instead of -O3, and -fno-wrapv (CPython's -fwrapv would
           hide signed overflow from UBSan). Implies WSFAST_BUILD_EXTENSION=yes (a
           sanitized build that fell back to pure Python would test nothing);
           with WSFAST_BUILD_EXTENSION=no it is an error, as is any other value.
           CPython itself is not instrumented, so the ASan runtime must be
           loaded first: LD_PRELOAD=$(gcc -print-file-name=libasan.so).
           scripts/sanitize.sh does all of it in a separate copy of the tree
           (docs/sanitizers.md); do not leave sanitized modules in a checkout.
    unset  the normal build; nothing above applies.

Debug information: CPython's own CFLAGS usually carry -g, which made a release
wheel 2.2 MB, three quarters of it DWARF sections nobody installing wsfast
reads. The normal build therefore compiles with -g0. A sanitized build keeps
-g (above), and so does a build whose CFLAGS environment variable asks for
-g itself (CFLAGS=-g pip install -e .: debugging under gdb, valgrind).
"""

import os
import platform
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

# The module list lives in wsfast/defaults.py (COMPILED_MODULES, in dependency
# order), read as a plain file: the package itself is not importable before it
# is built. WSFAST_MODULES="_mask_c _utf8_c" builds a subset (development).
_DEFAULT_MODULES = runpy.run_path(os.path.join(HERE, "wsfast", "defaults.py"))["COMPILED_MODULES"]
MODULES = os.environ.get("WSFAST_MODULES", " ".join(_DEFAULT_MODULES)).split()


SANITIZERS = ("address", "undefined")


def sanitizers():
    """The sanitizers WSFAST_SANITIZE asks for, in a fixed order; () when unset."""
    value = os.environ.get("WSFAST_SANITIZE", "").strip()
    if not value:
        return ()
    names = [name.strip() for name in value.lower().split(",")]
    if any(name not in SANITIZERS for name in names) or len(set(names)) != len(names):
        sys.exit(
            f"WSFAST_SANITIZE must be 'address', 'undefined' or 'address,undefined', "
            f"not {value!r}"
        )
    if sys.platform == "win32":
        sys.exit("WSFAST_SANITIZE: supported with gcc or clang only (not on Windows)")
    return tuple(name for name in SANITIZERS if name in names)


def build_mode():
    mode = os.environ.get("WSFAST_BUILD_EXTENSION", "").strip().lower()
    if mode not in ("", "yes", "no"):
        sys.exit(f"WSFAST_BUILD_EXTENSION must be 'yes', 'no' or unset, not {mode!r}")
    if sanitizers():
        if mode == "no":
            sys.exit("WSFAST_SANITIZE needs the compiled kernels, not WSFAST_BUILD_EXTENSION=no")
        mode = "yes"
    if platform.python_implementation() != "CPython":
        if mode == "yes":
            sys.exit("WSFAST_BUILD_EXTENSION=yes: compiled kernels need CPython")
        return "no"
    return mode


def _debug_info_flag():
    """["-g0"], unless the user's CFLAGS ask for debug information (-g, -g3,
    -ggdb...): then nothing, and theirs applies (see the module docstring)."""
    if any(flag.startswith("-g") and flag != "-g0" for flag in os.environ.get("CFLAGS", "").split()):
        return []
    return ["-g0"]


def compile_and_link_args():
    """(extra_compile_args, extra_link_args) for every kernel module."""
    if sys.platform == "win32":
        return [], []
    names = sanitizers()
    if not names:
        # -O3 lets gcc unroll the scalar loops; SIMD widths beyond the baseline
        # are chosen at run time (src_c/wsfast/cpu_features.h), never with -march.
        return ["-O3", "-fno-strict-aliasing", *_debug_info_flag()], []
    flag = "-fsanitize=" + ",".join(names)
    # These come after CPython's own CFLAGS, so they win: -O1 (often -O3
    # there) is optimised enough to run the suite and plain enough for exact
    # line numbers; -fno-wrapv undoes CPython's -fwrapv, under which signed
    # overflow is defined and UBSan would not look for it.
    compile_args = [flag, "-fno-omit-frame-pointer", "-g", "-O1", "-fno-strict-aliasing",
                    "-fno-wrapv"]
    if "undefined" in names:
        compile_args.append("-fno-sanitize-recover=undefined")
    return compile_args, [flag]


class optional_build_ext(build_ext):
    """build_ext that only warns on failure when the build is best effort.

    The compiled back-end is all or nothing (wsfast._backend imports every
    module of COMPILED_MODULES or none), so after the first module fails the
    others are not attempted: one failure, one message, no half-built set
    (and no screenful of identical compiler errors for a user without a
    compiler).
    """

    _failed = False

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler or Cython failure
            self._give_up(exc)

    def build_extension(self, ext):
        if self._failed:
            return
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)

    def _give_up(self, exc):
        if build_mode() == "yes":
            raise
        if self._failed:
            return
        self._failed = True
        # Modules built before the failure would only be dead weight in the
        # installed package: the back-end needs all of them.
        for ext in self.extensions:
            path = self.get_ext_fullpath(ext.name)
            if os.path.exists(path):
                os.remove(path)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if len(reason) > 160:  # a compiler's whole command line: the start says enough
            reason = reason[:157] + "..."
        sys.stderr.write(
            f"\nwsfast: could not compile the Cython kernels ({reason}); "
            "installing the pure-Python back-end (wsfast.IMPLEMENTATION == 'python').\n\n"
        )


def extensions():
    if build_mode() == "no":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if build_mode() == "yes":
            raise
        sys.stderr.write("\nwsfast: Cython is not available; pure-Python build.\n\n")
        return []
    compile_args, link_args = compile_and_link_args()
    exts = [
        Extension(
            f"wsfast.{name}",
            [f"src_c/wsfast/{name}.pyx"],
            include_dirs=["src_c"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
        for name in MODULES
    ]
    return cythonize(
        exts,
        include_path=["src_c"],
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            # Not yet: shared scratch buffers and per-object buffers rely on
            # the GIL (docs/free-threading.md). A free-threaded CPython
            # re-enables the GIL when it imports these modules.
            "freethreading_compatible": False,
        },
        annotate=bool(os.environ.get("WSFAST_ANNOTATE")),
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": optional_build_ext})
