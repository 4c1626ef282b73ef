"""Fuzz target: the compiled and the pure back-end must behave identically.

Input: byte 0 options (0x01 client role, 0x02 text_as_bytes, 0x04
permessage-deflate on both sides, with the configuration of byte 1, 0x08
frame records instead of raw bytes, 0x10 streaming, bits 5-7
max_message_size), byte 1 deflate configuration, byte 2 commands (0x80:
compiled kernels with their SIMD paths forced off), cut points, then the
stream: raw bytes, or frame records (``_common.frame_records``) so that
compressed payloads reach the inflater.

The same chunks go to a connection on each back-end; everything observable
(``_common.outcome``: events, error type, close code, rule and reason, bytes
sent, state, close status, refused commands, and the events and held bytes
of each reader call, fed one call at a time as the asyncio layer does) must
be equal, else AssertionError with both outcomes.
"""

import _common
from _common import (MAX_SIZES, Input, deflate_config, frame_records, open_connection, outcome,
                     split)
from wsfast import _backend, _cpu_c

BACKENDS = (_backend.get("cython"), _backend.get("python"))


def test_one_input(data: bytes) -> None:
    source = Input(data)
    flags = source.byte()
    config = source.byte()
    commands = source.byte()
    role = "client" if flags & 1 else "server"
    options = dict(text_as_bytes=bool(flags & 2), streaming=bool(flags & 0x10),
                   max_message_size=MAX_SIZES[flags >> 5],
                   extensions=[deflate_config(config)] if flags & 4 else [])
    cuts = source.cuts()
    if flags & 8:
        stream = frame_records(source, role == "server", BACKENDS[1].build_frame)
    else:
        stream = source.rest()
    chunks = split(stream, cuts)
    portable = bool(commands & 0x80)
    _cpu_c.force_portable(portable)  # the one CPU-dispatch switch of every kernel
    try:
        results = [outcome(open_connection(role, kernels.name, **options), chunks, commands & 0x7F,
                           stepwise=True)
                   for kernels in BACKENDS]
    finally:
        _cpu_c.force_portable(False)
    if results[0] != results[1]:
        fields = ("events", "error", "sent", "refusals", "state", "close_rcvd", "close_sent",
                  "close_expected", "steps")
        diff = [f"{name}:\n  cython {a!r}\n  python {b!r}"
                for name, a, b in zip(fields, *results) if a != b]
        raise AssertionError(f"back-ends differ ({role}, {options}, portable={portable}, "
                             f"chunks={chunks!r}):\n" + "\n".join(diff))


if __name__ == "__main__":
    _common.run(test_one_input)
