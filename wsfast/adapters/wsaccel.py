"""wsaccel's two kernels, with its signatures and results, on wsfast's kernels.

Libraries that look for an accelerator (Autobahn, ws4py and others written
against wsaccel) call ``XorMaskerSimple(mask).process(data)`` and
``Utf8Validator().validate(data)``. The classes here give the same results
for any input cut into any chunks -- the tests compare them with wsaccel
0.6.7 on random data -- computed by wsfast's masking and UTF-8 kernels
(compiled, or their pure-Python twins: ``backend=`` chooses, default the
process default).

wsaccel itself is not needed; nothing of it is imported or patched.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from .. import _backend

__all__ = ["XorMaskerNull", "XorMaskerSimple", "createXorMasker", "Utf8Validator"]

#: The wsaccel release whose results these classes reproduce.
COMPATIBLE_WSACCEL = "0.6.7"


def _kernels(backend: Optional[str]) -> Any:
    return _backend.get(backend) if backend else _backend.default


class XorMaskerNull:
    """The masker for unmasked data: ``process`` returns its argument."""

    __slots__ = ("_ptr",)

    def __init__(self, mask: Any = None) -> None:
        self._ptr = 0

    def pointer(self) -> int:
        """Bytes processed since construction or :meth:`reset`."""
        return self._ptr

    def reset(self) -> None:
        self._ptr = 0

    def process(self, data: Any) -> Any:
        self._ptr += len(data)
        return data


class XorMaskerSimple:
    """XOR with a 4-byte mask, continuing where the previous call stopped.

    Args:
        mask: 4 bytes (any bytes-like object).
        backend: ``"cython"`` or ``"python"`` kernels (wsfast's own option).

    Raises:
        ValueError: the mask is not 4 bytes long.
    """

    __slots__ = ("_mask", "_ptr", "_apply")

    def __init__(self, mask: Any, *, backend: Optional[str] = None) -> None:
        mask = bytes(memoryview(mask))
        if len(mask) != 4:
            raise ValueError("mask should be 4byte.")
        self._mask = mask
        self._ptr = 0
        self._apply = _kernels(backend).apply_mask

    def pointer(self) -> int:
        """Bytes processed since construction or :meth:`reset`."""
        return self._ptr

    def reset(self) -> None:
        """Start again at the first byte of the mask."""
        self._ptr = 0

    def process(self, data: Any) -> bytes:
        """Return ``data`` XOR the mask, the mask starting where the last call
        stopped (as when a frame's payload arrives in several reads).

        Raises:
            TypeError: ``data`` is not a bytes-like object.
        """
        view = memoryview(data)  # the buffer contract wsaccel's typed memoryview has
        size = view.nbytes
        shift = self._ptr & 3
        mask = self._mask[shift:] + self._mask[:shift] if shift else self._mask
        self._ptr += size
        masked: bytes = self._apply(view, mask)
        return masked


def createXorMasker(mask: Any, len: Optional[int] = None) -> XorMaskerSimple:  # noqa: A002
    """wsaccel's factory: a :class:`XorMaskerSimple` (``len`` is ignored, as there)."""
    return XorMaskerSimple(mask)


class Utf8Validator:
    """Incremental UTF-8 validation with wsaccel's (Autobahn's) interface.

    :meth:`validate` returns ``(valid, ends_on_codepoint, current_index,
    total_index)``: whether no byte so far is impossible in UTF-8, whether the
    bytes so far end on a code point boundary, and the bytes of this chunk and
    of the whole stream consumed -- up to (not including) the first impossible
    byte when one is found. Once a byte was impossible, every later non-empty
    chunk is invalid at its index 0 (and an empty chunk reports ``valid``,
    exactly as wsaccel does).

    Args:
        backend: ``"cython"`` or ``"python"`` kernels (wsfast's own option).
    """

    UTF8_ACCEPT = 0
    UTF8_REJECT = 1

    __slots__ = ("_new", "_validator", "_rejected", "_tail", "i")

    def __init__(self, *, backend: Optional[str] = None) -> None:
        self._new = _kernels(backend).Utf8Validator
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._validator = self._new()
        self._rejected = False
        self._tail = b""  # the last bytes validated: where a failing sequence may start
        #: Bytes of the stream consumed so far.
        self.i = 0

    def validate(self, buf: Any) -> Tuple[bool, bool, int, int]:
        """Validate the next chunk of the stream.

        Raises:
            TypeError: ``buf`` is not a bytes-like object.
        """
        view = memoryview(buf)
        if self._rejected:
            # wsaccel's automaton stays in its reject state: the first byte
            # of any chunk fails again; an empty chunk never runs it.
            return (not view.nbytes, False, 0, self.i)
        validator = self._validator
        size = view.nbytes
        if validator.feed(view):
            self.i += size
            self._tail = bytes(view[-3:]) if size >= 3 else (self._tail + bytes(view))[-3:]
            return (True, validator.complete, size, self.i)
        # The kernel reports where the invalid sequence starts (as CPython's
        # decoder does); wsaccel's automaton stops at the first byte that
        # cannot follow, which is in this chunk (the kernel fails fast).
        # That sequence started at most 3 bytes before this chunk.
        self._rejected = True
        start = validator.error_offset
        if start >= self.i:
            sequence = bytes(view[start - self.i:start - self.i + 4])
        else:
            sequence = self._tail[len(self._tail) - (self.i - start):] + bytes(view[:4])
        impossible = start + _first_impossible(sequence)
        index = impossible - self.i
        self.i = impossible
        return (False, False, index, self.i)


#: For each lead byte, the ranges its continuation bytes must be in (RFC 3629
#: §4: no overlongs, no surrogates, nothing above U+10FFFF); no entry: the
#: byte cannot start a sequence.
_RANGES: Dict[int, Tuple[Tuple[int, int], ...]] = {}
_CONT = (0x80, 0xBF)
for _lead in range(0x00, 0x80):
    _RANGES[_lead] = ()
for _lead in range(0xC2, 0xE0):
    _RANGES[_lead] = (_CONT,)
for _lead in range(0xE0, 0xF0):
    _RANGES[_lead] = ({0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F)}.get(_lead, _CONT), _CONT)
for _lead in range(0xF0, 0xF5):
    _RANGES[_lead] = ({0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}.get(_lead, _CONT), _CONT, _CONT)


def _first_impossible(sequence: bytes) -> int:
    """Index in ``sequence`` (which starts with an invalid UTF-8 sequence) of
    the first byte after which it cannot be valid."""
    ranges = _RANGES.get(sequence[0])
    if ranges is None:
        return 0
    for index, (low, high) in enumerate(ranges, 1):
        if index >= len(sequence) or not low <= sequence[index] <= high:
            return index
    return len(ranges)  # pragma: no cover - the sequence was invalid
