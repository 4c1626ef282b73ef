"""Proxies for WebSocket clients: which one to use, and what to tell it.

:func:`parse_proxy` reads a proxy URL (``socks5h://``, ``socks5://``,
``socks4a://``, ``socks4://``, ``http://``, ``https://``, with optional
``user:password@``); :func:`get_proxy` finds the proxy configured for a
WebSocket URI in the environment; :func:`connect_request` builds the HTTP
``CONNECT`` request that opens a tunnel through an HTTP proxy.

This module is separate because choosing a proxy is decided before any byte
is sent and has no I/O: the asyncio client (:mod:`wsfast.asyncio.client`)
opens the connections, ``python-socks`` speaks SOCKS. The rules follow
websockets' so that a deployment configured for it (``https_proxy``,
``no_proxy``, ...) behaves the same with wsfast.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
import urllib.request
from typing import Optional, Tuple

from .exceptions import InvalidProxy
from .headers import Headers, build_authorization_basic
from .uri import WebSocketURI, host_header

__all__ = ["Proxy", "parse_proxy", "get_proxy", "connect_request", "PROXY_SCHEMES"]

#: Every scheme :func:`parse_proxy` accepts.
PROXY_SCHEMES = ("socks5h", "socks5", "socks4a", "socks4", "https", "http")


@dataclasses.dataclass
class Proxy:
    """A proxy's address.

    Attributes:
        scheme: one of :data:`PROXY_SCHEMES`.
        host: lower case, IDNA-encoded.
        port: always set (80 for ``http`` and the SOCKS schemes without a
            port, 443 for ``https``), as websockets does.
        username, password: credentials from the URL, percent-decoded.
    """

    scheme: str
    host: str
    port: int
    username: Optional[str] = None
    password: Optional[str] = None

    @property
    def user_info(self) -> Optional[Tuple[str, str]]:
        """``(username, password)`` if the proxy URL carried credentials."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)


def parse_proxy(proxy: str) -> Proxy:
    """Parse and validate a proxy URL.

    Raises:
        InvalidProxy: for another scheme, no host, a path, query or
            fragment (a proxy is an address, nothing more), an invalid port,
            or a user name without a password.
    """
    try:
        parsed = urllib.parse.urlsplit(proxy)
        port = parsed.port
    except ValueError as exc:
        raise InvalidProxy(proxy, str(exc)) from None
    if parsed.scheme not in PROXY_SCHEMES:
        raise InvalidProxy(proxy, f"scheme {parsed.scheme} isn't supported")
    if not parsed.hostname:
        raise InvalidProxy(proxy, "hostname isn't provided")
    if parsed.path not in ("", "/"):
        raise InvalidProxy(proxy, "path is meaningless")
    if parsed.query:
        raise InvalidProxy(proxy, "query is meaningless")
    if parsed.fragment:
        raise InvalidProxy(proxy, "fragment is meaningless")
    host = parsed.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidProxy(proxy, "invalid host name") from None
    username, password = parsed.username, parsed.password
    if username is not None:
        if password is None:
            # Basic authentication (HTTP) and SOCKS5 both need the pair.
            raise InvalidProxy(proxy, "username provided without password")
        try:
            username = urllib.parse.unquote(username, errors="strict")
            password = urllib.parse.unquote(password, errors="strict")
        except UnicodeDecodeError:
            raise InvalidProxy(proxy, "credentials are not UTF-8") from None
    default_port = 443 if parsed.scheme == "https" else 80
    return Proxy(parsed.scheme, host, port or default_port, username, password)


def get_proxy(uri: WebSocketURI) -> Optional[str]:
    """The proxy URL configured for *uri* in the environment, or ``None``.

    Reads what :func:`urllib.request.getproxies` reads (``ws_proxy``,
    ``wss_proxy``, ``socks_proxy``, ``https_proxy``, ``http_proxy``, in upper
    or lower case, or the system settings) and honours ``no_proxy``
    (:func:`urllib.request.proxy_bypass`).

    The order: a proxy named for the WebSocket scheme first (the most
    specific setting), then SOCKS (RFC 6455 §4.1 suggests it for WebSocket),
    then the HTTPS proxy (it will be asked for a CONNECT tunnel, which is what
    a WebSocket needs), and for ``ws://`` only, the HTTP proxy.
    """
    if urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    proxies = urllib.request.getproxies()
    schemes = ("wss", "socks", "https") if uri.secure else ("ws", "socks", "https", "http")
    for scheme in schemes:
        proxy = proxies.get(scheme)
        if proxy is None:
            continue
        # getproxies() reports a system SOCKS proxy as socks=http://host:port;
        # it is a SOCKS5 proxy that resolves names itself.
        if scheme == "socks" and proxy.startswith("http://"):
            proxy = "socks5h://" + proxy[len("http://"):]
        return proxy
    return None


def connect_request(proxy: Proxy, uri: WebSocketURI, user_agent: Optional[str] = None) -> bytes:
    """The ``CONNECT`` request asking an HTTP proxy for a tunnel to the
    WebSocket server (RFC 9110 §9.3.6: the target is ``host:port``, always
    with the port; IPv6 literals in brackets)."""
    host = f"[{uri.host}]" if ":" in uri.host else uri.host
    headers = Headers([("Host", host_header(uri.host, uri.port, uri.secure))])
    if user_agent is not None:
        headers.add("User-Agent", user_agent)
    if proxy.user_info is not None:
        headers.add("Proxy-Authorization", build_authorization_basic(*proxy.user_info))
    # serialize() ends with the empty line that ends the request.
    return f"CONNECT {host}:{uri.port} HTTP/1.1\r\n".encode("ascii") + headers.serialize()
