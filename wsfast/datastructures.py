"""HTTP header fields: :class:`Headers`, where websockets keeps it
(``websockets.datastructures``).

One class serves the parsers, the handshake and application code. Its API is
websockets' for the operations applications use on a request or a response
in ``process_request`` / ``process_response``: ``headers[name]`` (a single
value, :exc:`MultipleValuesError` if the field is repeated), ``get_all``,
``raw_items``, ``headers[name] = value`` that *appends* and checks the value,
``del headers[name]``, ``update``, ``clear``, ``copy``, ``serialize`` and
``str()``.

Where wsfast differs on purpose (see "Migrating from websockets" in the
README): iteration, ``len()`` and ``items()`` see every field in order with
its name as received, and ``get`` returns the first value of a repeated
field. A header block is an ordered list of fields, and code that logs or
forwards it must not crash on, or silently merge, a legitimately repeated
field such as ``Sec-WebSocket-Extensions``.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Tuple, Union

__all__ = ["Headers", "HeadersLike", "MultipleValuesError"]

# RFC 7230 §3.2.6: token = 1*tchar.
_TCHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(f"[{_TCHARS}]+")
# RFC 7230 §3.2: field-value is VCHAR / obs-text / SP / HTAB; every other
# control character (NUL, CR, LF, DEL, ...) is refused.
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The same rule as a whole-value match, for values set by application code.
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class MultipleValuesError(KeyError):
    """A header read as a single value (``headers[name]``) appears several
    times. A :class:`KeyError`, hence a :class:`LookupError` as in
    websockets; ``str()`` is the name, quoted, like a :class:`KeyError`'s."""


class Headers:
    """An ordered, case-insensitive multi-map of HTTP header fields.

    Field names keep the case they were given in; lookups ignore it.

    Args:
        *args: at most one of ``(name, value)`` pairs, a mapping (or any
            object with ``keys()`` and ``[]``), or another :class:`Headers`.
        **kwargs: more fields, ``name=value``.

    Fields given to the constructor or to :meth:`add` are checked when the
    headers are serialized (:meth:`serialize`): the parsers build headers
    from bytes they already checked, so checking them twice would only cost
    time. ``headers[name] = value`` and :meth:`update`, the ways application
    code sets a header, check the value at once, as websockets does, so that
    a CR or LF from untrusted input fails where it was set.

    The index keeps each name's values in a tuple, not a list: a tuple of
    strings is untracked by the garbage collector after its first pass, a
    list never is. A server keeps the request and response headers of
    every open connection, and each full collection walks every tracked
    object: at 10,000 connections, lists here made the collector's passes
    a large part of what accepting a connection cost.
    """

    __slots__ = ("_items", "_index")

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._items: List[Tuple[str, str]] = []
        self._index: Dict[str, Tuple[str, ...]] = {}
        if len(args) > 1:
            raise TypeError(f"Headers expected at most 1 positional argument, got {len(args)}")
        for name, value in _pairs(args, kwargs):
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a field ``name: value`` (checked by :meth:`serialize`)."""
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be str, got {name!r}: {value!r}")
        self._items.append((name, value))
        key = name.lower()
        self._index[key] = self._index.get(key, ()) + (value,)

    def get(self, name: str, default: Any = None) -> Any:
        """Return the first value of ``name``, or ``default`` if it is absent."""
        values = self._index.get(name.lower()) if isinstance(name, str) else None
        return values[0] if values else default

    def get_all(self, name: str) -> List[str]:
        """Return every value of ``name`` in order (an empty list if absent)."""
        return list(self._index.get(name.lower(), ()))

    def items(self) -> List[Tuple[str, str]]:
        """Return every ``(name, value)`` field in order, names as given."""
        return list(self._items)

    def raw_items(self) -> Iterator[Tuple[str, str]]:
        """Iterate over every ``(name, value)`` field in order, names as given."""
        return iter(list(self._items))

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """Append the fields of a :class:`Headers`, a mapping or ``(name,
        value)`` pairs, then the keyword arguments, each as ``headers[name] =
        value`` (appended, value checked)."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 positional argument, got {len(args)}")
        for name, value in list(_pairs(args, kwargs)):
            self[name] = value

    def clear(self) -> None:
        """Remove every field."""
        self._items = []
        self._index = {}

    def copy(self) -> Headers:
        """Return an independent copy."""
        return Headers(self)

    def serialize(self) -> bytes:
        """Return the fields as HTTP/1.1 lines, each ending in CRLF, followed
        by the empty line that ends a header block.

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
        lines.append("\r\n")
        text = "".join(lines)
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("header values must be Latin-1 text") from None

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\r\n" for name, value in self._items) + "\r\n"

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower()) if isinstance(name, str) else None
        if not values:
            raise KeyError(name)
        if len(values) > 1:
            raise MultipleValuesError(name)
        return values[0]

    def __setitem__(self, name: str, value: str) -> None:
        if not isinstance(value, str) or not _VALUE.fullmatch(value):
            from .exceptions import InvalidHeaderValue

            raise InvalidHeaderValue(name, value)
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


#: What wsfast accepts where it expects headers: a :class:`Headers`, a
#: mapping of names to values, or ``(name, value)`` pairs.
HeadersLike = Union[Headers, Mapping[str, str], Iterable[Tuple[str, str]]]


def _pairs(args: Tuple[Any, ...], kwargs: Dict[str, str]) -> Iterator[Tuple[str, str]]:
    """The ``(name, value)`` fields of a HeadersLike argument, then of kwargs."""
    if args and args[0] is not None:
        items = args[0]
        if isinstance(items, Headers):
            yield from list(items._items)
        elif hasattr(items, "raw_items"):  # websockets' Headers: every field
            yield from list(items.raw_items())
        elif isinstance(items, Mapping) or hasattr(items, "keys"):
            for name in list(items.keys()):
                yield name, items[name]
        else:
            for name, value in items:
                yield name, value
    yield from kwargs.items()


def _as_headers(headers: Any) -> Headers:
    return headers if isinstance(headers, Headers) else Headers(headers)


