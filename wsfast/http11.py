"""HTTP/1.1 messages of the WebSocket upgrade (RFC 7230 §3), without I/O.

Bytes go into :class:`RequestParser` / :class:`ResponseParser`, which return a
:class:`~wsfast.events.Request` or :class:`~wsfast.events.Response` once the
whole header block has arrived; :func:`serialize_request` and
:func:`serialize_response` write them out. Every failure raises an
:class:`~wsfast.errors.InvalidHandshake` with an HTTP status, a stable rule id
and, where HTTP requires them, the headers the refusal must carry; its class
is websockets' for the case (``RequestLineTooLong``, ``HeaderLineTooLong``,
``TooManyHeaders``, ``InvalidMethod``, ``InvalidProtocol``, else
``InvalidMessage``). ``Request`` and ``Response`` are the events of
:mod:`wsfast.events`, importable from here as in websockets.

This module is separate because it knows how a message is framed on the wire,
not what the WebSocket upgrade requires of it: those rules (RFC 6455 §4) are
:mod:`wsfast.handshake`, which builds on this module; the grammar of the field
values is :mod:`wsfast.headers`, which this module builds on.

Request parser (server side); limits (their defaults are those of
:mod:`wsfast.defaults`) are checked as bytes arrive, the other rules in this
order (:func:`wsfast.handshake.check_request` checks the
fields next):

=============================  ======  =======================================
rule                           status  when
=============================  ======  =======================================
request-line-too-long          414     request line longer than ``max_line``
header-too-large               431     a field line longer than ``max_header_size``
header-block-too-large         431     header block longer than ``max_total``
too-many-headers               431     more than ``max_headers`` fields
bare-lf                        400     a line ends in LF without CR (CRLF only)
bad-request-line               400     not ``token SP target SP HTTP/d.d``
unsupported-http-version       505     HTTP major version other than 1
http-1.1-required              400     HTTP/1.0 (upgrade needs HTTP/1.1, §4.1)
method-not-allowed             405     method other than GET (``Allow: GET``)
bad-request-target             400     empty, or bytes outside visible ASCII
obs-fold                       400     field line starting with whitespace
bad-header-line                400     field line without a colon
bad-header-name                400     field name not a token (or space before
                                       the colon)
bad-header-value               400     control character (other than HTAB)
request-body                   400     Content-Length other than 0, or any
                                       Transfer-Encoding: bytes after the head
                                       are WebSocket frames, never a body
=============================  ======  =======================================

Response parser (client side): every error gives **502**, "bad response from
the server", since no status could be trusted; the rule ids are those above
plus ``bad-status-line``, ``status-line-too-long``, ``bad-content-length`` and
``body-too-large``.

Both parsers accept only CRLF line endings (a bare LF could hide a line from a
proxy that reads it differently), no obsolete line folding, and any chunking
of the input; they look at each byte once and fail as soon as a limit is
exceeded, without waiting for the end of the line.
"""

from __future__ import annotations

import http
import re
import sys
from typing import Any, Iterable, Optional, Tuple, Type

from .defaults import (
    MAX_HEADER_BLOCK,
    MAX_HEADER_SIZE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    MAX_RESPONSE_BODY,
)
from .errors import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidMessage,
    InvalidMethod,
    InvalidProtocol,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from .events import Request, Response  # the same classes serve as events and as messages
from .datastructures import _CTL, _as_headers
from .headers import Headers, _BYTES_CTL, _BYTES_TOKEN

__all__ = [
    "Request",
    "Response",
    "SERVER",  # noqa: F822 - module __getattr__
    "USER_AGENT",  # noqa: F822
    "RequestParser",
    "ResponseParser",
    "serialize_request",
    "serialize_response",
    "reason_phrase",
]


def __getattr__(name: str) -> str:
    # SERVER and USER_AGENT: the default ``Server`` header of a server and
    # ``User-Agent`` header of a client, in websockets' shape
    # (``Python/3.x <library>/<version>``). Computed on first use because the
    # version lives in the package, which imports this module.
    if name in ("SERVER", "USER_AGENT"):
        from .version import version as __version__

        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        return f"Python/{python} wsfast/{__version__}"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# RFC 7230 §2.6: HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive).
_HTTP_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 7230 §5.3: request-target, restricted to visible ASCII.
_BYTES_TARGET = re.compile(rb"[\x21-\x7e]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_STATUS_CODE = re.compile(rb"[1-9][0-9][0-9]")
_DIGITS = re.compile(r"[0-9]{1,18}")

_CR = 0x0D


# --------------------------------------------------------------------------
# Incremental parsers


class _HeadParser:
    """Shared machinery: split the head into lines, enforce the limits.

    The buffer holds at most the current incomplete line plus what the
    latest :meth:`feed` brought; the search for LF resumes where the previous
    one stopped, so each byte is scanned once.
    """

    #: when set, every error gets this status and no headers (the response
    #: parser: 502, see the module docstring).
    _status_override: Optional[int] = None
    _start_line_rule = "request-line-too-long"
    _start_line_status = 414
    _start_line_error: Type[InvalidHandshake] = RequestLineTooLong

    def __init__(
        self,
        max_line: int = MAX_REQUEST_LINE,
        max_headers: int = MAX_HEADERS,
        max_header_size: int = MAX_HEADER_SIZE,
        max_total: int = MAX_HEADER_BLOCK,
    ) -> None:
        self.max_line = max_line
        self.max_headers = max_headers
        self.max_header_size = max_header_size
        self.max_total = max_total
        self._buffer = bytearray()
        self._pos = 0  # start of the current line in _buffer
        self._scan = 0  # where the search for LF resumes
        self._size = 0  # bytes of the head consumed so far (complete lines)
        self._start_seen = False
        self._head_done = False
        self._headers = Headers()
        self._event: Any = None
        self._leftover = bytearray()
        self._error: Optional[InvalidHandshake] = None

    @property
    def leftover(self) -> bytes:
        """Bytes received after the message (empty until it is complete)."""
        return bytes(self._leftover)

    def feed(self, data: bytes) -> Any:
        if self._error is not None:
            raise self._error
        if self._event is not None:
            self._leftover += data
            return self._event
        try:
            self._feed(data)
        except InvalidHandshake as exc:
            self._error = exc
            self._buffer = bytearray()
            raise
        return self._event

    def _fail(
        self,
        status: int,
        reason: str,
        rule: str,
        headers: Iterable[Tuple[str, str]] = (),
        *,
        error: Type[InvalidHandshake] = InvalidMessage,
        args: Tuple[Any, ...] = (),
    ) -> InvalidHandshake:
        # *error* is websockets' class for the failure, built with its own
        # *args* (its message is *reason* when it takes none).
        if self._status_override is not None:
            status, headers = self._status_override, ()
        if args:
            return error(*args, status=status, rule=rule, headers=headers, reason=reason)
        return error(reason, status=status, rule=rule, headers=headers)

    def _feed(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while not self._head_done:
            end = buffer.find(b"\n", self._scan)
            if end < 0:
                self._scan = len(buffer)
                self._check_partial_line()
                break
            start = self._pos
            self._pos = self._scan = end + 1
            self._size += end + 1 - start
            crlf = end > start and buffer[end - 1] == _CR
            # The limits first, as _check_partial_line does when the line
            # comes in pieces: the error must not depend on the chunking.
            self._check_length(end - start - crlf)
            if self._size > self.max_total:
                raise self._total_error()
            # RFC 7230 §3: lines end in CRLF; a bare LF is refused.
            if not crlf:
                raise self._fail(400, "line ends with LF without CR", "bare-lf")
            self._line(bytes(buffer[start : end - 1]))
        if self._head_done:
            self._finish(buffer)
        if self._pos:
            del buffer[: self._pos]
            self._scan -= self._pos
            self._pos = 0

    def _check_partial_line(self) -> None:
        # Fail as soon as the incomplete line cannot fit, not when it ends.
        partial = len(self._buffer) - self._pos
        if not partial:
            return
        self._check_length(partial - (self._buffer[-1] == _CR))
        if self._size + partial > self.max_total:
            raise self._total_error()

    def _check_length(self, length: int) -> None:
        if not self._start_seen:
            if length > self.max_line:
                raise self._fail(
                    self._start_line_status,
                    f"start line longer than {self.max_line} bytes",
                    self._start_line_rule,
                    error=self._start_line_error,
                )
        elif length > self.max_header_size:
            raise self._fail(
                431,
                f"header line longer than {self.max_header_size} bytes",
                "header-too-large",
                error=HeaderLineTooLong,
            )

    def _total_error(self) -> InvalidHandshake:
        return self._fail(
            431,
            f"header block longer than {self.max_total} bytes",
            "header-block-too-large",
            error=SecurityError,
        )

    def _line(self, line: bytes) -> None:
        # The limits were checked by _feed.
        if not self._start_seen:
            self._start_line(line)
            self._start_seen = True
        elif not line:
            self._head_done = True
            self._end_of_head()
        else:
            self._header_line(line)

    def _header_line(self, line: bytes) -> None:
        # RFC 7230 §3.2.4: obs-fold (and whitespace before the first field)
        # must be rejected or unfolded; unfolding is a smuggling vector.
        if line[:1] in (b" ", b"\t"):
            raise self._fail(400, "header line starts with whitespace (line folding)", "obs-fold")
        name, colon, value = line.partition(b":")
        if not colon:
            shown = line[:64].decode("latin-1")
            raise self._fail(400, f"header line without a colon: {shown!r}", "bad-header-line")
        # RFC 7230 §3.2.4: no whitespace between the field name and the colon.
        if not _BYTES_TOKEN.fullmatch(name):
            shown = name[:64].decode("latin-1")
            raise self._fail(400, f"invalid header name {shown!r}", "bad-header-name")
        value = value.strip(b" \t")
        if _BYTES_CTL.search(value):
            raise self._fail(
                400, f"invalid character in header {name.decode()}", "bad-header-value"
            )
        if len(self._headers) >= self.max_headers:
            raise self._fail(
                431,
                f"more than {self.max_headers} header fields",
                "too-many-headers",
                error=TooManyHeaders,
            )
        self._headers.add(name.decode("ascii"), value.decode("latin-1"))

    def _start_line(self, line: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _end_of_head(self) -> None:
        pass

    def _finish(self, buffer: bytearray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class RequestParser(_HeadParser):
    """Incremental parser of the client's upgrade request (server side).

    Feed it the bytes received, in any chunking, until it returns a
    :class:`~wsfast.events.Request`; then :attr:`leftover` holds the bytes
    that followed the request (the client's first frames). Pass the request
    to :func:`~wsfast.handshake.check_request` next.

    Only ``GET`` over HTTP/1.1 (or a later 1.x) is accepted, and no body.

    Args:
        max_line: longest request line, CRLF excluded (else 414).
        max_headers: most header fields (else 431).
        max_header_size: longest field line, CRLF excluded (else 431).
        max_total: longest header block, every CRLF included (else 431).
    """

    # The constructor is _HeadParser's; the request line sets the target.
    _path = ""

    def feed(self, data: bytes) -> Optional[Request]:
        """Add received bytes; return the request once its head is complete.

        Once complete, later data goes to :attr:`leftover` and the same
        request is returned again.

        Raises:
            InvalidHandshake: the request is malformed or exceeds a limit;
                raised again by any later call.
        """
        return super().feed(data)  # type: ignore[no-any-return]

    def _start_line(self, line: bytes) -> None:
        # RFC 7230 §3.1.1: request-line = method SP request-target SP HTTP-version.
        parts = line.split(b" ")
        if len(parts) != 3 or not _BYTES_TOKEN.fullmatch(parts[0]):
            raise self._fail(400, "malformed request line", "bad-request-line")
        method, target, version = parts
        match = _HTTP_VERSION.fullmatch(version)
        if match is None:
            raise self._fail(400, "malformed HTTP version", "bad-request-line")
        if match.group(1) != b"1":
            raise self._fail(
                505,
                "only HTTP/1.1 is supported",
                "unsupported-http-version",
                error=InvalidProtocol,
                args=(version.decode("ascii"),),
            )
        # RFC 6455 §4.1: "the method of the request MUST be GET, and the HTTP
        # version MUST be at least 1.1".
        if match.group(2) == b"0":
            raise self._fail(
                400,
                "the upgrade requires HTTP/1.1",
                "http-1.1-required",
                error=InvalidProtocol,
                args=(version.decode("ascii"),),
            )
        if method != b"GET":
            raise self._fail(
                405,
                "the WebSocket upgrade uses GET",
                "method-not-allowed",
                (("Allow", "GET"),),
                error=InvalidMethod,
                args=(method.decode("ascii"),),
            )
        if not _BYTES_TARGET.fullmatch(target):
            raise self._fail(400, "invalid request target", "bad-request-target")
        self._path = target.decode("ascii")

    def _end_of_head(self) -> None:
        # What follows the head is WebSocket frames; a request body would be
        # read as frames (RFC 7230 §3.3.3 framing), so refuse one outright.
        headers = self._headers
        if "Transfer-Encoding" in headers or any(
            value != "0" for value in headers.get_all("Content-Length")
        ):
            raise self._fail(400, "an upgrade request cannot have a body", "request-body")

    def _finish(self, buffer: bytearray) -> None:
        self._leftover += buffer[self._pos :]
        self._pos = self._scan = len(buffer)
        self._event = Request(self._path, self._headers)


class ResponseParser(_HeadParser):
    """Incremental parser of the server's response (client side).

    Feed it the bytes received, in any chunking, until it returns a
    :class:`~wsfast.events.Response`; then :attr:`leftover` holds the bytes
    that followed it (frames a server sent right after its 101). Pass the
    response to :func:`~wsfast.handshake.check_response` next.

    A 101 has no body. Other responses get a body only from Content-Length
    (up to ``max_body``); without one the body is empty and whatever follows
    is in :attr:`leftover` (the connection is about to close anyway). An
    interim 1xx other than 101 is returned like any other response (the
    client sends no ``Expect``, so none is due); it fails
    :func:`~wsfast.handshake.check_response`.

    Every error is a 502, "bad response from the server".

    Args:
        max_line: longest status line, CRLF excluded.
        max_headers: most header fields.
        max_header_size: longest field line, CRLF excluded.
        max_total: longest header block, every CRLF included.
        max_body: largest body announced by Content-Length.
    """

    _status_override = 502
    _start_line_rule = "status-line-too-long"
    _start_line_error = StatusLineTooLong

    def __init__(
        self,
        max_line: int = MAX_REQUEST_LINE,
        max_headers: int = MAX_HEADERS,
        max_header_size: int = MAX_HEADER_SIZE,
        max_total: int = MAX_HEADER_BLOCK,
        max_body: int = MAX_RESPONSE_BODY,
    ) -> None:
        super().__init__(max_line, max_headers, max_header_size, max_total)
        self.max_body = max_body
        self._status = 0
        self._reason = ""
        self._body_length = 0

    def feed(self, data: bytes) -> Optional[Response]:
        """Add received bytes; return the response once it is complete.

        Once complete, later data goes to :attr:`leftover` and the same
        response is returned again.

        Raises:
            InvalidHandshake: 502, the response is malformed or exceeds a
                limit; raised again by any later call.
        """
        return super().feed(data)  # type: ignore[no-any-return]

    def _start_line(self, line: bytes) -> None:
        # RFC 7230 §3.1.2: status-line = HTTP-version SP status-code SP reason-phrase.
        version, space, rest = line.partition(b" ")
        match = _HTTP_VERSION.fullmatch(version)
        if not space or match is None:
            raise self._fail(502, "malformed status line", "bad-status-line")
        if match.group(1) != b"1":
            raise self._fail(
                502,
                "server answered in another HTTP version",
                "unsupported-http-version",
                error=InvalidProtocol,
                args=(version.decode("ascii"),),
            )
        code, _, reason = rest.partition(b" ")  # tolerate a missing reason
        if not _STATUS_CODE.fullmatch(code) or _BYTES_CTL.search(reason):
            raise self._fail(502, "malformed status line", "bad-status-line")
        self._status = int(code)
        self._reason = reason.decode("latin-1")

    def _end_of_head(self) -> None:
        # RFC 7230 §3.3.3: 1xx, 204 and 304 have no body; we read one only
        # when Content-Length announces it.
        status = self._status
        values = self._headers.get_all("Content-Length")
        if (
            status < 200
            or status in (204, 304)
            or not values
            or "Transfer-Encoding" in self._headers
        ):
            return
        # RFC 7230 §3.3.2: one decimal length (identical repeats are a list
        # we do not merge).
        if len(values) != 1 or not _DIGITS.fullmatch(values[0]):
            raise self._fail(502, "invalid Content-Length", "bad-content-length")
        length = int(values[0])
        if length > self.max_body:
            raise self._fail(
                502, f"response body larger than {self.max_body} bytes", "body-too-large"
            )
        self._body_length = length

    def _finish(self, buffer: bytearray) -> None:
        end = self._pos + self._body_length
        if len(buffer) < end:
            return
        body = bytes(buffer[self._pos : end])
        self._leftover += buffer[end:]
        self._pos = self._scan = len(buffer)
        self._event = Response(self._status, self._reason, self._headers, body)



# --------------------------------------------------------------------------
# Serializing


def reason_phrase(status: int) -> str:
    """Return the standard reason phrase of ``status`` (RFC 7231 §6.1), or
    ``""`` for a code without one."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def serialize_request(request: Request) -> bytes:
    """Return the bytes of an upgrade request: ``GET path HTTP/1.1``, headers,
    blank line.

    Raises:
        ValueError: for an invalid path or header.
    """
    if not _TARGET.fullmatch(request.path):
        raise ValueError(f"invalid resource name {request.path!r}")
    head = f"GET {request.path} HTTP/1.1\r\n".encode("ascii")
    return head + _as_headers(request.headers).serialize()



def serialize_response(response: Response) -> bytes:
    """Return the bytes of a response: status line, headers, blank line, body.

    The fields are written as given; no Content-Length is added.

    Raises:
        ValueError: for an invalid status code, reason phrase or header.
    """
    status = response.status_code
    if not isinstance(status, int) or not 100 <= status <= 999:
        raise ValueError(f"invalid status code {status!r}")
    reason = response.reason_phrase
    if _CTL.search(reason):
        raise ValueError(f"invalid reason phrase {reason!r}")
    try:
        head = f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("the reason phrase must be Latin-1 text") from None
    return head + _as_headers(response.headers).serialize() + bytes(response.body)

