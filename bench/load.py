"""Closed-loop load: `concurrency` workers, one keep-alive connection each, every run bounded in count and time."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .client import Connection, Reply


@dataclass(frozen=True)
class Target:
    """Where one kind of request goes, and how to tell a good answer and its first text token."""

    name: str
    port: int
    request: bytes
    ok: Callable[[Reply], bool]
    first_text: Callable[[dict], bool] | None = None  # set for streams


@dataclass
class Run:
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0
    total_ms: list[float] = field(default_factory=list)
    first_text_ms: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0


async def _worker(conn: Connection, target: Target, left: list[int], deadline: float, run: Run) -> None:
    while left[0] > 0 and time.monotonic() < deadline:
        left[0] -= 1
        try:
            reply = await conn.send(target.request, target.first_text)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            run.errors += 1
            conn.close()  # reopened by the next send
            continue
        if not target.ok(reply) or (target.first_text is not None and reply.first_text_ns is None):
            run.errors += 1
            continue
        run.requests += 1
        run.total_ms.append(reply.total_ns / 1e6)
        if reply.first_text_ns is not None:
            run.first_text_ms.append(reply.first_text_ns / 1e6)


async def phase(conns: list[Connection], target: Target, count: int, seconds: float) -> Run:
    """At most `count` requests, started within `seconds`; requests in flight at the deadline finish."""
    run = Run()
    left = [count]
    cpu = sum(os.times()[:2])
    started = time.perf_counter()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_worker(c, target, left, deadline, run) for c in conns))
    run.elapsed_s = time.perf_counter() - started
    run.client_cpu_s = sum(os.times()[:2]) - cpu
    return run


async def measure(
    target: Target,
    concurrency: int,
    warmup: tuple[int, float],
    bounds: tuple[int, float],
    on_measure_start: Callable[[], None],
    on_measure_end: Callable[[], None],
) -> Run:
    """Warm up, then measure on the same connections; the callbacks bracket only the measured part."""
    conns = [Connection("127.0.0.1", target.port) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(c.open() for c in conns))
        await phase(conns, target, *warmup)
        on_measure_start()
        run = await phase(conns, target, *bounds)
        on_measure_end()
        return run
    finally:
        for c in conns:
            c.close()
