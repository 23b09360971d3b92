"""The architecture's rules (ARCHITECTURE.md): layering contracts, no import cycles, public APIs.

The contracts are import-linter's (``[tool.importlinter]`` in pyproject.toml); cycles are found
on grimp's import graph, the one import-linter builds. Each check is also run on a small package
made to break it, so that a check that could never fail would be noticed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import grimp

import toolserver
import toolserver.app

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def import_cycles(package: str) -> list[set[str]]:
    """Every group of modules of ``package`` that import each other, directly or around a loop
    (the strongly connected components of the import graph with more than one module)."""
    graph = grimp.build_graph(package, include_external_packages=False)
    modules = sorted(graph.modules)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[set[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(cwd)},
    )


def test_the_layering_contracts_hold() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    assert done.stdout.count(" KEPT") == 4


def test_a_broken_contract_fails_the_check(tmp_path: Path) -> None:
    package = tmp_path / "shelf"
    (package / "core").mkdir(parents=True)
    (package / "surfaces").mkdir()
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("from shelf.surfaces import thing\n")
    (package / "surfaces" / "__init__.py").write_text("thing = 1\n")
    (tmp_path / ".importlinter").write_text(
        textwrap.dedent(
            """
            [importlinter]
            root_package = shelf

            [importlinter:contract:layers]
            name = layers
            type = layers
            layers =
                shelf.surfaces
                shelf.core
            """
        )
    )
    done = lint_imports(tmp_path)
    assert done.returncode == 1
    assert "shelf.core -> shelf.surfaces" in done.stdout


def test_toolserver_has_no_import_cycles() -> None:
    assert import_cycles("toolserver") == []


def test_a_cycle_is_found(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("import loop.c\n")
    (package / "c.py").write_text("from loop.a import x\nx = 1\n")
    (package / "d.py").write_text("import loop.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("loop") == [{"loop.a", "loop.b", "loop.c"}]


def test_the_plugin_authors_api_is_what_the_package_exports() -> None:
    assert sorted(toolserver.__all__) == [
        "CallContext",
        "CallDeadLineWebHookPayload",
        "CircuitPolicy",
        "ColdTransfer",
        "CompletedWebHookPayload",
        "FailedWebHookPayload",
        "NoTransfer",
        "Plugin",
        "PluginSettings",
        "Reject",
        "ResultWebHookPayload",
        "Sensitive",
        "StartWebHookPayload",
        "ToolContext",
        "ToolError",
        "TranscriptEntry",
        "TransferWebHookPayload",
        "WarmTransfer",
        "__version__",
        "mcp_header",
    ]
    for name in toolserver.__all__:
        assert hasattr(toolserver, name)


def test_the_embedding_api_is_one_module() -> None:
    assert {"create_app", "build_app", "Settings", "load_settings", "ToolServer"} <= set(
        toolserver.app.__all__
    )
    for name in toolserver.app.__all__:
        assert hasattr(toolserver.app, name)
