# toolserver: the server and the shipped plugins, on a slim Python, as a non-root user.
#
#   docker build -t toolserver .
#   docker run -p 8000:8000 -v toolserver-data:/data -e TOOLSERVER_API_KEYS=change-me toolserver
#
# Configuration is by TOOLSERVER_* environment variables (README, "Configuration"). /data holds
# the embedded database and a generated API key; /plugins holds the plugins (the shipped ones by
# default: mount your own directory there to serve yours).

# The base image, pinned by digest: a rebuild gets the same bytes until this line changes. To move
# to a newer 3.11-slim, look up its digest (`docker buildx imagetools inspect python:3.11-slim`)
# and replace the one here and in the base.digest label below.
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# -- build: resolve and install the locked dependencies and toolserver into /opt/venv ------------
FROM ${PYTHON_IMAGE} AS builder

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
FROM ${PYTHON_IMAGE}

# OCI annotations: what the image is, for registries and scanners.
LABEL org.opencontainers.image.title="toolserver" \
      org.opencontainers.image.description="Write a tool once; serve it to AI agents over MCP, HTTP webhooks and the BlackBox WebSocket." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim" \
      org.opencontainers.image.base.digest="sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7"

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
# Numeric, so that Kubernetes' runAsNonRoot can verify it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000

# Liveness only: /readyz is for load balancers, and a Redis outage must not restart every replica.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TOOLSERVER_PORT', '8000'), timeout=4)"]

# Exec form: toolserver is PID 1 and gets SIGTERM itself; it drains in-flight calls
# (TOOLSERVER_SHUTDOWN_GRACE) and exits 0. Arguments after the image name go to `serve`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["toolserver", "serve"]
