"""HTTP header fields and the grammar of their values, as the upgrade uses them.

:class:`Headers`, the ordered, case-insensitive multi-map that both
:class:`~wsfast.events.Request` and :class:`~wsfast.events.Response` carry,
is defined in :mod:`wsfast.datastructures` and importable from here too.
The functions parse and build the values of the fields the upgrade reads:
comma-separated lists of tokens (RFC 7230 §7, §3.2.6), ``Upgrade`` (RFC 7230
§6.7), ``Sec-WebSocket-Protocol`` (RFC 6455 §4.3) and
``Sec-WebSocket-Extensions`` with its quoted strings (RFC 6455 §9.1).

This module is separate because the grammar of a field value depends neither
on how a message is framed on the wire (:mod:`wsfast.http11`) nor on what the
handshake requires of it (:mod:`wsfast.handshake`), and so that
:mod:`wsfast.events` can type its headers without importing either. It
imports nothing from wsfast but :mod:`wsfast.datastructures` and
:mod:`wsfast.errors`: a value that breaks the
grammar raises :class:`~wsfast.exceptions.InvalidHeaderFormat` (an
:class:`~wsfast.errors.InvalidHandshake`, 400) with its own rule id, as
websockets does.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Tuple

# Headers and friends live in wsfast.datastructures (websockets' module for
# them); they stay importable from here, where wsfast's code imported them.
from .datastructures import (  # noqa: F401
    _CTL,
    _TCHARS,
    _TOKEN,
    Headers,
    HeadersLike,
    MultipleValuesError,
    _as_headers,
)
from .errors import InvalidHandshake, InvalidHeaderFormat, InvalidHeaderValue

__all__ = [
    "Headers",
    "HeadersLike",
    "ExtensionList",
    "MultipleValuesError",
    "parse_token_list",
    "parse_subprotocols",
    "parse_extensions",
    "serialize_extensions",
]

ExtensionList = List[Tuple[str, List[Tuple[str, Optional[str]]]]]

# RFC 7230 §3.2.6: token = 1*tchar (_TCHARS, _TOKEN and _CTL are shared
# with wsfast.datastructures, which checks the fields it serializes).
# The bytes twins below serve the parsers of wsfast.http11, which read raw lines.
_BYTES_TOKEN = re.compile(f"[{_TCHARS}]+".encode())
_BYTES_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_OWS = " \t"


# --------------------------------------------------------------------------
# Header-value grammar (RFC 7230 §7, RFC 6455 §9.1)


def _check_token(text: str, what: str) -> str:
    if not isinstance(text, str) or not _TOKEN.fullmatch(text):
        raise ValueError(f"invalid {what} {text!r}: not a token")
    return text


def _list_elements(value: str) -> List[str]:
    """Split one header line on commas; OWS stripped, empty elements dropped
    (RFC 7230 §7: recipients accept empty list elements)."""
    return [part.strip(_OWS) for part in value.split(",") if part.strip(_OWS)]


def parse_token_list(
    values: Iterable[str], *, header: str = "header", rule: str = "bad-token-list"
) -> List[str]:
    """Parse a comma-separated list of tokens spread over header lines.

    Args:
        values: every line of the header, e.g. ``headers.get_all("Connection")``.
        header: the header's name, for the error message.
        rule: the rule id of the error.

    Returns:
        The tokens in order, case preserved.

    Raises:
        InvalidHandshake: 400 if an element is not a token (RFC 7230 §3.2.6).
    """
    tokens = []
    for value in values:
        for element in _list_elements(value):
            if not _TOKEN.fullmatch(element):
                raise InvalidHeaderFormat(
                    header,
                    "expected token",
                    value,
                    value.find(element),
                    rule=rule,
                    reason=f"invalid token {element!r} in {header}",
                )
            tokens.append(element)
    return tokens


def _parse_upgrade(values: Iterable[str], rule: str = "bad-upgrade-header") -> List[str]:
    # RFC 7230 §6.7: Upgrade = 1#protocol; protocol = name ["/" version].
    protocols = []
    for value in values:
        for element in _list_elements(value):
            name, slash, version = element.partition("/")
            if not _TOKEN.fullmatch(name) or (slash and not _TOKEN.fullmatch(version)):
                raise InvalidHeaderFormat(
                    "Upgrade",
                    "expected protocol",
                    value,
                    value.find(element),
                    rule=rule,
                    reason=f"invalid protocol {element!r} in Upgrade",
                )
            protocols.append(element)
    return protocols


def parse_subprotocols(values: Iterable[str]) -> List[str]:
    """Parse ``Sec-WebSocket-Protocol`` (RFC 6455 §4.3: ``1#token``).

    Args:
        values: every line of the header.

    Returns:
        The subprotocols in order.

    Raises:
        InvalidHandshake: 400, rule ``bad-subprotocol-header``, if an element
            is not a token or a line lists nothing.
    """
    protocols = []
    for value in values:
        found = parse_token_list(
            [value], header="Sec-WebSocket-Protocol", rule="bad-subprotocol-header"
        )
        if not found:
            raise InvalidHeaderValue(
                "Sec-WebSocket-Protocol",
                value,
                rule="bad-subprotocol-header",
                reason="empty Sec-WebSocket-Protocol header",
            )
        protocols += found
    return protocols


class _Scanner:
    """Cursor over one header line for the §9.1 grammar."""

    __slots__ = ("text", "pos")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ows(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _OWS:
            pos += 1
        self.pos = pos

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def token(self) -> Optional[str]:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def quoted_string(self) -> Optional[str]:
        # RFC 7230 §3.2.6: DQUOTE *( qdtext / quoted-pair ) DQUOTE.
        text, pos = self.text, self.pos + 1
        chars: List[str] = []
        while pos < len(text):
            char = text[pos]
            if char == '"':
                self.pos = pos + 1
                return "".join(chars)
            if char == "\\":
                pos += 1
                if pos == len(text):
                    return None
                char = text[pos]
            if _CTL.match(char):
                return None
            chars.append(char)
            pos += 1
        return None


def parse_extensions(values: Iterable[str]) -> ExtensionList:
    """Parse ``Sec-WebSocket-Extensions`` (RFC 6455 §9.1).

    Grammar::

        extension-list  = 1#extension
        extension       = extension-token *( ";" extension-param )
        extension-param = token [ "=" ( token / quoted-string ) ]

    A quoted value must itself be a token once unquoted. Whitespace is allowed
    around ``,``, ``;`` and ``=``.

    Args:
        values: every line of the header.

    Returns:
        ``[(name, [(param, value or None), ...]), ...]`` in order. Nothing is
        checked beyond the grammar: duplicates and unknown parameters are for
        the extension to judge.

    Raises:
        InvalidHandshake: 400, rule ``bad-extensions-header``.
    """
    extensions: ExtensionList = []
    for value in values:
        before = len(extensions)
        _parse_extension_line(value, extensions)
        if len(extensions) == before:
            raise _bad_extensions(value, "it lists no extension")
    return extensions


def _bad_extensions(value: str, why: str, pos: Optional[int] = None) -> InvalidHandshake:
    # websockets' InvalidHeaderFormat names the position apart; wsfast's
    # reason (the response body) keeps it in the sentence.
    where = "" if pos is None else f" at {pos}"
    return InvalidHeaderFormat(
        "Sec-WebSocket-Extensions",
        why,
        value,
        len(value) if pos is None else pos,
        rule="bad-extensions-header",
        reason=f"invalid Sec-WebSocket-Extensions {value[:100]!r}: {why}{where}",
    )


def _parse_extension_line(value: str, into: ExtensionList) -> None:
    scan = _Scanner(value)
    while True:
        scan.skip_ows()
        if scan.peek() == ",":  # empty list element
            scan.pos += 1
            continue
        if scan.peek() == "":
            return
        name = scan.token()
        if name is None:
            raise _bad_extensions(value, "expected an extension name", scan.pos)
        params: List[Tuple[str, Optional[str]]] = []
        scan.skip_ows()
        while scan.peek() == ";":
            scan.pos += 1
            scan.skip_ows()
            param = scan.token()
            if param is None:
                raise _bad_extensions(value, "expected a parameter name", scan.pos)
            scan.skip_ows()
            param_value: Optional[str] = None
            if scan.peek() == "=":
                scan.pos += 1
                scan.skip_ows()
                if scan.peek() == '"':
                    param_value = scan.quoted_string()
                    # RFC 6455 §9.1: a quoted value must be a token once unquoted.
                    if param_value is None or not _TOKEN.fullmatch(param_value):
                        raise _bad_extensions(value, f"invalid quoted value for {param}")
                else:
                    param_value = scan.token()
                    if param_value is None:
                        raise _bad_extensions(value, f"expected a value for {param}")
                scan.skip_ows()
            params.append((param, param_value))
        into.append((name, params))
        if scan.peek() == ",":
            scan.pos += 1
        elif scan.peek() != "":
            raise _bad_extensions(value, f"unexpected {scan.peek()!r}", scan.pos)


def serialize_extensions(
    extensions: Iterable[Tuple[str, Iterable[Tuple[str, Optional[str]]]]]
) -> str:
    """Build a ``Sec-WebSocket-Extensions`` value from what
    :func:`parse_extensions` returns.

    Raises:
        ValueError: if a name, parameter or value is not a token.
    """
    parts = []
    for name, params in extensions:
        items = [_check_token(name, "extension name")]
        for param, param_value in params:
            _check_token(param, "extension parameter")
            if param_value is None:
                items.append(param)
            else:
                # RFC 6455 §9.1: values are tokens, so they never need quotes.
                items.append(f"{param}={_check_token(param_value, 'parameter value')}")
        parts.append("; ".join(items))
    return ", ".join(parts)
