# Stub of the compiled module src_c/wsfast/_framing_c.pyx (pure twin: wsfast/_framing_py.py).
# tests/test_stubs.py checks that its names and signatures match the compiled
# module; keep them in step with the .pyx.
from collections.abc import Callable

from typing_extensions import Buffer

from .frames import Frame

DEFAULT_MAX_FRAME_SIZE: int
DEFAULT_MAX_MESSAGE_SIZE: int

class FrameParser:
    def __init__(
        self, *, mask_required: bool, max_frame_size: int | None = ..., rsv1_allowed: bool = False
    ) -> None: ...
    def feed(self, data: Buffer) -> list[Frame]: ...
    @property
    def buffered(self) -> int: ...

def build_frame(
    opcode: int,
    payload: Buffer | str,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: Buffer | None = None,
) -> bytes: ...

class FrameWriter:
    reuse_buffers: bool
    def __init__(self, mask: bool, random_bytes: Callable[[int], bytes] = ...) -> None: ...
    def write(
        self,
        out: list[bytes | memoryview],
        opcode: int,
        payload: Buffer | str,
        fin: bool = True,
        rsv1: bool = False,
    ) -> None: ...
