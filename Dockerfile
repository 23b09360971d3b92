# toolserver: the server and the shipped plugins, on a slim Python, as a non-root user.
#
#   docker build -t toolserver .
#   docker run -p 8000:8000 -v toolserver-data:/data -e TOOLSERVER_API_KEYS=change-me toolserver
#
# Configuration is by TOOLSERVER_* environment variables (README, "Configuration"). /data holds
# the embedded database and a generated API key; /plugins holds the plugins (the shipped ones by
# default: mount your own directory there to serve yours).

ARG PYTHON_VERSION=3.11

# -- build: resolve and install the locked dependencies and toolserver into /opt/venv ------------
FROM python:${PYTHON_VERSION}-slim AS builder

RUN pip install --no-cache-dir "uv==0.13.9"
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project --no-editable
COPY toolserver ./toolserver
RUN uv sync --locked --no-dev --no-editable

# -- run: the virtual environment and the plugins, nothing to build with -------------------------
FROM python:${PYTHON_VERSION}-slim

RUN groupadd --system --gid 10001 toolserver \
    && useradd --system --uid 10001 --gid toolserver --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin toolserver \
    && mkdir -p /data /plugins \
    && chown toolserver:toolserver /data

COPY --from=builder /opt/venv /opt/venv
COPY plugins/ /plugins/

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TOOLSERVER_HOST=0.0.0.0 \
    TOOLSERVER_PORT=8000 \
    TOOLSERVER_DATA_DIR=/data \
    TOOLSERVER_PLUGINS_DIR=/plugins \
    TOOLSERVER_LOG_FORMAT=json

WORKDIR /data
VOLUME ["/data", "/plugins"]
USER toolserver
EXPOSE 8000

# Liveness only: /readyz is for load balancers, and a Redis outage must not restart every replica.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TOOLSERVER_PORT', '8000'), timeout=4)"]

# Exec form: toolserver is PID 1 and gets SIGTERM itself; it drains in-flight calls
# (TOOLSERVER_SHUTDOWN_GRACE) and exits 0. Arguments after the image name go to `serve`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["toolserver", "serve"]
