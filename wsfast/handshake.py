"""The HTTP/1.1 upgrade handshake of RFC 6455 §4, for both roles, without I/O.

The parsers of :mod:`wsfast.http11` turn bytes into a
:class:`~wsfast.events.Request` or :class:`~wsfast.events.Response`; the plain
functions here validate those events and build the answer. Every failure
raises an :class:`~wsfast.errors.InvalidHandshake` with an HTTP status, a
stable rule id and, where HTTP requires them, the headers the refusal must
carry; its class is the one websockets raises in the same case
(:class:`~wsfast.exceptions.InvalidHeader`, ``InvalidHeaderValue``,
``InvalidUpgrade``, ``InvalidStatus``, ``NegotiationError``...).
:func:`response_for_error` turns it into the response a server sends.

This module holds only the rules of the WebSocket upgrade. It builds on
:mod:`wsfast.headers` (header fields and the grammar of their values) and
:mod:`wsfast.http11` (HTTP/1.1 messages); WebSocket URIs are
:mod:`wsfast.uri`. The public names of those modules that were once defined
here are still importable from here.

Server side: :class:`~wsfast.http11.RequestParser` checks the limits and the
message framing first (its rules are listed in :mod:`wsfast.http11`), then
:func:`check_request` checks the fields, in this order:

=============================  ======  =======================================
rule                           status  when
=============================  ======  =======================================
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
response that cannot be parsed (every :class:`~wsfast.http11.ResponseParser`
error) gives **502**, "bad response from the server", since no status could
be trusted. :func:`check_response` errors carry the status the server sent:
``unexpected-status`` for anything but 101, and, on a 101,
``missing-upgrade``, ``bad-upgrade-header``, ``missing-connection-upgrade``,
``bad-connection-header``, ``missing-accept``, ``duplicate-accept``,
``bad-accept``, ``unexpected-subprotocol``, ``multiple-subprotocols``,
``bad-subprotocol-header`` and ``bad-extensions-header``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Optional, Sequence, Tuple, Union

from .errors import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)
from .events import Request, Response
from .frames import WS_GUID
from .datastructures import _as_headers
from .headers import (
    ExtensionList,
    Headers,
    HeadersLike,
    MultipleValuesError,
    _check_token,
    _parse_upgrade,
    parse_extensions,
    parse_subprotocols,
    parse_token_list,
    serialize_extensions,
)
from .http11 import (
    RequestParser,
    ResponseParser,
    _TARGET,
    reason_phrase,
    serialize_request,
    serialize_response,
)
from .uri import WebSocketURI, host_header, parse_uri

__all__ = [
    "check_request",
    "accept_key",
    "select_subprotocol",
    "build_accept_response",
    "build_reject_response",
    "response_for_error",
    "generate_key",
    "build_request",
    "check_response",
    # Re-exported: these live in wsfast.headers now.
    "Headers",
    "MultipleValuesError",
    "parse_token_list",
    "parse_extensions",
    "serialize_extensions",
    "parse_subprotocols",
    # Re-exported: these live in wsfast.http11 now.
    "RequestParser",
    "ResponseParser",
    "serialize_request",
    "serialize_response",
    # Re-exported: these live in wsfast.uri now.
    "WebSocketURI",
    "parse_uri",
    "host_header",
]

# RFC 7231 §6.5.15: a 426 names the protocol to upgrade to.
_UPGRADE_REQUIRED = (("Upgrade", "websocket"), ("Connection", "Upgrade"))
# RFC 6455 §4.4: the versions the server supports.
_VERSION_REQUIRED = _UPGRADE_REQUIRED + (("Sec-WebSocket-Version", "13"),)


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
        raise InvalidHeader("Host", status=400, rule="missing-host")
    if len(hosts) > 1:
        raise InvalidHeader(
            "Host", "multiple values", rule="duplicate-host", reason="more than one Host header"
        )
    # §4.2.1 item 3: Upgrade contains "websocket", case-insensitively.
    upgrade = _parse_upgrade(headers.get_all("Upgrade"))
    if not any(protocol.lower() == "websocket" for protocol in upgrade):
        raise InvalidUpgrade(
            "Upgrade",
            ", ".join(upgrade) or None,
            status=426,
            rule="missing-upgrade",
            headers=_UPGRADE_REQUIRED,
            reason="Upgrade header does not ask for websocket",
        )
    # §4.2.1 item 4: Connection contains "Upgrade", case-insensitively.
    connection = parse_token_list(
        headers.get_all("Connection"), header="Connection", rule="bad-connection-header"
    )
    if not any(token.lower() == "upgrade" for token in connection):
        raise InvalidUpgrade(
            "Connection",
            ", ".join(connection) or None,
            status=426,
            rule="missing-connection-upgrade",
            headers=_UPGRADE_REQUIRED,
            reason="Connection header does not list upgrade",
        )
    # §4.2.1 item 6 and §4.4: version 13, else 426 naming the version we speak.
    versions = headers.get_all("Sec-WebSocket-Version")
    if not versions:
        raise InvalidHeader(
            "Sec-WebSocket-Version", status=426, rule="missing-version", headers=_VERSION_REQUIRED
        )
    if versions != ["13"]:
        raise InvalidHeaderValue(
            "Sec-WebSocket-Version",
            ", ".join(versions),
            status=426,
            rule="unsupported-version",
            headers=_VERSION_REQUIRED,
            reason=f"unsupported Sec-WebSocket-Version {', '.join(versions)[:40]!r}",
        )
    # §4.2.1 item 5: one key, base64 of 16 bytes.
    keys = headers.get_all("Sec-WebSocket-Key")
    if not keys:
        raise InvalidHeader("Sec-WebSocket-Key", status=400, rule="missing-key")
    if len(keys) > 1:
        raise InvalidHeader(
            "Sec-WebSocket-Key",
            "multiple values",
            rule="duplicate-key",
            reason="more than one Sec-WebSocket-Key header",
        )
    key = keys[0]
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise InvalidHeaderValue(
            "Sec-WebSocket-Key",
            key,
            rule="bad-key",
            reason="Sec-WebSocket-Key is not the base64 of 16 bytes",
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
    reason = reason_phrase(status)
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
        raise InvalidStatus(
            response,
            rule="unexpected-status",
            reason=f"server answered {status} {response.reason_phrase}".rstrip(),
        )
    headers = _as_headers(response.headers)
    try:
        # §4.1 item 2 of the response checks: Upgrade is websocket.
        upgrade = _parse_upgrade(headers.get_all("Upgrade"))
        if not any(protocol.lower() == "websocket" for protocol in upgrade):
            raise InvalidUpgrade(
                "Upgrade",
                ", ".join(upgrade) or None,
                status=status,
                rule="missing-upgrade",
                headers=(),
                reason="Upgrade header is not websocket",
            )
        # Item 3: Connection contains upgrade.
        connection = parse_token_list(
            headers.get_all("Connection"), header="Connection", rule="bad-connection-header"
        )
        if not any(token.lower() == "upgrade" for token in connection):
            raise InvalidUpgrade(
                "Connection",
                ", ".join(connection) or None,
                status=status,
                rule="missing-connection-upgrade",
                headers=(),
                reason="Connection header does not list upgrade",
            )
        # Item 4: Sec-WebSocket-Accept proves the server read our key.
        accepts = headers.get_all("Sec-WebSocket-Accept")
        if not accepts:
            raise InvalidHeader("Sec-WebSocket-Accept", status=status, rule="missing-accept")
        if len(accepts) > 1:
            raise InvalidHeader(
                "Sec-WebSocket-Accept",
                "multiple values",
                status=status,
                rule="duplicate-accept",
                reason="more than one Sec-WebSocket-Accept header",
            )
        if accepts[0] != accept_key(key):
            raise InvalidHeaderValue(
                "Sec-WebSocket-Accept",
                accepts[0],
                status=status,
                rule="bad-accept",
                reason="wrong Sec-WebSocket-Accept",
            )
        # Item 6: one subprotocol at most, and one we offered.
        subprotocol = None
        values = headers.get_all("Sec-WebSocket-Protocol")
        if values:
            protocols = parse_subprotocols(values)
            if len(protocols) > 1:
                raise InvalidHeader(
                    "Sec-WebSocket-Protocol",
                    f"multiple values: {', '.join(protocols)}",
                    status=status,
                    rule="multiple-subprotocols",
                    reason="server chose several subprotocols",
                )
            subprotocol = protocols[0]
            if subprotocol not in offered_subprotocols:
                raise NegotiationError(
                    f"unsupported subprotocol: {subprotocol}",
                    status=status,
                    rule="unexpected-subprotocol",
                    reason=f"server chose subprotocol {subprotocol!r}, which was not offered",
                )
        # Item 5: the extensions are parsed here, judged by the caller.
        extensions = parse_extensions(headers.get_all("Sec-WebSocket-Extensions"))
    except InvalidHandshake as exc:
        if exc.status == status:
            raise
        # Grammar helpers speak as a server (400); report the server's status.
        raise exc.with_status(status) from exc
    return subprotocol, extensions
