"""API keys: which keys the server accepts, and the non-secret name each is counted by.

Checking a request's key is HTTP's business (:mod:`toolserver.http.auth`); knowing the keys is
the running server's, since commands without HTTP (``toolserver export``) need them too.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import structlog

__all__ = ["GENERATED_KEY_FILE", "ensure_api_keys", "generated_key_path", "key_id"]

_log = structlog.get_logger("toolserver.auth")

GENERATED_KEY_FILE = "api_key"


def key_id(key: bytes) -> str:
    """A short, stable, non-secret name for an API key: what limits and metrics count by.

    A truncated SHA-256 of a high-entropy key says nothing about the key, and keeps the key
    itself out of every counter name and log line.
    """
    return "key-" + hashlib.sha256(key).hexdigest()[:12]


def generated_key_path(data_dir: Path) -> Path:
    """Where a generated key is kept: the one place to read it from (``cat`` it, mount it)."""
    return data_dir / GENERATED_KEY_FILE


def ensure_api_keys(configured: list[str], data_dir: Path) -> list[str]:
    """The keys to accept: the configured ones, or one generated and kept in ``data_dir``.

    A first start with no key configured generates one and stores it (mode 0600), so the server
    is usable at once and still not open. The key itself is never written to a stream here: a
    log may end up anywhere (a container's log, a CI artefact), so the log says only where the
    key is kept. ``toolserver serve`` shows it once to a person at a terminal.
    """
    if configured:
        return configured
    path = generated_key_path(data_dir)
    if path.exists():
        key = path.read_text().strip()
        if key:
            _log.info("auth.generated_key_loaded", path=str(path))
            return [key]
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "ts_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    _log.info(
        "auth.generated_key_created",
        path=str(path),
        message="No API key was configured, so one was generated; read it from the file. "
        "Set TOOLSERVER_API_KEYS to use your own.",
    )
    return [key]
