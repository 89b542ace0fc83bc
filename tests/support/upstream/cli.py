"""Fault-injecting, OpenAI-compatible fake upstream for tests and benchmarks.

The command line: ``python -m tests.support.upstream --port 9999 [--delay 0.05] [--chunks 20]``
serves in the foreground until SIGINT/SIGTERM (see the package docstring).
"""

from __future__ import annotations

import argparse
import asyncio
import json

from .server import DEFAULT_CHUNKS, FakeUpstream


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.support.upstream", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--delay", type=float, default=0.0, help="seconds before headers / first chunk")
    p.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS)
    p.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    p.add_argument("--behaviour", default="ok", help='when nothing is scripted, e.g. \'{"type": "Spend"}\'')
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto")
    a = p.parse_args(argv)
    up = FakeUpstream(
        host=a.host,
        port=a.port,
        delay_s=a.delay,
        chunks=a.chunks,
        chunk_delay_s=a.chunk_delay,
        loop=a.loop,
        behaviour=json.loads(a.behaviour) if a.behaviour.startswith("{") else a.behaviour,
    )
    loop = up._new_loop()
    asyncio.set_event_loop(loop)

    async def run() -> None:
        task = asyncio.ensure_future(up.serve())
        while not up._started.is_set() and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        print(f"fake upstream listening on {up.base_url} (loop={type(loop).__module__})", flush=True)
        try:
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, up._request_stop)
        except (NotImplementedError, RuntimeError):
            pass
        await task

    try:
        loop.run_until_complete(run())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0
