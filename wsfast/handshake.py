"""The HTTP/1.1 upgrade handshake of RFC 6455 §4, for both roles, without I/O.

Bytes go into :class:`RequestParser` / :class:`ResponseParser`, which return a
:class:`~wsfast.events.Request` or :class:`~wsfast.events.Response` once the
whole header block has arrived; plain functions validate those events and
build the answer. Every failure raises :class:`~wsfast.errors.InvalidHandshake`
with an HTTP status, a stable rule id and, where HTTP requires them, the
headers the refusal must carry. :func:`response_for_error` turns it into the
response a server sends.

Server side (limits are checked as bytes arrive; the other rules in this
order):

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
missing-host / duplicate-host  400     Host absent / repeated (RFC 7230 §5.4)
bad-upgrade-header             400     Upgrade is not a list of protocols
missing-upgrade                426     Upgrade does not list ``websocket``
bad-connection-header          400     Connection is not a token list
missing-connection-upgrade     426     Connection does not list ``upgrade``
missing-version                426     no Sec-WebSocket-Version
unsupported-version            426     Sec-WebSocket-Version is not exactly
                                       one ``13`` (§4.4)
missing-key / duplicate-key    400     Sec-WebSocket-Key absent / repeated
bad-key                        400     key is not base64 of 16 bytes
=============================  ======  =======================================

Every 426 carries ``Upgrade: websocket`` and ``Connection: Upgrade`` (RFC 7231
§6.5.15 requires the Upgrade header); the version ones also carry
``Sec-WebSocket-Version: 13`` (RFC 6455 §4.4). A missing Connection token is a
426 like a missing Upgrade token: either way the client did not ask for the
upgrade this resource requires.

Client side, the ``status`` of the error tells what the server said: a
response that cannot be parsed (every :class:`ResponseParser` error, with the
same rule ids as above plus ``bad-status-line``, ``status-line-too-long``,
``bad-content-length`` and ``body-too-large``) gives **502**, "bad response
from the server", since no status could be trusted. :func:`check_response`
errors carry the status the server sent: ``unexpected-status`` for anything
but 101, and, on a 101, ``missing-upgrade``, ``bad-upgrade-header``,
``missing-connection-upgrade``, ``bad-connection-header``, ``missing-accept``,
``duplicate-accept``, ``bad-accept``, ``unexpected-subprotocol``,
``multiple-subprotocols``, ``bad-subprotocol-header`` and
``bad-extensions-header``.

Both parsers accept only CRLF line endings (a bare LF could hide a line from a
proxy that reads it differently), no obsolete line folding, and any chunking
of the input; they look at each byte once and fail as soon as a limit is
exceeded, without waiting for the end of the line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import ipaddress
import os
import re
import urllib.parse
from typing import (
    Any,
    Iterable,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from .errors import InvalidHandshake
from .events import Request, Response
from .frames import WS_GUID
from .headers import (
    ExtensionList,
    Headers,
    HeadersLike,
    MultipleValuesError,
    _BYTES_CTL,
    _BYTES_TOKEN,
    _CTL,
    _as_headers,
    _check_token,
    _parse_upgrade,
    parse_extensions,
    parse_subprotocols,
    parse_token_list,
    serialize_extensions,
)

__all__ = [
    "RequestParser",
    "ResponseParser",
    "check_request",
    "accept_key",
    "select_subprotocol",
    "build_accept_response",
    "build_reject_response",
    "response_for_error",
    "serialize_response",
    "generate_key",
    "build_request",
    "serialize_request",
    "check_response",
    "WebSocketURI",
    "parse_uri",
    "host_header",
    # Re-exported: these live in wsfast.headers now.
    "Headers",
    "MultipleValuesError",
    "parse_token_list",
    "parse_extensions",
    "serialize_extensions",
    "parse_subprotocols",
]

# RFC 7230 §2.6: HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive).
_HTTP_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
# RFC 7230 §5.3: request-target, restricted to visible ASCII.
_BYTES_TARGET = re.compile(rb"[\x21-\x7e]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_STATUS_CODE = re.compile(rb"[1-9][0-9][0-9]")
_DIGITS = re.compile(r"[0-9]{1,18}")

_CR = 0x0D

# RFC 7231 §6.5.15: a 426 names the protocol to upgrade to.
_UPGRADE_REQUIRED = (("Upgrade", "websocket"), ("Connection", "Upgrade"))
# RFC 6455 §4.4: the versions the server supports.
_VERSION_REQUIRED = _UPGRADE_REQUIRED + (("Sec-WebSocket-Version", "13"),)


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

    def __init__(
        self,
        *,
        max_line: int = 8192,
        max_headers: int = 128,
        max_header_size: int = 8192,
        max_total: int = 65536,
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
        self, status: int, reason: str, rule: str, headers: Iterable[Tuple[str, str]] = ()
    ) -> InvalidHandshake:
        if self._status_override is not None:
            return InvalidHandshake(self._status_override, reason, rule)
        return InvalidHandshake(status, reason, rule, headers)

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
            # RFC 7230 §3: lines end in CRLF; a bare LF is refused.
            if end == start or buffer[end - 1] != _CR:
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
                )
        elif length > self.max_header_size:
            raise self._fail(
                431, f"header line longer than {self.max_header_size} bytes", "header-too-large"
            )

    def _total_error(self) -> InvalidHandshake:
        return self._fail(
            431, f"header block longer than {self.max_total} bytes", "header-block-too-large"
        )

    def _line(self, line: bytes) -> None:
        self._check_length(len(line))
        if self._size > self.max_total:
            raise self._total_error()
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
            raise self._fail(431, f"more than {self.max_headers} header fields", "too-many-headers")
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
    to :func:`check_request` next.

    Only ``GET`` over HTTP/1.1 (or a later 1.x) is accepted, and no body.

    Args:
        max_line: longest request line, CRLF excluded (else 414).
        max_headers: most header fields (else 431).
        max_header_size: longest field line, CRLF excluded (else 431).
        max_total: longest header block, every CRLF included (else 431).
    """

    def __init__(
        self,
        max_line: int = 8192,
        max_headers: int = 128,
        max_header_size: int = 8192,
        max_total: int = 65536,
    ) -> None:
        super().__init__(
            max_line=max_line,
            max_headers=max_headers,
            max_header_size=max_header_size,
            max_total=max_total,
        )
        self._path = ""

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
            raise self._fail(505, "only HTTP/1.1 is supported", "unsupported-http-version")
        # RFC 6455 §4.1: "the method of the request MUST be GET, and the HTTP
        # version MUST be at least 1.1".
        if match.group(2) == b"0":
            raise self._fail(400, "the upgrade requires HTTP/1.1", "http-1.1-required")
        if method != b"GET":
            raise self._fail(
                405, "the WebSocket upgrade uses GET", "method-not-allowed", (("Allow", "GET"),)
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
    response to :func:`check_response` next.

    A 101 has no body. Other responses get a body only from Content-Length
    (up to ``max_body``); without one the body is empty and whatever follows
    is in :attr:`leftover` (the connection is about to close anyway). An
    interim 1xx other than 101 is returned like any other response (the
    client sends no ``Expect``, so none is due); it fails :func:`check_response`.

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

    def __init__(
        self,
        max_line: int = 8192,
        max_headers: int = 128,
        max_header_size: int = 8192,
        max_total: int = 65536,
        max_body: int = 65536,
    ) -> None:
        super().__init__(
            max_line=max_line,
            max_headers=max_headers,
            max_header_size=max_header_size,
            max_total=max_total,
        )
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
                502, "server answered in another HTTP version", "unsupported-http-version"
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
# Server side


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``.

    RFC 6455 §4.2.2, step 5: base64 of the SHA-1 of the key followed by the
    GUID of §1.3.
    """
    digest = hashlib.sha1((key + WS_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def check_request(request: Request) -> str:
    """Check that a parsed request asks for a WebSocket upgrade.

    Method and HTTP version were checked by :class:`RequestParser`. Checked
    here, in this order: Host, Upgrade, Connection, Sec-WebSocket-Version,
    Sec-WebSocket-Key (RFC 6455 §4.2.1). Subprotocols and extensions are left
    to the caller (:func:`parse_subprotocols`, :func:`parse_extensions`).

    Args:
        request: the request event.

    Returns:
        The ``Sec-WebSocket-Key``, for :func:`build_accept_response`.

    Raises:
        InvalidHandshake: with the status and rule listed in the module
            docstring; answer it with :func:`response_for_error`.
    """
    headers = _as_headers(request.headers)
    # RFC 7230 §5.4: exactly one Host in an HTTP/1.1 request (§4.2.1 item 2).
    hosts = headers.get_all("Host")
    if not hosts:
        raise InvalidHandshake(400, "missing Host header", "missing-host")
    if len(hosts) > 1:
        raise InvalidHandshake(400, "more than one Host header", "duplicate-host")
    # §4.2.1 item 3: Upgrade contains "websocket", case-insensitively.
    upgrade = _parse_upgrade(headers.get_all("Upgrade"))
    if not any(protocol.lower() == "websocket" for protocol in upgrade):
        raise InvalidHandshake(
            426, "Upgrade header does not ask for websocket", "missing-upgrade", _UPGRADE_REQUIRED
        )
    # §4.2.1 item 4: Connection contains "Upgrade", case-insensitively.
    connection = parse_token_list(
        headers.get_all("Connection"), header="Connection", rule="bad-connection-header"
    )
    if not any(token.lower() == "upgrade" for token in connection):
        raise InvalidHandshake(
            426,
            "Connection header does not list upgrade",
            "missing-connection-upgrade",
            _UPGRADE_REQUIRED,
        )
    # §4.2.1 item 6 and §4.4: version 13, else 426 naming the version we speak.
    versions = headers.get_all("Sec-WebSocket-Version")
    if not versions:
        raise InvalidHandshake(
            426, "missing Sec-WebSocket-Version header", "missing-version", _VERSION_REQUIRED
        )
    if versions != ["13"]:
        raise InvalidHandshake(
            426,
            f"unsupported Sec-WebSocket-Version {', '.join(versions)[:40]!r}",
            "unsupported-version",
            _VERSION_REQUIRED,
        )
    # §4.2.1 item 5: one key, base64 of 16 bytes.
    keys = headers.get_all("Sec-WebSocket-Key")
    if not keys:
        raise InvalidHandshake(400, "missing Sec-WebSocket-Key header", "missing-key")
    if len(keys) > 1:
        raise InvalidHandshake(400, "more than one Sec-WebSocket-Key header", "duplicate-key")
    key = keys[0]
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise InvalidHandshake(
            400, "Sec-WebSocket-Key is not the base64 of 16 bytes", "bad-key"
        )
    return key


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> Optional[str]:
    """Pick the subprotocol to accept (RFC 6455 §4.2.2, step 4, /subprotocol/).

    The server's preference wins: the result is the first of ``supported``
    that the client offered, compared case-sensitively, or ``None``.
    """
    offered_set = set(offered)
    for protocol in supported:
        if protocol in offered_set:
            return protocol
    return None


def build_accept_response(
    key: str,
    *,
    subprotocol: Optional[str] = None,
    extensions: Optional[str] = None,
    extra_headers: HeadersLike = (),
) -> Response:
    """Build the ``101 Switching Protocols`` that accepts the upgrade.

    Args:
        key: the client's key, as returned by :func:`check_request`.
        subprotocol: the chosen subprotocol (see :func:`select_subprotocol`).
        extensions: the ``Sec-WebSocket-Extensions`` value, if any extension
            was accepted.
        extra_headers: further fields, appended last.

    Returns:
        The response; send it with :func:`serialize_response`.

    Raises:
        ValueError: if ``subprotocol`` is not a token.
    """
    # RFC 6455 §4.2.2 item 5.
    headers = Headers(
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key)),
        ]
    )
    if subprotocol is not None:
        headers.add("Sec-WebSocket-Protocol", _check_token(subprotocol, "subprotocol"))
    if extensions:
        headers.add("Sec-WebSocket-Extensions", extensions)
    for name, value in _as_headers(extra_headers).items():
        headers.add(name, value)
    return Response(101, "Switching Protocols", headers)


def build_reject_response(
    status: int, body: Union[bytes, str] = b"", headers: HeadersLike = ()
) -> Response:
    """Build a response that refuses the upgrade.

    Args:
        status: the HTTP status, 200 to 599; the reason phrase is the standard
            one (empty for unregistered codes).
        body: the body; ``str`` is encoded as UTF-8.
        headers: further fields, appended after the defaults. A Content-Type
            given here replaces the default ``text/plain; charset=utf-8``.

    Returns:
        A response with Content-Type, Content-Length and ``Connection:
        close``: the connection closes after it is sent.

    Raises:
        ValueError: for a status outside 200-599, a body with 204 or 304, or a
            Content-Length in ``headers`` (it is computed from the body).
    """
    if not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"cannot refuse an upgrade with status {status!r}")
    if isinstance(body, str):
        body = body.encode("utf-8")
    extra = _as_headers(headers)
    if "Content-Length" in extra:
        raise ValueError("Content-Length is computed from the body")
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    response_headers = Headers()
    if status in (204, 304):  # RFC 7230 §3.3.2: no body, no Content-Length.
        if body:
            raise ValueError(f"a {status} response has no body")
    else:
        if "Content-Type" not in extra:
            response_headers.add("Content-Type", "text/plain; charset=utf-8")
        response_headers.add("Content-Length", str(len(body)))
    response_headers.add("Connection", "close")
    for name, value in extra.items():
        response_headers.add(name, value)
    return Response(status, reason, response_headers, bytes(body))


def response_for_error(exc: InvalidHandshake) -> Response:
    """Build the refusal a server sends for a failed handshake.

    The response has ``exc.status``, the headers the error requires
    (``Sec-WebSocket-Version: 13``, ``Allow: GET``...) and ``exc.reason`` as
    its body.
    """
    return build_reject_response(exc.status, f"{exc.reason}\n", exc.headers)


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
    return head + _as_headers(response.headers).serialize() + b"\r\n" + bytes(response.body)


# --------------------------------------------------------------------------
# Client side


def generate_key() -> str:
    """Return a fresh ``Sec-WebSocket-Key``: base64 of 16 random bytes
    (RFC 6455 §4.1 item 7, from :func:`os.urandom`)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def build_request(
    host: str,
    path: str,
    key: str,
    *,
    subprotocols: Sequence[str] = (),
    extensions: Optional[str] = None,
    extra_headers: HeadersLike = (),
    origin: Optional[str] = None,
) -> Request:
    """Build the client's upgrade request (RFC 6455 §4.1).

    Args:
        host: the Host value, see :func:`host_header`.
        path: the resource name, path and query (see :func:`parse_uri`).
        key: from :func:`generate_key`; keep it for :func:`check_response`.
        subprotocols: subprotocols to offer, in order of preference.
        extensions: the ``Sec-WebSocket-Extensions`` offer, if any.
        extra_headers: further fields, appended last.
        origin: the Origin value, for clients that are browsers' peers.

    Returns:
        The request; send it with :func:`serialize_request`.

    Raises:
        ValueError: if ``path`` is not visible ASCII or a subprotocol is not
            a token.
    """
    if not _TARGET.fullmatch(path):
        raise ValueError(f"invalid resource name {path!r}")
    headers = Headers(
        [
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    if origin is not None:
        headers.add("Origin", origin)
    if subprotocols:
        for protocol in subprotocols:
            _check_token(protocol, "subprotocol")
        headers.add("Sec-WebSocket-Protocol", ", ".join(subprotocols))
    if extensions:
        headers.add("Sec-WebSocket-Extensions", extensions)
    for name, value in _as_headers(extra_headers).items():
        headers.add(name, value)
    return Request(path, headers)


def serialize_request(request: Request) -> bytes:
    """Return the bytes of an upgrade request: ``GET path HTTP/1.1``, headers,
    blank line.

    Raises:
        ValueError: for an invalid path or header.
    """
    if not _TARGET.fullmatch(request.path):
        raise ValueError(f"invalid resource name {request.path!r}")
    head = f"GET {request.path} HTTP/1.1\r\n".encode("ascii")
    return head + _as_headers(request.headers).serialize() + b"\r\n"


def check_response(
    response: Response, key: str, *, offered_subprotocols: Sequence[str] = ()
) -> Tuple[Optional[str], ExtensionList]:
    """Check the server's answer to our upgrade request (RFC 6455 §4.1).

    Args:
        response: the response event.
        key: the key sent in the request.
        offered_subprotocols: the subprotocols the request offered.

    Returns:
        ``(subprotocol or None, extensions)`` where ``extensions`` is the
        parsed ``Sec-WebSocket-Extensions`` (:func:`parse_extensions`); whether
        they were requested is for the extensions layer to decide.

    Raises:
        InvalidHandshake: with ``status`` set to the server's status:
            ``unexpected-status`` if it is not 101, otherwise the rule the
            101 broke (see the module docstring).
    """
    status = response.status_code
    if status != 101:
        # §4.1: anything but 101 is handled per HTTP; the handshake failed.
        raise InvalidHandshake(
            status,
            f"server answered {status} {response.reason_phrase}".rstrip(),
            "unexpected-status",
        )
    headers = _as_headers(response.headers)
    try:
        # §4.1 item 2 of the response checks: Upgrade is websocket.
        upgrade = _parse_upgrade(headers.get_all("Upgrade"))
        if not any(protocol.lower() == "websocket" for protocol in upgrade):
            raise InvalidHandshake(status, "Upgrade header is not websocket", "missing-upgrade")
        # Item 3: Connection contains upgrade.
        connection = parse_token_list(
            headers.get_all("Connection"), header="Connection", rule="bad-connection-header"
        )
        if not any(token.lower() == "upgrade" for token in connection):
            raise InvalidHandshake(
                status, "Connection header does not list upgrade", "missing-connection-upgrade"
            )
        # Item 4: Sec-WebSocket-Accept proves the server read our key.
        accepts = headers.get_all("Sec-WebSocket-Accept")
        if not accepts:
            raise InvalidHandshake(status, "missing Sec-WebSocket-Accept header", "missing-accept")
        if len(accepts) > 1:
            raise InvalidHandshake(
                status, "more than one Sec-WebSocket-Accept header", "duplicate-accept"
            )
        if accepts[0] != accept_key(key):
            raise InvalidHandshake(status, "wrong Sec-WebSocket-Accept", "bad-accept")
        # Item 6: one subprotocol at most, and one we offered.
        subprotocol = None
        values = headers.get_all("Sec-WebSocket-Protocol")
        if values:
            protocols = parse_subprotocols(values)
            if len(protocols) > 1:
                raise InvalidHandshake(
                    status, "server chose several subprotocols", "multiple-subprotocols"
                )
            subprotocol = protocols[0]
            if subprotocol not in offered_subprotocols:
                raise InvalidHandshake(
                    status,
                    f"server chose subprotocol {subprotocol!r}, which was not offered",
                    "unexpected-subprotocol",
                )
        # Item 5: the extensions are parsed here, judged by the caller.
        extensions = parse_extensions(headers.get_all("Sec-WebSocket-Extensions"))
    except InvalidHandshake as exc:
        if exc.status == status:
            raise
        # Grammar helpers speak as a server (400); report the server's status.
        raise InvalidHandshake(status, exc.reason, exc.rule) from exc
    return subprotocol, extensions


# --------------------------------------------------------------------------
# URIs


class WebSocketURI(NamedTuple):
    """A parsed ``ws://`` or ``wss://`` URI (a tuple, so it unpacks)."""

    secure: bool
    host: str
    port: int
    resource: str


_REG_NAME = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+")
_URI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
# RFC 3986 §3.3 / §3.4: characters left as they are in the resource name.
_RESOURCE_SAFE = "!$&'()*+,;=:@/?-._~%"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI (RFC 6455 §3).

    Args:
        uri: ``ws://host[:port][/path][?query]`` or ``wss://...``; the
            scheme is case-insensitive, IPv6 literals go in brackets.

    Returns:
        ``(secure, host, port, resource)``: ``host`` without brackets and
        IDNA-encoded if needed, ``port`` defaulting to 80 / 443,
        ``resource`` the path and query (``/`` if empty), with characters
        outside visible ASCII percent-encoded as UTF-8.

    Raises:
        ValueError: for another scheme, a missing or invalid host, an invalid
            port, a fragment (§3 forbids them), credentials in the URI (send
            an Authorization header instead), or whitespace or control
            characters.
    """
    if not isinstance(uri, str):
        raise TypeError("the URI must be a str")
    if _URI_FORBIDDEN.search(uri):
        raise ValueError(f"whitespace or control character in URI {uri!r}")
    scheme, separator, rest = uri.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws:// or wss:// URI: {uri!r}")
    secure = scheme == "wss"
    if "#" in rest:
        raise ValueError(f"fragment in WebSocket URI {uri!r}")
    cut = len(rest)
    for delimiter in "/?":
        index = rest.find(delimiter)
        if index >= 0:
            cut = min(cut, index)
    authority, resource = rest[:cut], rest[cut:]
    if "@" in authority:
        raise ValueError(f"credentials in WebSocket URI {uri!r}")
    host, port = _parse_authority(authority, 443 if secure else 80, uri)
    if not resource.startswith("/"):
        resource = "/" + resource
    resource = urllib.parse.quote(resource, safe=_RESOURCE_SAFE)
    return WebSocketURI(secure, host, port, resource)


def _parse_authority(authority: str, default_port: int, uri: str) -> Tuple[str, int]:
    if authority.startswith("["):
        # RFC 3986 §3.2.2: IP-literal = "[" IPv6address "]".
        end = authority.find("]")
        if end < 0:
            raise ValueError(f"unclosed IPv6 literal in URI {uri!r}")
        host, port_text = authority[1:end], authority[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"invalid IPv6 address in URI {uri!r}") from None
        if port_text and not port_text.startswith(":"):
            raise ValueError(f"invalid authority in URI {uri!r}")
        port_text = port_text[1:]
        host = host.lower()
    else:
        host, _, port_text = authority.partition(":")
        if ":" in port_text:
            raise ValueError(f"IPv6 address without brackets in URI {uri!r}")
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"invalid host name in URI {uri!r}") from None
        if not _REG_NAME.fullmatch(host):
            raise ValueError(f"missing or invalid host in URI {uri!r}")
        host = host.lower()
    if not port_text:  # RFC 3986 §3.2.3: an empty port means the default.
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise ValueError(f"invalid port in URI {uri!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in URI {uri!r}")
    return host, port


def host_header(host: str, port: int, secure: bool) -> str:
    """Return the Host value for a server: IPv6 literals in brackets, the
    port omitted when it is the scheme's default (RFC 7230 §5.4)."""
    if ":" in host:
        host = f"[{host}]"
    return host if port == (443 if secure else 80) else f"{host}:{port}"
