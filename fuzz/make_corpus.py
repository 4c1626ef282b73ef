"""Write the seed corpora, fuzz/corpus/<target>/<name>: python fuzz/make_corpus.py

Each seed is valid protocol data behind the option bytes its target reads
(see each target's docstring and ``_common.Input``), so the fuzzer starts
from inputs that reach deep into the library. The output is deterministic:
re-running the script rewrites the same files.
"""

from __future__ import annotations

import pathlib
import shutil
import struct
import sys
import zlib

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import CLIENT_MASK as MASK, deflate_config  # noqa: E402
from response_parser import KEY  # noqa: E402
from wsfast import _backend, deflate, handshake  # noqa: E402
from wsfast.connection import ClientConnection, ServerConnection  # noqa: E402
from wsfast.deflate import PerMessageDeflate  # noqa: E402
from wsfast.frames import Opcode, serialize_close  # noqa: E402

build_frame = _backend.get("python").build_frame


def cuts(*points: int) -> bytes:
    """The cut-point block of ``_common.Input.chunks``."""
    return bytes([len(points)]) + b"".join(struct.pack("!H", p) for p in points)


def frames(masked: bool) -> dict:
    """Frame streams as one role sends them, by name."""
    mask = MASK if masked else None

    def f(opcode, payload=b"", fin=True, rsv1=False):
        return build_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=mask)

    return {
        "text": f(Opcode.TEXT, "héllo wörld".encode()),
        "binary": f(Opcode.BINARY, bytes(range(32))),
        "empty": f(Opcode.TEXT),
        "fragmented": f(Opcode.TEXT, b"Hel", fin=False) + f(Opcode.PING, b"mid")
        + f(Opcode.CONTINUATION, b"lo \xf0\x9f", fin=False) + f(Opcode.CONTINUATION, b"\x98\x80"),
        "ping-pong": f(Opcode.PING, b"are you there") + f(Opcode.PONG, b"yes"),
        "close-reason": f(Opcode.CLOSE, serialize_close(1001, "going away")),
        "close-empty": f(Opcode.TEXT, b"last") + f(Opcode.CLOSE),
        "len126": f(Opcode.BINARY, b"\xab" * 126),
        "len65535": f(Opcode.BINARY, bytes(65535))[:40],  # header and the start of the payload
        "len127": f(Opcode.BINARY, bytes(65536))[:40],  # header and the start of the payload
    }


def compress(messages, wbits: int = 15) -> list:
    """Payloads of compressed messages (RFC 7692 §7.2.1), one context."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = []
    for message in messages:
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def record(opcode_index: int, payload: bytes, *, rsv1=False, fin=True, raw=False) -> bytes:
    """One ``_common.frame_records`` record (long form: 16-bit length)."""
    flags = opcode_index | 0x40 | (0x08 if rsv1 else 0) | (0 if fin else 0x10) | (0x20 if raw else 0)
    return bytes([flags]) + struct.pack("!H", len(payload)) + payload


TEXT, BINARY, CONTINUATION, PING = 0, 1, 2, 3


def records() -> dict:
    hello, repeat, binary = compress([b"Hello, compressed world", b"Hello, compressed world",
                                      bytes(range(256)) * 4])
    whole = compress([("κόσμε " * 50).encode()])[0]
    part1, part2 = whole[:20], whole[20:]
    return {
        "deflate-text": record(TEXT, hello, rsv1=True),
        "deflate-context-takeover": record(TEXT, hello, rsv1=True) + record(TEXT, repeat, rsv1=True),
        "deflate-binary": record(BINARY, binary, rsv1=True),
        "deflate-fragmented": record(TEXT, part1, rsv1=True, fin=False)
        + record(PING, b"p") + record(CONTINUATION, part2),
        "deflate-mixed": record(TEXT, b"plain") + record(BINARY, binary, rsv1=True),
        "deflate-final-block": record(TEXT, zlib.compressobj(6, zlib.DEFLATED, -15).compress(b"abc")
                                      + zlib.compressobj(6, zlib.DEFLATED, -15).flush(), rsv1=True),
        "deflate-bomb": record(BINARY, compress([bytes(200000)])[0], rsv1=True),
        # Five 40 KiB messages: a reader call stops after INFLATE_YIELD (64
        # KiB) decompressed bytes, mid-chunk, and holds the rest.
        "deflate-yield": b"".join(record(BINARY, payload, rsv1=True) for payload in compress(
            [bytes([i]) * 40960 for i in range(5)])) + record(PING, b"p") + record(TEXT, b"after"),
    }


def upgrade_request(**client_options) -> bytes:
    client = ClientConnection("ws://example.com/chat?x=1", **client_options)
    client.send_request(client.connect())
    return b"".join(client.data_to_send())


def upgrade_response(config, subprotocols=(), extra=b"") -> bytes:
    client = ClientConnection("ws://example.com/chat", extensions=[config] if config else [],
                              subprotocols=subprotocols)
    request = client.connect()
    del request.headers["Sec-WebSocket-Key"]
    request.headers["Sec-WebSocket-Key"] = KEY
    client.send_request(request)
    server = ServerConnection(extensions=[PerMessageDeflate()] if config else [],
                              subprotocols=subprotocols)
    for chunk in client.data_to_send():
        server.receive_data(chunk)
    (req,) = server.events_received()
    server.send_response(server.accept(req))
    server.send_text("welcome")
    return b"".join(server.data_to_send()) + extra


CONFIG_BYTES = (0x00, 0x03, 0x3F, 0x14)  # _common.deflate_config


def seeds() -> dict:
    corpus: dict = {}
    server_frames, client_frames = frames(masked=True), frames(masked=False)

    fp = corpus["frame_parser"] = {}
    for name, data in server_frames.items():
        fp[f"{name}-masked"] = bytes([0x01]) + cuts() + data
    for name in ("text", "fragmented", "close-reason", "len126"):
        fp[f"{name}-unmasked"] = bytes([0x00]) + cuts() + client_frames[name]
    fp["fragmented-chunked"] = bytes([0x01]) + cuts(1, 5, 9, 30) + server_frames["fragmented"]
    fp["rsv1-allowed"] = bytes([0x03]) + cuts() + build_frame(Opcode.TEXT, b"x", rsv1=True, mask=MASK)

    conn = corpus["connection"] = {}
    for name in ("text", "binary", "fragmented", "ping-pong", "close-reason", "close-empty", "len126"):
        conn[f"server-{name}"] = bytes([0x00, 0x00]) + cuts() + server_frames[name]
    for name in ("text", "fragmented", "close-reason"):
        conn[f"client-{name}"] = bytes([0x01, 0x00]) + cuts() + client_frames[name]
    conn["server-text-as-bytes-chunked"] = bytes([0x02, 0x00]) + cuts(2, 7) + server_frames["fragmented"]
    conn["server-limit-16-commands"] = bytes([0x60, 0x3F]) + cuts() + server_frames["len126"]

    rp = corpus["request_parser"] = {}
    rp["plain"] = bytes([0x00]) + cuts() + upgrade_request()
    rp["deflate-subprotocols"] = bytes([0x03]) + cuts() + upgrade_request(
        extensions=[PerMessageDeflate(client_max_window_bits=10)], subprotocols=["chat"])
    rp["chunked-with-frame"] = bytes([0x01]) + cuts(3, 40, 90) + upgrade_request(
        extensions=[PerMessageDeflate(server_no_context_takeover=True)]) + server_frames["text"]
    rp["small-limits"] = bytes([0x04]) + cuts() + upgrade_request()

    rs = corpus["response_parser"] = {}
    rs["plain"] = bytes([0x00, 0x00]) + cuts() + upgrade_response(None)
    rs["subprotocol"] = bytes([0x02, 0x00]) + cuts() + upgrade_response(None, ["chat", "superchat"])
    for config in CONFIG_BYTES:
        rs[f"deflate-{config:02x}"] = bytes([0x01, config]) + cuts(17) + upgrade_response(
            deflate_config(config), extra=client_frames["close-reason"])
    rs["refused"] = bytes([0x00, 0x00]) + cuts() + (
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nnope!")

    neg = corpus["negotiation"] = {}
    for config in (PerMessageDeflate(), PerMessageDeflate(True, True, 10, 12),
                   PerMessageDeflate(client_max_window_bits=9, offer_client_max_window_bits=True)):
        offer = handshake.serialize_extensions([(deflate.EXTENSION_NAME, deflate.client_offer(config))])
        neg[f"offer-{len(neg)}"] = bytes([0x00, 0x00]) + offer.encode()
    neg["two-offers"] = bytes([0x3F, 0x03]) + (
        b"permessage-deflate; client_max_window_bits=\"10\"; server_max_window_bits=9, "
        b"permessage-deflate\nx-webkit-deflate-frame")
    neg["response"] = bytes([0x03, 0x3F]) + (
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        b"server_max_window_bits=8; client_max_window_bits=8")

    inf = corpus["inflate"] = {}
    for name, data in records().items():
        inf[f"server-{name}"] = bytes([0x00, 0x00, 0x00]) + cuts() + data
    inf["client-deflate-text"] = bytes([0x01, 0x00, 0x00]) + cuts() + records()["deflate-text"]
    inf["server-bomb-limit-1000"] = bytes([0x30, 0x03, 0x00]) + cuts(5) + records()["deflate-bomb"]
    inf["server-streaming-nct"] = bytes([0x04, 0x3F, 0x00]) + cuts() + records()["deflate-fragmented"]

    diff = corpus["differential"] = {}
    for name in ("text", "fragmented", "close-reason", "len126"):
        diff[f"server-{name}"] = bytes([0x00, 0x00, 0x00]) + cuts(3) + server_frames[name]
        diff[f"client-{name}"] = bytes([0x01, 0x00, 0x00]) + cuts() + client_frames[name]
    diff["server-text-as-bytes-portable"] = bytes([0x02, 0x00, 0x80]) + cuts() + server_frames["fragmented"]
    for name in ("deflate-context-takeover", "deflate-fragmented", "deflate-final-block",
                 "deflate-yield"):
        diff[f"server-{name}"] = bytes([0x0C, 0x00, 0x00]) + cuts() + records()[name]
        diff[f"client-{name}-limit"] = bytes([0x4D, 0x03, 0x0F]) + cuts(9) + records()[name]
    return corpus


def main() -> None:
    root = HERE / "corpus"
    for target, files in seeds().items():
        directory = root / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for name, data in files.items():
            (directory / name).write_bytes(data)
        print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
