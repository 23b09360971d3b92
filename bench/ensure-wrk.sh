#!/usr/bin/env bash
# Install wrk (the HTTP load generator of the benchmark) from Debian's packages when it is missing.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: wrk is missing and apt-get is not available; install wrk (https://github.com/wg/wrk) and run again" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
echo "bench: installing wrk with apt-get" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
