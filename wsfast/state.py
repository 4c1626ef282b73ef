"""Every state rule of a WebSocket connection, in one place.

The connection's state and what may be done in it are kept on its
:class:`~wsfast._core_py.ConnectionCore` (the compiled twin in
``src_c/wsfast/_core_c.pyx``), and only the functions of this module change
them. Every other module -- the sans-I/O connection, both stream cores of the
asyncio layer -- reads the flags set here instead of re-deriving a rule.

The states (RFC 6455 §4, §7)::

    CONNECTING --OPENED---------------------------> OPEN
    CONNECTING --REFUSED (handshake failed)-------> CLOSED
    OPEN --CLOSE_SENT / CLOSE_RECEIVED / FAILED----> CLOSING
    any --EOF (the TCP connection ended)----------> CLOSED

written out in full in :data:`TRANSITIONS` below; a pair that is not there is
a bug in wsfast, not in the peer, and raises :class:`RuntimeError`.

The flags, derived from the state and the fields next to it by
:func:`_derive` after every change (and by nothing else):

``can_send_data``
    A data frame may be sent: OPEN and no close frame sent (RFC 6455 §5.5.1:
    after a close frame, no more data frames).
``can_send_control``
    A ping or pong may be sent: OPEN or CLOSING and no close frame sent.
``fast_send``
    ``can_send_data``, no fragmented message is being sent, and no
    compression negotiated: a whole text or binary message needs no other
    check than this flag, so ``send_text`` and the asyncio core write it
    straight away (the hot path of every sender).
``recv_closed``
    A close frame was received: no message can arrive any more, so ``recv``
    raises instead of waiting.

And one field that follows the state rather than deriving from it:

``open_registry``
    None, or a dict of open connections keyed by core that this core is in
    while it is OPEN (a server's ``connections``, put there by the server
    when its handshake succeeds). :func:`_move` takes the core out of it
    when it leaves OPEN, whatever made it leave -- a close frame either way,
    a failure, the end of TCP -- so the server keeps the set of open
    connections current instead of filtering every connection at each
    ``connections`` call (what a broadcast to 10,000 paid most beyond its
    writes).
"""

from __future__ import annotations

import enum
from typing import Any, Dict, Tuple

__all__ = ["State", "Event", "TRANSITIONS", "initial", "opened", "refused", "close_sent",
           "close_received", "failed", "eof", "fragmented_send"]


class State(enum.IntEnum):
    """Connection states (RFC 6455 §4 and §7)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class Event(enum.Enum):
    """What moves a connection from one state to another."""

    OPENED = "the opening handshake succeeded (101 sent or accepted)"
    REFUSED = "the opening handshake failed or was refused"
    CLOSE_SENT = "a close frame was sent"
    CLOSE_RECEIVED = "a close frame was received"
    FAILED = "the connection was failed (RFC 6455 §7.1.7)"
    EOF = "the TCP connection ended"


CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED

#: (state, event) -> next state. Every pair that can happen is here.
TRANSITIONS: Dict[Tuple[State, Event], State] = {
    (CONNECTING, Event.OPENED): OPEN,
    (CONNECTING, Event.REFUSED): CLOSED,
    (CONNECTING, Event.FAILED): CONNECTING,  # nothing was sent; the caller drops TCP
    (CONNECTING, Event.EOF): CLOSED,
    (OPEN, Event.CLOSE_SENT): CLOSING,
    (OPEN, Event.CLOSE_RECEIVED): CLOSING,
    (OPEN, Event.FAILED): CLOSING,
    (OPEN, Event.EOF): CLOSED,
    (CLOSING, Event.CLOSE_SENT): CLOSING,  # our answer to their close
    (CLOSING, Event.CLOSE_RECEIVED): CLOSING,  # their answer to ours
    (CLOSING, Event.FAILED): CLOSING,
    (CLOSING, Event.EOF): CLOSED,
    (CLOSED, Event.FAILED): CLOSED,
    (CLOSED, Event.EOF): CLOSED,
}


def _move(core: Any, event: Event) -> None:
    before = core.state
    try:
        core.state = TRANSITIONS[before, event]
    except KeyError:
        raise RuntimeError(f"wsfast bug: {event.name} in state {before.name}") from None
    _derive(core)
    if before is OPEN and core.open_registry is not None:
        # Nothing moves back to OPEN: it left the open connections for good.
        core.open_registry.pop(core, None)
        core.open_registry = None


def _derive(core: Any) -> None:
    """Set the flags from the state (see the module docstring)."""
    state = core.state
    no_close_sent = core.close_sent is None
    core.can_send_data = can_send = state is OPEN and no_close_sent
    core.can_send_control = (state is OPEN or state is CLOSING) and no_close_sent
    core.fast_send = can_send and not core.sending_fragmented and not core.compressing
    core.recv_closed = core.close_rcvd is not None


# -- the transitions: the only functions that change a core's state ----------------


def opened(core: Any, reader: Any, compressing: bool) -> None:
    """The handshake succeeded: read frames with *reader* from now on."""
    core.reader = reader
    core.compressing = compressing
    _move(core, Event.OPENED)


def refused(core: Any) -> None:
    """The handshake failed, or the server refused it: nothing more is read."""
    core.reader = None
    _move(core, Event.REFUSED)


def close_sent(core: Any, code: int, reason: str) -> None:
    """Our close frame was written (RFC 6455 §5.5.1): no data frame after it."""
    core.close_sent = (int(code), reason)
    _move(core, Event.CLOSE_SENT)


def close_received(core: Any, code: int, reason: str) -> None:
    """The peer's close frame arrived: no message after it."""
    core.close_rcvd = (code, reason)
    _move(core, Event.CLOSE_RECEIVED)


def failed(core: Any) -> None:
    """The connection failed (§7.1.7): stop reading."""
    core.reader = None
    _move(core, Event.FAILED)


def eof(core: Any) -> None:
    """The TCP connection ended."""
    core.reader = None
    _move(core, Event.EOF)


def fragmented_send(core: Any, in_progress: bool) -> None:
    """A fragmented message started (True) or ended (False): while one is in
    progress, whole messages may not be sent (RFC 6455 §5.4)."""
    core.sending_fragmented = in_progress
    _derive(core)


def initial(core: Any) -> None:
    """Put a new core in CONNECTING, with every flag derived."""
    core.state = CONNECTING
    core.open_registry = None
    core.close_sent = core.close_rcvd = None
    core.sending_fragmented = core.compressing = False
    _derive(core)
