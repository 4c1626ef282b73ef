"""wsfast.exceptions, datastructures, http11, frames and typing against the
installed websockets, name by name (issue 17).

Code written for websockets catches its exception classes, reads their
attributes and logs their ``str()``; it builds and reads ``Headers``,
``Request`` and ``Response``. Each test here does the same thing to both
libraries and compares what comes out.
"""

from __future__ import annotations

import inspect
import pickle
import typing
import warnings

import pytest
import websockets
import websockets.datastructures
import websockets.exceptions
import websockets.frames
import websockets.http11
import websockets.typing
from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.server import serve as ws_serve
from websockets.server import ServerProtocol as WebsocketsServerProtocol

import wsfast
import wsfast.datastructures
import wsfast.exceptions
import wsfast.frames
import wsfast.http11
import wsfast.typing
from helpers import needs_peer, run
from wsfast import errors
from wsfast.exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    PayloadTooBig,
    ProtocolError,
    TooManyFragments,
)

#: For the tests that compare with what websockets 17 added or changed (the
#: API wsfast follows, DESIGN §8): 16 has 26 of its 33 exception classes and
#: raises InvalidMessage where 17 raises a subclass; 15 also has older
#: constructors and header checks. The others run against any websockets.
NEEDS_17 = needs_peer("websockets", (17,), "websockets 17's exception API")

WS_NAMES = websockets.exceptions.__all__


@NEEDS_17
def test_websockets_exposes_33_exception_classes():
    # The issue counts 33; if a new websockets adds one, this test says so.
    assert len(WS_NAMES) == 33


# -- hierarchy ------------------------------------------------------------------


@pytest.mark.parametrize("name", WS_NAMES)
def test_every_class_exists_under_the_same_name(name):
    cls = getattr(wsfast.exceptions, name)
    assert isinstance(cls, type) and issubclass(cls, BaseException)
    assert cls.__name__ == name
    assert name in wsfast.exceptions.__all__
    assert getattr(wsfast, name) is cls  # top-level, as websockets.__all__ has them


@pytest.mark.parametrize("name", WS_NAMES)
def test_every_base_in_websockets_is_a_base_in_wsfast(name):
    ours = getattr(wsfast.exceptions, name)
    for base in getattr(websockets.exceptions, name).__mro__[1:]:
        if base.__module__.startswith("websockets"):
            expected = getattr(wsfast.exceptions, base.__name__)
        else:
            expected = base  # Exception, RuntimeError, AssertionError...
        assert issubclass(ours, expected), f"{name} is not a {base.__name__}"


@pytest.mark.parametrize("name", WS_NAMES)
def test_one_class_per_name(name):
    # wsfast's own modules and the compatibility module share the classes.
    cls = getattr(wsfast.exceptions, name)
    assert getattr(errors, name) is cls


def test_wsfast_names_are_the_same_classes():
    assert wsfast.WebSocketError is wsfast.WebSocketException
    assert issubclass(errors.InvalidUtf8, ProtocolError)
    # One "except ProtocolError" fails the connection with the right code.
    assert issubclass(PayloadTooBig, ProtocolError)
    assert issubclass(TooManyFragments, PayloadTooBig)


# -- constructors and str() -----------------------------------------------------


def _responses(status=403):
    ws = websockets.http11.Response(status, "Forbidden", websockets.datastructures.Headers(), b"")
    ours = wsfast.http11.Response(status, "Forbidden", wsfast.datastructures.Headers(), b"")
    return ws, ours


# name -> (args, attributes to compare). Responses are built per library.
CONSTRUCTED = {
    "WebSocketException": (("boom",), ()),
    "InvalidURI": (("http://x/", "scheme isn't ws or wss"), ("uri", "msg")),
    "InvalidProxy": (("ftp://p/", "unsupported scheme"), ("proxy", "msg")),
    "InvalidHandshake": (("handshake failed",), ()),
    "SecurityError": (("too big",), ()),
    "RequestLineTooLong": (("read 9000 bytes",), ()),
    "StatusLineTooLong": (("read 9000 bytes",), ()),
    "HeaderLineTooLong": (("read 9000 bytes",), ()),
    "TooManyHeaders": (("expected no more than 128 headers",), ()),
    "TooManyFragments": ((16,), ()),
    "ProxyError": (("proxy failed",), ()),
    "InvalidProxyMessage": (("bad proxy response",), ()),
    "InvalidProxyStatus": (("RESPONSE",), ()),
    "InvalidMessage": (("did not receive a valid HTTP request",), ()),
    "InvalidMethod": (("POST",), ("method",)),
    "InvalidProtocol": (("HTTP/1.0",), ("protocol",)),
    "InvalidStatus": (("RESPONSE",), ()),
    "InvalidHeader": (("Host",), ("name", "value")),
    "InvalidHeaderFormat": (("Connection", "expected token", "a b", 1), ("name", "value")),
    "InvalidHeaderValue": (("Sec-WebSocket-Key", "abc"), ("name", "value")),
    "InvalidOrigin": (("https://evil.example",), ("name", "value")),
    "InvalidUpgrade": (("Upgrade", "h2c"), ("name", "value")),
    "NegotiationError": (("unsupported subprotocol: chat",), ()),
    "DuplicateParameter": (("server_no_context_takeover",), ("name",)),
    "InvalidParameterName": (("foo",), ("name",)),
    "InvalidParameterValue": (("client_max_window_bits", "16"), ("name", "value")),
    "ProtocolError": (("invalid opcode",), ()),
    "PayloadTooBig": ((2000, 1000, 500), ("size", "max_size", "current_size")),
    "InvalidState": (("cannot write to a WebSocket in the CLOSED state",), ()),
    "ConcurrencyError": (("cannot call recv while another coroutine is already running recv",), ()),
}


def _build(module, name, args):
    ws_response, our_response = _responses()
    response = ws_response if module is websockets.exceptions else our_response
    args = tuple(response if arg == "RESPONSE" else arg for arg in args)
    return getattr(module, name)(*args)


@NEEDS_17
def test_every_class_but_connection_closed_is_covered():
    assert set(CONSTRUCTED) | {"ConnectionClosed", "ConnectionClosedOK",
                               "ConnectionClosedError"} == set(WS_NAMES)


@NEEDS_17
@pytest.mark.parametrize("name", sorted(CONSTRUCTED))
def test_same_constructor_gives_same_str_and_attributes(name):
    args, attributes = CONSTRUCTED[name]
    theirs = _build(websockets.exceptions, name, args)
    ours = _build(wsfast.exceptions, name, args)
    assert str(ours) == str(theirs)
    for attribute in attributes:
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute


def _every_kind_of_instance():
    for name, (args, _) in sorted(CONSTRUCTED.items()):
        yield name, _build(wsfast.exceptions, name, args)
    for rule in errors.RULES:
        yield rule, errors.protocol_error(rule, opcode=3, code=5, size=9, limit=4)
    yield "wsfast-form", InvalidHandshake(400, "bad", "bad-key", [("A", "b")])
    yield "keywords", wsfast.InvalidHeader("Host", status=426, rule="r", reason="why")
    yield "closed", ConnectionClosedOK(wsfast.Close(1000, ""), wsfast.Close(1000, ""), True)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_exception_survives_pickle():
    # Exceptions cross process boundaries (multiprocessing, concurrent.futures).
    for label, exc in _every_kind_of_instance():
        copy = pickle.loads(pickle.dumps(exc))
        assert type(copy) is type(exc), label
        assert str(copy) == str(exc), label
        for attribute in ("status", "rule", "reason", "headers", "close_code", "rcvd", "sent"):
            if attribute in ("rcvd", "sent") or hasattr(exc, attribute):
                assert getattr(copy, attribute, None) == getattr(exc, attribute, None), label


def _positional(cls):
    init = cls.__init__
    if init in (Exception.__init__, BaseException.__init__):
        return None
    parameters = list(inspect.signature(init).parameters.values())[1:]
    return [p.name for p in parameters
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


@NEEDS_17
@pytest.mark.parametrize("name", WS_NAMES)
def test_same_positional_parameters(name):
    theirs = _positional(getattr(websockets.exceptions, name))
    ours = _positional(getattr(wsfast.exceptions, name))
    if theirs is None:
        # websockets' class takes a free message: so does ours (tested above).
        return
    assert ours == theirs


@pytest.mark.parametrize("name", ["InvalidStatus", "InvalidProxyStatus"])
def test_status_errors_carry_the_response(name):
    _, response = _responses(407 if name == "InvalidProxyStatus" else 403)
    exc = getattr(wsfast.exceptions, name)(response)
    assert exc.response is response
    assert exc.status == response.status_code  # wsfast's attribute


def test_handshake_subclasses_take_wsfast_answer_as_keywords():
    exc = wsfast.InvalidHeader("Host", status=400, rule="missing-host")
    assert (exc.status, exc.rule, exc.headers, exc.reason) == (400, "missing-host", (),
                                                               "missing Host header")
    with pytest.raises(TypeError):
        wsfast.InvalidHeader("Host", stauts=400)


def test_wsfast_positional_forms_still_work():
    exc = InvalidHandshake(400, "bad key", "bad-key", [("X", "y")])
    assert (exc.status, exc.reason, exc.rule, exc.headers) == (400, "bad key", "bad-key",
                                                               (("X", "y"),))
    assert str(exc) == "bad key (HTTP 400, rule bad-key)"
    exc = ProtocolError(1002, "reserved opcode 3", "reserved-opcode")
    assert (exc.close_code, exc.reason, exc.rule) == (1002, "reserved opcode 3", "reserved-opcode")
    # websockets' message form means a protocol error, 1002.
    assert (ProtocolError("bad").close_code, ProtocolError("bad").reason) == (1002, "bad")


def test_with_status_keeps_the_class_and_text():
    exc = wsfast.InvalidHeaderFormat("Upgrade", "expected protocol", "a b", 0, rule="x")
    moved = exc.with_status(101)
    assert type(moved) is wsfast.InvalidHeaderFormat
    assert (moved.status, str(moved), moved.rule) == (101, str(exc), "x")
    assert exc.status == 400


def test_payload_too_big_like_websockets():
    theirs = websockets.exceptions.PayloadTooBig(None, 1000)
    ours = PayloadTooBig(None, 1000)
    theirs.set_current_size(600)
    ours.set_current_size(600)
    assert str(ours) == str(theirs) == "frame after reading 600 bytes exceeds limit of 1600 bytes"
    assert ours.close_code == 1009
    with pytest.warns(DeprecationWarning):
        assert str(PayloadTooBig("too big")) == "too big"


def test_rule_errors_fill_websockets_attributes():
    exc = errors.protocol_error("frame-too-big", size=5000, limit=4096)
    assert type(exc) is PayloadTooBig
    assert (exc.size, exc.max_size, exc.close_code, exc.rule) == (5000, 4096, 1009,
                                                                  "frame-too-big")
    exc = errors.protocol_error("too-many-fragments", limit=8)
    assert type(exc) is TooManyFragments
    assert (exc.max_fragments, exc.close_code) == (8, 1009)


def test_invalid_state_is_an_assertion_error_like_websockets():
    assert issubclass(wsfast.InvalidState, AssertionError)


def test_invalid_uri_from_the_parser():
    with pytest.raises(wsfast.InvalidURI) as info:
        wsfast.uri.parse_uri("http://example.com/")
    assert info.value.uri == "http://example.com/"
    assert str(info.value).startswith("http://example.com/ isn't a valid URI: ")
    assert isinstance(info.value, ValueError)  # what parse_uri raised before


# -- ConnectionClosed -----------------------------------------------------------

CLOSES = [
    (None, None, None),
    ((1000, ""), None, None),
    (None, (1001, "bye"), None),
    ((1000, "done"), (1000, "done"), True),
    ((4000, "custom"), (1011, ""), False),
    ((3001, ""), (1005, ""), True),
]


@pytest.mark.parametrize("rcvd, sent, order", CLOSES)
@pytest.mark.parametrize("name", ["ConnectionClosed", "ConnectionClosedOK",
                                  "ConnectionClosedError"])
def test_connection_closed_like_websockets(name, rcvd, sent, order):
    def make(module, frames):
        close = lambda pair: None if pair is None else frames.Close(*pair)  # noqa: E731
        return getattr(module, name)(close(rcvd), close(sent), order)

    theirs = make(websockets.exceptions, websockets.frames)
    ours = make(wsfast.exceptions, wsfast.frames)
    assert str(ours) == str(theirs)
    assert (ours.rcvd_then_sent, ours.sent_code) == (order, None if sent is None else sent[0])
    for attribute in ("rcvd", "sent"):
        frame, expected = getattr(ours, attribute), getattr(theirs, attribute)
        assert (frame is None) == (expected is None)
        if frame is not None:
            assert (frame.code, frame.reason, str(frame)) == (expected.code, expected.reason,
                                                              str(expected))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (ours.code, ours.reason) == (theirs.code, theirs.reason)
    assert {w.category for w in caught} == {DeprecationWarning}


def test_connection_closed_from_a_real_websockets_peer(backend):
    # The peer closes first: the client received, then sent its echo.
    async def handler(websocket):
        await websocket.close(4002, "from websockets")

    async def main():
        async with ws_serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", backend=backend.name) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
        exc = info.value
        assert (exc.rcvd.code, exc.rcvd.reason) == (4002, "from websockets")
        assert (exc.sent.code, exc.rcvd_then_sent) == (4002, True)
        assert str(exc).startswith("received 4002 (private use) from websockets; then sent 4002")

    run(main())


def test_connection_closed_after_closing_first(backend):
    # We close first: sent, then received the peer's echo.
    async def main():
        async with ws_serve(lambda websocket: websocket.wait_closed(), "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with wsfast.connect(f"ws://127.0.0.1:{port}/", backend=backend.name) as ws:
                await ws.close(1000, "done")
                with pytest.raises(ConnectionClosedOK) as info:
                    await ws.recv()
        exc = info.value
        assert (exc.sent.code, exc.sent.reason, exc.rcvd.code) == (1000, "done", 1000)
        assert exc.rcvd_then_sent is False
        assert str(exc).startswith("sent 1000 (OK) done; then received 1000 (OK)")

    run(main())


def test_connection_closed_refuses_an_order_without_both_frames():
    with pytest.raises(ValueError):
        ConnectionClosed(wsfast.Close(1000, ""), None, True)


def test_connection_closed_ok_and_error_are_connection_closed():
    assert issubclass(ConnectionClosedOK, ConnectionClosed)
    assert issubclass(ConnectionClosedError, ConnectionClosed)


# -- handshake failures: the class websockets raises for the same bytes ---------

REQUEST = (b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n")

# id -> (request bytes, wsfast's HTTP status, same str() as websockets)
BAD_REQUESTS = {
    "request-line-too-long": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, False),
    "too-many-headers": (REQUEST + b"X: y\r\n" * 200 + b"\r\n", 431, False),
    "header-line-too-long": (REQUEST + b"X: " + b"y" * 9000 + b"\r\n\r\n", 431, False),
    "post": (REQUEST.replace(b"GET", b"POST") + b"\r\n", 405, True),
    "http-1.0": (REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0") + b"\r\n", 400, True),
    "no-upgrade": (REQUEST.replace(b"Upgrade: websocket\r\n", b"") + b"\r\n", 426, True),
    "upgrade-h2c": (REQUEST.replace(b"Upgrade: websocket", b"Upgrade: h2c") + b"\r\n", 426, True),
    "connection-close": (REQUEST.replace(b"Connection: Upgrade", b"Connection: close") + b"\r\n",
                         426, True),
    "bad-connection": (REQUEST.replace(b"Connection: Upgrade", b"Connection: Up grade")
                       + b"\r\n", 400, False),
    "no-key": (REQUEST.replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b"")
               + b"\r\n", 400, True),
    "bad-key": (REQUEST.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"abc") + b"\r\n", 400, True),
    "two-keys": (REQUEST + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400, True),
    "no-version": (REQUEST.replace(b"Sec-WebSocket-Version: 13\r\n", b"") + b"\r\n", 426, True),
    "version-8": (REQUEST.replace(b"Version: 13", b"Version: 8") + b"\r\n", 426, True),
}


def _websockets_error(data):
    protocol = WebsocketsServerProtocol()
    protocol.receive_data(data)
    events = protocol.events_received()
    if events:
        protocol.accept(events[0])
    return protocol.handshake_exc


def _wsfast_error(data):
    protocol = wsfast.ServerProtocol()
    protocol.receive_data(data)
    if protocol.request is not None:
        protocol.accept(protocol.request)
    return protocol.handshake_error


@NEEDS_17
@pytest.mark.parametrize("data, status, same_text", BAD_REQUESTS.values(), ids=list(BAD_REQUESTS))
def test_bad_request_raises_the_class_websockets_raises(data, status, same_text):
    theirs, ours = _websockets_error(data), _wsfast_error(data)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.status == status  # wsfast's answer is unchanged
    if same_text:
        assert str(ours) == str(theirs)


def test_refused_upgrade_is_invalid_status_with_the_response():
    client = wsfast.ClientProtocol("ws://example.com/")
    client.send_request(client.connect())
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
    exc = client.handshake_error
    assert type(exc) is InvalidStatus
    assert (exc.response.status_code, exc.response.body, exc.status) == (403, b"no", 403)
    assert str(exc) == "server rejected WebSocket connection: HTTP 403"


@pytest.mark.parametrize("params, name", [
    ("server_no_context_takeover; server_no_context_takeover", "DuplicateParameter"),
    ("foo", "InvalidParameterName"),
    ("server_max_window_bits=20", "InvalidParameterValue"),
])
def test_bad_deflate_answer_raises_negotiation_errors(params, name):
    client = wsfast.ClientProtocol("ws://example.com/",
                                   extensions=[wsfast.deflate.PerMessageDeflate()])
    request = client.connect()
    client.send_request(request)
    accept = wsfast.handshake.accept_key(request.headers["Sec-WebSocket-Key"])
    client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate; " + params.encode() + b"\r\n\r\n")
    exc = client.handshake_error
    assert type(exc).__name__ == name
    assert isinstance(exc, wsfast.NegotiationError)
    assert (exc.status, exc.rule) == (101, "bad-deflate-response")


# -- Headers --------------------------------------------------------------------

NAMES = st.sampled_from(["Host", "host", "HOST", "Via", "via", "X-A", "x-a", "Upgrade"])
VALUES = st.text(alphabet="abc 1\t", max_size=4)
OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("set"), NAMES, VALUES),
    st.tuples(st.just("del"), NAMES),
    st.tuples(st.just("update"), st.lists(st.tuples(NAMES, VALUES), max_size=3)),
    st.tuples(st.just("clear")),
), max_size=12)


def _apply(headers, operation):
    """Run one operation; return what it returned or the name of its exception."""
    try:
        if operation[0] == "set":
            headers[operation[1]] = operation[2]
        elif operation[0] == "del":
            del headers[operation[1]]
        elif operation[0] == "update":
            headers.update(operation[1])
        else:
            headers.clear()
    except LookupError as exc:
        return type(exc).__name__
    return None


def _observe(headers, name):
    try:
        single = headers[name]
    except LookupError as exc:
        single = type(exc).__name__
    return (single, headers.get_all(name), name in headers)


@given(initial=st.lists(st.tuples(NAMES, VALUES), max_size=5), operations=OPERATIONS)
def test_headers_behave_like_websockets(initial, operations):
    theirs = websockets.datastructures.Headers(initial)
    ours = wsfast.datastructures.Headers(initial)
    for operation in operations:
        assert _apply(ours, operation) == _apply(theirs, operation)
        assert list(ours.raw_items()) == list(theirs.raw_items())
    for name in ("Host", "via", "X-A", "Upgrade", "Absent"):
        assert _observe(ours, name) == _observe(theirs, name)
    assert str(ours) == str(theirs)
    assert ours.serialize() == theirs.serialize()
    copy = ours.copy()
    copy["Extra"] = "1"
    assert "Extra" not in ours


@given(pairs=st.lists(st.tuples(NAMES, VALUES), max_size=5))
def test_headers_from_mapping_and_keywords_like_websockets(pairs):
    mapping = dict(pairs)
    theirs = websockets.datastructures.Headers(mapping, Extra="1")
    ours = wsfast.datastructures.Headers(mapping, Extra="1")
    assert list(ours.raw_items()) == list(theirs.raw_items())
    ours.update(mapping, Extra="2")
    theirs.update(mapping, Extra="2")
    assert list(ours.raw_items()) == list(theirs.raw_items())


@given(pairs=st.lists(st.tuples(NAMES, VALUES), max_size=5))
def test_headers_take_websockets_headers_with_every_field(pairs):
    theirs = websockets.datastructures.Headers(pairs)
    assert list(wsfast.Headers(theirs).raw_items()) == list(theirs.raw_items())
    ours = wsfast.Headers([("A", "1")])
    ours.update(theirs)
    assert list(ours.raw_items()) == [("A", "1")] + list(theirs.raw_items())


@NEEDS_17
@pytest.mark.parametrize("value", ["a\r\nX: y", "a\nb", "a\x00b", "\u2603"])
def test_setting_an_unsafe_value_fails_like_websockets(value):
    with pytest.raises(websockets.exceptions.InvalidHeaderValue):
        websockets.datastructures.Headers()["X"] = value
    with pytest.raises(wsfast.exceptions.InvalidHeaderValue) as info:
        wsfast.datastructures.Headers()["X"] = value
    assert (info.value.name, info.value.value) == ("X", value)


def test_multiple_values_error_like_websockets():
    ours = wsfast.Headers([("Via", "a"), ("via", "b")])
    theirs = websockets.datastructures.Headers([("Via", "a"), ("via", "b")])
    with pytest.raises(wsfast.MultipleValuesError) as mine:
        ours["VIA"]
    with pytest.raises(websockets.datastructures.MultipleValuesError) as other:
        theirs["VIA"]
    assert str(mine.value) == str(other.value) == "'VIA'"
    assert issubclass(wsfast.MultipleValuesError, LookupError)


def test_headers_names_where_websockets_has_them():
    assert wsfast.headers.Headers is wsfast.datastructures.Headers is wsfast.Headers
    assert wsfast.HeadersLike is wsfast.datastructures.HeadersLike
    assert wsfast.datastructures.__all__ == websockets.datastructures.__all__


# -- Request, Response, frames, typing ------------------------------------------


def test_request_and_response_have_websockets_attributes():
    request = wsfast.Request("/chat?x=1", wsfast.Headers([("Host", "example.com")]))
    assert (request.path, request.headers["host"]) == ("/chat?x=1", "example.com")
    response = wsfast.Response(404, "Not Found", wsfast.Headers())
    assert (response.status_code, response.reason_phrase, response.body) == (404, "Not Found",
                                                                              b"")
    # One class serves as the sans-I/O event and as websockets' message.
    assert wsfast.http11.Request is wsfast.events.Request
    assert wsfast.http11.Response is wsfast.events.Response


def test_server_and_user_agent_strings():
    for value in (wsfast.http11.SERVER, wsfast.http11.USER_AGENT):
        python, library = value.split(" ")
        assert python.startswith("Python/3.")
        assert library == f"wsfast/{wsfast.__version__}"


@pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "bye"), (4000, "x"), (3000, "r"),
                                          (1011, "oops")])
def test_close_like_websockets(code, reason):
    ours, theirs = wsfast.Close(code, reason), websockets.frames.Close(code, reason)
    assert str(ours) == str(theirs)
    assert ours.serialize() == theirs.serialize()
    assert wsfast.Close.parse(theirs.serialize()) == ours
    ours.check()


def test_close_parse_of_an_empty_payload():
    assert wsfast.Close.parse(b"") == wsfast.Close(1005, "")
    with pytest.raises(ProtocolError):
        wsfast.Close(1006, "").check()


def test_frames_names():
    for name in ("Opcode", "CloseCode", "Frame", "Close"):
        assert getattr(wsfast, name) is getattr(wsfast.frames, name)
    assert {m.name: m.value for m in wsfast.CloseCode} == {
        m.name: m.value for m in websockets.frames.CloseCode}
    for member in websockets.frames.Opcode:
        assert wsfast.Opcode[member.name] == member.value
    frame = wsfast.Frame(wsfast.Opcode.TEXT, b"hi")
    assert frame.data == frame.payload == b"hi"


def test_protocol_names():
    assert wsfast.ServerProtocol is wsfast.connection.ServerConnection
    assert wsfast.ClientProtocol is wsfast.connection.ClientConnection
    assert {m.name: m.value for m in wsfast.State} == {
        m.name: m.value for m in websockets.protocol.State}
    assert {m.name: m.value for m in wsfast.Side} == {
        m.name: m.value for m in websockets.protocol.Side}


@NEEDS_17
@pytest.mark.parametrize("name", websockets.typing.__all__)
def test_typing_names(name):
    ours = getattr(wsfast.typing, name)
    assert getattr(wsfast, name) is ours
    theirs = getattr(websockets.typing, name)
    if hasattr(theirs, "__supertype__"):  # a NewType (a function before Python 3.10)
        assert ours.__supertype__ is theirs.__supertype__ and ours.__name__ == theirs.__name__
    else:
        assert set(typing.get_args(ours)) >= {
            arg for arg in typing.get_args(theirs) if typing.get_origin(arg) is None}


@NEEDS_17
@pytest.mark.parametrize("module", ["exceptions", "datastructures", "frames", "http11", "typing"])
def test_every_public_name_of_the_module_exists(module):
    theirs = getattr(websockets, module)
    ours = getattr(wsfast, module)
    missing = [name for name in theirs.__all__ if not hasattr(ours, name)]
    assert not missing


#: websockets' router (websockets.asyncio.router) needs werkzeug; wsfast has no
#: router (README, migration table).
NOT_PROVIDED = {"route", "unix_route", "Router"}


def test_every_top_level_name_of_websockets_exists():
    missing = [name for name in websockets.__all__
               if name not in NOT_PROVIDED and not hasattr(wsfast, name)]
    assert not missing
    assert set(wsfast.__all__) >= set(websockets.__all__) - NOT_PROVIDED


def test_top_level_connections_are_the_asyncio_ones_as_in_websockets():
    import wsfast.asyncio.client
    import wsfast.asyncio.server
    import wsfast.protocol

    assert wsfast.ServerConnection is wsfast.asyncio.server.ServerConnection
    assert wsfast.ClientConnection is wsfast.asyncio.client.ClientConnection
    assert wsfast.ServerProtocol is wsfast.protocol.ServerProtocol
    assert wsfast.ClientProtocol is wsfast.protocol.ClientProtocol
    for name in ("serve", "unix_serve", "broadcast", "basic_auth", "Server"):
        assert getattr(wsfast, name) is getattr(wsfast.asyncio.server, name)
    for name in ("connect", "unix_connect"):
        assert getattr(wsfast, name) is getattr(wsfast.asyncio.client, name)
