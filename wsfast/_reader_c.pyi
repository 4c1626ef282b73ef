# Stub of the compiled module src_c/wsfast/_reader_c.pyx (pure twin: wsfast/_reader_py.py).
# tests/test_stubs.py checks that its names and signatures match the compiled
# module; keep them in step with the .pyx.
from typing import Any

from typing_extensions import Buffer

DEFAULT_FRAGMENT_OVERHEAD: int
INFLATE_YIELD: int

class MessageReader:
    control_events: list[Any]
    error: BaseException | None
    def __init__(
        self,
        *,
        mask_required: bool,
        max_frame_size: int | None,
        max_message_size: int | None,
        max_fragments: int | None = None,
        fragment_overhead: int = ...,
        text_as_bytes: bool = False,
        streaming: bool = False,
        inflater: Any = None,
    ) -> None: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    def feed(self, data: Buffer) -> list[Any]: ...
