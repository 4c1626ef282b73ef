"""``basic_auth``: a ``process_request`` hook for HTTP Basic Authentication
(RFC 7617), as websockets has it: 401 with ``WWW-Authenticate`` when the
credentials are missing, malformed or wrong; ``connection.username`` set
when they are right."""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import re
from typing import Any, Awaitable, Callable, Iterable, Optional, Tuple, Union, cast

from ..events import Request, Response

__all__ = ["basic_auth"]

Credentials = Tuple[str, str]

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _is_credentials(value: Any) -> bool:
    try:
        username, password = value
    except (TypeError, ValueError):
        return False
    return isinstance(username, str) and isinstance(password, str)


def _quoted(text: str) -> str:
    """An RFC 7230 quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def www_authenticate(realm: str) -> str:
    """The ``WWW-Authenticate`` value of a 401 asking for Basic credentials."""
    return f"Basic realm={_quoted(realm)}, charset=\"UTF-8\""


def parse_basic_authorization(value: str) -> Optional[Credentials]:
    """``(username, password)`` from an ``Authorization: Basic ...`` value,
    or None if it is not one. Bytes that are not UTF-8 become surrogate
    escapes (compared as such), so no value makes this raise."""
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "basic" or not _TOKEN68.fullmatch(token):
        return None
    try:
        decoded = base64.b64decode(token.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None
    username, colon, password = decoded.decode(errors="surrogateescape").partition(":")
    if not colon:
        return None
    return username, password


def basic_auth(
    realm: str = "",
    credentials: Optional[Union[Credentials, Iterable[Credentials]]] = None,
    check_credentials: Optional[Callable[[str, str], Union[bool, Awaitable[bool]]]] = None,
) -> Callable[[Any, Request], Awaitable[Optional[Response]]]:
    """A ``process_request`` hook requiring HTTP Basic credentials::

        serve(handler, host, port,
              process_request=basic_auth(realm="dev", credentials=("hello", "secret")))

    Give exactly one of *credentials* (a ``(username, password)`` pair or
    several) and *check_credentials* (``f(username, password)`` returning a
    bool, or an awaitable of one). Passwords are compared in constant time.

    Raises:
        TypeError: *credentials* is not a pair or pairs of strings.
        ValueError: both or neither of *credentials* and *check_credentials*.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        if _is_credentials(credentials):
            pairs = [credentials]
        elif isinstance(credentials, Iterable):
            pairs = list(credentials)  # type: ignore[arg-type]
            if not all(_is_credentials(pair) for pair in pairs):
                raise TypeError(f"invalid credentials argument: {credentials!r}")
        else:
            raise TypeError(f"invalid credentials argument: {credentials!r}")
        known = dict(pairs)  # type: ignore[arg-type]

        def check_known(username: str, password: str) -> bool:
            expected = known.get(username)
            if expected is None:
                return False
            return hmac.compare_digest(expected.encode(errors="surrogateescape"),
                                       password.encode(errors="surrogateescape"))

        check_credentials = check_known
    # Not None: exactly one of the two was given (checked above).
    check = cast(Callable[[str, str], Union[bool, Awaitable[bool]]], check_credentials)

    def refuse(connection: Any, why: str) -> Response:
        response: Response = connection.respond(401, why)
        response.headers["WWW-Authenticate"] = www_authenticate(realm)
        return response

    async def process_request(connection: Any, request: Request) -> Optional[Response]:
        values = request.headers.get_all("Authorization")
        if not values:
            return refuse(connection, "Missing credentials\n")
        parsed = parse_basic_authorization(values[0]) if len(values) == 1 else None
        if parsed is None:
            return refuse(connection, "Unsupported credentials\n")
        username, password = parsed
        valid = check(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return refuse(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
