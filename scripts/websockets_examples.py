"""Run websockets' own example programs on wsfast and compare with websockets.

Issues 17 and 19 are done when code written against websockets' documented
asyncio and threading APIs runs after renaming the import.  The honest check is websockets' own example
programs, so this script takes them from a websockets checkout that *you*
provide (it fetches nothing; their code is not part of this repository)::

    .venv/bin/python scripts/websockets_examples.py PATH [-k NAME] [-v]

PATH is a websockets source checkout (the directory holding ``example/`` and
``docs/``) or its ``example/`` directory (the two docs programs are then left
out).  ``-k`` keeps the programs whose name contains NAME; ``-v`` prints every
transcript.

Each program is copied to a scratch directory and run three times: as written
(under websockets), and with ``websockets`` replaced by ``wsfast`` on its
``import`` / ``from`` lines only, once on the compiled kernels and once with
``WSFAST_NO_EXTENSIONS=1``.  The hard-coded port is swapped for a free one (the
only other edit), so that runs do not collide with anything on the machine.
The peer is always the real websockets installed next to this interpreter: a
server program is driven by websockets clients (and raw HTTP for the health
checks), a client program talks to a websockets server started here.  A server
that would run forever is stopped with the signal its deployment uses
(SIGTERM where it installs a handler, SIGINT -- Ctrl-C -- otherwise).

What is compared, run against run: the transcript the peer saw (messages, HTTP
status lines and bodies, close codes), the program's stdout, its exit status,
and the gist of its stderr (the lines that are not traceback frames, with the
module name folded).  Exit status 0 when every wsfast run matches websockets.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import textwrap
from typing import Awaitable, Callable, Dict, List, Optional

from websockets.asyncio.client import connect, unix_connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

Transcript = List[str]
VARIANTS = ("websockets", "wsfast-cython", "wsfast-python")


# --------------------------------------------------------------------- drivers
# A driver plays the peer of one program and returns what it observed.

def closed(ws) -> str:
    """How the peer saw the connection end (code and reason, both directions)."""
    rcvd = ws.close_code, ws.close_reason
    return f"closed {rcvd[0]} {rcvd[1]!r}"


async def http_get(port: int, path: str, body: bool = True) -> str:
    """A plain HTTP GET, the way a load balancer probes ``/healthz``.

    ``body=False`` keeps only whether there is one: the wording of a refused
    upgrade's body is a documented difference (README, "Migrating from
    websockets"); its status line is still compared."""
    reader, writer = await asyncio.open_connection("localhost", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status = head.split(b"\r\n", 1)[0].decode()
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    content = await reader.readexactly(int(length.group(1))) if length else b""
    writer.close()
    return f"GET {path} -> {status} {content!r}" if body else f"GET {path} -> {status} {bool(content)}"


async def echo_exchange(uri: str, **kwargs) -> Transcript:
    out = []
    opener = unix_connect(path=uri, **kwargs) if not uri.startswith("ws") else connect(uri, **kwargs)
    async with opener as ws:
        for message in ("Hello", b"\x00\xff binary", "é" * 3000):
            await ws.send(message)
            reply = await asyncio.wait_for(ws.recv(), 5)
            out.append(f"echo {type(reply).__name__} {len(reply)} {reply == message}")
    out.append(closed(ws))
    return out


async def drive_echo(port: int, proc) -> Transcript:
    return await echo_exchange(f"ws://localhost:{port}")


async def drive_hello(port: int, proc, scheme: str = "ws", **kwargs) -> Transcript:
    async with connect(f"{scheme}://localhost:{port}", **kwargs) as ws:
        await ws.send("Alice")
        out = [f"recv {await asyncio.wait_for(ws.recv(), 5)!r}"]
        await asyncio.wait_for(ws.wait_closed(), 5)
    return out + [closed(ws)]


async def drive_tls(port: int, proc, pem: pathlib.Path) -> Transcript:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(pem)
    return await drive_hello(port, proc, scheme="wss", ssl=context)


async def drive_health(port: int, proc) -> Transcript:
    """The deployment guides' app: health check, a non-WebSocket GET, an echo."""
    out = [await http_get(port, "/healthz"), await http_get(port, "/", body=False)]
    return out + await drive_echo(port, proc)


async def drive_going_away(uri: str, proc, sig: int, **kwargs) -> Transcript:
    """Connected when the server is told to stop: it closes with 1001."""
    opener = unix_connect(path=uri, **kwargs) if not uri.startswith("ws") else connect(uri, **kwargs)
    async with opener as ws:
        await ws.send("ping?")
        await asyncio.sleep(0.2)
        proc.send_signal(sig)
        try:
            async for message in ws:
                pass
        except ConnectionClosed:
            pass
    return [closed(ws)]


async def drive_deployment(port: int, proc, health: bool = True) -> Transcript:
    out = await (drive_health if health else drive_echo)(port, proc)
    return out + await drive_going_away(f"ws://localhost:{port}", proc, signal.SIGTERM)


async def drive_seppuku(port: int, proc) -> Transcript:
    """kubernetes/app.py: health, slow echo, then ``/seppuku`` exits with 69."""
    out = await drive_health(port, proc)
    out.append(await http_get(port, "/seppuku"))
    return out


async def drive_counter(port: int, proc) -> Transcript:
    """quick/counter.py: two users, one click, one leaves (broadcast)."""
    out = []
    uri = f"ws://localhost:{port}"

    async def recv(ws, who):
        out.append(f"{who} {json.loads(await asyncio.wait_for(ws.recv(), 5))}")

    async with connect(uri) as a:
        await recv(a, "A")  # users 1
        await recv(a, "A")  # value 0
        async with connect(uri) as b:
            await recv(a, "A")  # users 2
            await recv(b, "B")  # users 2
            await recv(b, "B")  # value 0
            await a.send(json.dumps({"action": "plus"}))
            await recv(a, "A")
            await recv(b, "B")
            await b.send(json.dumps({"action": "bogus"}))  # logged, not fatal
            await b.send(json.dumps({"action": "minus"}))
            await recv(a, "A")
            await recv(b, "B")
        await recv(a, "A")  # users 1
    return out


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$")


async def drive_time(port: int, proc) -> Transcript:
    async with connect(f"ws://localhost:{port}") as ws:
        message = await asyncio.wait_for(ws.recv(), 6)
    return [f"time iso={bool(ISO.match(message))}", closed(ws)]


async def drive_tutorial1(port: int, proc) -> Transcript:
    """docs tutorial1: the handler prints until the client goes away."""
    async with connect(f"ws://localhost:{port}") as ws:
        await ws.send("first")
        await ws.send(json.dumps({"type": "play", "column": 3}))
    await asyncio.sleep(0.3)
    return [closed(ws)]


async def drive_broadcast_doc(port: int, proc) -> Transcript:
    async with connect(f"ws://localhost:{port}") as ws:
        await asyncio.wait_for(ws.wait_closed(), 5)
    return [closed(ws)]


def play(column: int) -> str:
    return json.dumps({"type": "play", "column": column})


async def drive_step1(port: int, proc) -> Transcript:
    """tutorial step 1: both players on one connection; column 1 filled,
    then overfilled (an error event), then red wins in column 0."""
    out = []
    async with connect(f"ws://localhost:{port}") as ws:
        for column in (1, 1, 1, 1, 1, 1, 1, 0, 2, 0, 2, 0, 2, 0):
            await ws.send(play(column))
            out.append(await asyncio.wait_for(ws.recv(), 5))
        out.append(await asyncio.wait_for(ws.recv(), 5))  # the win
    return out + [closed(ws)]


async def drive_step2(port: int, proc, stop: Optional[int] = None) -> Transcript:
    """tutorial steps 2-3: start, join, watch, a game, a bad key."""
    out = []
    uri = f"ws://localhost:{port}"

    async def recv(ws, who):
        event = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if event["type"] == "init":  # secret keys: random by design
            event = {**event, "join": len(event["join"]), "watch": len(event["watch"])}
        out.append(f"{who} {event}")
        return event

    async with connect(uri) as first:
        await first.send(json.dumps({"type": "init"}))
        init = await first.recv()
        keys = json.loads(init)
        out.append(f"first init keys {len(keys['join'])} {len(keys['watch'])}")
        await first.send(play(3))
        await recv(first, "first")
        async with connect(uri) as second, connect(uri) as watcher:
            await second.send(json.dumps({"type": "init", "join": keys["join"]}))
            await recv(second, "second")  # replay of red's move
            await watcher.send(json.dumps({"type": "init", "watch": keys["watch"]}))
            await recv(watcher, "watcher")
            await second.send(play(3))
            for ws, who in ((first, "first"), (second, "second"), (watcher, "watcher")):
                await recv(ws, who)
            async with connect(uri) as stranger:
                await stranger.send(json.dumps({"type": "init", "join": "nope"}))
                await recv(stranger, "stranger")
                await asyncio.wait_for(stranger.wait_closed(), 5)
            out.append(f"stranger {closed(stranger)}")
            if stop is not None:
                out.append(await http_get(port, "/healthz"))
                proc.send_signal(stop)
                await asyncio.wait_for(first.wait_closed(), 5)
                out.append(f"first {closed(first)}")
    return out


# ------------------------------------------------------------ client programs
# The peer is a websockets server run here; it records what it saw.

async def run_client_case(case: "Case", program: pathlib.Path, env: Dict[str, str],
                          port: int) -> Dict[str, object]:
    seen: Transcript = []
    connected = asyncio.Event()

    async def handler(ws):
        connected.set()
        try:
            async for message in ws:
                seen.append(f"server got {message!r}"[:60])
                if case.server == "hello":
                    await ws.send(f"Hello {message}!")
                elif case.server == "echo":
                    await ws.send(message)
        except ConnectionClosed:
            pass
        seen.append(f"server saw close {ws.close_code} {ws.close_reason!r}")

    server_ssl = None
    if case.tls:
        server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ssl.load_cert_chain(program.with_name("localhost.pem"))
    async with serve(handler, "localhost", port, ssl=server_ssl):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, program.name, *case.argv, cwd=program.parent, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        if case.stop is not None:  # a client that runs until told to stop
            await asyncio.wait_for(connected.wait(), 10)
            await asyncio.sleep(0.3)
            proc.send_signal(case.stop)
        stdout, stderr = await asyncio.wait_for(proc.communicate(case.stdin.encode()), 30)
        await asyncio.sleep(0.2)  # the handler's last line
    if case.server == "echo" and case.argv:  # the benchmark: count, not list
        seen = [f"{sum(line.startswith('server got') for line in seen)} messages",
                *sorted(set(line for line in seen if not line.startswith("server got")))]
    return {"transcript": seen, "rc": proc.returncode,
            "stdout": stdout.decode(), "stderr": gist(stderr.decode())}


# ------------------------------------------------------------ server programs

async def wait_ready(port: Optional[int], sock: Optional[pathlib.Path], proc) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            return
        try:
            if sock is not None:
                if sock.exists():
                    return
            else:
                _, writer = await asyncio.open_connection("localhost", port)
                writer.close()
                return
        except OSError:
            pass
        await asyncio.sleep(0.05)
    raise TimeoutError("the program did not start listening")


async def run_server_case(case: "Case", program: pathlib.Path, env: Dict[str, str],
                          port: int) -> Dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, program.name, cwd=program.parent, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    sock = program.parent / case.unix if case.unix else None
    try:
        await wait_ready(port, sock, proc)
        await asyncio.sleep(0.1)
        try:
            if sock is not None:
                transcript = await case.driver(str(sock), proc)
            else:
                transcript = await case.driver(port, proc)
        except Exception as exc:  # the peer's view of a failure is the result
            transcript = [f"driver failed: {type(exc).__name__}: {exc}"]
        if proc.returncode is None and case.stop is not None:
            await asyncio.sleep(0.1)
            try:
                proc.send_signal(case.stop)
            except ProcessLookupError:
                pass
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return {"transcript": transcript, "rc": proc.returncode,
            "stdout": stdout.decode(), "stderr": gist(stderr.decode())}


FRAME = re.compile(r"^(\s|Traceback \(most recent|During handling of|The above exception|\^)")


def gist(stderr: str) -> List[str]:
    """What a person reads in a log: messages and exception lines, no frames."""
    lines = []
    for line in stderr.splitlines():
        if not line.strip() or FRAME.match(line):
            continue
        line = re.sub(r"\bwsfast\b", "websockets", line)
        line = re.sub(r"0x[0-9a-f]+", "0x…", line)
        lines.append(line)
    return lines


# ------------------------------------------------------------------- the table

@dataclasses.dataclass
class Case:
    name: str
    path: str                      # relative to the checkout
    driver: Optional[Callable[..., Awaitable[Transcript]]] = None  # server programs
    server: Optional[str] = None   # client programs: "hello" / "echo" / "silent"
    ports: tuple = ()              # port literals in the source to replace
    env: Dict[str, str] = dataclasses.field(default_factory=dict)  # "{port}" expanded
    stop: Optional[int] = signal.SIGINT
    stdin: str = ""
    argv: tuple = ()
    extra: tuple = ()              # sibling files the program needs
    unix: str = ""                 # a Unix socket path instead of a port
    tls: bool = False              # client programs: the peer serves wss:// (localhost.pem)


def cases() -> List[Case]:
    deploy = lambda port, proc: drive_deployment(port, proc)  # noqa: E731
    return [
        Case("asyncio/server", "example/asyncio/server.py", drive_hello, ports=("8765",)),
        Case("asyncio/echo", "example/asyncio/echo.py", drive_echo, ports=("8765",)),
        Case("asyncio/client", "example/asyncio/client.py", server="hello", ports=("8765",),
             stdin="Alice\n", stop=None),
        Case("asyncio/hello", "example/asyncio/hello.py", server="echo", ports=("8765",),
             stop=None),
        Case("sync/server", "example/sync/server.py", drive_hello, ports=("8765",)),
        Case("sync/echo", "example/sync/echo.py", drive_echo, ports=("8765",)),
        Case("sync/client", "example/sync/client.py", server="hello", ports=("8765",),
             stdin="Alice\n", stop=None),
        Case("sync/hello", "example/sync/hello.py", server="echo", ports=("8765",), stop=None),
        Case("quick/client", "example/quick/client.py", server="hello", ports=("8765",),
             stdin="Alice\n", stop=None),
        Case("quick/server", "example/quick/server.py", drive_hello, ports=("8765",)),
        Case("quick/counter", "example/quick/counter.py", drive_counter, ports=("6789",)),
        Case("quick/show_time", "example/quick/show_time.py", drive_time, ports=("5678",)),
        Case("quick/sync_time", "example/quick/sync_time.py", drive_time, ports=("5678",)),
        Case("faq/health_check_server", "example/faq/health_check_server.py", drive_health,
             ports=("8765",)),
        Case("faq/shutdown_server", "example/faq/shutdown_server.py",
             lambda port, proc: drive_going_away(f"ws://localhost:{port}", proc, signal.SIGTERM),
             ports=("8765",), stop=None),
        Case("faq/shutdown_client", "example/faq/shutdown_client.py", server="silent",
             ports=("8765",), stop=signal.SIGTERM),
        Case("tls/server", "example/tls/server.py", None, ports=("8765",),
             extra=("localhost.pem",)),
        Case("tls/client", "example/tls/client.py", server="hello", ports=("8765",),
             stdin="Alice\n", stop=None, extra=("localhost.pem",), tls=True),
        Case("deployment/fly", "example/deployment/fly/app.py", deploy, ports=("8080",),
             stop=None),
        Case("deployment/render", "example/deployment/render/app.py", deploy, ports=("8080",),
             stop=None),
        Case("deployment/koyeb", "example/deployment/koyeb/app.py", deploy, env={"PORT": "{port}"},
             stop=None),
        Case("deployment/heroku", "example/deployment/heroku/app.py",
             lambda port, proc: drive_deployment(port, proc, health=False),
             env={"PORT": "{port}"}, stop=None),
        Case("deployment/supervisor", "example/deployment/supervisor/app.py",
             lambda port, proc: drive_deployment(port, proc, health=False), ports=("8080",),
             stop=None),
        Case("deployment/haproxy", "example/deployment/haproxy/app.py",
             lambda port, proc: drive_deployment(port, proc, health=False),
             env={"SUPERVISOR_PROCESS_NAME": "websockets_{port_00}"}, stop=None),
        Case("deployment/nginx", "example/deployment/nginx/app.py",
             lambda path, proc: drive_going_away_unix(path, proc),
             env={"SUPERVISOR_PROCESS_NAME": "websockets-test"}, unix="websockets-test.sock",
             stop=None),
        Case("deployment/kubernetes/app", "example/deployment/kubernetes/app.py",
             drive_seppuku, ports=("80",), stop=None),
        Case("deployment/kubernetes/benchmark", "example/deployment/kubernetes/benchmark.py",
             server="echo", ports=("32080",), argv=("3", "5"), stop=None),
        Case("tutorial/step1", "example/tutorial/step1/app.py", drive_step1, ports=("8001",),
             extra=("connect4.py",)),
        Case("tutorial/step2", "example/tutorial/step2/app.py", drive_step2, ports=("8001",),
             extra=("connect4.py",)),
        Case("tutorial/step3", "example/tutorial/step3/app.py",
             lambda port, proc: drive_step2(port, proc, stop=signal.SIGTERM),
             env={"PORT": "{port}"}, extra=("connect4.py",), stop=None),
        Case("docs/intro/tutorial1", "docs/intro/tutorial1.rst", drive_tutorial1,
             ports=("8001",)),
        Case("docs/topics/broadcast", "docs/topics/broadcast.rst", drive_broadcast_doc,
             ports=("8765",)),
    ]


async def drive_going_away_unix(path: str, proc) -> Transcript:
    out = await echo_exchange(path)
    return out + await drive_going_away(path, proc, signal.SIGTERM)


def docs_program(rst: pathlib.Path) -> str:
    """The first whole asyncio program (``asyncio.run``) in a page of the docs."""
    lines = rst.read_text().splitlines()
    for i, line in enumerate(lines):
        if not (line.rstrip().endswith("::") or line.lstrip().startswith(".. code-block::")):
            continue
        indent = len(line) - len(line.lstrip())
        block = []
        for follow in lines[i + 1:]:
            if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                break
            block.append(follow)
        code = "\n".join(block)
        if "websockets.asyncio" in code and "asyncio.run(" in code:
            return textwrap.dedent(code).strip() + "\n"
    raise LookupError(f"no whole asyncio program in {rst}")


IMPORT = re.compile(r"^(\s*(?:import|from)\s+)websockets\b", re.M)


def prepare(case: Case, root: pathlib.Path, scratch: pathlib.Path, variant: str,
            port: int) -> pathlib.Path:
    source_path = root / case.path
    if source_path.suffix == ".rst":
        source = docs_program(source_path)
    else:
        source = source_path.read_text()
    for literal in case.ports:
        source = re.sub(rf"\b{literal}\b", str(port), source)
    if variant != "websockets":
        source, renamed = IMPORT.subn(r"\1wsfast", source)
        if not renamed:
            raise LookupError(f"{case.path} imports nothing from websockets")
    where = scratch / variant / case.name
    where.mkdir(parents=True, exist_ok=True)
    for name in case.extra:
        shutil.copy(source_path.with_name(name), where / name)
    program = where / (source_path.stem + ".py")
    program.write_text(source)
    return program


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def free_port_8000() -> int:
    """haproxy/app.py listens on 8000 + the last two digits of its process name."""
    for port in range(8000, 8100):
        with socket.socket() as sock:
            try:
                sock.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise OSError("no free port in 8000-8099")


async def run_case(case: Case, root: pathlib.Path, scratch: pathlib.Path,
                   variant: str) -> Dict[str, object]:
    port = free_port_8000() if "port_00" in str(case.env) else free_port()
    program = prepare(case, root, scratch, variant, port)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("WSFAST_NO_EXTENSIONS", None)
    if variant == "wsfast-python":
        env["WSFAST_NO_EXTENSIONS"] = "1"
    for key, value in case.env.items():
        env[key] = value.format(port=port, port_00=f"{port - 8000:02d}")
    if case.name == "tls/server":
        pem = program.with_name("localhost.pem")
        case = dataclasses.replace(case, driver=lambda p, proc: drive_tls(p, proc, pem))
    if case.server is not None:
        return await run_client_case(case, program, env, port)
    return await run_server_case(case, program, env, port)


async def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=pathlib.Path, help="websockets checkout or its example/")
    parser.add_argument("-k", dest="keyword", default="", help="only names containing this")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    root = args.path.resolve()
    if (root / "example").is_dir():
        pass
    elif root.name == "example" and root.is_dir():
        root = root.parent
    else:
        parser.error(f"{args.path} holds no example/ directory")

    failures = 0
    with tempfile.TemporaryDirectory(prefix="wsx-") as tmp:
        scratch = pathlib.Path(tmp)
        print(f"{'program':34} {'wsfast-cython':14} {'wsfast-python':14}")
        for case in cases():
            if args.keyword not in case.name or not (root / case.path).exists():
                continue
            results = {variant: await run_case(case, root, scratch, variant)
                       for variant in VARIANTS}
            reference = results["websockets"]
            verdicts = []
            for variant in VARIANTS[1:]:
                same = results[variant] == reference
                failures += not same
                verdicts.append("same" if same else "DIFFERS")
            print(f"{case.name:34} {verdicts[0]:14} {verdicts[1]:14}", flush=True)
            if args.verbose or "DIFFERS" in verdicts:
                for variant in VARIANTS:
                    for key, value in results[variant].items():
                        if variant == "websockets" or value != reference[key]:
                            print(f"    {variant:14} {key:10} {value!r}")
    print("all the same" if not failures else f"{failures} run(s) differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
