"""Build script: the Cython kernels, with a tri-state switch.

WSFAST_BUILD_EXTENSION (DESIGN §3):
    yes    the compiled kernels must build; any failure is fatal (CI, wheels)
    no     pure-Python build, no compiler needed
    unset  best effort: try to compile, fall back to pure Python with a warning,
           so that a user without a compiler still gets a working install

Non-CPython interpreters (PyPy) always get the pure build.
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


def build_mode():
    mode = os.environ.get("WSFAST_BUILD_EXTENSION", "").strip().lower()
    if mode not in ("", "yes", "no"):
        sys.exit(f"WSFAST_BUILD_EXTENSION must be 'yes', 'no' or unset, not {mode!r}")
    if platform.python_implementation() != "CPython":
        if mode == "yes":
            sys.exit("WSFAST_BUILD_EXTENSION=yes: compiled kernels need CPython")
        return "no"
    return mode


class optional_build_ext(build_ext):
    """build_ext that only warns on failure when the build is best effort."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler or Cython failure
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)

    def _give_up(self, exc):
        if build_mode() == "yes":
            raise
        sys.stderr.write(
            f"\nwsfast: could not compile the Cython kernels ({exc}); "
            "installing the pure-Python back-end.\n\n"
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
    # -O3 lets gcc unroll the scalar loops; SIMD widths beyond the baseline are
    # chosen at run time (src_c/wsfast/cpu_features.h), never with -march.
    extra = [] if sys.platform == "win32" else ["-O3", "-fno-strict-aliasing"]
    exts = [
        Extension(
            f"wsfast.{name}",
            [f"src_c/wsfast/{name}.pyx"],
            include_dirs=["src_c"],
            extra_compile_args=extra,
        )
        for name in MODULES
    ]
    return cythonize(
        exts,
        include_path=["src_c"],
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            "freethreading_compatible": False,
        },
        annotate=bool(os.environ.get("WSFAST_ANNOTATE")),
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": optional_build_ext})
