#!/usr/bin/env bash
# Install Autobahn|Testsuite's wstest (Python 2.7 only) into a private prefix.
#
#   usage: setup_wstest.sh [DIR]     DIR default: ${AUTOBAHN_ENV:-$HOME/.cache/wsfast-autobahn}
#
# 1. CPython 2.7 = Debian bullseye .debs, `apt-get download` with a private apt
#    state, unpacked with `dpkg -x` into DIR/py27 (nothing touches the system);
# 2. pip 20.3.4 wheel fetched by python3's pip ($PYTHON3, default python3),
#    run from the wheel to install itself into the 2.7 tree;
# 3. autobahntestsuite and its deps, pinned by constraints-py27.txt (only wsaccel
#    is compiled, with gcc);
# 4. launcher DIR/bin/wsfast-wstest: wstest with its listeners on 127.0.0.1.
# Idempotent (finished steps are skipped; an existing install made the same way,
# e.g. AUTOBAHN_ENV=/tmp/autobahn-env, is reused). Prints the launcher path last.
# Knobs: AB_DEBIAN_MIRROR (http://archive.debian.org/debian once bullseye leaves
# deb.debian.org), PIP_CERT (CA bundle for PyPI).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=${1:-${AUTOBAHN_ENV:-$HOME/.cache/wsfast-autobahn}}
mkdir -p "$PREFIX" && PREFIX=$(cd "$PREFIX" && pwd)
ROOT=$PREFIX/py27
LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu
CONSTRAINTS=$HERE/constraints-py27.txt
pin() { sed -n "s/^$1==//p" "$CONSTRAINTS"; }
CERT=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
CERT_ARGS=(); [ -f "$CERT" ] && CERT_ARGS=(--cert "$CERT")
log() { echo "[setup_wstest] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# python2.7 from the private tree, isolated from the machine's pip/python settings
py27() {
  env -u PYTHONPATH -u PYTHONHOME -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL \
    -u PIP_REQUIRE_VIRTUALENV -u PIP_USER -u PIP_TARGET -u PIP_PREFIX \
    LD_LIBRARY_PATH="$LIBDIR" PYTHONNOUSERSITE=1 PIP_CONFIG_FILE=/dev/null \
    PIP_CONSTRAINT="$CONSTRAINTS" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1 \
    PIP_CACHE_DIR="$PREFIX/pip-cache" CFLAGS="-I$ROOT/usr/include/python2.7 -I$ROOT/usr/include" \
    "$ROOT/usr/bin/python2.7" "$@"
}

# 1. CPython 2.7.18 from bullseye
if ! py27 -c 'import ssl, zlib, ctypes' 2>/dev/null; then
  log "downloading python2.7 from Debian bullseye"
  APT=$PREFIX/apt
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$PREFIX/debs"
  echo "deb ${AB_DEBIAN_MIRROR:-http://deb.debian.org/debian} bullseye main" > "$APT/sources.list"
  OPTS=(-q -o "Dir::Etc::SourceList=$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o Debug::NoLocking=1
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
        -o APT::Sandbox::User="$(id -un)" -o Acquire::Retries=3)
  apt-get "${OPTS[@]}" update >"$PREFIX/apt.log" 2>&1 || { cat "$PREFIX/apt.log" >&2; die "apt-get update failed"; }
  rm -f "$PREFIX"/debs/*.deb
  (cd "$PREFIX/debs" && apt-get "${OPTS[@]}" download python2.7-minimal libpython2.7-minimal \
     libpython2.7-stdlib python2.7 libpython2.7 libpython2.7-dev libssl1.1 libffi7) \
     >>"$PREFIX/apt.log" 2>&1 || { cat "$PREFIX/apt.log" >&2; die "apt-get download failed"; }
  rm -rf "$ROOT"
  for deb in "$PREFIX"/debs/*.deb; do dpkg -x "$deb" "$ROOT"; done
  py27 -c 'import ssl, zlib, ctypes' || die "the unpacked python2.7 does not work"
fi

# 2. pip 20.3.4 (+ setuptools, wheel) for 2.7
if [ "$(py27 -c 'import pip; print(pip.__version__)' 2>/dev/null)" != "$(pin pip)" ]; then
  log "bootstrapping pip $(pin pip)"
  WHL=$PREFIX/wheels/pip-$(pin pip)-py2.py3-none-any.whl
  [ -f "$WHL" ] || env -u PIP_CONSTRAINT -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
    "${PYTHON3:-python3}" -m pip download -q --no-deps --only-binary :all: --python-version 2.7 \
    "${CERT_ARGS[@]}" -d "$PREFIX/wheels" "pip==$(pin pip)" || die "could not download pip from PyPI"
  py27 "$WHL/pip" install -q --no-warn-script-location "${CERT_ARGS[@]}" \
    "pip==$(pin pip)" "setuptools==$(pin setuptools)" "wheel==$(pin wheel)"
fi

# 3. autobahntestsuite, pinned
if [ "$(py27 -c 'import autobahntestsuite as a, wsaccel; print(a.__version__)' 2>/dev/null)" != "$(pin autobahntestsuite)" ]; then
  log "installing autobahntestsuite $(pin autobahntestsuite) (log: $PREFIX/pip.log)"
  py27 -m pip install --no-warn-script-location "${CERT_ARGS[@]}" -c "$CONSTRAINTS" \
    "autobahntestsuite==$(pin autobahntestsuite)" wsaccel >"$PREFIX/pip.log" 2>&1 \
    || { tail -30 "$PREFIX/pip.log" >&2; die "pip install failed"; }
fi

# 4. launcher
mkdir -p "$PREFIX/bin"
cp "$HERE/wstest_loopback.py" "$PREFIX/bin/wstest_loopback.py"
cat > "$PREFIX/bin/wsfast-wstest" <<EOF
#!/bin/sh
# wstest, listening on 127.0.0.1 only (written by wsfast's tests/autobahn/setup_wstest.sh)
export LD_LIBRARY_PATH='$LIBDIR' PYTHONNOUSERSITE=1
unset PYTHONPATH PYTHONHOME
exec '$ROOT/usr/bin/python2.7' '$PREFIX/bin/wstest_loopback.py' "\$@"
EOF
chmod +x "$PREFIX/bin/wsfast-wstest"
"$PREFIX/bin/wsfast-wstest" -a >/dev/null 2>&1 || die "wstest does not start"
echo "$PREFIX/bin/wsfast-wstest"
