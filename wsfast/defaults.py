"""Every default and tuning constant of wsfast, in one place.

Each number here is written once: the sans-I/O connection, the asyncio layer,
the HTTP parsers, the command line and the compiled modules (which read this
module at import) all take their defaults from it, so changing a default is a
one-line change that every layer sees.

This module imports nothing from wsfast (``setup.py`` reads it before the
package is built, and the compiled modules import it early): standard library
only, no relative imports.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_FRAGMENT_OVERHEAD",
    "INFLATE_YIELD",
    "MAX_REQUEST_LINE",
    "MAX_HEADERS",
    "MAX_HEADER_SIZE",
    "MAX_HEADER_BLOCK",
    "MAX_RESPONSE_BODY",
    "MAX_EARLY_DATA",
    "OPEN_TIMEOUT",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "CLOSE_TIMEOUT",
    "MAX_QUEUE",
    "WRITE_LIMIT",
    "FLUSH_THRESHOLD",
    "READ_BUFFER_SIZE",
    "DEFERRED_FAILURE_LIMIT",
    "COMPILED_MODULES",
]

# -- the codec (RFC 6455 §10.4: an endpoint must bound what it buffers) --------

#: Largest message (and, unless set apart, frame) accepted: 1 MiB, as websockets.
DEFAULT_MAX_MESSAGE_SIZE = 2**20

#: Bytes charged against the message limit for every fragment after the first,
#: so that a message cut into tiny (or empty) fragments costs what it occupies:
#: a flood of fragments is bounded by the same budget as the payload.
DEFAULT_FRAGMENT_OVERHEAD = 16

#: Decompressed bytes after which the reader stops a chunk at the next frame
#: boundary and keeps the rest for its next call: 64 KiB of compressed
#: messages on the wire can inflate to 64 MiB, and the caller (the asyncio
#: layer) must get the chance to stop reading when its queue is full, as it
#: does after an uncompressed chunk. One call hands over at most the chunk's
#: uncompressed bytes, plus this, plus one message.
INFLATE_YIELD = 64 * 1024

# -- the HTTP/1.1 upgrade (RFC 9112); beyond them: 414 / 431 / 431 / 431 -------

#: Longest request or status line.
MAX_REQUEST_LINE = 8192
#: Most header fields in a request or response.
MAX_HEADERS = 128
#: Longest header line.
MAX_HEADER_SIZE = 8192
#: Largest header block in all.
MAX_HEADER_BLOCK = 65536
#: Largest body of a non-101 response that a client reads (for the error).
MAX_RESPONSE_BODY = 65536
#: Bytes a server keeps that a client sent after its upgrade request, before
#: the server answered it (RFC 6455 §4.1 says a client waits for the answer;
#: some send their first frames at once): beyond it, 400.
MAX_EARLY_DATA = 65536

# -- the asyncio layer (websockets' defaults, so code moves over unchanged) ----

#: Seconds for the opening handshake.
OPEN_TIMEOUT = 10
#: Seconds between keepalive pings.
PING_INTERVAL = 20
#: Seconds to wait for a keepalive ping's pong.
PING_TIMEOUT = 20
#: Seconds for each step of the closing handshake.
CLOSE_TIMEOUT = 10
#: Messages queued for ``recv`` before reading pauses (resumes at a quarter).
MAX_QUEUE = 16

#: High-water mark of a connection's write buffer, in bytes (websockets'
#: default for ``write_limit``): ``send`` waits for the buffer to drain
#: below it, which is the backpressure a fast sender meets.
WRITE_LIMIT = 2**15

#: Write out collected frames once this many payload bytes are waiting.
FLUSH_THRESHOLD = 64 * 1024
#: Size of the per-thread read buffer of the asyncio layer.
READ_BUFFER_SIZE = 256 * 1024
#: Longest wait (seconds) before failing the connection for a protocol error
#: that the codec deferred behind messages the application has not taken yet.
DEFERRED_FAILURE_LIMIT = 1.0

# -- the build ------------------------------------------------------------------

#: The compiled modules, ``src_c/wsfast/<name>.pyx`` each, in dependency order
#: (a module is built after those it cimports). setup.py builds them, the
#: back-end selector imports them, the tests check them.
COMPILED_MODULES = (
    "_cpu_c",
    "_mask_c",
    "_utf8_c",
    "_framing_c",
    "_reader_c",
    "_waiter_c",
    "_core_c",
    "_stream_c",
)
