"""Fuzz target: the client side of the opening handshake (RFC 6455 §4.1, §4.2.2).

Input: option byte (0x01 client offers permessage-deflate, with the
configuration of byte 1; 0x02 client offers subprotocols), byte 1, cut
points, the server's bytes. The request uses the fixed key of the RFC's
example (``dGhlIHNhbXBsZSBub25jZQ==``), so the fuzzer can get a response
past the Sec-WebSocket-Accept check (accept value
``s3pPLMBiTxaQ9kYGzzhZRbK+xOo=``).

Path: ClientConnection.send_request → receive_data → ResponseParser →
check_response (status, Upgrade, accept, subprotocol, extensions,
deflate.accept_response) → open, and the bytes after the response read as
frames.

Checks: nothing raises (a bad response becomes ``handshake_error``, an
InvalidHandshake, and the connection is CLOSED); a 101 that passed opens it.
"""

import _common
from _common import Input, check_handshake_error, check_protocol_error, deflate_config
from wsfast.connection import ClientConnection, State
from wsfast.events import Response

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def test_one_input(data: bytes) -> None:
    source = Input(data)
    flags = source.byte()
    config = source.byte()
    client = ClientConnection(
        "ws://example.com/chat",
        extensions=[deflate_config(config)] if flags & 1 else [],
        subprotocols=["chat", "superchat"] if flags & 2 else [])
    request = client.connect()
    del request.headers["Sec-WebSocket-Key"]
    request.headers["Sec-WebSocket-Key"] = KEY
    client.send_request(request)
    client.data_to_send()
    events = []
    for chunk in source.chunks():
        client.receive_data(chunk)
        events += client.events_received()
    if client.handshake_error is not None:
        check_handshake_error(client.handshake_error, server=False)
        assert client.state is State.CLOSED and client.close_expected()
        assert all(isinstance(e, Response) for e in events[:1]) and len(events) <= 1, events
    elif events:
        assert isinstance(events[0], Response) and events[0].status_code == 101, events[0]
        assert client.state is not State.CONNECTING
        if client.error is not None:
            check_protocol_error(client.error)
    else:
        assert client.state is State.CONNECTING


if __name__ == "__main__":
    _common.run(test_one_input)
