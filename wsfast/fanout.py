"""Prepared messages and the slow-consumer policy of ``broadcast``.

:func:`prepare` frames a message once; the frame is reused by every
:func:`wsfast.asyncio.broadcast` and ``send`` it is given to. A server's
frames are not masked, so on connections that negotiated no compression the
frame is the same bytes everywhere and is queued as it is -- one ``bytes``
object referenced by every connection's queue, no copy per recipient. With
permessage-deflate, connections that negotiated no context takeover on the
server's side get one compressed frame per compression setting
(:func:`shared_frame`); the others (context takeover: the compressor keeps
state from message to message) and client connections (their frames are
masked) frame the payload themselves, as they would for ``send``.

Why a policy: ``broadcast`` does not wait for anyone, so that a client that
stops reading cannot hold the others back; but then nothing limits what
queues up for it, and memory grows by one message per broadcast for as long
as it does not read. :class:`SlowConsumerPolicy` bounds it. A connection is
*slow* when its unsent bytes (the transport's write buffer plus the frames
waiting for the end of the loop iteration) exceed ``limit``; for such a
connection the policy's ``action`` is one of:

* ``"skip"``: it does not get this message (counted in ``skipped``);
* ``"close"``: it does not get it, and is closed with ``close_code`` (1008
  policy violation by default, or 1013 try again later) -- counted in
  ``closed``;
* ``"wait"``: the others get the message at once; this one gets it as soon
  as its buffer drains below ``limit``, if that happens within ``timeout``
  seconds, else it is skipped (counted in ``timed_out`` and ``skipped``).
  ``broadcast`` then returns a future that resolves when every waiting
  connection is served or given up on.

Memory per slow recipient therefore stays below ``limit`` plus one message.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _backend
from .frames import Opcode

__all__ = ["PreparedMessage", "prepare", "SlowConsumerPolicy", "shared_frame",
           "OpenConnections"]

_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)
_ACTIONS = ("skip", "wait", "close")


class OpenConnections(set):  # type: ignore[type-arg]
    """What ``server.connections`` returns: a set of the open connections,
    as websockets has it, that also carries their stream cores.

    Why: :func:`wsfast.asyncio.broadcast` needs each recipient's stream core,
    and looking it up on the connection (an instance attribute, in memory of
    its own) was a fifth of what a broadcast to 10,000 added to the writes.
    The server builds this set and the list of stream cores in one pass from
    its registry of open connections; the fan-out loop then reads ``streams``
    instead. Any change to the set drops the list (``streams`` becomes None),
    so a set the caller edited -- ``connections.discard(sender)`` -- is
    served from its members, as any other iterable; so are a copy and the
    result of a set operation (a plain ``set``).
    """

    __slots__ = ("streams",)

    def __init__(self, iterable: Any = ()) -> None:
        super().__init__(iterable)
        #: The members' stream cores (their ``owner`` is the member), or
        #: None once the set was changed.
        self.streams: Optional[List[Any]] = None

    def __reduce__(self) -> Any:
        """Copies and pickles carry the members only, on every Python
        (from 3.11 the default would carry the list too, before it not)."""
        return (type(self), (list(self),))


def _forgetting_streams(name: str) -> Any:
    change = getattr(set, name)

    def method(self: OpenConnections, *args: Any) -> Any:
        self.streams = None
        return change(self, *args)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = change.__doc__
    return method


for _name in ("add", "discard", "remove", "pop", "clear", "update", "difference_update",
              "intersection_update", "symmetric_difference_update",
              "__ior__", "__iand__", "__isub__", "__ixor__"):
    setattr(OpenConnections, _name, _forgetting_streams(_name))
del _name


class PreparedMessage:
    """A message framed once, for :func:`wsfast.asyncio.broadcast` and
    ``send``; build it with :func:`prepare`.

    Attributes:
        payload: the message as bytes (UTF-8 for text).
        text: whether it goes in a text frame.
        frame: the complete unmasked, uncompressed frame.
    """

    __slots__ = ("payload", "text", "opcode", "frame", "compressed")

    def __init__(self, payload: bytes, text: bool) -> None:
        self.payload = payload
        self.text = text
        self.opcode = _TEXT if text else _BINARY
        self.frame: bytes = _backend.default.build_frame(self.opcode, payload)
        #: compressed frames by compression setting (see shared_frame)
        self.compressed: Dict[Tuple[int, int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self.payload)

    def __repr__(self) -> str:
        return f"<PreparedMessage {'text' if self.text else 'binary'}, {len(self.payload)} bytes>"


def prepare(message: Union[str, bytes, bytearray, memoryview], *,
            text: Optional[bool] = None) -> PreparedMessage:
    """Frame *message* once, to send it to many connections.

    ``str`` goes in a text frame and bytes-like in a binary one, unless
    *text* says otherwise (as ``send(text=...)``).

    Raises:
        TypeError: *message* is neither str nor bytes-like.
    """
    if isinstance(message, str):
        return PreparedMessage(message.encode(), text is not False)
    if isinstance(message, (bytes, bytearray, memoryview)):
        return PreparedMessage(bytes(message), text is True)
    raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")


def shared_frame(connection: Any, message: PreparedMessage) -> Optional[bytes]:
    """The frame a server connection with permessage-deflate sends for
    *message*, when one built for many connections will do; None when it
    must compress the message itself.

    * Its session would not compress a message this short (its threshold):
      the plain frame, as for an uncompressed connection.
    * It negotiated no context takeover on the server's side
      (``server_no_context_takeover``): its compressor starts afresh for
      every message, so the bytes depend only on the compression setting
      (:meth:`~wsfast.deflate.DeflateSession.shared_setting`) and the message
      is compressed once per setting, the first time by this connection's own
      session (which then holds no compressor, as after a send), and kept in
      ``message.compressed`` for the next connections and calls.
    * Otherwise (context takeover: the bytes depend on every earlier message
      of the connection; a client connection: masked): None.

    The caller has checked that a whole message may be sent now.
    """
    session = connection.compression
    if session is None or connection.is_client:
        return None
    payload = message.payload
    if not session.should_compress(len(payload)):
        return message.frame
    setting = session.shared_setting()
    if setting is None:
        return None
    frame = message.compressed.get(setting)
    if frame is None:
        frame = message.compressed[setting] = _backend.default.build_frame(
            message.opcode, session.compress(payload, True), rsv1=True)
    return frame


class SlowConsumerPolicy:
    """What :func:`wsfast.asyncio.broadcast` does with a connection that has
    more than *limit* bytes unsent (see the module docstring).

    Pass it per call (``broadcast(..., policy=p)``) or per server
    (``server.broadcast_policy = p``: used when a call gives none, looked up
    on the server of the call's first open connection). One policy may
    serve many calls: its counters add up.

    Args:
        action: ``"skip"``, ``"wait"`` or ``"close"``.
        limit: unsent bytes above which a connection is slow; ``None``: the
            connection's own write limit (its transport's high-water mark).
        timeout: for ``"wait"``: how long a message may wait for a
            connection, in seconds.
        close_code: for ``"close"``: 1008 (policy violation) or 1013 (try
            again later).

    Attributes:
        skipped: messages a connection did not get.
        closed: connections closed by the policy.
        timed_out: waits given up on (also counted in ``skipped``).

    Raises:
        ValueError: an unknown action, a negative limit or timeout, or a
            close code other than 1008 and 1013.
    """

    __slots__ = ("action", "limit", "timeout", "close_code", "skipped", "closed", "timed_out")

    def __init__(self, action: str = "skip", *, limit: Optional[int] = None,
                 timeout: float = 1.0, close_code: int = 1008) -> None:
        if action not in _ACTIONS:
            raise ValueError(f"action must be one of {', '.join(_ACTIONS)}, not {action!r}")
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        if timeout < 0:
            raise ValueError("timeout must be >= 0")
        if close_code not in (1008, 1013):
            raise ValueError("close_code must be 1008 (policy violation) or 1013 (try again later)")
        self.action = action
        self.limit = limit
        self.timeout = timeout
        self.close_code = close_code
        self.skipped = 0
        self.closed = 0
        self.timed_out = 0

    def settings(self) -> Dict[str, Any]:
        """The arguments that make a new policy like this one (its counters
        start at 0): what ``python -m wsfast serve --workers`` sends each
        worker."""
        return {"action": self.action, "limit": self.limit, "timeout": self.timeout,
                "close_code": self.close_code}

    def __repr__(self) -> str:
        return (f"<SlowConsumerPolicy {self.action} limit={self.limit} skipped={self.skipped} "
                f"closed={self.closed} timed_out={self.timed_out}>")

    # -- used by broadcast -------------------------------------------------------

    def is_slow(self, websocket: Any) -> bool:
        """Whether *websocket* has more unsent bytes than the limit."""
        stream = websocket._stream
        transport = stream.transport
        if transport is None:
            return False
        unsent = transport.get_write_buffer_size() + stream.pending_bytes
        limit = self.limit
        if limit is None:
            limit = transport.get_write_buffer_limits()[1]
        return bool(unsent > limit)

    def refuse(self, websocket: Any) -> None:
        """Skip the message for a slow connection, and close it if asked."""
        self.skipped += 1
        if self.action == "close":
            self.closed += 1
            reason = "slow consumer" if self.close_code == 1008 else "too far behind; try again later"
            websocket.logger.info("closing a slow consumer with %d", self.close_code)
            websocket._loop.create_task(websocket.close(self.close_code, reason))


async def wait_then_send(policy: SlowConsumerPolicy, waiting: List[Any],
                         send: Any) -> None:
    """The ``"wait"`` action: give each slow connection of *waiting* the
    message (``send(websocket)``) once its buffer drains, or count it as
    skipped after ``policy.timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.timeout

    async def one(websocket: Any) -> None:
        while policy.is_slow(websocket):
            remaining = deadline - loop.time()
            if remaining <= 0 or websocket.connection.core.can_send_data is False:
                policy.timed_out += 1
                policy.skipped += 1
                return
            try:
                # drain() returns once the buffer is below the low-water
                # mark (or at once if writing is not paused): poll briefly
                # in the second case rather than spin.
                if websocket.writing_paused:
                    await asyncio.wait_for(websocket.drain(), remaining)
                else:
                    await asyncio.sleep(min(remaining, 0.01))
            except asyncio.TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - closed meanwhile: nothing to send to
                policy.skipped += 1
                return
        send(websocket)

    await asyncio.gather(*(one(websocket) for websocket in waiting))
