"""``broadcast``: one message to many connections, without waiting.

Why a function of its own: it is the fan-out path of chat rooms and live
dashboards, where the cost per recipient is what counts. A server's frames
are not masked, so an uncompressed text or binary message is the same bytes
on every connection: the frame is built once, and the back-end's ``fan_out``
kernel (``_stream_c`` / ``_stream_py``) hands the same ``bytes`` object to
the transport of each connection that can take it as is (open, no
fragmented message in progress, no permessage-deflate), in one compiled loop
-- per recipient about what the plain-asyncio floor does: one
``transport.write``. It gives back the connections it did not serve, which
this module handles one by one: slow consumers (the policy), compressed
connections (one compressed frame per setting where they negotiated no
context takeover, :func:`wsfast.fanout.shared_frame`; else their own
compression), client connections (masked), fragmented sends, failures.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import Any, Dict, Iterable, List, Optional, Union

from .. import _backend
from ..errors import ConcurrencyError
from ..fanout import PreparedMessage, SlowConsumerPolicy, shared_frame, wait_then_send
from ..frames import Opcode

__all__ = ["broadcast"]

_TEXT = int(Opcode.TEXT)
_fan_out = _backend.default.fan_out
#: For the messages a "wait" policy delivers late: it has checked already.
_UNBOUNDED = SlowConsumerPolicy("skip", limit=sys.maxsize)


def broadcast(connections: Iterable[Any],
              message: Union[str, bytes, bytearray, memoryview, PreparedMessage],
              *, text: Optional[bool] = None, raise_exceptions: bool = False,
              policy: Optional[SlowConsumerPolicy] = None,
              ) -> "Optional[asyncio.Future[List[None]]]":
    """Send *message* to every open connection of *connections* (wsfast
    asyncio connections, server or client side), as websockets'
    ``broadcast``: without waiting for the write buffers to drain, so a slow
    client cannot hold the others back (its buffer grows instead; close it
    if it falls too far behind).

    Connections that are not open are skipped, and so are connections in the
    middle of sending a fragmented message (another frame would corrupt it).
    Failures are logged as warnings on the connection's logger; with
    *raise_exceptions* (Python 3.11+) they are raised together at the end in
    an ``ExceptionGroup``: ConcurrencyError for a skipped fragmented send,
    RuntimeError (caused by the failure) for a failed write.

    ``text=True`` sends bytes in a text frame, ``text=False`` str in a binary
    one, as ``send(text=...)``.

    *message* may be a message from :func:`wsfast.prepare`: framed once for
    all the calls it is given to (*text* does not apply to it).

    *policy* (a :class:`~wsfast.fanout.SlowConsumerPolicy`; when the call
    gives none, the ``broadcast_policy`` of the server of the first open
    connection -- one attribute lookup per call, not per connection, which
    is what the fan-out loop can afford) bounds what queues up for
    a connection that does not read: skip it, close it, or wait for it up to
    a deadline. Without one, as in websockets, nothing is bounded.

    Returns:
        None; with a ``"wait"`` policy and slow connections, a future done
        when each of them got the message or was given up on.

    Raises:
        TypeError: *message* is neither str, bytes-like nor prepared.
    """
    if isinstance(message, PreparedMessage):
        prepared = message
    elif isinstance(message, str):
        prepared = PreparedMessage(message.encode(), text is not False)
    elif isinstance(message, (bytes, bytearray, memoryview)):
        prepared = PreparedMessage(bytes(message), text is True)
    else:
        raise TypeError("data must be str or bytes")
    if raise_exceptions and sys.version_info < (3, 11):
        raise ValueError("raise_exceptions requires at least Python 3.11 (ExceptionGroup)")
    # policy is None: the server's, looked up on the first open connection
    policy, leftovers = _fan_out(connections, prepared.frame, policy, policy is None)
    if not leftovers:
        return None
    return _serve_leftovers(leftovers, prepared, policy, raise_exceptions)


def _serve_leftovers(leftovers: List[Any], message: PreparedMessage,
                     policy: Optional[SlowConsumerPolicy], raise_exceptions: bool,
                     ) -> "Optional[asyncio.Future[List[None]]]":
    """The connections fan_out gave back, with its reasons (_stream_py.Leftover)."""
    if any(why is None for _, why in leftovers):
        # Connections of the other back-end: its own fan_out serves them.
        foreign = [websocket for websocket, why in leftovers if why is None]
        leftovers = [item for item in leftovers if item[1] is not None]
        other = _backend.get("python" if _backend.default.name == "cython" else "cython")
        leftovers += other.fan_out(foreign, message.frame, policy, False)[1]
    exceptions: List[Exception] = []
    waiting: List[Any] = []
    for websocket, why in leftovers:
        if why is True:  # slow
            if policy is not None and policy.action == "wait":
                waiting.append((policy, websocket))
            elif policy is not None:
                policy.refuse(websocket)
            continue
        if why is not False and why is not None:  # writing the frame failed
            _failed(websocket, why, exceptions, raise_exceptions)
            continue
        stream = websocket._stream
        connection = websocket.connection
        core = connection.core
        if stream.send_lock is not None or core.sending_fragmented:
            if raise_exceptions:
                exceptions.append(ConcurrencyError("sending a fragmented message"))
            else:
                websocket.logger.warning("skipped broadcast: sending a fragmented message")
            continue
        try:
            frame = shared_frame(connection, message) if core.can_send_data else None
            if frame is not None:
                stream.write_frame_now(frame)
            else:
                if message.opcode == _TEXT:
                    connection.send_text(message.payload)
                else:
                    connection.send_binary(message.payload)
                stream.write_soon()
        except Exception as write_exception:  # noqa: BLE001 - one failure must not stop the rest
            _failed(websocket, write_exception, exceptions, raise_exceptions)
    if raise_exceptions and exceptions:
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - 3.11+, checked above
    if not waiting:
        return None
    # The slow ones get the same message later, one by one (fanout.py).
    by_policy: Dict[Any, List[Any]] = {}
    for waiting_policy, websocket in waiting:
        by_policy.setdefault(waiting_policy, []).append(websocket)
    return asyncio.gather(*(
        wait_then_send(waiting_policy, members,
                       lambda ws: broadcast([ws], message, policy=_UNBOUNDED))
        for waiting_policy, members in by_policy.items()))


def _failed(websocket: Any, failure: BaseException, exceptions: List[Exception],
            raise_exceptions: bool) -> None:
    if raise_exceptions:
        exception = RuntimeError("failed to write message")
        exception.__cause__ = failure
        exceptions.append(exception)
    else:
        why = traceback.format_exception_only(type(failure), failure)
        websocket.logger.warning("skipped broadcast: failed to write message: %s", why[0].strip())
