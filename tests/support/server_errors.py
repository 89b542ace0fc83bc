"""Every 5xx the local API or a function answers while a test runs, so that only tests that mean it see one.

`install()` wraps the ASGI entry of every function app (Starlette, so FastAPI too: whether it is reached through
uvicorn, Mangum, the Lambda bridge or a TestClient) and of the local API itself (`local.server.LocalApi`, which
answers 502 when a function's handler raises). Servers the tests run in their own process write uvicorn's access
log; `watch_log()` adds such a log, whose new 5xx lines count too.

tests/conftest.py clears the record before each test and fails a test that saw a 5xx unless it is marked
`@pytest.mark.upstream_failure` (a model provider, a store or the configuration fails on purpose), and a marked
test that saw none, so the marks stay true.
"""

from __future__ import annotations

import re
from pathlib import Path

ACCESS_LINE = re.compile(rb'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>5\d\d)\b')

seen: list[str] = []
_logs: dict[Path, int] = {}  # watched access logs -> the size already read


def record(where: str, scope: dict, status: int) -> None:
    if status >= 500:
        seen.append(f"{status} {scope.get('method', '?')} {scope.get('path', '?')} ({where})")


def recording(call, where: str):
    """`call` (an ASGI __call__) with every response status it sends recorded."""

    async def recorded(self, scope, receive, send):
        if scope.get("type") != "http":
            return await call(self, scope, receive, send)

        async def send_recorded(message):
            if message.get("type") == "http.response.start":
                record(where, scope, message.get("status", 200))
            await send(message)

        return await call(self, scope, receive, send_recorded)

    recorded.__wrapped__ = call
    return recorded


def install() -> None:
    from starlette.applications import Starlette

    from local.server import LocalApi

    for cls, where in ((Starlette, "function app"), (LocalApi, "local API")):
        if not hasattr(cls.__call__, "__wrapped__"):
            cls.__call__ = recording(cls.__call__, where)


def watch_log(path: Path) -> None:
    """An access log of a server in another process (uvicorn, with --access-log): its new 5xx lines count."""
    _logs[Path(path)] = Path(path).stat().st_size if Path(path).exists() else 0


def forget_log(path: Path) -> None:
    _logs.pop(Path(path), None)


def start() -> None:
    """Before a test: forget what earlier tests saw."""
    seen.clear()
    for path in _logs:
        _logs[path] = path.stat().st_size if path.exists() else 0


def collect() -> list[str]:
    """After a test: the 5xx answers it caused, each once, in order."""
    for path, offset in _logs.items():
        if not path.exists():
            continue
        with path.open("rb") as log:
            log.seek(offset)
            new = log.read()
        _logs[path] = offset + len(new)
        for match in ACCESS_LINE.finditer(new):
            seen.append(f"{match['status'].decode()} {match['method'].decode()} {match['path'].decode()} (process)")
    return list(dict.fromkeys(seen))


def verdict(found: list[str], marked: bool) -> str | None:
    """Why the test fails, or None."""
    if found and not marked:
        return (
            f"the server answered {len(found)} unexpected 5xx: {found[:5]}. A 5xx is a server fault unless a model "
            "provider, a store or the configuration fails on purpose: then mark the test @pytest.mark.upstream_failure"
        )
    if marked and not found:
        return "the test is marked upstream_failure but no request answered 5xx: remove the mark"
    return None
