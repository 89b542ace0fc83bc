"""The e2e stack: the local API (`local.server`, as `make dev` serves it) in its own process, Node scripts run
against it, and where their screenshots go."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import server_errors
from tests.support.servers import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
E2E = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "test-output" / "screenshots"
SNIPPETS = ROOT / "test-output" / "snippets"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
DEMO_CLIENT = ROOT / "web" / "demo" / "build" / "airelay-client.js"  # web/client bundled for the demo page

# Settings a developer's shell or .env may carry that must not leak into a test stack.
CLEARED = (
    "CHAT_MODEL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY_PARAM",
    "LOCAL_MODEL_BASE_URL",
    "ALLOWED_ORIGINS",
    "ALLOWED_CHAT_MODELS",
    "SENTIMENT_MODEL",
    "IMAGE_MODEL",
    "HF_TOKEN",
)


def require_tools() -> None:
    """The browser tests need Node, the npm packages, the demo page's client bundle and Debian's chromium: `make test`
    makes them all."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node")
    if not (ROOT / "node_modules" / "playwright-core").is_dir() or not (ROOT / "node_modules" / "ai").is_dir():
        missing.append("npm packages (run `make node_modules/.installed`)")
    if not DEMO_CLIENT.is_file():
        missing.append(f"{DEMO_CLIENT.relative_to(ROOT)} (run `make demo-client`)")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (run `make chromium`)")
    if missing:
        raise RuntimeError("the e2e tests need: " + ", ".join(missing) + " — `make test` installs them")


class ApiProcess:
    """`uvicorn local.server:create` on a free 127.0.0.1 port with the given environment and a fresh ledger."""

    def __init__(self, tmp: Path, **environment: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in CLEARED}
        env.update({"USAGE_DB_PATH": str(tmp / f"usage-{self.port}.sqlite3"), "PYTHONUNBUFFERED": "1"})
        env.update({k: str(v) for k, v in environment.items()})
        self.log = tmp / f"api-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "local.server:create",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "info",  # with the access log: its 5xx lines fail the test (tests/support/server_errors.py)
            "--no-proxy-headers",
        ]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.wait_ready()
        server_errors.watch_log(self.log)

    def wait_ready(self) -> None:
        """Until the demo page answers: the Web Adapter apps are imported before uvicorn listens (local/server.py)."""
        try:
            wait_until_answering(self.url + "/", self.process, self.log, "the local API")
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        server_errors.forget_log(self.log)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_node(args: list[str], *, env: dict[str, str] | None = None, timeout_s: float = 120.0) -> dict:
    """Runs `node ARGS` from the repository root; fails the test with its output unless it exits 0.
    Returns the JSON object the script printed on its last line ({} when it printed none)."""
    full_env = {**os.environ, "SCREENSHOT_DIR": str(SCREENSHOTS), "CHROMIUM_PATH": str(CHROMIUM), **(env or {})}
    result = subprocess.run(["node", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise AssertionError(
            f"node {' '.join(args)} exited {result.returncode}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr}"
        )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if lines and lines[-1].startswith("{"):
        return json.loads(lines[-1])
    return {"stdout": result.stdout}
