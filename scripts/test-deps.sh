#!/usr/bin/env bash
# Install what the test suite needs beyond Python packages (third-party clients, services).
# Each step is skipped when its tool is already present.
set -euo pipefail
cd "$(dirname "$0")/.."
exit 0
