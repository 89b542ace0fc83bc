"""`make dev`: the local model (unless a hosted one is configured), then the local API on 127.0.0.1:8000."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess

import uvicorn

from . import model_server
from .template import ROOT


def load_dotenv_file() -> None:
    from dotenv import load_dotenv

    load_dotenv(ROOT / ".env", override=False)


def choose_chat_backend() -> bool:
    """Returns True when the local model server is needed; sets CHAT_MODEL when a hosted model is configured."""
    hosted = os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    if hosted and not os.environ.get("CHAT_MODEL"):
        os.environ["CHAT_MODEL"] = "openai/gpt-4o-mini"
    return os.environ.get("CHAT_MODEL", "local/").startswith("local/")


def stop_on_sigterm(_signum, _frame) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.dev")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--model-port", type=int, default=int(os.environ.get("LOCAL_MODEL_PORT", "8081")))
    args = parser.parse_args(argv)
    load_dotenv_file()
    # The terminal shows the log lines; the functions' EMF metric documents only when .env asks for them.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # uvicorn re-raises it after its shutdown: clean up then
    model = None
    if choose_chat_backend():
        if not model_server.INSTALLED.exists():
            subprocess.run(["make", "--no-print-directory", "model-server"], cwd=ROOT, check=True)
        print(
            f"starting the local chat model ({model_server.MODEL_ALIAS}) on 127.0.0.1:{args.model_port} ...", flush=True
        )
        (ROOT / ".airelay").mkdir(exist_ok=True)
        model = model_server.start(args.model_port, ROOT / ".airelay" / "model-server.log")
        os.environ["LOCAL_MODEL_BASE_URL"] = f"http://127.0.0.1:{args.model_port}/v1"
    base = f"http://127.0.0.1:{args.port}"
    print(
        f"""
airelay is running
  demo page      {base}/
  chat           POST {base}/api/chat
  chat (stream)  POST {base}/api/chat/stream
  chat model     {os.environ.get("CHAT_MODEL", "local/" + model_server.MODEL_ALIAS)}
  sentiment      POST {base}/api/sentiment        ({os.environ.get("SENTIMENT_MODEL", "local/use-multilingual-anchors")})
  image          POST {base}/api/image/classify/upload, /api/image/classify   ({os.environ.get("IMAGE_MODEL", "local/efficientnet-lite0")})
  FAQ            POST {base}/api/faq
  usage          GET  {base}/api/usage?days=7&by=model
press Ctrl+C to stop
""",
        flush=True,
    )
    try:
        uvicorn.run(
            "local.server:create",
            factory=True,
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the caller is the socket's peer, never what X-Forwarded-For claims
        )
    finally:
        if model is not None:
            model_server.stop(model)


if __name__ == "__main__":
    main()
