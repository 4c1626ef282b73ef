# Stub of the compiled module src_c/wsfast/_cpu_c.pyx (pure twin: wsfast/(none).py).
# tests/test_stubs.py checks that its names and signatures match the compiled
# module; keep them in step with the .pyx.
from typing import TypedDict

__all__ = ["simd", "force_portable", "features"]

class _Features(TypedDict):
    simd: str
    avx2: bool
    forced_portable: bool
    modules: tuple[str, ...]

def simd() -> str: ...
def force_portable(disable: bool) -> None: ...
def features() -> _Features: ...
