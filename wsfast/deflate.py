"""RFC 7692 permessage-deflate on the standard library's zlib (sans-I/O).

Three pieces, used by the connection and nothing else:

* :class:`PerMessageDeflate` -- what the user is willing to negotiate.
* Negotiation functions: :func:`negotiate` (server: pick the first acceptable
  offer and build the response parameters), :func:`client_offer` and
  :func:`accept_response` (client: build the offer, validate the answer).
  Parameter lists arrive already parsed from the header, as
  ``[(name, value_or_None), ...]``.
* :class:`DeflateSession` -- one per connection once the extension is on:
  ``compress(data, fin)`` for each outgoing frame of a compressed message,
  ``decompress(data, fin, max_length)`` for each incoming one.

Decisions worth knowing (each is tested in ``tests/test_deflate.py``):

**Bounded inflate.** ``decompress`` never produces more than
``max_length + 1`` bytes per call, whatever the compression ratio: zlib is
told the limit, stops there, and the rest of the input is dropped with the
decompressor. One byte over the limit is how the caller learns that the
message is too big (close code 1009).

**Window bits 8.** zlib refuses a raw-deflate *compressor* with an 8-bit
window (``compressobj(wbits=-8)`` raises; before zlib 1.2.9 it silently used
9). wsfast still accepts ``*_max_window_bits=8`` for its own compressor and
compresses with ``wbits=9``: zlib never emits a match distance above
``MAX_DIST = window size - MIN_LOOKAHEAD`` (``deflate.h``), which is
``512 - 262 = 250`` for a 9-bit window, so every back-reference fits the
256-byte window the peer sized its inflater for. (That limit is also why
zlib cannot do 8 itself: there ``MAX_DIST`` would be negative.) zlib-ng
keeps the same bound. The test suite checks the claim against the zlib this
interpreter links, by walking the produced deflate stream with an
independent decoder and asserting that no distance exceeds 256. The
*decompressor* uses the negotiated value as is: zlib's inflate accepts a raw
8-bit window.

**Data after a final block.** A message may end its deflate data with a
block that has BFINAL set (RFC 7692 §7.2.3.3). zlib then stops; what follows
in the message must be what the RFC shows there -- nothing, or a single
``0x00`` byte (the start of an empty stored block that the appended
``00 00 ff ff`` completes). Anything else after the final block is invalid
compressed data (1002), checked as it arrives so that nothing after the end
is ever buffered beyond one byte. Because zlib cannot continue a finished
stream, the next message starts with an empty window even under context
takeover; a peer that refers back across a final block gets 1002.

**Memory per connection.** zlib's own figures (``zconf.h``), confirmed with
tracemalloc on CPython 3.11 / zlib 1.2.13 (state sizes are for 64-bit):

* compressor: ``(1 << (wbits + 2)) + (1 << (mem_level + 9))`` + ~6 KiB
  (``wbits`` is at least 9, see above);
* decompressor: ``1 << wbits`` + ~7.3 KiB (the window is allocated on first
  output).

====================================  ==========  ============  ==========
configuration (both directions)       deflate     inflate       total
====================================  ==========  ============  ==========
wbits 15, mem_level 8 (zlib default)  262 KiB     39 KiB        ~301 KiB
wbits 12, mem_level 5                 38 KiB      11 KiB        ~49 KiB
wbits 10, mem_level 2                 12 KiB      8.2 KiB       ~20 KiB
wbits 9, mem_level 1                  9.0 KiB     7.7 KiB       ~17 KiB
====================================  ==========  ============  ==========

These are allocations; resident memory is lower until the arrays are
touched (2,000 default compressor + decompressor pairs that each carried one
2.6 KB message added ~107 KiB of RSS apiece, not ~301 KiB). While a call
runs, CPython's zlib module also allocates its output in blocks starting at
32 KiB.

A side that does not take over context holds its zlib object only while a
message is being compressed or decompressed: with no context takeover in
both directions (:meth:`PerMessageDeflate.low_memory`) an idle connection
holds no zlib memory at all (measured: 256 bytes left allocated by a pair of
sessions after a message each way). A session object itself is ~150 bytes.
"""

from __future__ import annotations

import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union

from .errors import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    protocol_error,
)

__all__ = [
    "EXTENSION_NAME",
    "PerMessageDeflate",
    "DeflateSession",
    "negotiate",
    "client_offer",
    "accept_response",
]

EXTENSION_NAME = "permessage-deflate"

#: One extension's parameters, as parsed from the header: ``(name, value)``.
Params = List[Tuple[str, Optional[str]]]

# RFC 7692 §7.2.1 / §7.2.2: the empty stored block that ends a sync flush;
# the sender removes it from a message, the receiver appends it back.
_TAIL = b"\x00\x00\xff\xff"

# §7.1.2: window bits are 8..15 written as plain decimal digits; "08", "+9",
# " 9" or "9.0" are malformed. Looking the text up also parses it.
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

# See "Window bits 8" in the module docstring.
_MIN_DEFLATE_WBITS = 9

# Joining the tail to a short payload (one small copy) is cheaper than a
# second call into zlib; above this size the second call wins.
_JOIN_TAIL_BELOW = 2048

# What a peer may send after a final (BFINAL) block, before the appended tail.
_AFTER_FINAL_PARTIAL = (b"", b"\x00")
# ... and what the bytes after the final block may look like once the tail is
# appended: nothing left (the final block was an empty stored block completed
# by our tail), the tail alone, or §7.2.3.3's 0x00 plus the tail.
_AFTER_FINAL_COMPLETE = (b"", _TAIL, b"\x00" + _TAIL)

_SERVER_NCT = "server_no_context_takeover"
_CLIENT_NCT = "client_no_context_takeover"
_SERVER_MWB = "server_max_window_bits"
_CLIENT_MWB = "client_max_window_bits"
_PARAM_NAMES = (_SERVER_NCT, _CLIENT_NCT, _SERVER_MWB, _CLIENT_MWB)


def _check_window_bits(name: str, value: object) -> None:
    if value is not None and (type(value) is not int or not 8 <= value <= 15):
        raise ValueError(f"{name} must be None or an integer from 8 to 15, not {value!r}")


def _check_int(name: str, value: object, low: int, high: Optional[int]) -> None:
    if type(value) is not int or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bounds}, not {value!r}")


class PerMessageDeflate:
    """Configuration of permessage-deflate (RFC 7692); immutable.

    The same object configures either role. Parameters are named as in the
    RFC, from the point of view of the wire:

    Args:
        server_no_context_takeover: the server resets its compressor after
            each message. A server includes it in every response; a client
            requests it and refuses a response without it.
        client_no_context_takeover: the client resets its compressor after
            each message. A server includes it in every response; a client
            announces it and honours it.
        server_max_window_bits: 8..15, the largest LZ77 window the server
            compresses with. A server answers with at most this; a client
            requests it and refuses a larger answer. ``None``: no limit.
        client_max_window_bits: 8..15, the largest window the client
            compresses with. A server imposes it when the client offered the
            parameter (§7.1.2.2); a client announces it. ``None``: no limit
            (a client still offers the parameter without a value, so that
            the server may choose).
        compress_level: zlib level, -1 (zlib's default, 6) to 9.
        mem_level: zlib memLevel, 1..9: memory for the compressor's hash
            table and buffers, ``1 << (mem_level + 9)`` bytes.
        threshold: messages shorter than this many bytes are sent
            uncompressed (see :meth:`DeflateSession.should_compress`).
        offer_client_max_window_bits: client only; set it to ``False`` to
            leave ``client_max_window_bits`` out of the offer (then
            ``client_max_window_bits`` must be ``None``).

    Raises:
        ValueError: a value is out of range or of the wrong type.

    Memory per connection is tabulated in the :mod:`wsfast.deflate` module
    docstring; :meth:`low_memory` is a preset for many idle connections.
    """

    __slots__ = (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "compress_level",
        "mem_level",
        "threshold",
        "offer_client_max_window_bits",
    )

    name = EXTENSION_NAME

    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: Optional[int]
    client_max_window_bits: Optional[int]
    compress_level: int
    mem_level: int
    threshold: int
    offer_client_max_window_bits: bool

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
        client_max_window_bits: Optional[int] = None,
        compress_level: int = 6,
        mem_level: int = 8,
        threshold: int = 0,
        *,
        offer_client_max_window_bits: bool = True,
    ) -> None:
        for flag_name, flag in (
            ("server_no_context_takeover", server_no_context_takeover),
            ("client_no_context_takeover", client_no_context_takeover),
            ("offer_client_max_window_bits", offer_client_max_window_bits),
        ):
            if type(flag) is not bool:
                raise ValueError(f"{flag_name} must be True or False, not {flag!r}")
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits)
        _check_int("compress_level", compress_level, -1, 9)
        _check_int("mem_level", mem_level, 1, 9)
        _check_int("threshold", threshold, 0, None)
        if not offer_client_max_window_bits and client_max_window_bits is not None:
            raise ValueError(
                "client_max_window_bits is set but offer_client_max_window_bits is False"
            )
        setter = object.__setattr__
        setter(self, "server_no_context_takeover", server_no_context_takeover)
        setter(self, "client_no_context_takeover", client_no_context_takeover)
        setter(self, "server_max_window_bits", server_max_window_bits)
        setter(self, "client_max_window_bits", client_max_window_bits)
        setter(self, "compress_level", compress_level)
        setter(self, "mem_level", mem_level)
        setter(self, "threshold", threshold)
        setter(self, "offer_client_max_window_bits", offer_client_max_window_bits)

    @classmethod
    def low_memory(cls, **overrides: object) -> PerMessageDeflate:
        """A preset for servers with many mostly idle connections.

        No context takeover in either direction, 1 KiB windows, memLevel 2:
        an idle connection holds no zlib memory, and one that is compressing
        and decompressing a message holds ~20 KiB (12 KiB deflate + 8.2 KiB
        inflate, plus zlib's transient output buffer), against ~301 KiB held
        permanently with zlib's defaults.
        The price is compression ratio: each message is compressed on its
        own, which matters for streams of small, similar messages. Keyword
        arguments override single fields.

        A client using this preset requires ``server_no_context_takeover``,
        so a server that does not support it declines compression.
        """
        options: Dict[str, Any] = {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 10,
            "client_max_window_bits": 10,
            "mem_level": 2,
        }
        options.update(overrides)
        return cls(**options)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _fields(self) -> Tuple[object, ...]:
        return tuple(getattr(self, slot) for slot in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        fields = ", ".join(f"{slot}={getattr(self, slot)!r}" for slot in self.__slots__)
        return f"{type(self).__name__}({fields})"


class _Unacceptable(Exception):
    """An offer or a response breaks RFC 7692 §7.1 (internal).

    ``error`` and ``args`` name websockets' exception for the failure
    (:class:`~wsfast.exceptions.DuplicateParameter`, ...), raised when a
    response is refused.
    """

    def __init__(
        self, message: str, error: Type[NegotiationError] = NegotiationError, *args: Any
    ) -> None:
        super().__init__(message)
        self.error = error
        self.error_args = args or (f"invalid permessage-deflate response: {message}",)


def _parse(
    params: Sequence[Tuple[str, Optional[str]]], *, offer: bool
) -> Tuple[bool, bool, Optional[int], Union[int, bool, None]]:
    """Check one parameter list; return its four values.

    ``client_max_window_bits`` is ``True`` when an offer gives it without a
    value. Raises _Unacceptable with the reason.
    """
    seen = set()
    server_nct = client_nct = False
    server_mwb: Optional[int] = None
    client_mwb: Union[int, bool, None] = None
    for name, value in params:
        # §7.1: the parameters are exactly these four, each at most once.
        if name not in _PARAM_NAMES:
            raise _Unacceptable(f"unknown parameter {name!r}", InvalidParameterName, name)
        if name in seen:
            raise _Unacceptable(f"duplicate parameter {name!r}", DuplicateParameter, name)
        seen.add(name)
        if name == _SERVER_NCT or name == _CLIENT_NCT:
            # §7.1.1.1, §7.1.1.2: "This parameter has no value."
            if value is not None:
                raise _Unacceptable(
                    f"{name} must not have a value", InvalidParameterValue, name, value
                )
            if name == _SERVER_NCT:
                server_nct = True
            else:
                client_nct = True
        elif value is None:
            # §7.1.2.2: only an offer may give client_max_window_bits alone.
            if name == _CLIENT_MWB and offer:
                client_mwb = True
            else:
                raise _Unacceptable(f"{name} needs a value", InvalidParameterValue, name, None)
        else:
            bits = _WINDOW_BITS.get(value)
            if bits is None:
                raise _Unacceptable(
                    f"{name}={value!r} is not an integer from 8 to 15",
                    InvalidParameterValue,
                    name,
                    value,
                )
            if name == _SERVER_MWB:
                server_mwb = bits
            else:
                client_mwb = bits
    return server_nct, client_nct, server_mwb, client_mwb


def _response_params(
    server_nct: bool, client_nct: bool, server_mwb: Optional[int], client_mwb: Optional[int]
) -> Params:
    params: Params = []
    if server_nct:
        params.append((_SERVER_NCT, None))
    if client_nct:
        params.append((_CLIENT_NCT, None))
    if server_mwb is not None:
        params.append((_SERVER_MWB, str(server_mwb)))
    if client_mwb is not None:
        params.append((_CLIENT_MWB, str(client_mwb)))
    return params


def negotiate(
    config: PerMessageDeflate, offers: Sequence[Sequence[Tuple[str, Optional[str]]]]
) -> Optional[Tuple[Params, DeflateSession]]:
    """Server side: accept the first acceptable permessage-deflate offer.

    Args:
        config: what this server is willing to do.
        offers: the parameter lists of every ``permessage-deflate`` element of
            the request's ``Sec-WebSocket-Extensions``, in the client's order
            of preference.

    Returns:
        ``(response_params, session)``: serialize the parameters after
        ``permessage-deflate`` in the response and use the session (server
        role) for the connection's data frames. ``None`` if every offer is
        declined (invalid or unknown parameters, bad window bits, ...): the
        connection then runs without compression.

    Each offer is judged on its own (RFC 7692 §5, §7.1): a malformed offer is
    skipped, not an error, since the client may have added a fallback.
    """
    for params in offers:
        try:
            server_nct, client_nct, server_mwb, client_mwb = _parse(params, offer=True)
        except _Unacceptable:
            continue

        # §7.1.1.1: honour the request; a server MAY add the parameter anyway.
        server_nct = server_nct or config.server_no_context_takeover
        # §7.1.1.2: the server MAY require it. An offered one is echoed too:
        # the client does not take over context anyway, and saying so lets
        # this side drop its decompressor between messages.
        client_nct = client_nct or config.client_no_context_takeover

        # §7.1.2.1: answer with the same or a smaller value than offered; a
        # server MAY limit its window even when the client did not ask.
        if server_mwb is None:
            server_mwb = config.server_max_window_bits
        elif config.server_max_window_bits is not None:
            server_mwb = min(server_mwb, config.server_max_window_bits)
        # Every value 8..15 can be honoured (see "Window bits 8" above), so
        # no offer is declined for its server_max_window_bits.

        # §7.1.2.2: the response MUST NOT limit the client's window unless
        # the offer has client_max_window_bits; a value there is the client's
        # own limit, and an answer must not exceed it.
        if client_mwb is None:
            response_client_mwb = None
        elif client_mwb is True:
            response_client_mwb = config.client_max_window_bits
        elif config.client_max_window_bits is not None:
            response_client_mwb = min(client_mwb, config.client_max_window_bits)
        else:
            response_client_mwb = client_mwb

        session = DeflateSession(
            "server",
            local_no_context_takeover=server_nct,
            remote_no_context_takeover=client_nct,
            local_max_window_bits=15 if server_mwb is None else server_mwb,
            remote_max_window_bits=15 if response_client_mwb is None else response_client_mwb,
            compress_level=config.compress_level,
            mem_level=config.mem_level,
            threshold=config.threshold,
        )
        return _response_params(server_nct, client_nct, server_mwb, response_client_mwb), session
    return None


def client_offer(config: PerMessageDeflate) -> Params:
    """Client side: the parameters to offer after ``permessage-deflate``.

    ``client_max_window_bits`` is offered (without a value unless configured)
    so that the server may limit our window (RFC 7692 §7.1.2.2), unless
    ``offer_client_max_window_bits`` is False. Pass the server's answer to
    :func:`accept_response`.
    """
    params: Params = []
    if config.server_no_context_takeover:
        params.append((_SERVER_NCT, None))
    if config.client_no_context_takeover:
        params.append((_CLIENT_NCT, None))
    if config.server_max_window_bits is not None:
        params.append((_SERVER_MWB, str(config.server_max_window_bits)))
    if config.offer_client_max_window_bits:
        bits = config.client_max_window_bits
        params.append((_CLIENT_MWB, None if bits is None else str(bits)))
    return params


def accept_response(
    config: PerMessageDeflate, params: Sequence[Tuple[str, Optional[str]]], *, status: int = 101
) -> DeflateSession:
    """Client side: validate the server's permessage-deflate parameters.

    Args:
        config: the configuration the offer was built from with
            :func:`client_offer`.
        params: the parameters of the ``permessage-deflate`` element of the
            response's ``Sec-WebSocket-Extensions``.
        status: the response's HTTP status, carried by the exception.

    Returns:
        The session (client role) for the connection's data frames.

    Raises:
        InvalidHandshake: rule ``"bad-deflate-response"``; the response does
            not answer our offer as RFC 7692 §5 and §7.1 require, and the
            connection must be failed.
    """
    try:
        server_nct, client_nct, server_mwb, client_mwb = _parse(params, offer=False)
        # §7.1.1.1: a server that accepts an offer with
        # server_no_context_takeover includes it in the response.
        if config.server_no_context_takeover and not server_nct:
            raise _Unacceptable(f"{_SERVER_NCT} was requested but is missing")
        # §7.1.2.1: when requested, server_max_window_bits is answered with
        # the same or a smaller value.
        if config.server_max_window_bits is not None:
            if server_mwb is None:
                raise _Unacceptable(f"{_SERVER_MWB} was requested but is missing")
            if server_mwb > config.server_max_window_bits:
                raise _Unacceptable(
                    f"{_SERVER_MWB}={server_mwb} exceeds the requested "
                    f"{config.server_max_window_bits}"
                )
        # §7.1.2.2: only in answer to an offer that has it, and never above
        # the value offered.
        if client_mwb is not None:
            if not config.offer_client_max_window_bits:
                raise _Unacceptable(f"{_CLIENT_MWB} was not offered")
            if config.client_max_window_bits is not None and client_mwb > config.client_max_window_bits:
                raise _Unacceptable(
                    f"{_CLIENT_MWB}={client_mwb} exceeds the offered "
                    f"{config.client_max_window_bits}"
                )
    except _Unacceptable as exc:
        raise exc.error(
            *exc.error_args,
            status=status,
            rule="bad-deflate-response",
            reason=f"invalid permessage-deflate response: {exc}",
        ) from None

    if client_mwb is None:
        client_mwb = config.client_max_window_bits
    return DeflateSession(
        "client",
        # We announced it in the offer, so we keep our word whatever the answer.
        local_no_context_takeover=client_nct or config.client_no_context_takeover,
        remote_no_context_takeover=server_nct,
        local_max_window_bits=15 if client_mwb is None else int(client_mwb),
        remote_max_window_bits=15 if server_mwb is None else server_mwb,
        compress_level=config.compress_level,
        mem_level=config.mem_level,
        threshold=config.threshold,
    )


class DeflateSession:
    """permessage-deflate for one connection: compress and decompress frames.

    Built by :func:`negotiate` (server) or :func:`accept_response` (client).
    "local" is this endpoint's compressor, "remote" the peer's, whose output
    we decompress.

    Args:
        role: ``"server"`` or ``"client"`` (informational; the negotiated
            values below already say who does what).
        local_no_context_takeover: reset our compressor after each message.
        remote_no_context_takeover: the peer resets its compressor after each
            message, so ours can be dropped between messages.
        local_max_window_bits: 8..15, our compressor's window (8 compresses
            with zlib's 9, whose distances stay within 256 bytes).
        remote_max_window_bits: 8..15, our decompressor's window.
        compress_level, mem_level: zlib settings of our compressor.
        threshold: see :meth:`should_compress`.

    zlib objects are created on first use and, without context takeover,
    released at the end of each message; memory figures are in the module
    docstring.
    """

    __slots__ = (
        "role",
        "local_no_context_takeover",
        "remote_no_context_takeover",
        "local_max_window_bits",
        "remote_max_window_bits",
        "compress_level",
        "mem_level",
        "threshold",
        "_deflate_wbits",
        "_compressor",
        "_decompressor",
        "_after_final",
    )

    def __init__(
        self,
        role: str,
        *,
        local_no_context_takeover: bool = False,
        remote_no_context_takeover: bool = False,
        local_max_window_bits: int = 15,
        remote_max_window_bits: int = 15,
        compress_level: int = 6,
        mem_level: int = 8,
        threshold: int = 0,
    ) -> None:
        if role not in ("server", "client"):
            raise ValueError(f"role must be 'server' or 'client', not {role!r}")
        _check_int("local_max_window_bits", local_max_window_bits, 8, 15)
        _check_int("remote_max_window_bits", remote_max_window_bits, 8, 15)
        _check_int("compress_level", compress_level, -1, 9)
        _check_int("mem_level", mem_level, 1, 9)
        _check_int("threshold", threshold, 0, None)
        self.role = role
        self.local_no_context_takeover = bool(local_no_context_takeover)
        self.remote_no_context_takeover = bool(remote_no_context_takeover)
        self.local_max_window_bits = local_max_window_bits
        self.remote_max_window_bits = remote_max_window_bits
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.threshold = threshold
        self._deflate_wbits = max(local_max_window_bits, _MIN_DEFLATE_WBITS)
        self._compressor = None  # type: Optional[zlib._Compress]
        self._decompressor = None  # type: Optional[zlib._Decompress]
        # Bytes the peer sent after a final (BFINAL) block of the current
        # message, or None while the deflate stream has not ended.
        self._after_final: Optional[bytes] = None

    def __repr__(self) -> str:
        return (
            f"DeflateSession({self.role!r}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_max_window_bits={self.local_max_window_bits}, "
            f"remote_max_window_bits={self.remote_max_window_bits})"
        )

    # -- sending -----------------------------------------------------------

    def shared_setting(self) -> Optional[Tuple[int, int, int]]:
        """The setting the next message's compressed bytes depend on, if
        nothing else: ``(compress_level, mem_level, window bits)``, or None.

        Without context takeover on this side, and with no message being
        compressed, the compressor starts afresh for the next message, so any
        two such sessions with the same setting turn the same message into
        the same bytes: a broadcast compresses it once per setting
        (:mod:`wsfast.fanout`). With context takeover the bytes depend on
        every earlier message of the connection: None.
        """
        if self.local_no_context_takeover and self._compressor is None:
            return (self.compress_level, self.mem_level, self._deflate_wbits)
        return None

    def should_compress(self, size: int) -> bool:
        """Whether a message of *size* bytes is worth compressing.

        Messages shorter than the configured ``threshold`` are sent
        uncompressed (RSV1 clear), which RFC 7692 §6 allows per message.
        """
        return size >= self.threshold

    def compress(self, data: bytes, fin: bool = True) -> bytes:
        """Compress one frame's payload of a compressed message.

        Args:
            data: the frame's uncompressed payload (any bytes-like object).
            fin: this is the message's last frame.

        Returns:
            The payload to send; the message's first frame carries RSV1.

        Every frame ends with a sync flush, so the peer can decompress it as
        it arrives. For the last frame, the flush's trailing ``00 00 ff ff``
        is removed (RFC 7692 §7.2.1) and, without context takeover, the
        compressor is released.
        """
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = zlib.compressobj(
                self.compress_level, zlib.DEFLATED, -self._deflate_wbits, self.mem_level
            )
        head = compressor.compress(data)
        flushed = compressor.flush(zlib.Z_SYNC_FLUSH)
        if not fin:
            return head + flushed if head else flushed
        if self.local_no_context_takeover:
            self._compressor = None
        # A sync flush always ends with the empty stored block, even with no
        # new input; check rather than trust, as a wrong cut corrupts the peer.
        if flushed[-4:] != _TAIL:  # pragma: no cover - zlib guarantees it
            raise RuntimeError("zlib sync flush did not end with 00 00 ff ff")
        if head:
            return b"".join((head, memoryview(flushed)[:-4]))
        return flushed[:-4]

    # -- receiving ---------------------------------------------------------

    def decompress(self, data: bytes, fin: bool, max_length: int) -> bytes:
        """Decompress one frame's payload of a compressed message.

        Args:
            data: the frame's (unmasked) payload, any bytes-like object.
            fin: this is the message's last frame; the ``00 00 ff ff`` tail
                is appended (RFC 7692 §7.2.2).
            max_length: how many more decompressed bytes the message may have.

        Returns:
            The decompressed bytes, at most ``max_length + 1`` of them. More
            than ``max_length`` means the message is too big: fail the
            connection with 1009 (rule ``"decompressed-too-big"``); the rest
            of the frame was not decompressed and the session must not be
            used again.

        Raises:
            ProtocolError: rule ``"invalid-compressed-data"`` (1002), the data
                is not a valid deflate stream (see the module docstring for
                data after a final block).
        """
        if max_length < 0:
            raise ValueError("max_length must be >= 0")
        if self._after_final is not None:
            # At most one byte may follow a final block: reject more unread.
            extra = self._after_final + bytes(data[:2])
            self._check_after_final(extra, fin, tail_added=False)
            return b""

        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = zlib.decompressobj(-self.remote_max_window_bits)
        # zlib treats a max_length of 0 as "no limit": the budget is >= 1.
        budget = max_length + 1
        try:
            if fin and len(data) < _JOIN_TAIL_BELOW:
                out = decompressor.decompress(b"".join((data, _TAIL)), budget)
                tail_pending = False
            else:
                out = decompressor.decompress(data, budget)
                tail_pending = fin
            if len(out) >= budget:
                # Over the limit; unconsumed_tail may hold the rest of the
                # input (and an incomplete output block may be held inside
                # zlib). Neither is decompressed: the message is refused.
                self._decompressor = None
                return out
            # Below the limit, zlib consumed all the input (unconsumed_tail
            # is empty) unless the stream ended (then it is in unused_data).
            if tail_pending and not decompressor.eof:
                more = decompressor.decompress(_TAIL, budget - len(out))
                if more:  # pending output released by the tail; rare
                    out = out + more
                tail_pending = False
        except zlib.error as exc:
            self._decompressor = None
            raise protocol_error("invalid-compressed-data") from exc

        if decompressor.eof:
            # A final block ended the deflate stream (§7.2.3.3); zlib cannot
            # continue it, so the next message starts a new one.
            self._decompressor = None
            extra = decompressor.unused_data
            self._check_after_final(extra, fin, tail_added=not tail_pending)
        elif fin and self.remote_no_context_takeover:
            self._decompressor = None
        return out

    def _check_after_final(self, extra: bytes, fin: bool, tail_added: bool) -> None:
        """Validate what follows a final block; raise invalid-compressed-data."""
        if not fin:
            if extra not in _AFTER_FINAL_PARTIAL:
                self._after_final = None
                raise protocol_error("invalid-compressed-data")
            self._after_final = extra
            return
        self._after_final = None
        if not tail_added:
            extra += _TAIL
        if extra not in _AFTER_FINAL_COMPLETE:
            raise protocol_error("invalid-compressed-data")
