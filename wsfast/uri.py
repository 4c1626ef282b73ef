"""WebSocket URIs: ``ws://`` and ``wss://`` (RFC 6455 §3), and the Host value.

:func:`parse_uri` validates a URI and splits it into what a client needs to
open a connection and build its upgrade request; :func:`host_header` writes
the Host field back from those parts (RFC 7230 §5.4).

This module is separate because a URI is read before any byte is sent and
has nothing to do with HTTP messages or the handshake rules; it follows RFC
3986 (authority, IP literals, percent-encoding) and imports nothing from
wsfast but its exception, :class:`~wsfast.exceptions.InvalidURI`.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import NamedTuple, Tuple

__all__ = ["WebSocketURI", "parse_uri", "host_header"]


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


def _parse_uri(uri: str) -> WebSocketURI:
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


def parse_uri(uri: str) -> WebSocketURI:
    """Parse a ``ws://`` or ``wss://`` URI (see :func:`_parse_uri` for the
    rules and the result).

    Raises:
        InvalidURI: websockets' exception for a URI that cannot be used, with
            ``uri`` and ``msg``; it is also a :class:`ValueError`.
    """
    from .errors import InvalidURI  # here, to keep the import block as it was

    try:
        return _parse_uri(uri)
    except InvalidURI:
        raise
    except ValueError as exc:
        # The messages end with the URI, which InvalidURI names first.
        msg = str(exc)
        shown = repr(uri)
        if msg.endswith(shown):
            msg = msg[: -len(shown)].rstrip(": ")
            for suffix in (" in WebSocket URI", " in URI"):
                if msg.endswith(suffix):
                    msg = msg[: -len(suffix)]
        raise InvalidURI(uri, msg) from None
