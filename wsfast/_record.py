"""Small frozen, slotted value classes shared by frames and events.

Why not dataclasses: a frozen dataclass builds each instance through
``object.__setattr__`` calls in a generated ``__init__``, which is several
times slower than the compiled reader can afford per message. A ``Record``
keeps its fields in ``__slots__`` so that the compiled kernels can create one
with ``tp_alloc`` and fill the slots through their member descriptors (see
``src_c/wsfast/_records.pxd``), while the pure-Python kernels simply call the
class. Both produce indistinguishable objects.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Tuple, Type, TypeVar

__all__ = ["Record", "fast_constructor"]


class Record:
    """Base for immutable value objects with equality, hashing and a repr.

    Subclasses list their fields in ``__slots__``; positional and keyword
    arguments map onto them in order, and fields may have defaults in
    ``_defaults`` (a tuple aligned with the *last* fields).
    """

    __slots__: ClassVar[Tuple[str, ...]] = ()
    _defaults: ClassVar[Tuple[Any, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(
                f"{type(self).__name__} takes at most {len(names)} arguments "
                f"({len(args)} given)"
            )
        first_default = len(names) - len(self._defaults)
        setter = object.__setattr__
        for index, name in enumerate(names):
            if index < len(args):
                if name in kwargs:
                    raise TypeError(
                        f"{type(self).__name__} got multiple values for {name!r}"
                    )
                value = args[index]
            elif name in kwargs:
                value = kwargs.pop(name)
            elif index >= first_default:
                value = self._defaults[index - first_default]
            else:
                raise TypeError(f"{type(self).__name__} missing argument {name!r}")
            setter(self, name, value)
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected arguments {sorted(unknown)}"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _fields(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        parts = []
        for name in self.__slots__:
            value = getattr(self, name)
            text = repr(value)
            if len(text) > 75 and isinstance(value, (bytes, bytearray, str)):
                text = f"{text[:60]}...<{len(value)} in all>"  # big payloads
            parts.append(f"{name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self) -> Any:
        return (type(self), self._fields())


R = TypeVar("R", bound=Record)


def fast_constructor(cls: Type[R]) -> Callable[..., R]:
    """A positional constructor for a Record subclass that skips the generic
    argument handling of ``Record.__init__`` (4x faster for one field): the
    pure-Python kernels build one event per message with it."""
    new = object.__new__
    setters = [cls.__dict__[name].__set__ for name in cls.__slots__]
    if len(setters) == 1:
        (set0,) = setters

        def make1(a: Any) -> R:
            obj: R = new(cls)
            set0(obj, a)
            return obj

        return make1

    def make(*values: Any) -> R:
        obj: R = new(cls)
        for setter, value in zip(setters, values):
            setter(obj, value)
        return obj

    return make
