#!/usr/bin/env bash
# Create (or bring up to date) the project's virtual environment in .venv from uv.lock.
# Needs only python3 >= 3.11: uv is installed into a private tools folder when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v uv >/dev/null 2>&1; then
    UV=uv
else
    if [ ! -x .tools/bin/uv ]; then
        python3 -m venv .tools
        .tools/bin/pip install --quiet uv
    fi
    UV=.tools/bin/uv
fi
# Bytecode is compiled here, once: with PYTHONDONTWRITEBYTECODE set (as in many containers and
# this one) nothing would be cached at import, and every start would compile every module again.
"$UV" sync --quiet --locked --extra test --compile-bytecode
.venv/bin/python -m compileall -q -j 0 toolserver plugins >/dev/null
