"""Pure-Python masking kernel (RFC 6455 §5.3); twin of src_c/wsfast/_mask_c.pyx.

XOR of two big integers is done by CPython in C, a word at a time: the
fastest masking pure Python can do, and the one websockets uses too.
"""

from __future__ import annotations

from ._buffers import as_bytes, mask_key

__all__ = ["apply_mask", "apply_mask_inplace"]


def _masked(data: object, key: bytes, phase: int = 0) -> bytes:
    n = len(data)  # type: ignore[arg-type]
    if n == 0:
        return b""
    if phase:
        key = key[phase:] + key[:phase]
    stream = (key * ((n >> 2) + 1))[:n]
    value = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")  # type: ignore[arg-type]
    return value.to_bytes(n, "big")


def apply_mask(data: object, mask: object) -> bytes:
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated (RFC 6455 §5.3).

    Args:
        data: any bytes-like object (bytes, bytearray, memoryview, also
            non-contiguous or read-only).
        mask: 4 bytes.

    Returns:
        New bytes of the same length; ``data`` is not modified.

    Raises:
        TypeError: ``data`` or ``mask`` is not bytes-like.
        ValueError: ``mask`` is not 4 bytes long.
    """
    key = mask_key(mask)
    return _masked(as_bytes(data), key)


def apply_mask_inplace(data: object, mask: object) -> None:
    """XOR a writable, contiguous buffer (e.g. a bytearray) with ``mask`` in place.

    Raises:
        TypeError: ``data`` is not a writable contiguous buffer, or ``mask``
            is not bytes-like.
        ValueError: ``mask`` is not 4 bytes long.
    """
    key = mask_key(mask)
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is None or view.readonly or not view.c_contiguous:
        raise TypeError(f"data must be a writable contiguous buffer, not {type(data).__name__}")
    flat = view.cast("B") if (view.format != "B" or view.ndim != 1) else view
    flat[:] = _masked(flat, key)
