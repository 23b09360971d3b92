"""The Dockerfile: its instructions, its build replayed for real without a Docker engine, and
the image built and run where a container engine does run.

Where no engine runs, the image cannot be built, and the container test says so as a skip with
its reason (never a pass). The rest runs everywhere: the
instructions are parsed and checked (slim base, two stages, non-root user, volumes, health check,
exec-form entrypoint), and the build is replayed in a temporary directory standing in for the
image's file system: the files the builder stage copies, its ``uv`` commands run as written
(with its ``ENV``), the plugins copied as the final stage copies them, then the ``ENTRYPOINT``
started from the resulting virtual environment with the final stage's ``ENV``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.production.conftest import PLUGINS
from tests.support.server import REPO, running_server

DOCKERFILE = REPO / "Dockerfile"


@dataclasses.dataclass
class Instruction:
    keyword: str
    value: str

    def exec_form(self) -> list[str] | None:
        """The JSON array form (``["a", "b"]``), or None for the shell form."""
        text = self.value.strip()
        if text.startswith("["):
            return json.loads(text)
        return None


@dataclasses.dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.value):
                name, _, value = pair.partition("=")
                values[name] = value
        return values


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ``ARG`` defaults and the stages, with line continuations joined, comments gone."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = value.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), parts[0])
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name, []))
        elif keyword == "ARG" and not stages:
            name, _, default = value.partition("=")
            args[name.strip()] = default.strip()
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, value.strip()))
    return args, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse(DOCKERFILE.read_text())


def test_the_image_is_small_multi_stage_and_non_root(dockerfile) -> None:
    _, stages = dockerfile
    assert len(stages) >= 2, "a builder stage and a final stage"
    builder, final = stages[0], stages[-1]
    for stage in stages:
        # A slim Python, pinned by digest: the same bytes on every build.
        assert re.fullmatch(r"python:3\.\d+-slim@sha256:[0-9a-f]{64}", stage.base), stage.base
    assert builder.name
    copies = [c.value for c in final.all("COPY")]
    assert any(c.startswith(f"--from={builder.name} /opt/venv") for c in copies), copies
    # Nothing is built in the final stage: no compiler, no package installer.
    for run in final.all("RUN"):
        assert not re.search(
            r"apt-get install|pip install|uv (sync|pip)|gcc|build-essential", run.value
        )
    users = final.all("USER")
    assert users, "runs as a non-root user"
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without the image's /etc/passwd.
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1].value), users[-1].value
    assert "useradd" in " ".join(r.value for r in final.all("RUN"))
    assert "--uid " + users[-1].value.split(":")[0] in " ".join(r.value for r in final.all("RUN"))


def test_oci_labels_describe_the_image_and_its_pinned_base(dockerfile) -> None:
    from toolserver import __version__

    _, stages = dockerfile
    final = stages[-1]
    labels: dict[str, str] = {}
    for instruction in final.all("LABEL"):
        for pair in shlex.split(instruction.value):
            name, _, value = pair.partition("=")
            labels[name] = value
    prefix = "org.opencontainers.image."
    for key in ("title", "description", "version", "licenses", "base.name", "base.digest"):
        assert labels.get(prefix + key), f"LABEL {prefix}{key}"
    assert labels[prefix + "version"] == __version__
    assert stages[-1].base.endswith("@" + labels[prefix + "base.digest"])
    assert stages[-1].base.startswith(labels[prefix + "base.name"].rsplit("/", 1)[-1] + "@")


def test_configuration_volumes_health_check_and_signals(dockerfile) -> None:
    _, stages = dockerfile
    final = stages[-1]
    env = final.env()
    assert env["TOOLSERVER_DATA_DIR"] == "/data"
    assert env["TOOLSERVER_PLUGINS_DIR"] == "/plugins"
    assert env["TOOLSERVER_HOST"] == "0.0.0.0"
    volumes = [v for i in final.all("VOLUME") for v in (i.exec_form() or i.value.split())]
    assert {"/data", "/plugins"} <= set(volumes)
    (healthcheck,) = final.all("HEALTHCHECK")
    assert "CMD" in healthcheck.value and "/healthz" in healthcheck.value
    (entrypoint,) = final.all("ENTRYPOINT")
    assert entrypoint.exec_form() == ["toolserver", "serve"], "exec form: PID 1 gets SIGTERM"
    assert not final.all("CMD") or final.all("CMD")[-1].exec_form() is not None


def _uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is not installed: run scripts/env.sh")
    return found


def _remap(value: str, root: Path) -> str:
    """An image path (/opt/venv, /data, /plugins, /src) as the same path under ``root``."""
    return re.sub(
        r"(?<![\w.])/(opt/venv|data|plugins|src)\b", lambda m: f"{root}/{m.group(1)}", value
    )


def _copy(source: str, destination: Path) -> None:
    path = REPO / source
    if path.is_dir():
        shutil.copytree(
            path, destination, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(
            path, destination if not str(destination).endswith("/") else destination / path.name
        )


def test_the_built_image_serves(dockerfile, tmp_path: Path) -> None:
    """Replay the build in ``tmp_path`` (the image's root) and run the entrypoint."""
    _, stages = dockerfile
    builder, final = stages[0], stages[-1]
    root = tmp_path
    build_env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    build_env.update({k: _remap(v, root) for k, v in builder.env().items()})
    build_env["UV_PYTHON"] = sys.executable  # the interpreter the image's base stands for
    workdir = root
    for instruction in builder.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = Path(_remap(instruction.value, root))
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            *sources, destination = instruction.value.split()
            target = (
                Path(_remap(destination, root))
                if destination.startswith("/")
                else workdir / destination
            )
            for source in sources:
                _copy(
                    source,
                    target / Path(source).name
                    if len(sources) > 1 or destination.endswith("/")
                    else target,
                )
        elif instruction.keyword == "RUN" and instruction.value.startswith("uv "):
            command = shlex.split(instruction.value)
            done = subprocess.run(
                [_uv(), *command[1:]],
                cwd=workdir,
                env=build_env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{instruction.value}:\n{done.stderr}"
        # Other RUN lines only install uv itself in the builder image.
    venv = Path(_remap("/opt/venv", root))
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", "import toolserver; print(toolserver.__file__)"],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert installed.stdout.strip().startswith(str(venv)), "installed into the venv, not editable"

    for instruction in final.all("COPY"):
        if instruction.value.startswith("--from="):
            continue  # the venv: already where the builder put it
        source, destination = instruction.value.split()
        _copy(source, Path(_remap(destination, root)))
    plugins = Path(_remap("/plugins", root))
    assert any(plugins.iterdir()), "the shipped plugins are in /plugins"
    shipped = {
        p.stem
        for p in plugins.iterdir()
        if not p.name.startswith(("_", ".")) and (p.suffix == ".py" or (p / "__init__.py").exists())
    }
    shutil.copy(PLUGINS / "prod.py", plugins / "prod.py")  # a user's plugin beside them

    env = {k: _remap(v, root) for k, v in final.env().items()}
    env["PATH"] = env["PATH"].replace("$PATH", os.environ.get("PATH", ""))
    env.pop("TOOLSERVER_PORT")  # published on a free port instead, as `docker run -e` would
    (entrypoint,) = final.all("ENTRYPOINT")
    command = entrypoint.exec_form()
    assert command is not None
    executable = shutil.which(command[0], path=env["PATH"])
    assert executable and executable.startswith(str(venv)), executable
    data = Path(_remap("/data", root))
    data.mkdir(exist_ok=True)
    with running_server(
        env, data_dir=data, command=(executable, *command[1:]), startup_timeout=60
    ) as server:
        assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
        (healthcheck,) = final.all("HEALTHCHECK")
        probe = Instruction("CMD", healthcheck.value.split(" CMD ", 1)[1]).exec_form()
        assert probe is not None
        checked = subprocess.run(
            probe, env={**env, "TOOLSERVER_PORT": str(server.port)}, timeout=30
        )
        assert checked.returncode == 0
        listed = httpx.get(f"{server.base_url}/tools", headers=server.headers).json()["tools"]
        plugins_served = {tool["plugin"] for tool in listed}
        assert "prod" in plugins_served and shipped <= plugins_served, (shipped, plugins_served)
        response = httpx.post(f"{server.base_url}/tools/ping", json={}, headers=server.headers)
        assert response.status_code == 200 and response.json() == "pong"
        assert server.stop() == 0


# --- The image itself, where a container engine runs ---------------------------------------


def _container_engine() -> tuple[str | None, str]:
    """A container CLI whose engine answers (docker, podman), or None and why there is none."""
    reasons = []
    for cli in ("docker", "podman"):
        path = shutil.which(cli)
        if path is None:
            reasons.append(f"no {cli} command")
            continue
        info = subprocess.run([path, "info"], capture_output=True, text=True, timeout=60)
        if info.returncode == 0:
            return path, ""
        last = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        reasons.append(f"`{cli} info` failed: {last}")
    return None, "; ".join(reasons)


@pytest.mark.timeout(1200)
def test_the_image_builds_and_serves_in_a_container_engine(tmp_path: Path) -> None:
    """Build the image and run it as the README does: numeric user, labels, health, a tool
    call, a graceful stop. Skipped -- and reported as skipped, with the reason -- where no
    container engine runs."""
    engine, reason = _container_engine()
    if engine is None:
        pytest.skip(f"no container engine to build the image with: {reason}")
    from toolserver import __version__

    tag = f"toolserver-test:{os.getpid()}"
    key = "container-key-5521"
    built = subprocess.run(
        [engine, "build", "-t", tag, str(REPO)], capture_output=True, text=True, timeout=1100
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    name = f"toolserver-test-{os.getpid()}"
    try:
        inspected = json.loads(
            subprocess.run([engine, "image", "inspect", tag], capture_output=True, text=True,
                           check=True).stdout
        )[0]["Config"]  # fmt: skip
        assert inspected["User"] == "10001:10001"
        assert inspected["Labels"]["org.opencontainers.image.version"] == __version__
        subprocess.run(
            [engine, "run", "-d", "--name", name, "-p", "127.0.0.1::8000",
             "-e", f"TOOLSERVER_API_KEYS={key}", tag],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        port = subprocess.run(
            [engine, "port", name, "8000"], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        called = httpx.post(
            f"{base}/tools/get_order_status", json={"order_number": "10517"},
            headers={"X-Api-Key": key}, timeout=10,
        )  # fmt: skip
        assert called.json()["status"] == "shipped"
        subprocess.run([engine, "stop", "--time", "40", name], check=True, capture_output=True)
        state = subprocess.run(
            [engine, "inspect", "--format", "{{.State.ExitCode}}", name],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert state == "0", "a graceful stop exits 0"
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True)
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True)
