"""Bytes-like argument handling shared by the pure-Python kernels.

The compiled kernels accept exactly the same inputs and raise the same
exception types with the same messages; the parity tests check both.
"""

from __future__ import annotations

from typing import Union

BytesLike = Union[bytes, bytearray, memoryview]


def as_bytes(data: object, what: str = "data") -> Union[bytes, memoryview]:
    """A flat, C-contiguous, byte-formatted view of *data* (copying only if
    *data* is not contiguous)."""
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        return view.tobytes()
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def mask_key(mask: object) -> bytes:
    """The 4-byte masking key as bytes."""
    if type(mask) is bytes and len(mask) == 4:
        return mask
    try:
        view = memoryview(mask)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"mask must be a bytes-like object, not {type(mask).__name__}") from None
    if not view.c_contiguous:
        raise TypeError(f"mask must be a bytes-like object, not {type(mask).__name__}")
    if view.nbytes != 4:
        raise ValueError("mask must contain 4 bytes")
    return view.tobytes()
