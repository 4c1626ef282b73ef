#!/usr/bin/env bash
# Run the test suite against compiled kernels built with AddressSanitizer and
# UndefinedBehaviorSanitizer; exit non-zero on a test failure or on any
# sanitizer report (docs/sanitizers.md).
#
#     scripts/sanitize.sh                  # the compiled code's tests (below), ASan + UBSan
#     scripts/sanitize.sh tests -m "not memory_bound"   # the whole suite
#     scripts/sanitize.sh tests/test_mask.py -k boundary   # pytest arguments
#
# Environment:
#     WSFAST_SANITIZE      address,undefined (default), address, or undefined
#     WSFAST_SANITIZE_DIR  where the copy, its venv and the logs go
#                          (default: build/sanitize-<kinds> in this checkout)
#     PYTHON               interpreter for the venv (default: python3)
#
# The tree is copied (tracked files plus untracked, not-ignored ones, with
# their mtimes, so a second run recompiles only what changed) and built
# in place there: sanitized modules never land in this checkout, whose own
# build stays what it was. Linux and gcc (the runtimes are gcc's).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kinds=${WSFAST_SANITIZE:-address,undefined}
case $kinds in
    address | undefined | address,undefined | undefined,address) ;;
    *) echo "sanitize.sh: WSFAST_SANITIZE must be address, undefined or address,undefined, not '$kinds'" >&2
       exit 2 ;;
esac
dir=${WSFAST_SANITIZE_DIR:-$root/build/sanitize-${kinds/,/-}}
python=${PYTHON:-python3}
cc=${CC:-gcc}
tree=$dir/tree
venv=$dir/venv
logs=$dir/logs
start=$SECONDS

# 1. The copy. Sources deleted from the checkout disappear from it too;
#    generated C and built modules stay, for the incremental build.
mkdir -p "$tree"
find "$tree" -path "$tree/build" -prune -o -type f ! -name '*.c' ! -name '*.so' -print0 |
    xargs -0 rm -f
(cd "$root" && git ls-files -z -co --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$tree"

# 2. A venv of its own, made once: the test dependencies and an editable
#    install of the copy (pure at first; step 3 builds the kernels in place).
#    The build tools are the ones pyproject.toml's build-system requires
#    (a new venv's own setuptools is too old for its licence metadata); they
#    are checked on every run, so an older venv is brought up to date.
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    fresh=yes
fi
"$venv/bin/pip" install -q 'Cython>=3.1.0,<3.4' 'setuptools>=77'
if [ "${fresh:-}" = yes ]; then
    (cd "$tree" && env -u WSFAST_SANITIZE WSFAST_BUILD_EXTENSION=no \
        "$venv/bin/pip" install -q -e '.[test]')
fi

# 3. The sanitized kernels, in place in the copy (a change of sanitizers or
#    compiler rebuilds them all).
stamp="$kinds $cc $("$cc" --version | head -1)"
force=
if [ "$(cat "$dir/build-stamp" 2>/dev/null)" != "$stamp" ]; then
    force=--force
fi
(cd "$tree" && CC=$cc WSFAST_SANITIZE=$kinds WSFAST_BUILD_EXTENSION=yes \
    "$venv/bin/python" setup.py -q build_ext --inplace -j 2 $force)
echo "$stamp" > "$dir/build-stamp"
echo "sanitize.sh: built with -fsanitize=$kinds in $((SECONDS - start)) s"

# 4. The suite. CPython is not instrumented, so the sanitizer runtimes must
#    be loaded before it (LD_PRELOAD). PYTHONMALLOC=malloc: every Python
#    object comes from malloc, so ASan puts redzones around bytes objects and
#    sees overflows out of them. detect_leaks=0: CPython never frees much of
#    its own state at exit (interned strings, static types, module state), so
#    LeakSanitizer would report thousands of "leaks" that are not ours; leaks
#    are the valgrind run's job (scripts/memcheck.py).
#    Where reports go: ASan's to files (log_path), so that one in a
#    subprocess whose stderr a test captured still fails the run. UBSan's
#    ignore log_path when ASan is loaded too (gcc 12) and go to stderr, then
#    the process exits: pytest runs with --capture=sys, so that fd 2 stays
#    the terminal (fd capture would swallow the report with the process),
#    and its output is kept and scanned for "runtime error:".
preload=
case $kinds in *address*) preload=$("$cc" -print-file-name=libasan.so) ;; esac
case $kinds in *undefined*) preload="${preload:+$preload:}$("$cc" -print-file-name=libubsan.so)" ;; esac
rm -rf "$logs" && mkdir -p "$logs"

suite() {  # suite EXTRA_ASAN_OPTIONS PYTEST_ARGS...
    local extra=$1
    shift
    (cd "$tree" &&
        LD_PRELOAD=$preload PYTHONMALLOC=malloc \
        ASAN_OPTIONS="detect_leaks=0:log_path=$logs/asan${extra:+:$extra}:${ASAN_OPTIONS:-}" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
        "$venv/bin/python" -m pytest -q -x -p no:cacheprovider --capture=sys "$@") 2>&1 |
        tee -a "$logs/pytest.out"
    return "${PIPESTATUS[0]}"
}

# The memory_bound tests assert bounds on a process's resident set, which the
# normal run checks. Under ASan they cannot hold: freed memory waits in a
# 256 MiB quarantine, and even without it every allocation carries redzones
# and shadow memory (the fragment flood of tests/test_bug_classes.py grew
# 6.8 MiB against its 5 MiB bound with the quarantine off). So they are left
# out here; the code they drive is run under ASan by the other tests (the
# sans-I/O pong rule, inflate limits, HTTP limits, the reader's reservation).
#
# Without arguments, only the test modules that run compiled code run here:
# ASan and UBSan instrument the kernels and nothing else, so a test of pure
# Python layers (handshake, deflate's negotiation, the sync, compat, adapter,
# hub, CLI and typing layers, examples, interop with other libraries) only
# re-runs, three times slower, kernel calls that these modules make directly
# and with hostile inputs. The 19 modules left out took 4 min 45 s of a
# 14 min whole-suite pass here (2 loaded cores; README). The modules:
#   test_mask test_utf8 test_framing  the kernels, with Hypothesis and their
#                                     differential checks against the twins
#   test_buffers test_compiled_modules test_cpu test_backend
#                                     buffer release on every path, the modules
#                                     themselves, the CPU dispatch
#   test_connection test_connection_deflate test_inflate_yield test_state
#                                     the reader and connection core, with
#                                     random chunking and compressed paths
#   test_waiter test_asyncio test_fanout
#                                     the compiled waiter and stream core under
#                                     the asyncio layer, broadcast's paths
#   test_bug_classes test_hostile test_leaks
#                                     attacks and the compiled bookkeeping
#                                     (refcounts, buffers) on hostile input
#   test_adapters_wsaccel             wsaccel's API over the mask/UTF-8 kernels
#   test_fuzz                         every fuzz target's corpus through them
# 'scripts/sanitize.sh tests -m "not memory_bound"' runs the whole suite (a
# kernel change that other modules reach in a new way; before a release).
SANITIZED_TESTS=(tests/test_mask.py tests/test_utf8.py tests/test_framing.py
                 tests/test_buffers.py tests/test_compiled_modules.py tests/test_cpu.py
                 tests/test_backend.py tests/test_connection.py tests/test_connection_deflate.py
                 tests/test_inflate_yield.py tests/test_state.py tests/test_waiter.py
                 tests/test_asyncio.py tests/test_fanout.py tests/test_bug_classes.py
                 tests/test_hostile.py tests/test_leaks.py tests/test_adapters_wsaccel.py
                 tests/test_fuzz.py)
status=0
if [ $# -gt 0 ]; then
    suite "" "$@" || status=$?
else
    suite "" -m "not memory_bound" "${SANITIZED_TESTS[@]}" || status=$?
fi

reports=$(find "$logs" -type f ! -name pytest.out | sort)
if [ -n "$reports" ] || grep -qE ': runtime error: |ERROR: (Address|Undefined)Sanitizer' "$logs/pytest.out"; then
    for report in $reports; do
        echo "==== $report"
        cat "$report"
    done
    grep -E -A30 ': runtime error: |ERROR: (Address|Undefined)Sanitizer' "$logs/pytest.out" || true
    echo "sanitize.sh: FAILED: sanitizer reports above (-fsanitize=$kinds)" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "sanitize.sh: FAILED: pytest exited with $status (-fsanitize=$kinds)" >&2
    exit "$status"
fi
echo "sanitize.sh: clean: suite passed, no sanitizer report (-fsanitize=$kinds, $((SECONDS - start)) s)"
