# Stub of the compiled module src_c/wsfast/_core_c.pyx (pure twin: wsfast/_core_py.py).
# tests/test_stubs.py checks that its names and signatures match the compiled
# module; keep them in step with the .pyx.
from collections.abc import Callable
from typing import Any

from typing_extensions import Buffer

from ._framing_c import FrameWriter
from ._reader_c import MessageReader
from .state import State

class ConnectionCore:
    reader: MessageReader | None
    writer: FrameWriter
    events: list[Any]
    out: list[Any]
    on_control: Callable[[Any], None]
    control_received: bool
    state: State
    close_sent: tuple[int, str] | None
    close_rcvd: tuple[int, str] | None
    sending_fragmented: bool
    compressing: bool
    can_send_data: bool
    can_send_control: bool
    fast_send: bool
    recv_closed: bool
    open_registry: dict[Any, Any] | None
    def __init__(self, writer: FrameWriter, on_control: Callable[[Any], None]) -> None: ...
    def feed(self, data: Buffer) -> list[Any]: ...
    def write(self, opcode: int, data: Buffer | str) -> None: ...
    def write_frame(self, opcode: int, data: Buffer | str, fin: bool, rsv1: bool) -> None: ...
    def take_out(self) -> list[Any]: ...
