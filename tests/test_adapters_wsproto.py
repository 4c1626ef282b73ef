"""wsfast.adapters.wsproto against wsproto: the same byte streams, cut into
the same random chunks, fed to both; the same events sent by both; the same
opening handshakes (WSConnection) in both roles.

Events are compared message by message: wsproto yields a message in as many
events as reads and frames, the adapter in one (module docstring of
wsfast.adapters.wsproto); everything else -- control events, close codes
and reasons, states, the bytes produced -- is compared as is.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings, strategies as st
from wsproto import events as ev
from wsproto.connection import Connection as WsprotoConnection, ConnectionState, ConnectionType
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from helpers import needs_peer
from wsfast.adapters import wsproto as adapter

SERVER, CLIENT = ConnectionType.SERVER, ConnectionType.CLIENT


# -- a raw frame writer: any header, valid or not --------------------------------


def raw_frame(opcode, payload, *, fin=True, rsv=0, mask=b"\x00\x00\x00\x00", long_length=False):
    """Frame bytes exactly as described, including what the RFC forbids."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    size = len(payload)
    masked = 0x80 if mask is not None else 0
    if size < 126 and not long_length:
        head = bytes([first, masked | size])
    elif size < 65536:
        head = bytes([first, masked | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, masked | 127]) + size.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return code.to_bytes(2, "big") + reason


masks = st.binary(min_size=4, max_size=4)
texts = st.text(max_size=40).map(lambda t: t.encode("utf-8"))
data_frame = st.builds(
    lambda opcode, payload, fin, mask: raw_frame(opcode, payload, fin=fin, mask=mask),
    st.sampled_from([0x0, 0x1, 0x2]),
    st.one_of(texts, st.binary(max_size=300)),
    st.booleans(), masks)
# A valid message in several frames, text cut anywhere (even inside a code point).


def fragments(text, cuts, mask):
    pieces = _cut(text, cuts)
    return b"".join(raw_frame(0x1 if i == 0 else 0x0, piece, fin=i == len(pieces) - 1,
                              mask=mask)
                    for i, piece in enumerate(pieces))


fragmented = st.builds(fragments, texts, st.lists(st.integers(0, 40), max_size=4), masks)
control_frame = st.builds(
    lambda opcode, payload, mask: raw_frame(opcode, payload, mask=mask),
    st.sampled_from([0x9, 0xA]), st.binary(max_size=127), masks)
close_codes = st.sampled_from([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009,
                               1010, 1011, 1012, 1013, 1015, 1016, 2000, 2999, 3000, 4999,
                               5000, 999, 0])
close_frame = st.one_of(
    st.builds(lambda code, reason, mask: raw_frame(0x8, close_payload(code, reason), mask=mask),
              close_codes, st.one_of(texts, st.binary(max_size=10)), masks),
    st.builds(lambda payload, mask: raw_frame(0x8, payload, mask=mask),
              st.binary(max_size=1), masks))
odd_frame = st.one_of(
    st.builds(lambda opcode, mask: raw_frame(opcode, b"x", mask=mask),
              st.sampled_from([0x3, 0x7, 0xB, 0xF]), masks),          # reserved opcodes
    st.builds(lambda rsv, mask: raw_frame(0x1, b"x", rsv=rsv, mask=mask),
              st.integers(1, 7), masks),                               # RSV bits
    st.builds(lambda payload: raw_frame(0x2, payload, mask=None),
              st.binary(max_size=5)),                                  # unmasked
    st.builds(lambda payload, mask: raw_frame(0x2, payload, mask=mask, long_length=True),
              st.binary(max_size=5), masks),                           # non-minimal length
    st.builds(lambda mask: raw_frame(0x9, b"p", fin=False, mask=mask), masks),  # fragmented ping
)


def _cut(data, cuts):
    points = sorted({min(c, len(data)) for c in cuts} - {0, len(data)})
    pieces, last = [], 0
    for point in points + [len(data)]:
        pieces.append(data[last:point])
        last = point
    return pieces


valid_message = st.one_of(
    st.builds(lambda payload, mask: raw_frame(0x1, payload, mask=mask), texts, masks),
    st.builds(lambda payload, mask: raw_frame(0x2, payload, mask=mask),
              st.binary(max_size=300), masks))
# Mostly valid traffic, so that messages before an error are compared too;
# every stream ends (at the latest) at its first error or close.
stream = st.lists(st.one_of(valid_message, valid_message, fragmented, fragmented, control_frame,
                            data_frame, close_frame, odd_frame),
                  max_size=10).map(b"".join)


def by_message(events):
    """wsproto's events with each message's pieces joined into one event."""
    out, pending, kind = [], [], None
    for event in events:
        if isinstance(event, ev.Message):
            kind = type(event)
            pending.append(event.data)
            if event.message_finished:
                out.append(kind(data=("" if kind is ev.TextMessage else b"").join(pending)))
                pending = []
        else:
            out.append(event)
    return out


def feed_both(ours, theirs, data, cuts):
    got_ours, got_theirs = [], []
    for chunk in _cut(data, cuts) if data else [b""]:
        for connection, into in ((ours, got_ours), (theirs, got_theirs)):
            try:
                connection.receive_data(chunk)
            except LocalProtocolError as exc:
                into.append(("LocalProtocolError", str(exc)))
            into.extend(connection.events())
    return got_ours, by_message(got_theirs)


def compare(ours_events, theirs_events, failed):
    if failed:
        # A protocol error: wsproto words its reasons its own way; the
        # close code it asks for must be the same.
        assert ours_events[:-1] == theirs_events[:-1]
        assert isinstance(ours_events[-1], ev.CloseConnection)
        assert isinstance(theirs_events[-1], ev.CloseConnection)
        assert ours_events[-1].code == theirs_events[-1].code
    else:
        assert ours_events == theirs_events


@given(data=stream, cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_server_receives_what_wsproto_receives(backend, data, cuts):
    if b"\x03\xf6" in data:  # 1014: see test_close_code_1014_is_valid_for_wsfast
        return
    ours = adapter.Connection(SERVER, backend=backend.name)
    theirs = WsprotoConnection(SERVER)
    got_ours, got_theirs = feed_both(ours, theirs, data, cuts)
    compare(got_ours, got_theirs, ours._failed)
    assert ours.state is theirs.state


@given(frames=st.lists(st.one_of(
    st.builds(lambda opcode, payload, fin: raw_frame(opcode, payload, fin=fin, mask=None),
              st.sampled_from([0x0, 0x1, 0x2]), st.one_of(texts, st.binary(max_size=200)),
              st.booleans()),
    st.builds(lambda opcode, payload: raw_frame(opcode, payload, mask=None),
              st.sampled_from([0x9, 0xA]), st.binary(max_size=125)),
    st.builds(lambda code, reason: raw_frame(0x8, close_payload(code, reason), mask=None),
              close_codes, texts),
    st.builds(lambda payload, mask: raw_frame(0x2, payload, mask=mask),
              st.binary(max_size=5), masks),                      # masked: not from a server
), max_size=6).map(b"".join), cuts=st.lists(st.integers(0, 1500), max_size=5))
def test_client_receives_what_wsproto_receives(backend, frames, cuts):
    if b"\x03\xf6" in frames:
        return
    ours = adapter.Connection(CLIENT, backend=backend.name)
    theirs = WsprotoConnection(CLIENT)
    got_ours, got_theirs = feed_both(ours, theirs, frames, cuts)
    compare(got_ours, got_theirs, ours._failed)
    assert ours.state is theirs.state


# -- sending ----------------------------------------------------------------------


outgoing = st.lists(st.one_of(
    st.builds(lambda t, fin: ev.TextMessage(data=t, message_finished=fin),
              st.text(max_size=300), st.booleans()),
    st.builds(lambda b, fin: ev.BytesMessage(data=b, message_finished=fin),
              st.one_of(st.binary(max_size=300), st.just(b"\x07" * 70000)), st.booleans()),
    st.builds(lambda p: ev.Ping(payload=p), st.binary(max_size=126)),
    st.builds(lambda p: ev.Pong(payload=p), st.binary(max_size=126)),
    st.builds(lambda code, reason: ev.CloseConnection(code=code, reason=reason),
              st.sampled_from([None, 1000, 1001, 1005, CloseReason.NO_STATUS_RCVD, 1006, 1011,
                               1015, 3000, 4999]),
              st.one_of(st.none(), st.text(max_size=150))),
), max_size=8)


def send_all(connection, events):
    out = []
    for event in events:
        try:
            out.append(connection.send(event))
        except (LocalProtocolError, TypeError, ValueError) as exc:
            out.append(type(exc).__name__)
    return out


@given(events=outgoing)
def test_server_sends_the_bytes_wsproto_sends(backend, events):
    ours = adapter.Connection(SERVER, backend=backend.name)
    theirs = WsprotoConnection(SERVER)
    assert send_all(ours, events) == send_all(theirs, events)
    assert ours.state is theirs.state


def unmask(data):
    """Frames of a client with their masks removed (and the mask bits cleared)."""
    out, i = bytearray(), 0
    while i < len(data):
        first, second = data[i], data[i + 1]
        size, i = second & 0x7F, i + 2
        extra = b""
        if size == 126:
            extra, size, i = data[i:i + 2], int.from_bytes(data[i:i + 2], "big"), i + 2
        elif size == 127:
            extra, size, i = data[i:i + 8], int.from_bytes(data[i:i + 8], "big"), i + 8
        assert second & 0x80, "a client frame must be masked"
        mask, i = data[i:i + 4], i + 4
        payload = bytes(b ^ mask[k % 4] for k, b in enumerate(data[i:i + size]))
        out += bytes([first, second & 0x7F]) + extra + payload
        i += size
    return bytes(out)


@given(events=outgoing.map(lambda events: [e for e in events
                                          if not (isinstance(e, ev.BytesMessage)
                                                  and len(e.data) > 3000)]))
def test_client_sends_the_frames_wsproto_sends(backend, events):
    ours = adapter.Connection(CLIENT, backend=backend.name)
    theirs = WsprotoConnection(CLIENT)
    got_ours = [unmask(x) if isinstance(x, bytes) else x for x in send_all(ours, events)]
    got_theirs = [unmask(bytes(x)) if isinstance(x, bytes) else x
                  for x in send_all(theirs, events)]
    assert got_ours == got_theirs
    assert ours.state is theirs.state


# -- whole conversations and the edges ------------------------------------------------------


def test_closing_handshake_started_by_either_side(backend):
    for first in ("local", "remote"):
        ours = adapter.Connection(SERVER, backend=backend.name)
        theirs = WsprotoConnection(SERVER)
        close = raw_frame(0x8, close_payload(1001, b"away"), mask=b"abcd")
        if first == "local":
            assert ours.send(ev.CloseConnection(1000)) == theirs.send(ev.CloseConnection(1000))
            assert ours.state is theirs.state is ConnectionState.LOCAL_CLOSING
            ours.receive_data(close)
            theirs.receive_data(close)
            assert list(ours.events()) == list(theirs.events())
        else:
            ours.receive_data(close)
            theirs.receive_data(close)
            (event,) = list(ours.events())
            assert [event] == list(theirs.events())
            assert ours.state is theirs.state is ConnectionState.REMOTE_CLOSING
            assert ours.send(event.response()) == theirs.send(event.response())
        assert ours.state is theirs.state is ConnectionState.CLOSED
        with pytest.raises(LocalProtocolError):
            ours.send(ev.TextMessage("late"))
        with pytest.raises(LocalProtocolError):
            ours.receive_data(b"x")
        ours.receive_data(None)
        theirs.receive_data(None)
        assert list(ours.events()) == list(theirs.events()) == [ev.CloseConnection(1006)]


def test_trailing_data_and_large_messages(backend):
    big = os.urandom(300_000)
    frames = raw_frame(0x2, big, mask=b"\x01\x02\x03\x04") + raw_frame(0x1, b"t", mask=b"mask")
    ours = adapter.Connection(SERVER, trailing_data=frames[:1000], backend=backend.name)
    ours.receive_data(frames[1000:])
    assert list(ours.events()) == [ev.BytesMessage(big), ev.TextMessage("t")]


def test_max_message_size_fails_with_1009(backend):
    ours = adapter.Connection(SERVER, backend=backend.name, max_message_size=10)
    ours.receive_data(raw_frame(0x2, b"x" * 11, mask=b"abcd"))
    (event,) = list(ours.events())
    assert event.code == 1009


def test_close_code_1014_is_valid_for_wsfast(backend):
    """1014 (Bad Gateway) is registered; wsproto 1.3.2 fails it with 1002."""
    frame = raw_frame(0x8, close_payload(1014, b""), mask=b"abcd")
    ours = adapter.Connection(SERVER, backend=backend.name)
    theirs = WsprotoConnection(SERVER)
    ours.receive_data(frame)
    theirs.receive_data(frame)
    assert [e.code for e in ours.events()] == [1014]
    assert [e.code for e in theirs.events()] == [1002]


def test_extensions_are_refused():
    with pytest.raises(ValueError):
        adapter.Connection(SERVER, extensions=[object()])


def test_host_check_names_what_is_missing():
    with pytest.raises(ImportError) as info:
        adapter._check_host("1.0.0", {ev: ("TextMessage", "NoSuchEvent")})
    assert "wsproto 1.0.0 is older than 1.2" in str(info.value)
    assert "'NoSuchEvent'" in str(info.value)
    adapter._check_host("1.3.2", adapter._NEEDED)


# -- the opening handshake (WSConnection) ----------------------------------------------------


from wsproto import WSConnection as WsprotoWSConnection  # noqa: E402
from wsproto.utilities import RemoteProtocolError  # noqa: E402

tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=8)
requests = st.builds(
    lambda host, path, subprotocols, extra: ev.Request(
        host=host, target=path, subprotocols=subprotocols,
        extra_headers=[(b"x-" + name.encode(), value.encode()) for name, value in extra]),
    st.sampled_from(["example.com", "localhost:8080", "127.0.0.1"]),
    st.sampled_from(["/", "/chat", "/a/b?c=d&e=f"]),
    st.lists(tokens, max_size=3, unique=True),
    st.lists(st.tuples(tokens, tokens), max_size=3))


def joined(events):
    """Rejection bodies joined, as the messages are."""
    out, body = [], b""
    for event in events:
        if isinstance(event, ev.RejectData):
            body += event.data
            if event.body_finished:
                out.append(ev.RejectData(data=body, body_finished=True))
                body = b""
        else:
            out.append(event)
    return by_message(out)


@needs_peer("wsproto", (1, 3), "wsproto's handshake bytes")
@settings(max_examples=50)  # a small space; each example is two handshakes
@given(request=requests, choice=st.integers(0, 3),
       extra=st.lists(st.tuples(tokens, tokens), max_size=2))
def test_server_handshake_matches_wsproto(backend, request, choice, extra):
    client = WsprotoWSConnection(CLIENT)
    data = client.send(request) + raw_frame(0x1, b"early", mask=b"abcd")
    ours = adapter.WSConnection(SERVER, backend=backend.name)
    theirs = WsprotoWSConnection(SERVER)
    ours.receive_data(data)
    theirs.receive_data(data)
    got = list(ours.events())
    assert got == list(theirs.events())
    assert ours.state is theirs.state is ConnectionState.CONNECTING
    offered = got[0].subprotocols
    accept = ev.AcceptConnection(
        subprotocol=offered[choice] if choice < len(offered) else None,
        extra_headers=[(b"x-" + n.encode(), v.encode()) for n, v in extra])
    answer = ours.send(accept)
    assert answer == theirs.send(accept)  # byte for byte
    assert ours.state is theirs.state is ConnectionState.OPEN
    # Frames that came with the request, after the accept: wsproto's h11
    # keeps them in its buffer and drops them; wsfast delivers them.
    assert list(ours.events()) == [ev.TextMessage("early")]
    client.receive_data(answer + ours.send(ev.TextMessage("hello")))
    assert joined(client.events()) == [
        ev.AcceptConnection(subprotocol=accept.subprotocol, extensions=[],
                            extra_headers=accept.extra_headers),
        ev.TextMessage("hello")]


@needs_peer("wsproto", (1, 3), "wsproto's handshake headers")
@settings(max_examples=50)
@given(request=requests, choice=st.integers(0, 3))
def test_client_handshake_matches_wsproto(backend, request, choice):
    ours = adapter.WSConnection(CLIENT, backend=backend.name)
    theirs = WsprotoWSConnection(CLIENT)
    server_for_ours, server_for_theirs = (WsprotoWSConnection(SERVER) for _ in range(2))
    server_for_ours.receive_data(ours.send(request))
    server_for_theirs.receive_data(theirs.send(request))
    (seen_ours,) = server_for_ours.events()
    (seen_theirs,) = server_for_theirs.events()

    def without_key(event):
        return [h for h in event.extra_headers if h[0] != b"sec-websocket-key"]

    assert (seen_ours.host, seen_ours.target, seen_ours.subprotocols) == (
        seen_theirs.host, seen_theirs.target, seen_theirs.subprotocols)
    assert without_key(seen_ours) == without_key(seen_theirs)
    offered = seen_ours.subprotocols
    accept = ev.AcceptConnection(subprotocol=offered[choice] if choice < len(offered) else None,
                                 extra_headers=[(b"x-a", b"b")])
    frames = raw_frame(0x2, b"\x00\x01", mask=None) + raw_frame(0x9, b"p", mask=None)
    ours.receive_data(server_for_ours.send(accept) + frames)
    theirs.receive_data(server_for_theirs.send(accept) + frames)
    assert joined(ours.events()) == joined(theirs.events())
    assert ours.state is theirs.state is ConnectionState.OPEN


def test_rejection_both_ways(backend):
    reject = ev.RejectConnection(status_code=403, has_body=True,
                                 headers=[(b"content-length", b"7"), (b"x-why", b"no")])
    # Our server's refusal, read by wsproto's client, and wsproto's server's, read by ours.
    for server_cls, client_cls in ((adapter.WSConnection, WsprotoWSConnection),
                                   (WsprotoWSConnection, adapter.WSConnection)):
        options = {"backend": backend.name} if server_cls is adapter.WSConnection else {}
        server = server_cls(SERVER, **options)
        options = {"backend": backend.name} if client_cls is adapter.WSConnection else {}
        client = client_cls(CLIENT, **options)
        server.receive_data(client.send(ev.Request(host="h", target="/")))
        list(server.events())
        data = (server.send(reject) + server.send(ev.RejectData(b"go ", body_finished=False))
                + server.send(ev.RejectData(b"away", body_finished=True)))
        assert server.state is ConnectionState.CLOSED
        client.receive_data(data)
        events = joined(client.events())
        assert events[0].status_code == 403 and events[0].has_body
        assert (b"x-why", b"no") in events[0].headers
        assert events[1:] == [ev.RejectData(b"go away", body_finished=True)]
        assert client.state is ConnectionState.CLOSED


def test_chunked_refusal_matches_wsproto(backend):
    reject = ev.RejectConnection(status_code=401, has_body=True)
    outputs = []
    for server in (adapter.WSConnection(SERVER, backend=backend.name),
                   WsprotoWSConnection(SERVER)):
        server.receive_data(WsprotoWSConnection(CLIENT).send(ev.Request(host="h", target="/")))
        list(server.events())
        head = server.send(reject)
        assert b"\r\ntransfer-encoding: chunked\r\n" in head.lower()
        body = server.send(ev.RejectData(b"abc", body_finished=False)) + server.send(
            ev.RejectData(b"", body_finished=True))
        outputs.append(body)
    assert outputs[0] == outputs[1] == b"3\r\nabc\r\n0\r\n\r\n"


# (request head, status wsfast answers, status wsproto answers): the same
# requests are refused; where the status differs, wsfast's rule says why
# (no "Connection: upgrade": 426 Upgrade Required, as websockets answers).
@pytest.mark.parametrize("head, ours, theirs", [
    (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nSec-WebSocket-Key: "
     b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 426, 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
     426, 426),
    (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\n\r\n", 400, 400),
    (b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
     b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, 400),
])
def test_invalid_requests_raise_remote_protocol_error(backend, head, ours, theirs):
    for connection, status in ((adapter.WSConnection(SERVER, backend=backend.name), ours),
                               (WsprotoWSConnection(SERVER), theirs)):
        with pytest.raises(RemoteProtocolError) as info:
            connection.receive_data(head)
        assert info.value.event_hint.status_code == status


def test_unoffered_subprotocol_is_a_local_error(backend):
    ours = adapter.WSConnection(SERVER, backend=backend.name)
    ours.receive_data(WsprotoWSConnection(CLIENT).send(
        ev.Request(host="h", target="/", subprotocols=["a"])))
    list(ours.events())
    with pytest.raises(LocalProtocolError):
        ours.send(ev.AcceptConnection(subprotocol="b"))
