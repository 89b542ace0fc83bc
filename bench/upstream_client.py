"""The upstream call alone: CPU per chat completion as airelay makes it (providers/upstream_http.py, on aiohttp),
through the OpenAI SDK (`client.post`, the answer read raw) on the SDK's two transports, and made without either on
the two HTTP clients under them. The SDK's share is what airelay's own client saves; what that costs is in
docs/openai.md ("Speed").

    .venv/bin/python -m bench.upstream_client [--quick] [--calls 1000] [--rounds 5]

One process calls the fake upstream (tests/support/upstream, its own process, instant, 20 chunks a stream) on
loopback; each way runs --calls buffered and --calls streamed calls per round after a warm-up, the ways alternating
within a round. CPU is the calling process's (time.process_time), median over rounds; the ratio is against the
SDK on aiohttp, the library's way (what airelay used before upstream_http.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from .local_model_run import write
from .servers import start_upstream

WAYS = ("airelay", "sdk_httpx2", "sdk_aiohttp", "httpx2", "aiohttp")
BASELINE = "sdk_aiohttp"
BODY = {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 64}
HEADERS = {"authorization": "Bearer sk-bench", "content-type": "application/json"}


def callers(base_url: str):
    import aiohttp
    import httpx2
    import openai

    from airelay.providers.upstream_http import UpstreamClient

    sdk = {
        "sdk_httpx2": openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0),
        "sdk_aiohttp": openai.AsyncOpenAI(
            base_url=base_url, api_key="sk-bench", max_retries=0, http_client=openai.DefaultAioHttpClient()
        ),
    }
    ours = UpstreamClient(base_url, "sk-bench", timeout_s=30, connect_timeout_s=5, stream_read_s=30, max_retries=0)
    plain = httpx2.AsyncClient()
    session = aiohttp.ClientSession()
    url = f"{base_url}/chat/completions"

    async def through_sdk(client, stream: bool) -> None:
        body = {**BODY, "stream": True} if stream else BODY
        response = await client.post("/chat/completions", body=body, cast_to=httpx2.Response, stream=stream)
        async for _ in response.aiter_bytes():
            pass
        await response.aclose()

    async def through_airelay(stream: bool) -> None:
        response = await ours.post("/chat/completions", {**BODY, "stream": True} if stream else BODY, stream=stream)
        async for _ in response.content.iter_any():
            pass
        response.release()

    async def through_httpx2(stream: bool) -> None:
        body = json.dumps({**BODY, "stream": True} if stream else BODY).encode()
        async with plain.stream("POST", url, content=body, headers=HEADERS) as response:
            async for _ in response.aiter_bytes():
                pass

    async def through_aiohttp(stream: bool) -> None:
        body = json.dumps({**BODY, "stream": True} if stream else BODY).encode()
        async with session.post(url, data=body, headers=HEADERS) as response:
            async for _ in response.content.iter_any():
                pass

    async def close() -> None:
        await plain.aclose()
        await session.close()
        await ours.close()
        for client in sdk.values():
            await client.close()

    ways = {name: (lambda stream, c=client: through_sdk(c, stream)) for name, client in sdk.items()}
    ways |= {"airelay": through_airelay, "httpx2": through_httpx2, "aiohttp": through_aiohttp}
    return ways, close


async def cpu_ms(call, stream: bool, calls: int) -> float:
    for _ in range(max(20, calls // 10)):
        await call(stream)
    started = time.process_time()
    for _ in range(calls):
        await call(stream)
    return (time.process_time() - started) / calls * 1000


async def measure(base_url: str, calls: int, rounds: int) -> dict:
    ways, close = callers(base_url)
    samples = {kind: {name: [] for name in WAYS} for kind in ("buffered", "stream")}
    try:
        for round_number in range(rounds):
            for kind in samples:
                for name in WAYS[round_number % len(WAYS) :] + WAYS[: round_number % len(WAYS)]:
                    samples[kind][name].append(await cpu_ms(ways[name], kind == "stream", calls))
    finally:
        await close()
    return {
        kind: {
            name: {"cpu_ms_per_call": statistics.median(values), "rounds": values} for name, values in by_way.items()
        }
        for kind, by_way in samples.items()
    }


def table(measured: dict) -> str:
    lines = [
        f"{'way':12s}  {'buffered CPU ms/call':>20s}  {'x ' + BASELINE:>14s}  {'stream CPU ms/call':>20s}  "
        f"{'x ' + BASELINE:>14s}"
    ]
    for name in WAYS:
        cells = []
        for kind in ("buffered", "stream"):
            value = measured[kind][name]["cpu_ms_per_call"]
            cells.append(f"{value:20.3f}  {value / measured[kind][BASELINE]['cpu_ms_per_call']:13.2f}x")
        lines.append(f"{name:12s}  {'  '.join(cells)}")
    return "\n".join(lines)


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.upstream_client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per way, kind and round (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, the ways' order rotating (default 5)")
    parser.add_argument("--quick", action="store_true", help="200 calls, 2 rounds: a smoke run")
    args = parser.parse_args(argv)
    calls, rounds = (200, 2) if args.quick else (args.calls, args.rounds)
    upstream = start_upstream(0.0, 20)
    try:
        measured = asyncio.run(measure(f"{upstream.url}/v1", calls, rounds))
    finally:
        upstream.stop()
    document = {"calls": calls, "rounds": rounds, "baseline": BASELINE, "ways": measured}
    print(f"upstream call, CPU of the calling process, median of {rounds} rounds of {calls} calls\n{table(measured)}")
    for path in write("upstream_client", document):
        print(f"wrote {path}")
    return document


if __name__ == "__main__":
    run(sys.argv[1:])
    sys.exit(0)
