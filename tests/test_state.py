"""wsfast.state: the one place that holds the state rules (RFC 6455 §4, §7),
checked on both back-ends' connection cores."""

from __future__ import annotations

import itertools

import pytest

from helpers import open_pair, transfer
from wsfast import state
from wsfast.errors import InvalidState
from wsfast.state import TRANSITIONS, Event, State


def new_core(backend):
    from wsfast.connection import ServerConnection

    return ServerConnection(backend=backend.name).core


def flags(core):
    return (core.can_send_data, core.can_send_control, core.fast_send, core.recv_closed)


class TestTransitions:
    def test_a_new_core_is_connecting_and_may_send_nothing(self, backend):
        core = new_core(backend)
        assert core.state is State.CONNECTING
        assert flags(core) == (False, False, False, False)

    def test_opening_allows_every_send(self, backend):
        core = new_core(backend)
        state.opened(core, None, compressing=False)
        assert core.state is State.OPEN
        assert flags(core) == (True, True, True, False)

    def test_compression_takes_whole_messages_off_the_fast_path(self, backend):
        core = new_core(backend)
        state.opened(core, None, compressing=True)
        assert core.can_send_data and not core.fast_send

    def test_a_fragmented_send_takes_whole_messages_off_the_fast_path(self, backend):
        core = new_core(backend)
        state.opened(core, None, compressing=False)
        state.fragmented_send(core, True)
        assert core.can_send_data and not core.fast_send
        state.fragmented_send(core, False)
        assert core.fast_send

    def test_after_our_close_only_the_close_handshake_remains(self, backend):
        # §5.5.1: no data frame, nor any other frame, after a close frame
        core = new_core(backend)
        state.opened(core, None, compressing=False)
        state.close_sent(core, 1000, "bye")
        assert core.state is State.CLOSING and core.close_sent == (1000, "bye")
        assert flags(core) == (False, False, False, False)

    def test_after_their_close_no_message_can_arrive(self, backend):
        core = new_core(backend)
        state.opened(core, None, compressing=False)
        state.close_received(core, 1001, "")
        assert core.state is State.CLOSING and core.recv_closed
        # we may still answer: our close frame, and pings or pongs before it
        assert core.can_send_control and not core.can_send_data

    def test_eof_closes_from_every_state(self, backend):
        for start in State:
            core = new_core(backend)
            core.state = start
            state.eof(core)
            assert core.state is State.CLOSED and core.reader is None
            assert flags(core)[:3] == (False, False, False)

    def test_a_refused_handshake_closes(self, backend):
        core = new_core(backend)
        state.refused(core)
        assert core.state is State.CLOSED

    def test_every_pair_missing_from_the_table_is_a_bug(self, backend):
        for start, event in itertools.product(State, Event):
            if (start, event) in TRANSITIONS:
                continue
            core = new_core(backend)
            core.state = start
            with pytest.raises(RuntimeError, match="wsfast bug"):
                state._move(core, event)


class TestOpenRegistry:
    """A core listed among open connections (a server's ``connections``)
    leaves the list with the state, whatever moves it out of OPEN."""

    @pytest.mark.parametrize("leave", [
        lambda core: state.close_sent(core, 1000, ""),
        lambda core: state.close_received(core, 1001, ""),
        state.failed,
        state.eof,
    ], ids=["close sent", "close received", "failed", "eof"])
    def test_leaving_open_takes_the_core_out(self, backend, leave):
        core, other = new_core(backend), new_core(backend)
        registry = {}
        for listed in (core, other):
            state.opened(listed, None, compressing=False)
            registry[listed] = "its connection"
            listed.open_registry = registry
        leave(core)
        assert registry == {other: "its connection"}
        assert core.open_registry is None
        # later transitions find nothing to take out
        state.eof(core)
        assert registry == {other: "its connection"}

    def test_a_new_core_is_in_no_registry_and_opening_lists_it_nowhere(self, backend):
        core = new_core(backend)
        assert core.open_registry is None
        state.opened(core, None, compressing=False)
        assert core.open_registry is None


class TestConnectionFollowsTheRules:
    """The connection changes its state through wsfast.state only: its
    commands and its core's flags agree."""

    def test_send_after_close_sent_is_refused_by_the_flag(self, backend):
        client, server = open_pair(backend.name)
        client.send_close(1000)
        assert not client.core.can_send_data
        with pytest.raises(InvalidState):
            client.send_text("late")

    def test_closing_handshake_moves_both_sides(self, backend):
        client, server = open_pair(backend.name)
        client.send_close(1000, "done")
        transfer(client, server)
        assert server.core.recv_closed and server.close_sent == (1000, "")
        transfer(server, client)
        assert client.close_rcvd == (1000, "") and client.close_expected()
        server.receive_eof()
        client.receive_eof()
        assert client.state is server.state is State.CLOSED
