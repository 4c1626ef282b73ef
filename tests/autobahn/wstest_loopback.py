# -*- coding: utf-8 -*-
"""Python 2.7 entry point for wstest that listens on loopback only.

Stock ``wstest`` binds its listening sockets (fuzzingserver, web UI, echo
server, ...) to every interface. This wrapper runs the same command line but
gives every ``listenTCP``/``listenSSL`` call that names no interface the
address in $WSTEST_BIND (default 127.0.0.1; empty = stock behaviour).
setup_wstest.sh copies it into the install dir and points the launcher at it.
"""
import os
import sys

from autobahntestsuite import choosereactor  # noqa: F401  (same reactor as wstest)
from twisted.internet import reactor

BIND = os.environ.get("WSTEST_BIND", "127.0.0.1")

if BIND:
    # autobahn's listenWS passes (port, factory, backlog, interface) positionally.
    _listenTCP, _listenSSL = reactor.listenTCP, reactor.listenSSL

    def listenTCP(port, factory, backlog=50, interface=""):
        return _listenTCP(port, factory, backlog, interface or BIND)

    def listenSSL(port, factory, contextFactory, backlog=50, interface=""):
        return _listenSSL(port, factory, contextFactory, backlog, interface or BIND)

    reactor.listenTCP, reactor.listenSSL = listenTCP, listenSSL

from autobahntestsuite.wstest import run  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "wstest"
    run()
