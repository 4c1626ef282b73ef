"""Fuzz target: permessage-deflate negotiation (RFC 7692 §5, §7.1).

Input: byte 0 the server's configuration, byte 1 the client's (see
``_common.deflate_config``), then Sec-WebSocket-Extensions header lines
(Latin-1, split at LF).

Server side: parse_extensions (InvalidHandshake on bad syntax, documented),
then negotiate with every permessage-deflate offer. Whatever the server
answers to any offer must be accepted by a client with the default
configuration (it offers ``client_max_window_bits`` without a value and asks
for nothing), and the two sessions must round-trip messages both ways.

Client side: the same lines read as a response, accept_response with the
client's configuration: a DeflateSession or InvalidHandshake
(``bad-deflate-response``).
"""

import _common
from _common import Input, check_handshake_error, deflate_config
from wsfast import deflate, handshake
from wsfast.deflate import PerMessageDeflate
from wsfast.errors import InvalidHandshake

MESSAGES = (b"", b"a", b"hello hello hello", bytes(range(256)) * 4)


def round_trip(sender, receiver) -> None:
    for message in MESSAGES:
        payload = sender.compress(message)
        assert receiver.decompress(payload, True, len(message)) == message


def test_one_input(data: bytes) -> None:
    source = Input(data)
    server_config = deflate_config(source.byte())
    client_config = deflate_config(source.byte())
    lines = source.rest().decode("latin-1").split("\n")
    try:
        extensions = handshake.parse_extensions(lines)
    except InvalidHandshake as exc:
        check_handshake_error(exc)
        return
    offers = [params for name, params in extensions if name == deflate.EXTENSION_NAME]

    accepted = deflate.negotiate(server_config, offers)
    if accepted is not None:
        params, server_session = accepted
        header = handshake.serialize_extensions([(deflate.EXTENSION_NAME, params)])
        ((name, answer),) = handshake.parse_extensions([header])
        assert name == deflate.EXTENSION_NAME and answer == params, (header, params, answer)
        client_session = deflate.accept_response(PerMessageDeflate(), answer)
        round_trip(server_session, client_session)
        round_trip(client_session, server_session)

    for name, params in extensions:
        if name != deflate.EXTENSION_NAME:
            continue
        try:
            session = deflate.accept_response(client_config, params)
        except InvalidHandshake as exc:
            check_handshake_error(exc, server=False)
            assert exc.rule == "bad-deflate-response", exc
        else:
            assert isinstance(session, deflate.DeflateSession)


if __name__ == "__main__":
    _common.run(test_one_input)
