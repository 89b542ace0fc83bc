"""web/client, the TypeScript client package: its vitest suite, a strict type check, and the package's shape.
`make test` installs its npm packages and builds it (mk/web.mk: web/client/node_modules/.installed, dist)."""

from __future__ import annotations

import json
import subprocess

import pytest

from .stack import ROOT

CLIENT = ROOT / "web" / "client"
BIN = CLIENT / "node_modules" / ".bin"


@pytest.fixture(scope="module", autouse=True)
def installed():
    if not (BIN / "vitest").exists():
        raise RuntimeError("web/client's npm packages are missing: run `make web-client` (make test does)")


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=CLIENT, capture_output=True, text=True, timeout=300)


def test_the_vitest_suite_passes():
    result = run(str(BIN / "vitest"), "run", "--reporter=dot")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_sources_and_tests_type_check_strictly():
    result = run(str(BIN / "tsc"), "-p", "tsconfig.test.json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_package_is_esm_with_types_first_and_one_runtime_dependency_the_sse_parser():
    package = json.loads((CLIENT / "package.json").read_text())
    assert package["type"] == "module" and package["sideEffects"] is False
    assert list(package["exports"]["."]) == ["types", "import"]
    assert package["dependencies"] == {"eventsource-parser": "3.1.1"}  # the AI SDK 5 line's; v4 needs Node 22
    assert (CLIENT / package["exports"]["."]["types"]).is_file(), "build it: make web-client"
    entry = CLIENT / package["exports"]["."]["import"]
    script = f"const m = await import({json.dumps(entry.as_uri())}); console.log(Object.keys(m).sort().join(','))"
    result = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.strip().split(",")) >= {
        "chat",
        "streamChat",
        "sentiment",
        "classifyImage",
        "faq",
        "usage",
        "createClient",
        "AirelayError",
    }
