"""The lock files match their inputs, and every package the code imports is declared where it is imported.

The lock test runs `make lock` again in a copy of the inputs and locks (uv asks PyPI); the import tests read the code
with ast and map each import to its distribution with importlib.metadata, as installed in .venv.
"""

from __future__ import annotations

import ast
import difflib
import os
import shutil
import subprocess
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "core"
FUNCTIONS = sorted(path.parent.name for path in (REPO / "functions").glob("*/requirements.txt"))
LOCKS = [
    Path("layers/core/requirements.lock"),
    *(Path("functions", name, "requirements.lock") for name in FUNCTIONS),
    Path("requirements-dev.lock"),
]
INPUTS = [
    *(path.relative_to(REPO) for path in sorted(LAYER.glob("requirements*.txt"))),
    *(Path("functions", name, "requirements.txt") for name in FUNCTIONS),
    Path("requirements-dev.txt"),
]
# Layer modules whose third-party imports come with the functions that use them, so the layer stays light for the
# functions that need none of it (numpy, the local models, Pillow). Key: a module or package of the layer.
BROUGHT_BY_FUNCTIONS = {
    "airelay.faq": ("faq", "faq_indexer"),
    "airelay.faq.source": ("faq_indexer",),
    "airelay.images": ("classify",),
    "airelay.providers.local_efficientnet": ("classify",),
    "airelay.providers.local_sentiment": ("sentiment",),
    "airelay.openai_api.embeddings": ("openai",),
    "airelay.openai_api.structured": ("openai",),
    "airelay.providers.local_use": ("faq", "faq_indexer", "openai", "sentiment"),
    "airelay.providers.openai_embed": ("faq", "faq_indexer", "openai"),
}
FIRST_PARTY = {"airelay", "local", "bench", "tests"}


# ---------------------------------------------------------------- reading requirements and imports


@cache
def declared(path: Path) -> frozenset[str]:
    """The distributions a requirements file names, with the files it includes (-r)."""
    names = set()
    for line in path.read_text("utf-8").splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("-r "):
            names |= declared((path.parent / line[3:].strip()).resolve())
        elif line and not line.startswith("#"):
            names.add(canonicalize_name(Requirement(line).name))
    return frozenset(names)


def layer_declared() -> frozenset[str]:
    """The layer's packages, and what Lambda's runtime provides beside them (boto3)."""
    return declared(LAYER / "requirements.txt") | declared(LAYER / "requirements-runtime.txt")


def function_declared(name: str) -> frozenset[str]:
    return declared(REPO / "functions" / name / "requirements.txt")


def _optional(handlers: list[ast.ExceptHandler]) -> bool:
    caught = {getattr(h.type, "id", None) for h in handlers} | {
        getattr(e, "id", None) for h in handlers if isinstance(h.type, ast.Tuple) for e in h.type.elts
    }
    return bool(caught & {"ImportError", "ModuleNotFoundError"})


def imports(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(level, module) of each import in a file; level > 0 for relative ones. Imports guarded by
    `except ImportError` are optional and left out; with top_level_only, so are those inside functions."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.extend((node.level, f"{node.module or ''}.{alias.name}".strip(".")) for alias in node.names)
        elif isinstance(node, ast.Try) and _optional(node.handlers):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child)
        elif not (top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)):
            for child in ast.iter_child_nodes(node):
                visit(child)

    visit(ast.parse(path.read_text("utf-8")))
    return found


@cache
def providers() -> dict[str, list[str]]:
    return packages_distributions()


def third_party(path: Path, *, top_level_only: bool = False) -> dict[str, set[str]]:
    """Top-level module imported -> the distributions that provide it (empty when none in .venv does)."""
    modules = {name.split(".")[0] for level, name in imports(path, top_level_only=top_level_only) if level == 0}
    modules -= set(sys.stdlib_module_names) | FIRST_PARTY
    return {module: {canonicalize_name(d) for d in providers().get(module, [])} for module in modules}


def undeclared(path: Path, allowed: frozenset[str], *, top_level_only: bool = False) -> list[str]:
    return [
        f"{path.relative_to(REPO)}: `import {module}` ({', '.join(sorted(dists)) or 'not installed'})"
        for module, dists in sorted(third_party(path, top_level_only=top_level_only).items())
        if not dists & allowed
    ]


def module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path | None:
    base = LAYER.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def absolute(level: int, name: str, path: Path) -> str:
    """The absolute name of an import made in `path` (`from ..errors import X` in airelay/providers/registry.py:
    airelay.errors.X)."""
    if not level:
        return name
    package = module_name(path).split(".")[: None if path.name == "__init__.py" else -1]
    return ".".join([*package[: len(package) - level + 1], name]).strip(".")


def init_closure(entry: Path) -> set[Path]:
    """The layer's modules that importing `entry` imports (module-level imports, followed through the layer)."""
    seen: set[Path] = set()
    pending = [entry]
    while pending:
        path = pending.pop()
        for level, name in imports(path, top_level_only=True):
            parts = absolute(level, name, path).split(".")
            if parts[0] != "airelay":
                continue
            for end in range(1, len(parts) + 1):  # a package's __init__ runs before its modules
                found = module_path(".".join(parts[:end]))
                if found and found not in seen:
                    seen.add(found)
                    pending.append(found)
    return seen


def sources(folder: Path) -> list[Path]:
    """The Python files of a folder of the repository, without the venvs, caches and npm packages inside it."""
    return sorted(
        p
        for p in folder.rglob("*.py")
        if not any(part.startswith(".") or part == "node_modules" for part in p.relative_to(REPO).parts)
    )


def brought_by(path: Path) -> tuple[str, ...]:
    name = module_name(path)
    keys = [key for key in BROUGHT_BY_FUNCTIONS if name == key or name.startswith(key + ".")]
    return BROUGHT_BY_FUNCTIONS[max(keys, key=len)] if keys else ()


# ---------------------------------------------------------------- the locks


def test_every_lock_matches_its_inputs(tmp_path):
    # GIVEN a copy of every requirements input and lock (uv keeps a lock's pins while they satisfy its inputs)
    for path in INPUTS + LOCKS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / path, tmp_path / path)
    # WHEN `make lock` (mk/lock.mk) resolves them again in that copy
    tools = [f"UV={Path(sys.executable).parent / 'uv'}", f"PY={sys.executable}"]
    make = ["make", "--no-print-directory", "-C", tmp_path, "-f", REPO / "mk" / "lock.mk", "lock", *tools]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    result = subprocess.run(make, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"`make lock` fails on the inputs as they are: {result.stderr}"
    # THEN every lock comes out as committed
    stale = {
        lock: "".join(difflib.unified_diff((REPO / lock).read_text().splitlines(True), fresh, n=0))[:2000]
        for lock in LOCKS
        if (fresh := (tmp_path / lock).read_text().splitlines(True)) != (REPO / lock).read_text().splitlines(True)
    }
    assert not stale, "locks that no longer match their inputs (run `make lock`):\n" + "\n".join(
        f"{lock}:\n{diff}" for lock, diff in stale.items()
    )


# ---------------------------------------------------------------- what the code imports


def test_the_layer_declares_what_it_imports():
    # GIVEN every module of the package airelay
    problems = []
    for path in sources(LAYER / "airelay"):
        # WHEN its third-party imports are mapped to distributions
        functions = brought_by(path)
        allowed = layer_declared() | (
            frozenset.intersection(*map(function_declared, functions)) if functions else set()
        )
        problems += undeclared(path, allowed)
    # THEN each is in the layer's requirements, or in those of every function that brings it
    assert not problems, "\n".join(problems)


def test_each_function_declares_what_its_code_imports():
    problems = []
    for name in FUNCTIONS:
        # GIVEN a function's own code, beside the layer on its path
        for path in sources(REPO / "functions" / name):
            # THEN what it imports is in its requirements or in the layer's
            problems += undeclared(path, layer_declared() | function_declared(name))
    assert not problems, "\n".join(problems)


def test_each_function_carries_what_its_init_imports():
    problems = []
    for name in FUNCTIONS:
        # GIVEN what a function's entry module imports at INIT, through the layer's modules
        entry = REPO / "functions" / name / "app.py"
        for path in sorted(init_closure(entry)):
            # THEN every third-party module of it is in the function's package or the layer's
            found = undeclared(path, layer_declared() | function_declared(name), top_level_only=True)
            problems += [f"{name} at INIT: {problem}" for problem in found]
    assert not problems, "\n".join(problems)


def test_the_brought_by_table_names_real_modules_and_functions():
    # GIVEN each entry of the table THEN it names a module of the layer and functions that exist
    for module, functions in BROUGHT_BY_FUNCTIONS.items():
        assert module_path(module), module
        assert set(functions) <= set(FUNCTIONS), functions


def test_the_dev_venv_declares_what_the_local_stack_tests_and_benchmarks_import():
    # GIVEN the code that runs in .venv only (the local API, the tests, the benchmarks)
    allowed = declared(REPO / "requirements-dev.txt")
    problems = [
        problem
        for folder in ("local", "tests", "bench")
        for path in sources(REPO / folder)
        for problem in undeclared(path, allowed)
    ]
    # THEN requirements-dev.txt (with the files it includes) declares all it imports
    assert not problems, "\n".join(problems)
