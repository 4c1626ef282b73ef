"""Test helpers: a client and a server connection wired back to back."""

from __future__ import annotations

import asyncio
import random
from typing import Any, List, Tuple

from wsfast.connection import ClientConnection, ServerConnection


def need_tracemalloc() -> None:
    """Skip the calling test where tracemalloc does not exist (PyPy has no
    ``_tracemalloc``): what such a test bounds is measured with it."""
    import platform

    import pytest

    try:
        import tracemalloc  # noqa: F401
    except ImportError:
        pytest.skip(f"tracemalloc does not exist on {platform.python_implementation()}")


def transfer(source: Any, target: Any) -> List[Any]:
    """Move everything source has to send into target; return target's events."""
    for chunk in source.data_to_send():
        target.receive_data(chunk)
    return target.events_received()


def seeded_random(seed: int = 0):
    """A deterministic masking-key source, so both back-ends produce equal bytes."""
    rng = random.Random(seed)
    return lambda n: rng.getrandbits(8 * n).to_bytes(n, "big")


def open_pair(backend: str, *, client_options=None, server_options=None,
              uri: str = "ws://example.com/chat") -> Tuple[ClientConnection, ServerConnection]:
    """A client and a server that completed the opening handshake."""
    client_options = dict(client_options or {})
    client_options.setdefault("random_bytes", seeded_random())
    client = ClientConnection(uri, backend=backend, **client_options)
    server = ServerConnection(backend=backend, **(server_options or {}))
    client.send_request(client.connect())
    (request,) = transfer(client, server)
    server.send_response(server.accept(request))
    (response,) = transfer(server, client)
    assert response.status_code == 101, client.handshake_error
    return client, server


def split(data: bytes, cuts) -> list:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


def run(coroutine: Any, timeout: float = 30) -> Any:
    """asyncio.run with a bound, so that a hanging test fails instead of hanging CI."""
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


def needs_peer(distribution: str, minimum: Tuple[int, ...], what: str) -> Any:
    """A skipif marker for tests that compare with *distribution* at version
    *minimum* or later, where an older one is installed: the [test] extra
    installs the newest release an interpreter supports: on Python 3.9
    (CPython or PyPy) websockets 15 and wsproto 1.2, on 3.10 websockets 16.
    The reason says so, rather than the test failing against an API wsfast
    does not target, or passing without comparing anything."""
    import importlib.metadata
    import platform
    import sys

    import pytest

    installed = importlib.metadata.version(distribution)
    parts = tuple(int(part) for part in installed.split(".")[:len(minimum)] if part.isdigit())
    interpreter = f"{platform.python_implementation()} {sys.version_info[0]}.{sys.version_info[1]}"
    return pytest.mark.skipif(
        parts < minimum,
        reason=f"compares with {what}, which needs {distribution} >= "
               f"{'.'.join(map(str, minimum))}; {interpreter} has {distribution} {installed}, "
               f"the newest release for this Python")
