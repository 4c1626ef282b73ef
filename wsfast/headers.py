"""HTTP header fields and the grammar of their values, as the upgrade uses them.

:class:`Headers` is the ordered, case-insensitive multi-map that both
:class:`~wsfast.events.Request` and :class:`~wsfast.events.Response` carry.
The functions parse and build the values of the fields the upgrade reads:
comma-separated lists of tokens (RFC 7230 §7, §3.2.6), ``Upgrade`` (RFC 7230
§6.7), ``Sec-WebSocket-Protocol`` (RFC 6455 §4.3) and
``Sec-WebSocket-Extensions`` with its quoted strings (RFC 6455 §9.1).

This module is separate because the grammar of a field value depends neither
on how a message is framed on the wire (:mod:`wsfast.http11`) nor on what the
handshake requires of it (:mod:`wsfast.handshake`), and so that
:mod:`wsfast.events` can type its headers without importing either. It
imports nothing from wsfast but :mod:`wsfast.errors`: a value that breaks the
grammar raises :class:`~wsfast.errors.InvalidHandshake` (400) with its own
rule id.
"""

from __future__ import annotations

import base64
import re
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from .errors import InvalidHandshake

__all__ = [
    "Headers",
    "HeadersLike",
    "ExtensionList",
    "MultipleValuesError",
    "parse_token_list",
    "parse_subprotocols",
    "parse_extensions",
    "serialize_extensions",
    "build_authorization_basic",
]

HeadersLike = Union["Headers", Mapping[str, str], Iterable[Tuple[str, str]]]
ExtensionList = List[Tuple[str, List[Tuple[str, Optional[str]]]]]

# RFC 7230 §3.2.6: token = 1*tchar.
_TCHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{_TCHARS}]+")
# The bytes twins below serve the parsers of wsfast.http11, which read raw lines.
_BYTES_TOKEN = re.compile(f"[{_TCHARS}]+".encode())
# RFC 7230 §3.2: field-value is VCHAR / obs-text / SP / HTAB; every other
# control character (NUL, CR, LF, DEL, ...) is refused.
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BYTES_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_OWS = " \t"


# --------------------------------------------------------------------------
# Headers


class MultipleValuesError(KeyError):
    """A header read as a single value appears several times."""

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class Headers:
    """An ordered, case-insensitive multi-map of HTTP header fields.

    Field names keep the case they were given in; lookups ignore it.
    ``headers[name] = value`` *appends* a field, as in websockets, so code
    written for that library works unchanged; ``del headers[name]`` removes
    every field of that name.

    Args:
        items: ``(name, value)`` pairs, a mapping, or another :class:`Headers`.

    Names and values are checked when the headers are serialized
    (:meth:`serialize`), not when they are stored.
    """

    __slots__ = ("_items", "_index")

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, items: Optional[HeadersLike] = None) -> None:
        self._items: List[Tuple[str, str]] = []
        self._index: Dict[str, List[str]] = {}
        if items is None:
            return
        if isinstance(items, Headers):
            pairs: Iterable[Tuple[str, str]] = items._items
        elif isinstance(items, Mapping):
            pairs = items.items()
        else:
            pairs = items
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a field ``name: value``."""
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: Any = None) -> Any:
        """Return the first value of ``name``, or ``default`` if it is absent."""
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> List[str]:
        """Return every value of ``name`` in order (an empty list if absent)."""
        return list(self._index.get(name.lower(), ()))

    def items(self) -> List[Tuple[str, str]]:
        """Return every ``(name, value)`` field in order, names as given."""
        return list(self._items)

    def copy(self) -> Headers:
        """Return an independent copy."""
        return Headers(self)

    def serialize(self) -> bytes:
        """Return the fields as HTTP/1.1 lines, each ending in CRLF.

        Raises:
            ValueError: if a name is not an HTTP token, or a value holds a
                control character (CR, LF, NUL, ...) or a character outside
                Latin-1.
        """
        lines = []
        for name, value in self._items:
            # RFC 7230 §3.2: field-name = token; field-value has no CTL.
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"invalid header name {name!r}")
            if _CTL.search(value):
                raise ValueError(f"invalid character in header {name}: {value!r}")
            lines.append(f"{name}: {value}\r\n")
        text = "".join(lines)
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("header values must be Latin-1 text") from None

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower()) if isinstance(name, str) else None
        if not values:
            raise KeyError(name)
        if len(values) > 1:
            raise MultipleValuesError(f"{name!r} appears {len(values)} times")
        return values[0]

    def __setitem__(self, name: str, value: str) -> None:
        self.add(name, value)

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        if key not in self._index:
            raise KeyError(name)
        del self._index[key]
        self._items = [item for item in self._items if item[0].lower() != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self._items])

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(n.lower(), v) for n, v in self._items] == [
            (n.lower(), v) for n, v in other._items
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


def _as_headers(headers: Any) -> Headers:
    return headers if isinstance(headers, Headers) else Headers(headers)


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
                raise InvalidHandshake(400, f"invalid token {element!r} in {header}", rule)
            tokens.append(element)
    return tokens


def _parse_upgrade(values: Iterable[str], rule: str = "bad-upgrade-header") -> List[str]:
    # RFC 7230 §6.7: Upgrade = 1#protocol; protocol = name ["/" version].
    protocols = []
    for value in values:
        for element in _list_elements(value):
            name, slash, version = element.partition("/")
            if not _TOKEN.fullmatch(name) or (slash and not _TOKEN.fullmatch(version)):
                raise InvalidHandshake(400, f"invalid protocol {element!r} in Upgrade", rule)
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
            raise InvalidHandshake(
                400, "empty Sec-WebSocket-Protocol header", "bad-subprotocol-header"
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


def _bad_extensions(value: str, why: str) -> InvalidHandshake:
    return InvalidHandshake(
        400, f"invalid Sec-WebSocket-Extensions {value[:100]!r}: {why}", "bad-extensions-header"
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
            raise _bad_extensions(value, f"expected an extension name at {scan.pos}")
        params: List[Tuple[str, Optional[str]]] = []
        scan.skip_ows()
        while scan.peek() == ";":
            scan.pos += 1
            scan.skip_ows()
            param = scan.token()
            if param is None:
                raise _bad_extensions(value, f"expected a parameter name at {scan.pos}")
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
            raise _bad_extensions(value, f"unexpected {scan.peek()!r} at {scan.pos}")


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


def build_authorization_basic(username: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic authentication (RFC 7617
    §2): ``Basic`` and base64 of ``user-id:password`` in UTF-8.

    Raises:
        ValueError: if the user-id contains a colon, which §2 forbids (the
            server could not tell where the password starts).
    """
    if ":" in username:
        raise ValueError("a Basic authentication user-id cannot contain ':'")
    credentials = f"{username}:{password}".encode("utf-8", "surrogateescape")
    return "Basic " + base64.b64encode(credentials).decode("ascii")
