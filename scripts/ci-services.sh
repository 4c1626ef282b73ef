#!/usr/bin/env bash
# The system services the test suite runs against, from Debian's packages:
# redis-server (tests/test_hub.py, test_workers.py, test_chat.py start their
# own on a free loopback port; nothing here starts a daemon) and chromium
# (the headless browser of tests/test_chat.py). A no-op when both are
# present, so developers and CI run the same command.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/ci-services.sh: missing ${missing[*]}; install as root:" \
         "apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
