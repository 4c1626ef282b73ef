"""The sans-I/O connection (DESIGN §5): every RFC 6455 rule, both roles, both back-ends.

Frames are crafted with ``build_frame`` where a test needs bytes that a
well-behaved peer would never send.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import open_pair, seeded_random, split, transfer
from wsfast import _backend
from wsfast.connection import ClientConnection, ServerConnection, State
from wsfast.errors import InvalidState
from wsfast.events import (BinaryMessage, CloseReceived, MessageFragment, Ping, Pong,
                           TextMessage)
from wsfast.frames import Opcode

MASK = b"\x11\x22\x33\x44"


def client_frame(backend, opcode, payload=b"", fin=True, rsv1=False):
    """A frame as a client sends it (masked)."""
    return backend.build_frame(opcode, payload, fin=fin, rsv1=rsv1, mask=MASK)


def close_frame_sent(connection):
    """(code, reason) of the close frame in connection's output, parsed back."""
    data = b"".join(connection.data_to_send())
    # Read it as the peer would: client frames are masked, server frames not.
    reader = _backend.get(connection.backend).MessageReader(
        mask_required=isinstance(connection, ClientConnection),
        max_frame_size=None, max_message_size=None)
    events = reader.feed(data)
    closes = [e for e in events if isinstance(e, CloseReceived)]
    assert closes, f"no close frame in {data!r}"
    return closes[-1].code, closes[-1].reason


@pytest.fixture
def pair(backend):
    return open_pair(backend.name)


class TestMessages:
    @pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200000])
    def test_text_both_directions(self, backend, size):
        client, server = open_pair(backend.name, client_options={"max_message_size": None},
                                   server_options={"max_message_size": None})
        text = ("é" * size)[:size]
        client.send_text(text)
        assert transfer(client, server) == [TextMessage(text)]
        server.send_text(text)
        assert transfer(server, client) == [TextMessage(text)]

    @pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
    def test_binary_both_directions(self, backend, size):
        client, server = open_pair(backend.name)
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        client.send_binary(data)
        assert transfer(client, server) == [BinaryMessage(data)]
        server.send_binary(data)
        assert transfer(server, client) == [BinaryMessage(data)]

    def test_text_as_bytes_is_validated_utf8(self, backend):
        client, server = open_pair(backend.name, server_options={"text_as_bytes": True})
        client.send_text("κόσμε")
        assert transfer(client, server) == [TextMessage("κόσμε".encode())]
        client.send_text(b"\xce\xba\xff")  # the sender does not validate bytes
        assert transfer(client, server) == []
        assert server.error.close_code == 1007

    def test_fragmented_send_is_assembled(self, backend, pair):
        client, server = pair
        client.send_text("Hel", fin=False)
        client.send_continuation("lo, ", fin=False)
        client.send_continuation(b"world", fin=True)
        assert transfer(client, server) == [TextMessage("Hello, world")]

    def test_text_split_inside_code_point_across_frames(self, backend, pair):
        client, server = pair
        data = "😀".encode()
        client.send_text(data[:1], fin=False)
        client.send_continuation(data[1:3], fin=False)
        client.send_continuation(data[3:], fin=True)
        assert transfer(client, server) == [TextMessage("😀")]

    def test_receive_is_receive_data_then_events_received(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name)
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = server.receive(b"".join(client.data_to_send()))
        server.send_response(server.accept(request))
        server.send_text("hello")
        events = client.receive(b"".join(server.data_to_send()))  # 101 + a frame
        assert [type(e).__name__ for e in events] == ["Response", "TextMessage"]
        client.receive_data(backend.build_frame(Opcode.TEXT, b"one"))
        assert client.receive(backend.build_frame(Opcode.TEXT, b"two")) == [
            TextMessage("one"), TextMessage("two")]
        assert client.events_received() == []

    def test_many_messages_in_one_chunk(self, backend, pair):
        client, server = pair
        for i in range(100):
            client.send_text(str(i))
        chunk = b"".join(client.data_to_send())
        server.receive_data(chunk)
        assert server.events_received() == [TextMessage(str(i)) for i in range(100)]

    def test_streaming_mode_delivers_fragments(self, backend):
        client, server = open_pair(backend.name, server_options={"streaming": True})
        client.send_text("κόσμε" * 10, fin=False)
        client.send_continuation("!", fin=True)
        data = b"".join(client.data_to_send())
        pieces = []
        for i in range(0, len(data), 7):
            server.receive_data(data[i:i + 7])
            pieces += server.events_received()
        assert all(isinstance(p, MessageFragment) and p.is_text for p in pieces)
        assert "".join(p.data for p in pieces) == "κόσμε" * 10 + "!"
        assert [p.fin for p in pieces][-1] is True and not any(p.fin for p in pieces[:-1])

    def test_streaming_mode_binary(self, backend):
        client, server = open_pair(backend.name, client_options={"streaming": True})
        server.send_binary(b"abc", fin=False)
        server.send_continuation(b"", fin=False)
        server.send_continuation(b"def", fin=True)
        events = transfer(server, client)
        assert b"".join(e.data for e in events) == b"abcdef"
        assert events[-1].fin and not events[-1].is_text


class TestSendingRules:
    def test_cannot_send_before_the_handshake(self, backend):
        server = ServerConnection(backend=backend.name)
        with pytest.raises(InvalidState):
            server.send_text("too early")

    def test_continuation_needs_a_message_in_progress(self, backend, pair):
        with pytest.raises(InvalidState, match="no fragmented message"):
            pair[0].send_continuation(b"x", fin=True)

    def test_new_message_while_one_is_in_progress(self, backend, pair):
        client, _ = pair
        client.send_text("a", fin=False)
        with pytest.raises(InvalidState, match="in progress"):
            client.send_binary(b"b")

    def test_no_data_after_close_is_sent(self, backend, pair):
        # RFC 6455 §5.5.1: after sending a close frame, no more data frames.
        client, _ = pair
        client.send_close()
        with pytest.raises(InvalidState):
            client.send_text("late")
        with pytest.raises(InvalidState):
            client.send_ping()
        with pytest.raises(InvalidState):
            client.send_close()

    def test_no_data_after_a_close_was_received(self, backend, pair):
        client, server = pair
        client.send_close()
        transfer(client, server)  # the server answers the close
        with pytest.raises(InvalidState):
            server.send_text("late")
        with pytest.raises(InvalidState):
            server.send_binary(b"late")

    def test_no_data_after_failing(self, backend, pair):
        client, _ = pair
        client.fail(1011, "bye")
        with pytest.raises(InvalidState):
            client.send_text("late")

    def test_control_payload_limit(self, backend, pair):
        with pytest.raises(ValueError):
            pair[0].send_ping(b"x" * 126)

    def test_client_frames_are_masked_server_frames_are_not(self, backend, pair):
        client, server = pair
        client.send_binary(b"abc")
        server.send_binary(b"abc")
        assert b"".join(client.data_to_send())[1] & 0x80
        assert b"".join(server.data_to_send()) == b"\x82\x03abc"


class TestControlFrames:
    def test_ping_is_answered_automatically(self, backend, pair):
        client, server = pair
        client.send_ping(b"hi")
        assert transfer(client, server) == [Ping(b"hi")]
        assert transfer(server, client) == [Pong(b"hi")]

    def test_pings_are_answered_in_order(self, backend, pair):
        client, server = pair
        for i in range(5):
            client.send_ping(bytes([i]))
        transfer(client, server)
        assert transfer(server, client) == [Pong(bytes([i])) for i in range(5)]

    def test_auto_pong_can_be_turned_off(self, backend):
        client, server = open_pair(backend.name, server_options={"auto_pong": False})
        client.send_ping(b"hi")
        assert transfer(client, server) == [Ping(b"hi")]
        assert server.data_to_send() == []

    def test_control_frames_between_fragments(self, backend, pair):
        client, server = pair
        client.send_text("a", fin=False)
        client.send_ping(b"1")
        client.send_continuation("b", fin=False)
        client.send_pong(b"2")
        client.send_continuation("c", fin=True)
        assert transfer(client, server) == [Ping(b"1"), Pong(b"2"), TextMessage("abc")]


class TestClosingHandshake:
    def test_client_initiates(self, backend, pair):
        client, server = pair
        client.send_close(1000, "bye")
        assert client.state is State.CLOSING and not client.close_expected()
        assert transfer(client, server) == [CloseReceived(1000, "bye")]
        # §5.5.1: the server echoes the code, and closes TCP first (§7.1.1).
        assert server.close_expected() and server.state is State.CLOSING
        assert transfer(server, client) == [CloseReceived(1000, "")]
        assert client.close_expected()
        server.receive_eof()
        client.receive_eof()
        assert server.state is client.state is State.CLOSED

    def test_server_initiates(self, backend, pair):
        client, server = pair
        server.send_close(1001, "going away")
        assert transfer(server, client) == [CloseReceived(1001, "going away")]
        assert transfer(client, server) == [CloseReceived(1001, "")]
        assert server.close_expected() and client.close_expected()
        assert server.close_sent == (1001, "going away") and server.close_rcvd == (1001, "")

    def test_close_without_status_is_echoed_without_status(self, backend, pair):
        client, server = pair
        client.send_close(1005)
        assert transfer(client, server) == [CloseReceived(1005, "")]
        assert b"".join(server.data_to_send()) == b"\x88\x00"

    def test_data_after_a_received_close_is_ignored(self, backend, pair):
        client, server = pair
        server.receive_data(client_frame(backend, Opcode.CLOSE, b"\x03\xe8")
                            + client_frame(backend, Opcode.TEXT, b"late"))
        assert server.events_received() == [CloseReceived(1000, "")]

    def test_messages_received_after_sending_close_are_delivered(self, backend, pair):
        client, server = pair
        server.send_close()
        client.send_text("in flight")
        assert transfer(client, server) == [TextMessage("in flight")]

    def test_close_between_fragments_is_echoed_normally(self, backend, pair):
        # Autobahn 7.1.5: a close frame in the middle of a fragmented message.
        client, server = pair
        server.receive_data(client_frame(backend, Opcode.TEXT, b"frag", fin=False)
                            + client_frame(backend, Opcode.CLOSE, b"\x03\xe8"))
        assert server.events_received() == [CloseReceived(1000, "")]
        assert close_frame_sent(server) == (1000, "")

    @pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                      1012, 1013, 1014, 3000, 3999, 4000, 4999])
    def test_valid_close_codes_are_accepted(self, backend, pair, code):
        client, server = pair
        server.receive_data(client_frame(backend, Opcode.CLOSE, code.to_bytes(2, "big") + b"ok"))
        assert server.events_received() == [CloseReceived(code, "ok")]
        assert close_frame_sent(server) == (code, "")

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                                      5000, 65535])
    def test_invalid_close_code_fails_with_1002(self, backend, pair, code):
        client, server = pair
        server.receive_data(client_frame(backend, Opcode.CLOSE, code.to_bytes(2, "big")))
        assert server.events_received() == []
        assert server.error.rule == "invalid-close-code"
        assert close_frame_sent(server)[0] == 1002

    def test_close_payload_of_one_byte_fails_with_1002(self, backend, pair):
        _, server = pair
        server.receive_data(client_frame(backend, Opcode.CLOSE, b"\x03"))
        assert server.error.rule == "close-payload-length-1"
        assert close_frame_sent(server)[0] == 1002

    def test_close_reason_must_be_utf8(self, backend, pair):
        _, server = pair
        server.receive_data(client_frame(backend, Opcode.CLOSE, b"\x03\xe8\xff"))
        assert server.error.rule == "invalid-close-reason"
        assert close_frame_sent(server)[0] == 1007


def violation_cases(backend, role):
    """(name, bytes the peer of role could send, rule, close code): every
    frame-level rule, with the masking that the peer's role uses."""
    mask = MASK if role == "server" else None  # what the peer must do
    key = MASK if role == "server" else b""
    mbit = 0x80 if role == "server" else 0x00

    def f(opcode, payload=b"", fin=True):
        return backend.build_frame(opcode, payload, fin=fin, mask=mask)

    wrong_masking = (backend.build_frame(Opcode.TEXT, b"x") if role == "server"
                     else backend.build_frame(Opcode.TEXT, b"x", mask=MASK))
    return [
        ("reserved opcode", bytes((0x83, mbit)) + key, "reserved-opcode", 1002),
        ("rsv bits", bytes((0xC1, mbit)) + key, "reserved-bits", 1002),
        ("wrong masking", wrong_masking,
         "unmasked-frame" if role == "server" else "masked-frame", 1002),
        ("non-minimal", bytes((0x82, mbit | 126, 0, 5)) + key + b"abcde", "non-minimal-length", 1002),
        ("long control", bytes((0x89, mbit | 126, 0, 126)) + key, "control-too-long", 1002),
        ("fragmented control", bytes((0x09, mbit)) + key, "control-fragmented", 1002),
        ("orphan continuation", f(Opcode.CONTINUATION, b"x"), "unexpected-continuation", 1002),
        ("interleaved message", f(Opcode.TEXT, b"a", fin=False) + f(Opcode.BINARY, b"b"),
         "expected-continuation", 1002),
        ("invalid utf-8", f(Opcode.TEXT, b"\xff"), "invalid-utf8", 1007),
        ("truncated utf-8", f(Opcode.TEXT, b"\xe2\x82"), "invalid-utf8", 1007),
        ("close payload of 1 byte", f(Opcode.CLOSE, b"\x03"), "close-payload-length-1", 1002),
        ("invalid close code", f(Opcode.CLOSE, b"\x03\xed"), "invalid-close-code", 1002),
        ("invalid close reason", f(Opcode.CLOSE, b"\x03\xe8\xc0"), "invalid-close-reason", 1007),
    ]


class TestProtocolViolations:
    @pytest.mark.parametrize("role", ["server", "client"])
    @pytest.mark.parametrize("index", range(13))
    def test_violation_fails_with_the_right_code_after_earlier_messages(self, backend, role, index):
        name, bad, rule, code = violation_cases(backend, role)[index]
        client, server = open_pair(backend.name)
        local = server if role == "server" else client
        mask = MASK if role == "server" else None
        good = (backend.build_frame(Opcode.TEXT, b"one", mask=mask)
                + backend.build_frame(Opcode.BINARY, b"two", mask=mask))
        after = backend.build_frame(Opcode.TEXT, b"after", mask=mask)
        local.receive_data(good + bad + after)
        # Nothing already accepted is lost; nothing after the error is read.
        assert local.events_received() == [TextMessage("one"), BinaryMessage(b"two")], name
        assert (local.error.rule, local.error.close_code) == (rule, code)
        assert close_frame_sent(local) == (code, local.error.reason)
        assert local.close_expected() and local.state is State.CLOSING
        local.receive_data(after)
        assert local.events_received() == []

    def test_deferred_failure_lets_the_application_answer_first(self, backend):
        client, server = open_pair(backend.name, server_options={"defer_failure": True})
        server.receive_data(client_frame(backend, Opcode.TEXT, b"one") + bytes((0x83, 0x80)) + MASK)
        assert server.events_received() == [TextMessage("one")]
        assert server.error.rule == "reserved-opcode" and server.data_to_send() == []
        assert not server.close_expected() and server.state is State.OPEN
        server.receive_data(client_frame(backend, Opcode.TEXT, b"ignored"))
        assert server.events_received() == []  # reading stopped at the error
        server.send_text("one")  # the echo goes out before the close frame
        server.fail(server.error.close_code, server.error.reason)
        assert transfer(server, client) == [TextMessage("one"), CloseReceived(1002, "reserved opcode 3")]
        assert server.close_expected()

    def test_client_rejects_masked_server_frame(self, backend, pair):
        client, _ = pair
        client.receive_data(backend.build_frame(Opcode.TEXT, b"x", mask=MASK))
        assert client.error.rule == "masked-frame"
        assert close_frame_sent(client)[0] == 1002

    def test_invalid_utf8_is_detected_mid_frame(self, backend, pair):
        # §8.1 fail fast: the bad byte is reported before the frame is complete.
        _, server = pair
        frame = client_frame(backend, Opcode.TEXT, "κόσμε".encode() + b"\xf4\x90" + b"x" * 100)
        server.receive_data(frame[:20])
        assert server.error is not None and server.error.close_code == 1007
        assert close_frame_sent(server)[0] == 1007

    def test_invalid_utf8_across_fragments_fails_at_the_fragment(self, backend, pair):
        _, server = pair
        server.receive_data(client_frame(backend, Opcode.TEXT, b"\xce", fin=False))
        assert server.error is None
        server.receive_data(client_frame(backend, Opcode.CONTINUATION, b"\x41", fin=False))
        assert server.error.rule == "invalid-utf8"


class TestLimits:
    def test_message_too_big_is_refused_from_the_header(self, backend):
        client, server = open_pair(backend.name, server_options={"max_message_size": 1000})
        header = bytes((0x82, 0xFE)) + (1001).to_bytes(2, "big") + MASK
        server.receive_data(header)  # no payload yet: refused before buffering
        assert server.error.close_code == 1009
        assert close_frame_sent(server)[0] == 1009

    def test_fragmented_message_too_big(self, backend):
        client, server = open_pair(backend.name, server_options={"max_message_size": 1000})
        client.send_binary(b"x" * 600, fin=False)
        client.send_continuation(b"y" * 600, fin=True)
        assert transfer(client, server) == []
        assert server.error.rule == "message-too-big"

    def test_message_at_the_limit_is_accepted(self, backend):
        client, server = open_pair(backend.name, server_options={"max_message_size": 1000})
        client.send_binary(b"x" * 1000)
        assert transfer(client, server) == [BinaryMessage(b"x" * 1000)]

    def test_tiny_fragments_are_charged_overhead(self, backend):
        # 100 one-byte fragments: 100 bytes of data, but 99 * 16 of overhead.
        client, server = open_pair(backend.name, server_options={"max_message_size": 1000})
        client.send_binary(b"x", fin=False)
        for _ in range(98):
            client.send_continuation(b"x", fin=False)
        client.send_continuation(b"x", fin=True)
        assert transfer(client, server) == []
        assert server.error.rule == "message-too-big"

    def test_empty_fragments_cannot_go_on_forever(self, backend):
        client, server = open_pair(backend.name, server_options={"max_message_size": 10000})
        client.send_binary(b"", fin=False)
        for _ in range(1000):
            client.send_continuation(b"", fin=False)
        transfer(client, server)
        assert server.error.rule == "message-too-big"

    def test_max_fragments(self, backend):
        client, server = open_pair(backend.name, server_options={"max_fragments": 3})
        client.send_binary(b"a", fin=False)
        for _ in range(3):
            client.send_continuation(b"b", fin=False)
        transfer(client, server)
        assert server.error.rule == "too-many-fragments"

    def test_many_fragments_within_budget(self, backend):
        # Autobahn 9.3.1: 4 MiB in 64-byte fragments passes with a 16 MiB limit.
        client, server = open_pair(backend.name, server_options={"max_message_size": 16 * 2**20})
        chunk = b"z" * 64
        client.send_binary(chunk, fin=False)
        for _ in range(65534):
            client.send_continuation(chunk, fin=False)
        client.send_continuation(chunk, fin=True)
        assert transfer(client, server) == [BinaryMessage(chunk * 65536)]


class TestOpeningHandshake:
    def test_request_event_then_open(self, backend):
        client = ClientConnection("ws://example.com:8080/chat?room=1", backend=backend.name)
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = transfer(client, server)
        assert request.path == "/chat?room=1" and request.headers["Host"] == "example.com:8080"
        server.send_response(server.accept(request))
        assert server.state is State.OPEN
        (response,) = transfer(server, client)
        assert response.status_code == 101 and client.state is State.OPEN

    def test_invalid_request_gets_a_4xx_response_not_an_exception(self, backend):
        server = ServerConnection(backend=backend.name)
        server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no Upgrade
        (request,) = server.events_received()
        response = server.accept(request)
        assert 400 <= response.status_code < 500 and server.handshake_error is not None
        server.send_response(response)
        assert server.close_expected() and server.state is State.CLOSED
        assert b"".join(server.data_to_send()).startswith(b"HTTP/1.1 4")

    def test_malformed_request_is_answered_by_the_connection(self, backend):
        server = ServerConnection(backend=backend.name)
        server.receive_data(b"NOT HTTP\r\n\r\n")
        assert server.events_received() == []
        assert server.handshake_error.status == 400
        assert b"".join(server.data_to_send()).startswith(b"HTTP/1.1 400")
        assert server.close_expected()

    def test_unsupported_version_gets_426_with_the_supported_version(self, backend):
        server = ServerConnection(backend=backend.name)
        server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            b"Sec-WebSocket-Version: 8\r\n\r\n")
        response = server.accept(server.events_received()[0])
        assert response.status_code == 426
        assert response.headers["Sec-WebSocket-Version"] == "13"

    def test_frames_right_after_the_101_are_not_lost(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name)
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = transfer(client, server)
        server.send_response(server.accept(request))
        server.send_text("welcome")
        data = b"".join(server.data_to_send())
        client.receive_data(data)  # 101 and the first frame in one chunk
        events = client.events_received()
        assert events[1:] == [TextMessage("welcome")] and client.state is State.OPEN

    def test_client_rejects_wrong_accept(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name)
        client.send_request(client.connect())
        client.data_to_send()
        client.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            b"Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n")
        (response,) = client.events_received()
        assert response.status_code == 101
        assert client.state is State.CLOSED and client.handshake_error is not None

    def test_client_sees_refusal_status(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name)
        client.send_request(client.connect())
        client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
        (response,) = client.events_received()
        assert (response.status_code, response.body) == (403, b"no")
        assert client.handshake_error.status == 403

    def test_subprotocol_negotiation(self, backend):
        client, server = open_pair(backend.name, client_options={"subprotocols": ["chat", "superchat"]},
                                   server_options={"subprotocols": ["superchat", "chat"]})
        assert client.subprotocol == server.subprotocol == "superchat"

    def test_no_common_subprotocol(self, backend):
        client, server = open_pair(backend.name, client_options={"subprotocols": ["a"]},
                                   server_options={"subprotocols": ["b"]})
        assert client.subprotocol is None and server.subprotocol is None

    def test_client_refuses_unoffered_subprotocol(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name)
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = transfer(client, server)
        response = server.accept(request)
        response.headers["Sec-WebSocket-Protocol"] = "sneaky"
        server.send_response(response)
        transfer(server, client)
        assert client.state is State.CLOSED and client.handshake_error is not None

    def test_client_refuses_unoffered_extension(self, backend):
        client = ClientConnection("ws://x/", backend=backend.name)
        server = ServerConnection(backend=backend.name)
        client.send_request(client.connect())
        (request,) = transfer(client, server)
        response = server.accept(request)
        response.headers["Sec-WebSocket-Extensions"] = "permessage-deflate"
        server.send_response(response)
        transfer(server, client)
        assert client.state is State.CLOSED
        assert client.handshake_error.rule == "unexpected-extension"


conversation = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(max_size=60)),
        st.tuples(st.just("binary"), st.binary(max_size=300)),
        st.tuples(st.just("fragments"), st.lists(st.text(max_size=20), min_size=1, max_size=4)),
        st.tuples(st.just("ping"), st.binary(max_size=20)),
    ),
    max_size=12,
)


def play(connection, script):
    for kind, value in script:
        if kind == "text":
            connection.send_text(value)
        elif kind == "binary":
            connection.send_binary(value)
        elif kind == "ping":
            connection.send_ping(value)
        else:
            connection.send_text(value[0], fin=len(value) == 1)
            for i, piece in enumerate(value[1:], 2):
                connection.send_continuation(piece, fin=i == len(value))
    return b"".join(connection.data_to_send())


def outcome(backend_name, chunks, role="server", **options):
    """Events, error and output of a connection fed chunks after the handshake."""
    if role == "server":
        _, conn = open_pair(backend_name, server_options=options)
    else:
        conn, _ = open_pair(backend_name, client_options=options)
    events = []
    for chunk in chunks:
        conn.receive_data(chunk)
        events += conn.events_received()
    error = conn.error and (type(conn.error), conn.error.close_code, conn.error.rule)
    return events, error, b"".join(conn.data_to_send())


class TestProperties:
    @given(script=conversation, cuts=st.lists(st.integers(0, 10**5), max_size=10))
    def test_any_chunking_gives_the_same_events(self, backend, script, cuts):
        client, _ = open_pair(backend.name)
        data = play(client, script)
        assert outcome(backend.name, split(data, cuts)) == outcome(backend.name, [data])

    @given(script=conversation, flips=st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)),
                                               max_size=3),
           cuts=st.lists(st.integers(0, 10**5), max_size=6), text_as_bytes=st.booleans())
    def test_mutated_streams_give_identical_results_on_both_back_ends(
            self, both, script, flips, cuts, text_as_bytes):
        client, _ = open_pair("python")
        data = bytearray(play(client, script))
        for position, value in flips:
            if data:
                data[position % len(data)] = value
        chunks = split(bytes(data), cuts)
        results = [outcome(b.name, chunks, text_as_bytes=text_as_bytes, max_message_size=500)
                   for b in both]
        assert results[0] == results[1]

    @given(stream=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=6),
           role=st.sampled_from(["server", "client"]))
    def test_random_streams_give_identical_results_on_both_back_ends(self, both, stream, cuts, role):
        chunks = split(stream, cuts)
        assert outcome(both[0].name, chunks, role) == outcome(both[1].name, chunks, role)

    @given(script=conversation)
    def test_both_back_ends_send_identical_bytes(self, both, script):
        outputs = []
        for kernels in both:
            client, _ = open_pair(kernels.name, client_options=dict(random_bytes=seeded_random(7)))
            client.data_to_send()  # the handshake: only framing is compared
            outputs.append(play(client, script))
        assert outputs[0] == outputs[1]
