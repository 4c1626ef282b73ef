"""RFC 6455 §4 opening handshake: headers, parsers, server and client checks."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsfast.errors import InvalidHandshake
from wsfast.events import Request, Response
from wsfast.handshake import (
    Headers,
    MultipleValuesError,
    RequestParser,
    ResponseParser,
    WebSocketURI,
    accept_key,
    build_accept_response,
    build_reject_response,
    build_request,
    check_request,
    check_response,
    generate_key,
    host_header,
    parse_extensions,
    parse_subprotocols,
    parse_token_list,
    parse_uri,
    response_for_error,
    select_subprotocol,
    serialize_extensions,
    serialize_request,
    serialize_response,
)

# RFC 6455 §1.3 example.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

REQUEST_LINE = "GET /chat HTTP/1.1"
REQUEST_FIELDS = [
    ("Host", "server.example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]
RESPONSE_FIELDS = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Accept", ACCEPT),
]
FRAME = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 §5.7 masked "Hello"


def fields_with(base, changes=None):
    """``base`` with the named fields replaced (list of values) or removed (None)."""
    changes = {name.lower(): values for name, values in (changes or {}).items()}
    fields = []
    for name, value in base:
        if name.lower() not in changes:
            fields.append((name, value))
        elif changes[name.lower()] is not None:
            fields += [(name, v) for v in changes.pop(name.lower())]
            changes[name.lower()] = None
    for name, values in changes.items():
        if values:
            fields += [(name, v) for v in values]
    return fields


def raw_head(start, fields):
    lines = [start] + [f"{name}: {value}" for name, value in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw_request(changes=None, start=REQUEST_LINE, tail=b""):
    return raw_head(start, fields_with(REQUEST_FIELDS, changes)) + tail


def raw_response(changes=None, start="HTTP/1.1 101 Switching Protocols", tail=b""):
    return raw_head(start, fields_with(RESPONSE_FIELDS, changes)) + tail


def request_with(changes=None):
    return Request("/chat", Headers(fields_with(REQUEST_FIELDS, changes)))


def response_with(changes=None, status=101, reason="Switching Protocols"):
    return Response(status, reason, Headers(fields_with(RESPONSE_FIELDS, changes)))


def split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def feed_all(parser, chunks):
    """Feed every chunk; return the first event and the parser."""
    event = None
    for chunk in chunks:
        result = parser.feed(chunk)
        if event is None:
            event = result
    return event


def rejects(data, status, rule, parser_class=RequestParser, **limits):
    """Assert that ``data`` is refused with (status, rule), in one piece and a
    byte at a time; return the error."""
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        parser = parser_class(**limits)
        with pytest.raises(InvalidHandshake) as info:
            feed_all(parser, chunks)
        assert (info.value.status, info.value.rule) == (status, rule)
    return info.value


def bytes_fed_until_error(parser, data):
    """Feed one byte at a time; return how many were fed when it raised."""
    for count in range(1, len(data) + 1):
        try:
            parser.feed(data[count - 1 : count])
        except InvalidHandshake:
            return count
    raise AssertionError("the parser accepted everything")


def fails(function, *args, status, rule, **kwargs):
    with pytest.raises(InvalidHandshake) as info:
        function(*args, **kwargs)
    assert (info.value.status, info.value.rule) == (status, rule)
    return info.value


# --------------------------------------------------------------------------


class TestHeadersRfc7230Section3_2:
    """Headers: ordered, case-insensitive multi-map (RFC 7230 §3.2)."""

    def test_lookup_ignores_name_case(self):
        headers = Headers([("Content-Type", "text/plain")])
        assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/plain"

    def test_missing_name_raises_key_error(self):
        with pytest.raises(KeyError):
            Headers()["Host"]

    def test_repeated_name_raises_multiple_values_error(self):
        headers = Headers([("Via", "a"), ("via", "b")])
        with pytest.raises(MultipleValuesError):
            headers["Via"]
        assert issubclass(MultipleValuesError, KeyError)

    def test_get_returns_first_value_or_default(self):
        headers = Headers([("Via", "a"), ("Via", "b")])
        assert headers.get("VIA") == "a"
        assert headers.get("Host") is None
        assert headers.get("Host", "x") == "x"

    def test_get_all_returns_values_in_order(self):
        headers = Headers([("Via", "a"), ("Host", "h"), ("via", "b")])
        assert headers.get_all("Via") == ["a", "b"]
        assert headers.get_all("Absent") == []

    def test_setitem_appends(self):
        headers = Headers([("Via", "a")])
        headers["Via"] = "b"
        assert headers.items() == [("Via", "a"), ("Via", "b")]

    def test_add_appends(self):
        headers = Headers()
        headers.add("X-A", "1")
        headers.add("x-a", "2")
        assert headers.get_all("X-A") == ["1", "2"]

    def test_del_removes_every_field_of_that_name(self):
        headers = Headers([("Via", "a"), ("Host", "h"), ("VIA", "b")])
        del headers["via"]
        assert headers.items() == [("Host", "h")]
        assert "Via" not in headers

    def test_del_missing_name_raises_key_error(self):
        with pytest.raises(KeyError):
            del Headers()["Via"]

    def test_contains_ignores_case(self):
        headers = Headers([("Upgrade", "websocket")])
        assert "upgrade" in headers
        assert "Connection" not in headers
        assert 42 not in headers

    def test_iter_yields_names_in_order_with_repeats(self):
        headers = Headers([("A", "1"), ("b", "2"), ("a", "3")])
        assert list(headers) == ["A", "b", "a"]

    def test_len_counts_fields(self):
        assert len(Headers([("A", "1"), ("a", "2"), ("B", "3")])) == 3

    def test_items_keep_original_name_case(self):
        assert Headers([("sec-websocket-KEY", "k")]).items() == [("sec-websocket-KEY", "k")]

    def test_accepts_a_mapping(self):
        assert Headers({"Host": "h", "Origin": "o"}).items() == [("Host", "h"), ("Origin", "o")]

    def test_copy_from_headers_is_independent(self):
        original = Headers([("A", "1")])
        for copy in (Headers(original), original.copy()):
            copy.add("B", "2")
            assert original.items() == [("A", "1")]

    def test_equality_ignores_name_case_only(self):
        assert Headers([("Host", "h")]) == Headers([("HOST", "h")])
        assert Headers([("Host", "h")]) != Headers([("Host", "H")])
        assert Headers([("A", "1"), ("B", "2")]) != Headers([("B", "2"), ("A", "1")])
        assert Headers() != [("A", "1")]

    def test_repr_shows_fields(self):
        assert repr(Headers([("A", "1")])) == "Headers([('A', '1')])"

    def test_names_and_values_must_be_str(self):
        with pytest.raises(TypeError):
            Headers([(b"Host", "h")])
        with pytest.raises(TypeError):
            Headers().add("Host", 1)

    def test_serialize_writes_crlf_lines_and_the_empty_line(self):
        # websockets' shape: the whole header block, ending with an empty line.
        assert Headers([("Host", "h"), ("X", "a\tb")]).serialize() == b"Host: h\r\nX: a\tb\r\n\r\n"

    @pytest.mark.parametrize("value", ["a\r\nX: y", "a\nb", "a\rb", "a\x00b", "a\x7fb"])
    def test_serialize_refuses_control_characters_in_values(self, value):
        with pytest.raises(ValueError):
            Headers([("X", value)]).serialize()

    @pytest.mark.parametrize("name", ["", "Bad Name", "X:", "X\r\n", "Ä"])
    def test_serialize_refuses_names_that_are_not_tokens(self, name):
        with pytest.raises(ValueError):
            Headers([(name, "v")]).serialize()

    def test_serialize_refuses_values_outside_latin_1(self):
        with pytest.raises(ValueError):
            Headers([("X", "snowman \u2603")]).serialize()


class TestListGrammarRfc7230Section7:
    """parse_token_list: ``#token`` over one or more header lines."""

    def test_splits_on_commas_with_optional_whitespace(self):
        assert parse_token_list(["keep-alive ,\tUpgrade"]) == ["keep-alive", "Upgrade"]

    def test_joins_header_lines(self):
        assert parse_token_list(["a, b", "c"]) == ["a", "b", "c"]

    def test_ignores_empty_elements(self):
        assert parse_token_list([", a,, ,b,", ""]) == ["a", "b"]

    @pytest.mark.parametrize("value", ["a b", "a;q=1", "a/1", '"a"', "caf\xe9"])
    def test_refuses_elements_that_are_not_tokens(self, value):
        error = fails(parse_token_list, [value], status=400, rule="bad-token-list")
        assert value.split(",")[0] in error.reason or "token" in error.reason

    def test_rule_can_be_named_by_the_caller(self):
        with pytest.raises(InvalidHandshake) as info:
            parse_token_list(["a b"], header="Connection", rule="bad-connection-header")
        assert (info.value.status, info.value.rule) == (400, "bad-connection-header")
        assert "Connection" in info.value.reason


class TestSubprotocolHeaderRfc6455Section11_3_4:
    """parse_subprotocols: ``Sec-WebSocket-Protocol = 1#token``."""

    def test_parses_a_list(self):
        assert parse_subprotocols(["chat, superchat"]) == ["chat", "superchat"]

    def test_joins_header_lines(self):
        assert parse_subprotocols(["chat", "v2.json"]) == ["chat", "v2.json"]

    @pytest.mark.parametrize("value", ["", " , ", "chat/1", "a b", '"chat"'])
    def test_refuses_malformed_values(self, value):
        fails(parse_subprotocols, [value], status=400, rule="bad-subprotocol-header")


class TestExtensionsHeaderRfc6455Section9_1:
    """parse_extensions / serialize_extensions."""

    def test_name_alone(self):
        assert parse_extensions(["permessage-deflate"]) == [("permessage-deflate", [])]

    def test_parameter_without_value(self):
        assert parse_extensions(["permessage-deflate; client_max_window_bits"]) == [
            ("permessage-deflate", [("client_max_window_bits", None)])
        ]

    def test_parameter_with_token_value(self):
        assert parse_extensions(["permessage-deflate; server_max_window_bits=10"]) == [
            ("permessage-deflate", [("server_max_window_bits", "10")])
        ]

    def test_quoted_value_is_unquoted(self):
        assert parse_extensions(['permessage-deflate; server_max_window_bits="10"']) == [
            ("permessage-deflate", [("server_max_window_bits", "10")])
        ]

    def test_quoted_pairs_are_unescaped(self):
        assert parse_extensions(['x; a="\\1\\0"']) == [("x", [("a", "10")])]

    def test_whitespace_around_separators(self):
        assert parse_extensions(["x ;\ta = 1 ; b\t, y"]) == [
            ("x", [("a", "1"), ("b", None)]),
            ("y", []),
        ]

    def test_several_extensions_over_several_lines_in_order(self):
        assert parse_extensions(["a; p, b", "c"]) == [("a", [("p", None)]), ("b", []), ("c", [])]

    def test_empty_list_elements_are_skipped(self):
        assert parse_extensions([", a ,, b ,"]) == [("a", []), ("b", [])]

    def test_no_header_gives_no_extension(self):
        assert parse_extensions([]) == []

    def test_duplicate_parameters_are_kept_for_the_extension_to_judge(self):
        assert parse_extensions(["x; a; a=1"]) == [("x", [("a", None), ("a", "1")])]

    @pytest.mark.parametrize(
        "value",
        [
            "",
            " , ",
            ";",
            "a;",
            "a; ;b",
            "a;=1",
            "a; b=",
            "a; b==1",
            "a=1",
            "a b",
            "a; b=1 2",
            "a; b=1;",
            "a@b",
            'a; b=""',
            'a; b="1 2"',
            'a; b="x,y"',
            'a; b="unterminated',
            'a; b="x\\',
            'a; b="x\x00"',
            'a; b="x"y',
            "a; b=\xe9",
        ],
    )
    def test_refuses_malformed_values(self, value):
        fails(parse_extensions, [value], status=400, rule="bad-extensions-header")

    def test_serialize_round_trips(self):
        extensions = [
            ("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]),
            ("x-other", []),
        ]
        text = serialize_extensions(extensions)
        assert text == (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-other"
        )
        assert parse_extensions([text]) == extensions

    @pytest.mark.parametrize(
        "extensions",
        [[("bad name", [])], [("x", [("p q", None)])], [("x", [("p", "1 2")])], [("x", [("p", "")])]],
    )
    def test_serialize_refuses_what_is_not_a_token(self, extensions):
        with pytest.raises(ValueError):
            serialize_extensions(extensions)


# --------------------------------------------------------------------------


class TestRequestParserChunking:
    """RequestParser takes the stream in any chunking and keeps what follows."""

    def test_parses_the_rfc_example_request(self):
        request = RequestParser().feed(raw_request())
        assert request == Request("/chat", Headers(REQUEST_FIELDS))
        assert request.headers.items() == REQUEST_FIELDS

    def test_returns_none_until_the_head_is_complete(self):
        data = raw_request()
        parser = RequestParser()
        assert parser.feed(data[:-1]) is None
        assert parser.leftover == b""
        assert parser.feed(data[-1:]) is not None

    def test_bytes_after_the_head_are_kept_as_leftover(self):
        parser = RequestParser()
        parser.feed(raw_request(tail=FRAME))
        assert parser.leftover == FRAME

    def test_byte_at_a_time(self):
        data = raw_request(tail=FRAME)
        parser = RequestParser()
        request = feed_all(parser, [data[i : i + 1] for i in range(len(data))])
        assert request == RequestParser().feed(raw_request())
        assert parser.leftover == FRAME

    @given(
        cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12),
        tail=st.binary(max_size=40),
    )
    def test_any_chunking_gives_the_same_request_and_leftover(self, cuts, tail):
        data = raw_request({"X-Extra": ["a, b", "c"]}, tail=tail)
        parser = RequestParser()
        request = feed_all(parser, split(data, cuts))
        expected = fields_with(REQUEST_FIELDS, {"X-Extra": ["a, b", "c"]})
        assert request == Request("/chat", Headers(expected))
        assert parser.leftover == tail

    def test_data_fed_after_completion_goes_to_leftover(self):
        parser = RequestParser()
        request = parser.feed(raw_request(tail=b"ab"))
        assert parser.feed(b"cd") is request
        assert parser.leftover == b"abcd"

    def test_an_error_is_raised_again_on_later_feeds(self):
        parser = RequestParser()
        with pytest.raises(InvalidHandshake) as first:
            parser.feed(b"POST / HTTP/1.1\r\n")
        with pytest.raises(InvalidHandshake) as second:
            parser.feed(b"Host: h\r\n\r\n")
        assert second.value is first.value

    def test_a_maximal_head_fed_byte_by_byte_completes(self):
        # Each byte is scanned once: an O(n^2) parser would take minutes here.
        fields = [(f"X-{i:03}", "v" * 400) for i in range(120)]
        data = raw_head(REQUEST_LINE, REQUEST_FIELDS + fields)
        assert len(data) < 65536
        parser = RequestParser()
        request = feed_all(parser, [data[i : i + 1] for i in range(len(data))])
        assert len(request.headers) == 125


class TestRequestLineRfc7230Section3_1_1:
    """``method SP request-target SP HTTP-version``; RFC 6455 §4.1: GET, HTTP/1.1."""

    @pytest.mark.parametrize(
        "line",
        [
            "GET /chat",
            "GET  /chat HTTP/1.1",
            "GET /chat HTTP/1.1 ",
            " GET /chat HTTP/1.1",
            "G(T /chat HTTP/1.1",
            "GET /chat http/1.1",
            "GET /chat HTTP/1.1x",
            "GET /chat HTTP/11",
            "GET /chat HTTP/1",
            "",
        ],
    )
    def test_malformed_request_line_is_400(self, line):
        rejects(raw_request(start=line), 400, "bad-request-line")

    @pytest.mark.parametrize("method", ["POST", "HEAD", "CONNECT", "get"])
    def test_other_methods_are_405_with_allow_get(self, method):
        error = rejects(raw_request(start=f"{method} /chat HTTP/1.1"), 405, "method-not-allowed")
        assert error.headers == (("Allow", "GET"),)

    @pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0"])
    def test_other_major_versions_are_505(self, version):
        rejects(raw_request(start=f"GET /chat {version}"), 505, "unsupported-http-version")

    def test_http_1_0_is_400(self):
        rejects(raw_request(start="GET /chat HTTP/1.0"), 400, "http-1.1-required")

    def test_later_http_1_minor_versions_are_accepted(self):
        assert RequestParser().feed(raw_request(start="GET /chat HTTP/1.2")) is not None

    def test_path_is_the_raw_request_target(self):
        request = RequestParser().feed(raw_request(start="GET /a%20b/c?x=1&y=%C3%A9 HTTP/1.1"))
        assert request.path == "/a%20b/c?x=1&y=%C3%A9"

    @pytest.mark.parametrize("target", [b"/caf\xc3\xa9", b"/a\tb", b"/a\x00b", b"/a\rb", b"/\x7f"])
    def test_target_outside_visible_ascii_is_400(self, target):
        data = b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"
        rejects(data, 400, "bad-request-target")

    def test_bare_lf_line_ending_is_400(self):
        rejects(raw_request().replace(b"\r\n", b"\n"), 400, "bare-lf")

    def test_bare_lf_in_the_middle_of_the_head_is_400(self):
        data = raw_request().replace(b"Upgrade: websocket\r\n", b"Upgrade: websocket\n")
        rejects(data, 400, "bare-lf")


class TestHeaderLinesRfc7230Section3_2:
    """Field lines: ``field-name ":" OWS field-value OWS``."""

    def header(self, line):
        return (REQUEST_LINE + "\r\nHost: h\r\n").encode("latin-1") + line + b"\r\n\r\n"

    def test_optional_whitespace_around_the_value_is_stripped(self):
        request = RequestParser().feed(self.header(b"X-A: \t v  w \t"))
        assert request.headers["X-A"] == "v  w"

    def test_empty_value_is_allowed(self):
        assert RequestParser().feed(self.header(b"X-A:")).headers["X-A"] == ""

    def test_horizontal_tab_inside_a_value_is_allowed(self):
        assert RequestParser().feed(self.header(b"X-A: a\tb")).headers["X-A"] == "a\tb"

    def test_obs_text_is_decoded_as_latin_1(self):
        assert RequestParser().feed(self.header(b"X-A: caf\xe9")).headers["X-A"] == "caf\xe9"

    def test_repeated_fields_keep_their_order_and_case(self):
        request = RequestParser().feed(self.header(b"x-a: 1\r\nX-A: 2"))
        assert request.headers.items()[1:] == [("x-a", "1"), ("X-A", "2")]

    @pytest.mark.parametrize("line", [b" folded", b"\tfolded"])
    def test_line_folding_is_400(self, line):
        rejects(self.header(b"X-A: a\r\n" + line), 400, "obs-fold")

    def test_whitespace_before_the_first_field_is_400(self):
        rejects(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "obs-fold")

    def test_line_without_colon_is_400(self):
        rejects(self.header(b"NoColonHere"), 400, "bad-header-line")

    @pytest.mark.parametrize("line", [b"X-A : v", b"X A: v", b": v", b"X\xe9: v", b"X(A): v"])
    def test_invalid_field_name_is_400(self, line):
        rejects(self.header(line), 400, "bad-header-name")

    @pytest.mark.parametrize("value", [b"a\x00b", b"a\rb", b"a\x7fb", b"a\x1bb", b"a\x0bb"])
    def test_control_characters_in_values_are_400(self, value):
        rejects(self.header(b"X-A: " + value), 400, "bad-header-value")


class TestRequestBody:
    """Bytes after the head are frames: a request body would be read as frames."""

    def test_content_length_zero_is_accepted(self):
        assert RequestParser().feed(raw_request({"Content-Length": ["0"]})) is not None

    @pytest.mark.parametrize(
        "changes",
        [{"Content-Length": ["5"]}, {"Content-Length": ["x"]}, {"Transfer-Encoding": ["chunked"]}],
    )
    def test_a_request_body_is_400(self, changes):
        rejects(raw_request(changes, tail=b"hello"), 400, "request-body")


class TestParserLimitsRfc6585:
    """414 for the request line, 431 for fields (RFC 7231 §6.5.12, RFC 6585 §5)."""

    def test_request_line_at_the_limit_is_accepted(self):
        line = "GET /" + "a" * 86 + " HTTP/1.1"
        assert len(line) == 100
        assert RequestParser(max_line=100).feed(raw_request(start=line)) is not None

    def test_request_line_over_the_limit_is_414(self):
        line = "GET /" + "a" * 87 + " HTTP/1.1"
        rejects(raw_request(start=line), 414, "request-line-too-long", max_line=100)

    def test_request_line_over_the_limit_with_a_bare_lf_is_414(self):
        # The limit is checked before the line ending, whatever the chunking:
        # byte by byte, 414 comes before the LF arrives (found by fuzz/).
        rejects(b"GET /" + b"a" * 100 + b"\n", 414, "request-line-too-long", max_line=100)

    def test_header_line_over_the_limit_with_a_bare_lf_is_431(self):
        data = (REQUEST_LINE + "\r\nX: ").encode() + b"v" * 100 + b"\n"
        rejects(data, 431, "header-too-large", max_header_size=100)

    def test_header_block_over_the_limit_with_a_bare_lf_is_431(self):
        data = (REQUEST_LINE + "\r\nX: ").encode() + b"v" * 100 + b"\n"
        rejects(data, 431, "header-block-too-large", max_total=len(data) - 5)

    def test_giant_request_line_fails_at_the_first_byte_over_the_limit(self):
        parser = RequestParser(max_line=100)
        assert bytes_fed_until_error(parser, b"GET /" + b"a" * 100_000) == 101

    def test_carriage_return_at_the_limit_does_not_count(self):
        line = ("GET /" + "a" * 86 + " HTTP/1.1").encode()
        parser = RequestParser(max_line=100)
        data = line + b"\r\nHost: h\r\n\r\n"
        assert feed_all(parser, [data[i : i + 1] for i in range(len(data))]) is not None

    def test_header_line_at_the_limit_is_accepted(self):
        data = raw_request({"X-A": ["v" * 95]})  # "X-A: " + 95 = 100 bytes
        assert RequestParser(max_header_size=100).feed(data) is not None

    def test_header_line_over_the_limit_is_431(self):
        data = raw_request({"X-A": ["v" * 96]})
        rejects(data, 431, "header-too-large", max_header_size=100)

    def test_giant_header_line_fails_at_the_first_byte_over_the_limit(self):
        head = (REQUEST_LINE + "\r\n").encode()
        parser = RequestParser(max_header_size=100)
        assert bytes_fed_until_error(parser, head + b"X: " + b"v" * 100_000) == len(head) + 101

    def test_header_count_at_the_limit_is_accepted(self):
        data = raw_request({"X-A": ["v"] * 5})
        assert RequestParser(max_headers=10).feed(data) is not None

    def test_header_count_over_the_limit_is_431(self):
        rejects(raw_request({"X-A": ["v"] * 6}), 431, "too-many-headers", max_headers=10)

    def test_huge_header_count_fails_right_after_the_limit(self):
        data = raw_head(REQUEST_LINE, [("X", "v")] * 100_000)
        parser = RequestParser(max_headers=128)
        fed = bytes_fed_until_error(parser, data)
        assert fed == len(REQUEST_LINE) + 2 + 129 * len(b"X: v\r\n")

    def test_header_block_at_the_limit_is_accepted(self):
        data = raw_request()
        assert RequestParser(max_total=len(data)).feed(data) is not None

    def test_header_block_over_the_limit_is_431(self):
        data = raw_request()
        rejects(data, 431, "header-block-too-large", max_total=len(data) - 1)

    def test_header_block_fails_before_the_end_arrives(self):
        data = raw_head(REQUEST_LINE, [("X-Filler", "v" * 1000)] * 100)
        parser = RequestParser(max_total=10_000)
        assert bytes_fed_until_error(parser, data) == 10_001

    def test_one_big_chunk_is_checked_line_by_line(self):
        with pytest.raises(InvalidHandshake) as info:
            RequestParser(max_headers=3).feed(raw_head(REQUEST_LINE, [("X", "v")] * 10_000))
        assert info.value.status == 431


# --------------------------------------------------------------------------


class TestResponseParserRfc7230Section3_1_2:
    """ResponseParser: status line, fields, optional body; every error is 502."""

    def test_parses_the_rfc_example_response(self):
        response = ResponseParser().feed(raw_response())
        assert response == Response(101, "Switching Protocols", Headers(RESPONSE_FIELDS), b"")

    def test_frames_after_a_101_are_kept_as_leftover(self):
        parser = ResponseParser()
        parser.feed(raw_response(tail=b"\x81\x05Hello"))
        assert parser.leftover == b"\x81\x05Hello"

    @given(
        cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12),
        tail=st.binary(max_size=40),
    )
    def test_any_chunking_gives_the_same_response_and_leftover(self, cuts, tail):
        parser = ResponseParser()
        response = feed_all(parser, split(raw_response(tail=tail), cuts))
        assert response == Response(101, "Switching Protocols", Headers(RESPONSE_FIELDS))
        assert parser.leftover == tail

    def test_missing_reason_phrase_is_tolerated(self):
        response = ResponseParser().feed(raw_response(start="HTTP/1.1 101"))
        assert (response.status_code, response.reason_phrase) == (101, "")

    def test_reason_phrase_may_contain_spaces(self):
        response = ResponseParser().feed(raw_response(start="HTTP/1.1 404 Not Found Here"))
        assert response.reason_phrase == "Not Found Here"

    def test_body_is_read_per_content_length(self):
        data = raw_head("HTTP/1.1 403 Forbidden", [("Content-Length", "5")]) + b"nope!rest"
        parser = ResponseParser()
        assert parser.feed(data[:-5]) is None
        response = parser.feed(data[-5:])
        assert response.body == b"nope!"
        assert parser.leftover == b"rest"

    @given(cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=12))
    def test_body_survives_any_chunking(self, cuts):
        data = raw_head("HTTP/1.1 400 Bad Request", [("Content-Length", "11")]) + b"bad request"
        parser = ResponseParser()
        response = feed_all(parser, split(data, cuts))
        assert (response.status_code, response.body, parser.leftover) == (400, b"bad request", b"")

    def test_without_content_length_the_body_is_empty_and_bytes_are_kept(self):
        parser = ResponseParser()
        response = parser.feed(raw_head("HTTP/1.1 500 Oops", []) + b"trailing")
        assert response.body == b""
        assert parser.leftover == b"trailing"

    @pytest.mark.parametrize("start", ["HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"])
    def test_no_body_for_204_and_304(self, start):
        parser = ResponseParser()
        response = parser.feed(raw_head(start, [("Content-Length", "3")]) + b"abc")
        assert (response.body, parser.leftover) == (b"", b"abc")

    def test_a_101_never_has_a_body(self):
        parser = ResponseParser()
        response = parser.feed(raw_response({"Content-Length": ["3"]}, tail=b"abc"))
        assert (response.body, parser.leftover) == (b"", b"abc")

    def test_body_over_the_limit_is_refused_before_it_arrives(self):
        data = raw_head("HTTP/1.1 403 Forbidden", [("Content-Length", "101")])
        rejects(data, 502, "body-too-large", ResponseParser, max_body=100)

    @pytest.mark.parametrize("values", [["abc"], ["-1"], ["1", "2"], ["1e3"], ["9" * 100]])
    def test_invalid_content_length_is_502(self, values):
        data = raw_head("HTTP/1.1 403 Forbidden", [("Content-Length", v) for v in values])
        rejects(data, 502, "bad-content-length", ResponseParser)

    @pytest.mark.parametrize(
        "start",
        [
            "HTTP/1.1 10 Continue",
            "HTTP/1.1 099 X",
            "HTTP/1.1 abc OK",
            "HTTP/1.1 1011 X",
            "HTTP/1.1",
            "HTTP/1.1 101 Switching\x00Protocols",
            "ICY 200 OK",
            "http/1.1 101 Switching Protocols",
            "",
        ],
    )
    def test_malformed_status_line_is_502(self, start):
        rejects(raw_response(start=start), 502, "bad-status-line", ResponseParser)

    def test_other_major_version_is_502(self):
        rejects(raw_response(start="HTTP/2.0 101 X"), 502, "unsupported-http-version", ResponseParser)

    def test_malformed_header_line_is_502(self):
        rejects(raw_response({"X A": ["v"]}), 502, "bad-header-name", ResponseParser)

    def test_bare_lf_is_502(self):
        rejects(raw_response().replace(b"\r\n", b"\n"), 502, "bare-lf", ResponseParser)

    def test_status_line_over_the_limit_is_502(self):
        start = "HTTP/1.1 101 " + "x" * 100
        rejects(raw_response(start=start), 502, "status-line-too-long", ResponseParser, max_line=100)

    def test_header_limits_are_502_with_the_same_rules(self):
        rejects(raw_response({"X": ["v"] * 10}), 502, "too-many-headers", ResponseParser, max_headers=5)
        rejects(raw_response({"X": ["v" * 200]}), 502, "header-too-large", ResponseParser,
                max_header_size=100)
        rejects(raw_response(), 502, "header-block-too-large", ResponseParser, max_total=50)

    def test_parser_errors_carry_no_response_headers(self):
        error = rejects(raw_response(start="HTTP/1.1 abc"), 502, "bad-status-line", ResponseParser)
        assert error.headers == ()


class TestHostileInput:
    """Whatever arrives, the parsers raise InvalidHandshake or nothing."""

    @pytest.mark.parametrize("parser_class", [RequestParser, ResponseParser])
    @given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=5))
    def test_random_bytes(self, parser_class, data, cuts):
        try:
            feed_all(parser_class(max_line=64, max_headers=4, max_header_size=64, max_total=200),
                     split(data, cuts))
        except InvalidHandshake:
            pass

    @given(position=st.integers(0, 10_000), byte=st.integers(0, 255))
    def test_one_corrupted_byte_in_a_request(self, position, byte):
        data = bytearray(raw_request(tail=FRAME))
        data[position % len(data)] = byte
        try:
            request = RequestParser().feed(bytes(data))
            if request is not None:
                check_request(request)
        except InvalidHandshake as exc:
            assert 400 <= exc.status <= 505

    @given(position=st.integers(0, 10_000), byte=st.integers(0, 255))
    def test_one_corrupted_byte_in_a_response(self, position, byte):
        data = bytearray(raw_response(tail=FRAME))
        data[position % len(data)] = byte
        try:
            response = ResponseParser().feed(bytes(data))
            if response is not None:
                check_response(response, KEY)
        except InvalidHandshake:
            pass


# --------------------------------------------------------------------------


class TestCheckRequestRfc6455Section4_2_1:
    """The server's reading of the client's handshake."""

    def test_valid_request_returns_the_key(self):
        assert check_request(request_with()) == KEY

    def test_missing_host_is_400(self):
        fails(check_request, request_with({"Host": None}), status=400, rule="missing-host")

    def test_duplicate_host_is_400(self):
        fails(check_request, request_with({"Host": ["a", "b"]}), status=400, rule="duplicate-host")

    @pytest.mark.parametrize(
        "values", [["WebSocket"], ["h2c, websocket"], ["HTTP/2.0, WEBSOCKET"], ["h2c", "websocket"]]
    )
    def test_upgrade_lists_websocket_case_insensitively(self, values):
        assert check_request(request_with({"Upgrade": values})) == KEY

    @pytest.mark.parametrize("values", [None, ["h2c"], ["websockets"], ["websocket/13"], [""]])
    def test_upgrade_without_websocket_is_426(self, values):
        error = fails(check_request, request_with({"Upgrade": values}), status=426,
                      rule="missing-upgrade")
        assert ("Upgrade", "websocket") in error.headers
        assert ("Connection", "Upgrade") in error.headers

    def test_malformed_upgrade_is_400(self):
        fails(check_request, request_with({"Upgrade": ["web socket"]}), status=400,
              rule="bad-upgrade-header")

    @pytest.mark.parametrize(
        "values", [["upgrade"], ["keep-alive, Upgrade"], ["keep-alive", "UPGRADE"], [", Upgrade ,"]]
    )
    def test_connection_lists_upgrade_case_insensitively(self, values):
        assert check_request(request_with({"Connection": values})) == KEY

    @pytest.mark.parametrize("values", [None, ["keep-alive"], ["close"], ["upgraded"]])
    def test_connection_without_upgrade_is_426(self, values):
        error = fails(check_request, request_with({"Connection": values}), status=426,
                      rule="missing-connection-upgrade")
        assert ("Upgrade", "websocket") in error.headers

    def test_malformed_connection_is_400(self):
        fails(check_request, request_with({"Connection": ["Upgrade;x"]}), status=400,
              rule="bad-connection-header")

    def test_missing_version_is_426_naming_13(self):
        error = fails(check_request, request_with({"Sec-WebSocket-Version": None}), status=426,
                      rule="missing-version")
        assert ("Sec-WebSocket-Version", "13") in error.headers

    @pytest.mark.parametrize(
        "values", [["8"], ["13, 8"], ["8, 13"], ["13", "13"], ["13", "8"], ["013"], [""]]
    )
    def test_version_other_than_a_single_13_is_426_naming_13(self, values):
        error = fails(check_request, request_with({"Sec-WebSocket-Version": values}), status=426,
                      rule="unsupported-version")
        assert ("Sec-WebSocket-Version", "13") in error.headers
        assert ("Upgrade", "websocket") in error.headers

    def test_version_with_surrounding_whitespace_is_accepted_through_the_parser(self):
        data = raw_request({"Sec-WebSocket-Version": ["  13 "]})
        assert check_request(RequestParser().feed(data)) == KEY

    def test_missing_key_is_400(self):
        fails(check_request, request_with({"Sec-WebSocket-Key": None}), status=400, rule="missing-key")

    def test_duplicate_key_is_400(self):
        fails(check_request, request_with({"Sec-WebSocket-Key": [KEY, KEY]}), status=400,
              rule="duplicate-key")

    @pytest.mark.parametrize(
        "key",
        [
            "",
            "not base64!",
            base64.b64encode(b"x" * 15).decode(),
            base64.b64encode(b"x" * 17).decode(),
            "dGhlIHNhbXBsZSBub25jZQ",  # padding missing
            "dGhlIHNhbXBs ZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==",
            "dGhlIHNhbXBsZSBub25jZQ=é",
        ],
    )
    def test_key_that_is_not_base64_of_16_bytes_is_400(self, key):
        fails(check_request, request_with({"Sec-WebSocket-Key": [key]}), status=400, rule="bad-key")

    def test_accepts_headers_given_as_pairs(self):
        assert check_request(Request("/", REQUEST_FIELDS)) == KEY


class TestAcceptKeyRfc6455Section1_3:
    def test_rfc_example(self):
        assert accept_key(KEY) == ACCEPT


class TestServerResponsesRfc6455Section4_2_2:
    """What the server answers."""

    def test_accept_response_has_the_required_fields_in_order(self):
        response = build_accept_response(KEY)
        assert (response.status_code, response.reason_phrase, response.body) == (
            101, "Switching Protocols", b"")
        assert response.headers.items() == RESPONSE_FIELDS

    def test_accept_response_names_subprotocol_and_extensions_then_extra_headers(self):
        response = build_accept_response(
            KEY, subprotocol="chat", extensions="permessage-deflate", extra_headers=[("Server", "x")]
        )
        assert response.headers.items() == RESPONSE_FIELDS + [
            ("Sec-WebSocket-Protocol", "chat"),
            ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ("Server", "x"),
        ]

    def test_accept_response_adds_no_server_or_date(self):
        headers = build_accept_response(KEY).headers
        assert "Server" not in headers and "Date" not in headers

    def test_accept_response_refuses_an_invalid_subprotocol(self):
        with pytest.raises(ValueError):
            build_accept_response(KEY, subprotocol="two words")

    def test_serialized_accept_response(self):
        assert serialize_response(build_accept_response(KEY)) == (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            b"\r\n"
        )

    def test_reject_response_is_plain_text_and_closes(self):
        response = build_reject_response(403, "no entry")
        assert (response.status_code, response.reason_phrase, response.body) == (
            403, "Forbidden", b"no entry")
        assert response.headers.items() == [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "8"),
            ("Connection", "close"),
        ]

    def test_reject_response_encodes_text_as_utf_8(self):
        response = build_reject_response(400, "é")
        assert (response.body, response.headers["Content-Length"]) == (b"\xc3\xa9", "2")

    def test_reject_response_appends_given_headers(self):
        response = build_reject_response(401, b"", [("WWW-Authenticate", "Basic")])
        assert response.headers.items()[-1] == ("WWW-Authenticate", "Basic")

    def test_reject_response_content_type_can_be_replaced(self):
        response = build_reject_response(400, b"{}", {"Content-Type": "application/json"})
        assert response.headers.get_all("Content-Type") == ["application/json"]

    def test_reject_response_for_an_unregistered_status_has_an_empty_reason(self):
        assert build_reject_response(499).reason_phrase == ""

    @pytest.mark.parametrize("status", [101, 199, 600, "404"])
    def test_reject_response_refuses_a_non_final_status(self, status):
        with pytest.raises(ValueError):
            build_reject_response(status)

    def test_reject_response_refuses_a_given_content_length(self):
        with pytest.raises(ValueError):
            build_reject_response(400, b"x", [("Content-Length", "1")])

    def test_reject_response_with_204_has_no_body_fields(self):
        response = build_reject_response(204)
        assert response.headers.items() == [("Connection", "close")]
        with pytest.raises(ValueError):
            build_reject_response(204, b"x")

    def test_response_for_a_version_error_carries_the_supported_version(self):
        error = fails(check_request, request_with({"Sec-WebSocket-Version": ["8"]}), status=426,
                      rule="unsupported-version")
        response = response_for_error(error)
        assert (response.status_code, response.reason_phrase) == (426, "Upgrade Required")
        assert response.headers.get_all("Sec-WebSocket-Version") == ["13"]
        assert response.headers.get_all("Upgrade") == ["websocket"]
        assert error.reason.encode() in response.body

    def test_response_for_a_method_error_carries_allow(self):
        with pytest.raises(InvalidHandshake) as info:
            RequestParser().feed(b"POST / HTTP/1.1\r\n")
        response = response_for_error(info.value)
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET"

    def test_serialized_reject_response_is_framed_by_content_length(self):
        data = serialize_response(response_for_error(InvalidHandshake(400, "bad", "bad-key")))
        parser = ResponseParser()
        response = parser.feed(data + b"extra")
        assert (response.status_code, response.body, parser.leftover) == (400, b"bad\n", b"extra")

    @pytest.mark.parametrize(
        "response",
        [
            Response(101, "OK\r\nX: y", Headers()),
            Response(101, "OK", Headers([("X", "a\r\nb")])),
            Response(101, "OK", Headers([("Bad Name", "v")])),
            Response(42, "OK", Headers()),
        ],
    )
    def test_serialize_response_refuses_injection_and_nonsense(self, response):
        with pytest.raises(ValueError):
            serialize_response(response)

    def test_select_subprotocol_prefers_the_servers_order(self):
        assert select_subprotocol(["chat", "superchat"], ["superchat", "chat"]) == "superchat"

    def test_select_subprotocol_returns_none_without_overlap(self):
        assert select_subprotocol(["chat"], ["json"]) is None
        assert select_subprotocol([], ["json"]) is None

    def test_select_subprotocol_is_case_sensitive(self):
        assert select_subprotocol(["Chat"], ["chat"]) is None


# --------------------------------------------------------------------------


class TestClientRequestRfc6455Section4_1:
    """What the client sends."""

    def test_generate_key_is_base64_of_16_random_bytes(self):
        key = generate_key()
        assert len(base64.b64decode(key, validate=True)) == 16
        assert generate_key() != key

    def test_build_request_has_the_required_fields_in_order(self):
        request = build_request("server.example.com", "/chat", KEY)
        assert request == Request("/chat", Headers(REQUEST_FIELDS))

    def test_build_request_adds_origin_subprotocols_extensions_then_extra_headers(self):
        request = build_request(
            "h",
            "/",
            KEY,
            subprotocols=["chat", "superchat"],
            extensions="permessage-deflate; client_max_window_bits",
            extra_headers={"Authorization": "Bearer x"},
            origin="http://example.com",
        )
        assert request.headers.items()[5:] == [
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
            ("Authorization", "Bearer x"),
        ]

    @pytest.mark.parametrize("path", ["", "/a b", "/caf\xe9", "/a\r\nX: y"])
    def test_build_request_refuses_an_invalid_path(self, path):
        with pytest.raises(ValueError):
            build_request("h", path, KEY)

    def test_build_request_refuses_an_invalid_subprotocol(self):
        with pytest.raises(ValueError):
            build_request("h", "/", KEY, subprotocols=["a,b"])

    def test_serialized_request(self):
        assert serialize_request(build_request("server.example.com", "/chat", KEY)) == (
            b"GET /chat HTTP/1.1\r\n"
            b"Host: server.example.com\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            b"\r\n"
        )

    def test_serialize_request_refuses_header_injection(self):
        request = build_request("h", "/", KEY, extra_headers=[("X", "a\r\nEvil: 1")])
        with pytest.raises(ValueError):
            serialize_request(request)


class TestCheckResponseRfc6455Section4_1:
    """The client's reading of the server's handshake."""

    def test_valid_response_gives_no_subprotocol_and_no_extension(self):
        assert check_response(response_with(), KEY) == (None, [])

    @pytest.mark.parametrize("status", [200, 302, 400, 403, 426, 500, 100])
    def test_other_status_fails_carrying_that_status(self, status):
        error = fails(check_response, response_with(status=status, reason="Nope"), KEY,
                      status=status, rule="unexpected-status")
        assert str(status) in error.reason

    def test_wrong_accept_fails(self):
        fails(check_response, response_with({"Sec-WebSocket-Accept": [accept_key(generate_key())]}),
              KEY, status=101, rule="bad-accept")

    def test_accept_for_another_key_fails(self):
        fails(check_response, response_with(), generate_key(), status=101, rule="bad-accept")

    def test_missing_accept_fails(self):
        fails(check_response, response_with({"Sec-WebSocket-Accept": None}), KEY, status=101,
              rule="missing-accept")

    def test_duplicate_accept_fails(self):
        fails(check_response, response_with({"Sec-WebSocket-Accept": [ACCEPT, ACCEPT]}), KEY,
              status=101, rule="duplicate-accept")

    @pytest.mark.parametrize("values", [None, ["h2c"]])
    def test_missing_upgrade_fails(self, values):
        fails(check_response, response_with({"Upgrade": values}), KEY, status=101,
              rule="missing-upgrade")

    def test_upgrade_is_case_insensitive(self):
        assert check_response(response_with({"Upgrade": ["WebSocket"]}), KEY) == (None, [])

    @pytest.mark.parametrize("values", [None, ["keep-alive"]])
    def test_missing_connection_upgrade_fails(self, values):
        fails(check_response, response_with({"Connection": values}), KEY, status=101,
              rule="missing-connection-upgrade")

    def test_malformed_connection_fails_with_the_servers_status(self):
        fails(check_response, response_with({"Connection": ["up grade"]}), KEY, status=101,
              rule="bad-connection-header")

    def test_offered_subprotocol_is_returned(self):
        response = response_with({"Sec-WebSocket-Protocol": ["superchat"]})
        assert check_response(response, KEY, offered_subprotocols=["chat", "superchat"]) == (
            "superchat", [])

    def test_subprotocol_when_none_was_offered_fails(self):
        fails(check_response, response_with({"Sec-WebSocket-Protocol": ["chat"]}), KEY,
              status=101, rule="unexpected-subprotocol")

    def test_unoffered_subprotocol_fails(self):
        fails(check_response, response_with({"Sec-WebSocket-Protocol": ["json"]}), KEY,
              offered_subprotocols=["chat"], status=101, rule="unexpected-subprotocol")

    @pytest.mark.parametrize("values", [["chat, superchat"], ["chat", "superchat"]])
    def test_two_subprotocols_fail(self, values):
        fails(check_response, response_with({"Sec-WebSocket-Protocol": values}), KEY,
              offered_subprotocols=["chat", "superchat"], status=101, rule="multiple-subprotocols")

    def test_malformed_subprotocol_fails(self):
        fails(check_response, response_with({"Sec-WebSocket-Protocol": ["a b"]}), KEY,
              offered_subprotocols=["a b"], status=101, rule="bad-subprotocol-header")

    def test_extensions_are_parsed_and_returned_unjudged(self):
        offer = "permessage-deflate; server_no_context_takeover"
        response = response_with({"Sec-WebSocket-Extensions": [offer]})
        assert check_response(response, KEY) == (
            None, [("permessage-deflate", [("server_no_context_takeover", None)])])

    def test_malformed_extensions_fail_with_the_servers_status(self):
        fails(check_response, response_with({"Sec-WebSocket-Extensions": ["a;"]}), KEY,
              status=101, rule="bad-extensions-header")


class TestRoundTrip:
    """Client request → server → client, through bytes, in both parsers."""

    def test_full_handshake_with_subprotocol_extensions_and_early_frames(self):
        key = generate_key()
        client_request = build_request(
            host_header("::1", 8765, False), "/chat?room=1", key,
            subprotocols=["v1.chat", "v2.chat"], extensions="permessage-deflate; client_max_window_bits",
        )
        server_parser = RequestParser()
        request = server_parser.feed(serialize_request(client_request) + FRAME)
        assert request == client_request
        assert server_parser.leftover == FRAME

        assert check_request(request) == key
        offered = parse_subprotocols(request.headers.get_all("Sec-WebSocket-Protocol"))
        chosen = select_subprotocol(offered, ["v2.chat", "v1.chat"])
        assert parse_extensions(request.headers.get_all("Sec-WebSocket-Extensions")) == [
            ("permessage-deflate", [("client_max_window_bits", None)])]
        server_response = build_accept_response(
            key, subprotocol=chosen, extensions="permessage-deflate; client_max_window_bits=15")

        client_parser = ResponseParser()
        wire = serialize_response(server_response) + b"\x81\x02hi"
        response = feed_all(client_parser, [wire[i : i + 7] for i in range(0, len(wire), 7)])
        assert response == server_response
        assert client_parser.leftover == b"\x81\x02hi"
        assert check_response(response, key, offered_subprotocols=["v1.chat", "v2.chat"]) == (
            "v2.chat", [("permessage-deflate", [("client_max_window_bits", "15")])])

    def test_refusal_reaches_the_client_as_its_status(self):
        with pytest.raises(InvalidHandshake) as info:
            check_request(RequestParser().feed(raw_request({"Sec-WebSocket-Version": ["8"]})))
        response = ResponseParser().feed(serialize_response(response_for_error(info.value)))
        fails(check_response, response, KEY, status=426, rule="unexpected-status")
        assert response.headers["Sec-WebSocket-Version"] == "13"


# --------------------------------------------------------------------------


class TestParseUriRfc6455Section3:
    @pytest.mark.parametrize(
        "uri, expected",
        [
            ("ws://example.com", (False, "example.com", 80, "/")),
            ("wss://example.com", (True, "example.com", 443, "/")),
            ("ws://example.com:8080/chat", (False, "example.com", 8080, "/chat")),
            ("wss://example.com:443/", (True, "example.com", 443, "/")),
            ("ws://example.com/a/b?x=1&y=2", (False, "example.com", 80, "/a/b?x=1&y=2")),
            ("ws://example.com?x=1", (False, "example.com", 80, "/?x=1")),
            ("ws://example.com:/", (False, "example.com", 80, "/")),
            ("WSS://Example.COM/Path", (True, "example.com", 443, "/Path")),
            ("ws://[::1]/", (False, "::1", 80, "/")),
            ("ws://[2001:db8::1]:9000/x", (False, "2001:db8::1", 9000, "/x")),
            ("ws://127.0.0.1:65535", (False, "127.0.0.1", 65535, "/")),
            ("ws://example.com/%2F%23", (False, "example.com", 80, "/%2F%23")),
            ("ws://example.com/caf\xe9", (False, "example.com", 80, "/caf%C3%A9")),
            ("ws://b\xfccher.example/", (False, "xn--bcher-kva.example", 80, "/")),
        ],
    )
    def test_valid_uris(self, uri, expected):
        parsed = parse_uri(uri)
        assert parsed == expected
        assert isinstance(parsed, WebSocketURI)
        assert parsed.resource == expected[3]

    @pytest.mark.parametrize(
        "uri",
        [
            "http://example.com/",
            "example.com",
            "ws:/example.com",
            "ws://",
            "ws:///chat",
            "ws://example.com/#frag",
            "ws://example.com#",
            "ws://user:pass@example.com/",
            "ws://example.com:0/",
            "ws://example.com:65536/",
            "ws://example.com:http/",
            "ws://example.com:-1/",
            "ws://example.com:999999/",
            "ws://::1/",
            "ws://[::1/",
            "ws://[not-ipv6]/",
            "ws://[::1]x/",
            "ws://exa mple.com/",
            "ws://example.com/a b",
            " ws://example.com/",
            "ws://example.com/\r\nX: y",
            "ws://exa<mple.com/",
        ],
    )
    def test_invalid_uris_raise_value_error(self, uri):
        with pytest.raises(ValueError):
            parse_uri(uri)

    @pytest.mark.parametrize(
        "host, port, secure, expected",
        [
            ("example.com", 80, False, "example.com"),
            ("example.com", 443, True, "example.com"),
            ("example.com", 443, False, "example.com:443"),
            ("example.com", 80, True, "example.com:80"),
            ("::1", 80, False, "[::1]"),
            ("::1", 8080, True, "[::1]:8080"),
        ],
    )
    def test_host_header_omits_default_ports_and_brackets_ipv6(self, host, port, secure, expected):
        assert host_header(host, port, secure) == expected
