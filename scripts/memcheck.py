"""Run the codec tests under valgrind memcheck; fail on errors in wsfast's kernels.

    .venv/bin/python scripts/memcheck.py                 # the default test files
    .venv/bin/python scripts/memcheck.py tests/test_utf8.py -k feed

The interpreter that runs this script is the one tested, with the compiled
back-end it imports (the normal -O3 build: what users run; it has no debug
information, so for line numbers in reports build it with
``CFLAGS=-g WSFAST_BUILD_EXTENSION=yes pip install -e .``). The run fails
(exit 1) when:

* pytest fails, or the compiled back-end is not the one imported;
* valgrind reports an invalid read or write, an invalid or mismatched free,
  overlapping memcpy arguments or a fishy allocation size, anywhere;
* any error at all (uninitialised values included) has a frame in a wsfast
  module, or a block allocated by one is "definitely lost".

Uninitialised-value reports whose stack never enters wsfast are CPython's
(a CPython not configured --with-valgrind reports them even with
PYTHONMALLOC=malloc) and are counted, not failed; known false positives
are in scripts/valgrind-python.supp. PYTHONMALLOC=malloc makes every Python
object a malloc block, so memcheck sees overruns of bytes objects too.

Only the compiled back-end's runs of the tests run (the pure back-end has no
memory of its own to check), with at most MAX_EXAMPLES Hypothesis examples
per test (tests that set their own count keep it): loaded by pytest as a
plugin (``-p memcheck``), this module registers that Hypothesis profile and
deselects the ``backend`` fixture's "python" runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DEFAULT_TESTS = [
    "tests/test_mask.py",
    "tests/test_utf8.py",
    "tests/test_framing.py",
    "tests/test_connection.py",
    "tests/test_connection_deflate.py",  # the compiled reader's compressed path
]
MAX_EXAMPLES = 20

# Error kinds that fail the run wherever they are.
ALWAYS_FATAL = (
    "Invalid read",
    "Invalid write",
    "Invalid free",
    "Mismatched free",
    "Source and destination overlap",
    "Argument 'size' of function",
)
# A frame in one of wsfast's compiled modules (the .so, or the generated C,
# the .pyx or a kernel header when valgrind has the line).
WSFAST_FRAME = re.compile(r"wsfast/_\w+_c\.|src_c/|_\w+_c\.(c|pyx):|\w+_kernel\.h|frame_header\.h"
                          r"|records\.h|awaitable\.h")
LOG_LINE = re.compile(r"^==\d+== ?(.*)$")

if __name__ != "__main__":  # imported by pytest as a plugin (-p memcheck)
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "memcheck", max_examples=MAX_EXAMPLES, deadline=None,
        suppress_health_check=list(HealthCheck),
    )

    def pytest_collection_modifyitems(config, items):
        """Deselect the pure back-end's runs (the ``backend`` fixture's
        "python" parameter): nothing of theirs is wsfast's own memory."""
        keep, drop = [], []
        for item in items:
            callspec = getattr(item, "callspec", None)
            pure = callspec is not None and callspec.params.get("backend") == "python"
            (drop if pure else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def blocks(log: str):
    """The report blocks of one valgrind log: lists of lines, the first being
    the error's title ("Invalid read of size 4", "... definitely lost ..."),
    the others its indented stack lines; a blank log line ends a block."""
    block: list = []
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        text = match.group(1) if match else ""
        if text.strip() and (block or not text[0].isspace()):
            block.append(text)
        elif block:
            yield block
            block = []
    if block:
        yield block


def judge(log: str):
    """(fatal blocks, number of tolerated reports outside wsfast) of one log."""
    fatal, tolerated = [], 0
    for block in blocks(log):
        title = block[0]
        is_error = (title.startswith(ALWAYS_FATAL) or "uninitialised" in title
                    or "definitely lost" in title or "unaddressable" in title)
        if not is_error:
            continue
        ours = any(WSFAST_FRAME.search(line) for line in block[1:])
        if title.startswith(ALWAYS_FATAL) or "unaddressable" in title or ours:
            fatal.append(block)
        else:
            tolerated += 1
    return fatal, tolerated


def main(argv: list) -> int:
    check = subprocess.run(
        [sys.executable, "-c", "import wsfast._backend as b; print(b.get('cython').name)"],
        cwd=ROOT, capture_output=True, text=True)
    if check.returncode != 0 or check.stdout.strip() != "cython":
        print("memcheck: the compiled back-end does not import; build it first "
              "(WSFAST_BUILD_EXTENSION=yes pip install -e .)\n" + check.stderr, file=sys.stderr)
        return 1
    tests = argv or DEFAULT_TESTS
    logdir = tempfile.mkdtemp(prefix="wsfast-memcheck-")
    command = [
        "valgrind", "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite",
        "--errors-for-leak-kinds=definite", "--num-callers=40", "--trace-children=no",
        f"--suppressions={os.path.join(HERE, 'valgrind-python.supp')}",
        f"--log-file={logdir}/memcheck.%p.log",
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "memcheck",
        *tests,
    ]
    env = dict(os.environ, PYTHONMALLOC="malloc", HYPOTHESIS_PROFILE="memcheck",
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
    print("memcheck:", " ".join(command), flush=True)
    start = time.monotonic()
    status = subprocess.run(command, cwd=ROOT, env=env).returncode
    elapsed = time.monotonic() - start
    fatal, tolerated, logs = [], 0, sorted(os.listdir(logdir))
    for name in logs:
        with open(os.path.join(logdir, name)) as f:
            f_fatal, f_tolerated = judge(f.read())
        fatal += f_fatal
        tolerated += f_tolerated
    for block in fatal:
        print("\n".join(block) + "\n", file=sys.stderr)
    print(f"memcheck: {elapsed:.0f} s; logs in {logdir}; {len(fatal)} error(s) that fail the "
          f"run, {tolerated} tolerated report(s) outside wsfast (CPython's)")
    if status != 0:
        print(f"memcheck: FAILED: pytest exited with {status}", file=sys.stderr)
        return 1
    if fatal:
        print("memcheck: FAILED: valgrind errors above", file=sys.stderr)
        return 1
    print("memcheck: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
