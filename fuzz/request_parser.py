"""Fuzz target: the server side of the opening handshake (RFC 6455 §4.2).

Input: option byte (0x01 server offers permessage-deflate, 0x02 server has
subprotocols, 0x04 small head limits), cut points, the client's bytes.

Path: ServerConnection.receive_data → RequestParser → Request event →
accept (check_request, subprotocols, extension negotiation) → send_response
→ the bytes after the request read as frames. Also RequestParser alone, fed
whole: it must agree with the chunked parse.

Checks: nothing raises (a bad request becomes ``handshake_error``, an
InvalidHandshake, and an HTTP error response is queued); RequestParser raises
only InvalidHandshake.
"""

import _common
from _common import Input, check_handshake_error, check_protocol_error
from wsfast.connection import ServerConnection
from wsfast.deflate import PerMessageDeflate
from wsfast.errors import InvalidHandshake
from wsfast.events import Request
from wsfast.http11 import RequestParser


SMALL_LIMITS = dict(max_request_line=64, max_headers=8, max_header_size=100)


def parse_whole(data: bytes, limits: dict):
    if limits:
        parser = RequestParser(max_line=limits["max_request_line"], max_headers=limits["max_headers"],
                               max_header_size=limits["max_header_size"])
    else:
        parser = RequestParser()
    try:
        request = parser.feed(data)
    except InvalidHandshake as exc:
        check_handshake_error(exc)
        return None, (exc.status, exc.rule)
    return request, None


def test_one_input(data: bytes) -> None:
    source = Input(data)
    flags = source.byte()
    limits = SMALL_LIMITS if flags & 4 else {}
    server = ServerConnection(
        extensions=[PerMessageDeflate()] if flags & 1 else [],
        subprotocols=["chat", "superchat"] if flags & 2 else [], **limits)
    chunks = source.chunks()
    events = []
    for chunk in chunks:
        server.receive_data(chunk)
        events += server.events_received()
    if server.handshake_error is not None:
        check_handshake_error(server.handshake_error)
        assert events == [] and server.close_expected()
        response = b"".join(server.data_to_send())
        assert response.startswith(b"HTTP/1.1 4") or response.startswith(b"HTTP/1.1 5"), response
        chunked = None, (server.handshake_error.status, server.handshake_error.rule)
    elif events:
        (request,) = events
        assert isinstance(request, Request), request
        chunked = request, None
        response = server.accept(request)
        if server.handshake_error is not None:
            check_handshake_error(server.handshake_error)
        server.send_response(response)
        server.data_to_send()
        events = server.events_received()  # frames sent with the request
        if server.error is not None:
            check_protocol_error(server.error)
    else:
        chunked = None, None
    # RequestParser alone (no connection), the same bytes in one piece.
    whole = parse_whole(b"".join(chunks), limits)
    assert whole == chunked, f"chunking changed the result:\n{chunked!r}\n{whole!r}"


if __name__ == "__main__":
    _common.run(test_one_input)
