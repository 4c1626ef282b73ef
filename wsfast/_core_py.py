"""The state a sans-I/O connection shares with the I/O layer that drives it;
twin of src_c/wsfast/_core_c.pyx (declared in _core_c.pxd).

A :class:`wsfast.connection.Connection` owns one :class:`ConnectionCore`
and exposes it as :attr:`~wsfast.connection.Connection.core`. It is the
whole contract between the connection and the asyncio layer's stream core
(``_stream_py`` / ``_stream_c``), which reads and writes messages through it
on every read and every send instead of calling the connection's methods (a
handful of Python frames per message, a third of the CPU of a request/response
loop). The compiled stream core types it, so a field renamed here is a
compile error there, not a silent slowdown or a crash.

Who may change what:

* ``state``, ``close_sent``, ``close_rcvd``, ``sending_fragmented``,
  ``compressing`` and the derived flags ``can_send_data``,
  ``can_send_control``, ``fast_send``, ``recv_closed``: only the functions of
  :mod:`wsfast.state` (the one place that holds the state rules);
* ``open_registry``: set by whoever lists the connection among its open
  ones (a server, when the handshake succeeds); cleared by
  :mod:`wsfast.state` when the connection leaves OPEN;
* ``reader`` and ``writer``: the connection (and :mod:`wsfast.state`, which
  drops the reader when reading ends); ``reader`` is None whenever frames
  must not be read (before the handshake, after a failure or EOF);
* ``events`` (events for ``events_received``, left by the handshake) and
  ``out`` (frames to write, oldest first): appended to by the connection,
  emptied by whoever takes them;
* ``control_received``: set by :meth:`feed` when the reader flagged control
  frames or an error (after ``on_control`` -- the connection's rules for
  pings, closes and errors -- has acted on them); an I/O layer clears it.

The I/O layer's fast paths, valid under exactly these conditions:

* reading: while ``reader`` is not None and ``events`` is empty, ``feed``
  returns the events a chunk completes;
* sending: while ``fast_send`` is true, ``write(opcode, data)`` sends a whole
  text or binary message (``write_frame`` sets FIN and RSV1 itself);
* writing: ``take_out()`` returns the frames to write.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from . import state as _state

__all__ = ["ConnectionCore"]


class ConnectionCore:
    """Reader, writer, outbox and state flags of one connection (see the module
    docstring for who may change each field)."""

    __slots__ = ("reader", "writer", "events", "out", "on_control", "control_received",
                 "state", "close_sent", "close_rcvd", "sending_fragmented", "compressing",
                 "can_send_data", "can_send_control", "fast_send", "recv_closed",
                 "open_registry")

    reader: Any
    writer: Any
    events: List[Any]
    out: List[Any]
    on_control: Callable[[Any], None]
    control_received: bool
    state: _state.State
    close_sent: Optional[Tuple[int, str]]
    close_rcvd: Optional[Tuple[int, str]]
    sending_fragmented: bool
    compressing: bool
    can_send_data: bool
    can_send_control: bool
    fast_send: bool
    recv_closed: bool
    open_registry: Optional[Dict[Any, Any]]

    def __init__(self, writer: Any, on_control: Callable[[Any], None]) -> None:
        self.reader = None
        self.writer = writer
        self.events = []
        self.out = []
        self.on_control = on_control
        self.control_received = False
        _state.initial(self)

    def feed(self, data: Any) -> List[Any]:
        """The message events *data* completes (``reader`` must be set);
        control frames and errors are handed to ``on_control`` first."""
        reader = self.reader
        events: List[Any] = reader.feed(data)
        if reader.control_events or reader.error is not None:
            self.control_received = True
            self.on_control(reader)
        return events

    def write(self, opcode: int, data: Any) -> None:
        """Frame *data* as a whole message or control frame into ``out`` (no
        state check: the caller made it)."""
        self.writer.write(self.out, opcode, data)

    def write_frame(self, opcode: int, data: Any, fin: bool, rsv1: bool) -> None:
        """Frame *data* with the given FIN and RSV1 bits into ``out``."""
        self.writer.write(self.out, opcode, data, fin, rsv1)

    def take_out(self) -> List[Any]:
        """The frames to write, oldest first; ``out`` starts anew."""
        out = self.out
        self.out = []
        return out
