"""``broadcast``: one message to many connections, without waiting.

Why a function of its own: it is the fan-out path of chat rooms and live
dashboards, where the cost per recipient is what counts. A server's frames
are not masked, so an uncompressed text or binary message is the same bytes
on every connection: the frame is built once and the same ``bytes`` object
is queued on each connection that can take it as is (open, no fragmented
message in progress, no permessage-deflate -- the connection core's
``fast_send``). The others -- compression, which keeps per-connection state,
and client connections, which mask each frame -- frame it themselves.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import Any, Dict, Iterable, List, Optional, Union

from .. import _backend
from ..errors import ConcurrencyError
from ..fanout import PreparedMessage, SlowConsumerPolicy, wait_then_send
from ..frames import Opcode
from ..state import State

__all__ = ["broadcast"]

_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)
build_frame = _backend.default.build_frame
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
    frame: Optional[bytes] = None
    if isinstance(message, str):
        payload = message.encode()
        opcode = _BINARY if text is False else _TEXT
    elif isinstance(message, (bytes, bytearray, memoryview)):
        payload = bytes(message)
        opcode = _TEXT if text is True else _BINARY
    elif isinstance(message, PreparedMessage):
        payload, opcode, frame = message.payload, message.opcode, message.frame
    else:
        raise TypeError("data must be str or bytes")
    if raise_exceptions and sys.version_info < (3, 11):
        raise ValueError("raise_exceptions requires at least Python 3.11 (ExceptionGroup)")
    exceptions: List[Exception] = []
    waiting: List[Any] = []
    lookup = policy is None  # then the server's, looked up on the first connection
    for websocket in connections:
        connection = websocket.connection
        if connection.state is not State.OPEN:
            continue
        if lookup:
            lookup = False
            policy = getattr(getattr(websocket, "server", None), "broadcast_policy", None)
        if policy is not None and policy.is_slow(websocket):
            if policy.action == "wait":
                waiting.append((policy, websocket))
            else:
                policy.refuse(websocket)
            continue
        stream = websocket._stream
        core = connection.core
        if stream.send_lock is not None or core.sending_fragmented:
            if raise_exceptions:
                exceptions.append(ConcurrencyError("sending a fragmented message"))
            else:
                websocket.logger.warning("skipped broadcast: sending a fragmented message")
            continue
        try:
            if core.fast_send and not connection.is_client:
                if frame is None:
                    frame = connection.kernels.build_frame(opcode, payload)
                # Queued behind whatever the connection has to send, and
                # written now, with it: one system call per connection, as
                # the plain-asyncio floor does. (write_soon would defer every
                # other broadcast to a callback per connection at the end of
                # the loop iteration -- its "burst" case -- which at 10,000
                # connections made those rounds alternately slower.)
                core.out.append(frame)
                stream.write_now()
            else:
                if opcode == _TEXT:
                    connection.send_text(payload)
                else:
                    connection.send_binary(payload)
                stream.write_soon()
        except Exception as write_exception:  # noqa: BLE001 - one failure must not stop the rest
            if raise_exceptions:
                exception = RuntimeError("failed to write message")
                exception.__cause__ = write_exception
                exceptions.append(exception)
            else:
                why = traceback.format_exception_only(type(write_exception), write_exception)
                websocket.logger.warning("skipped broadcast: failed to write message: %s",
                                         why[0].strip())
    if raise_exceptions and exceptions:
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - 3.11+, checked above
    if not waiting:
        return None
    # The slow ones get the same message later, one by one (fanout.py).
    late = PreparedMessage.__new__(PreparedMessage)
    late.payload, late.opcode, late.text, late.frame = (
        payload, opcode, opcode == _TEXT, frame if frame is not None else build_frame(opcode, payload))
    by_policy: Dict[Any, List[Any]] = {}
    for waiting_policy, websocket in waiting:
        by_policy.setdefault(waiting_policy, []).append(websocket)
    return asyncio.gather(*(
        wait_then_send(waiting_policy, members, lambda ws: broadcast([ws], late, policy=_UNBOUNDED))
        for waiting_policy, members in by_policy.items()))
