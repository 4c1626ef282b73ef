"""Precise types reach users: a script written against the public API
type-checks under ``mypy --strict`` and sees ``recv()`` as ``str | bytes``.

The package itself is checked by ``python -m mypy`` (CI); this checks the
other side of ``py.typed``: what a user's type checker infers from wsfast's
annotations (an ``Any`` leaking out of ``connect`` or ``recv`` would pass the
package check and still leave users unchecked).
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (it is in the `typing` extra)")

ROOT = pathlib.Path(__file__).resolve().parent.parent

USER_SCRIPT = textwrap.dedent("""\
    import asyncio
    from typing import Union

    import wsfast
    import wsfast.sync.client
    from wsfast.asyncio.server import ServerConnection


    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)


    async def client(uri: str) -> Union[str, bytes]:
        async with wsfast.connect(uri) as ws:
            await ws.send("hello")
            await ws.send(b"raw")
            reveal_type(await ws.recv())
            return await ws.recv()


    async def main() -> None:
        async with wsfast.serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            reply = await client(f"ws://127.0.0.1:{port}/")
            print(reply)


    def sync_client(uri: str) -> Union[str, bytes]:
        with wsfast.sync.client.connect(uri) as ws:
            ws.send("hello")
            reveal_type(ws.recv())
            return ws.recv()


    asyncio.run(main())
""")


# The control: if wsfast's types were Any, mypy would accept this too.
MISUSE_SCRIPT = textwrap.dedent("""\
    import wsfast


    async def client(uri: str) -> int:
        async with wsfast.connect(uri) as ws:
            number: int = await ws.recv()
            return number
""")


def test_user_script_type_checks_with_precise_types(tmp_path: pathlib.Path) -> None:
    (tmp_path / "user_script.py").write_text(USER_SCRIPT)
    (tmp_path / "misuse.py").write_text(MISUSE_SCRIPT)
    (tmp_path / "mypy.ini").write_text("[mypy]\n")  # not the project's configuration
    env = dict(os.environ)
    if (ROOT / "wsfast" / "py.typed").exists():
        # A checkout (an editable install hides the package from mypy behind
        # an import hook): read it from here. Against an installed wheel,
        # site-packages has it with its py.typed.
        env["MYPYPATH"] = str(ROOT)
    # One mypy process for both scripts (it takes seconds); no cache left
    # behind; a user's script, strict.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--config-file", "mypy.ini", "user_script.py", "misuse.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env, check=False)
    output = result.stdout + result.stderr

    revealed = re.findall(r'^user_script\.py:\d+: note: Revealed type is "([^"]*)"$',
                          output, re.MULTILINE)
    # mypy's spelling has changed over versions; the type has to be this one.
    assert revealed in (["str | bytes"] * 2, ["builtins.str | builtins.bytes"] * 2,
                        ["Union[builtins.str, builtins.bytes]"] * 2), output
    assert [line for line in output.splitlines()
            if line.startswith("user_script.py") and ": error:" in line] == [], output

    misuse = [line for line in output.splitlines() if line.startswith("misuse.py")]
    assert len(misuse) == 1 and "[assignment]" in misuse[0], output
    assert re.search(r'Found 1 error in 1 file \(checked 2 source files\)', output), output
