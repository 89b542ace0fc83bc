"""Run in a fresh process in a function's folder by test_calls_per_request.py:

    python child.py EVENT_FILE runtime|web-adapter [WARM_REQUESTS]

INIT (the modules app.py imports, then app.py), the SnapStart hooks (bench/coldstart_child.snapshot_and_restore), then
WARM_REQUESTS (default 2) answers to the event. Every AWS API call (any botocore client: `_make_api_call`, whatever
session made it) and every outbound socket operation (connect, connect_ex, sendto, getaddrinfo) is recorded with the
phase it happened in. Prints one line {"calls": {...}}.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
import threading
import time
from pathlib import Path

import botocore.client

from bench.coldstart_child import Context, imported_by, snapshot_and_restore  # the repository is last on PYTHONPATH

phase = "import"
records: list[dict] = []
_lock = threading.Lock()


def record(kind: str, **details) -> None:
    with _lock:
        records.append({"phase": phase, "kind": kind, "thread": threading.current_thread().name, **details})


def address(value) -> str:
    if isinstance(value, tuple) and len(value) >= 2:
        return f"{value[0]}:{value[1]}"
    return str(value)


_make_api_call = botocore.client.BaseClient._make_api_call


def _recorded_api_call(self, operation_name, api_params):
    params = api_params or {}
    record(
        "aws",
        service=self.meta.service_model.service_name,
        operation=operation_name,
        target=str(params.get("TableName") or params.get("Bucket") or params.get("Name") or ""),
        key=str(params.get("Key") or "")[:200],
    )
    return _make_api_call(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _recorded_api_call

_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def _recorded_connect(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        record("connect", address=address(addr), type=int(self.type))
    return _connect(self, addr)


def _recorded_connect_ex(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        record("connect", address=address(addr), type=int(self.type))
    return _connect_ex(self, addr)


def _recorded_sendto(self, data, *args):
    record("sendto", address=address(args[-1]) if args else "", size=len(data))
    return _sendto(self, data, *args)


def _recorded_getaddrinfo(host, port, *args, **kwargs):
    record("getaddrinfo", address=f"{host}:{port}")
    return _getaddrinfo(host, port, *args, **kwargs)


socket.socket.connect = _recorded_connect
socket.socket.connect_ex = _recorded_connect_ex
socket.socket.sendto = _recorded_sendto
socket.getaddrinfo = _recorded_getaddrinfo


def main() -> None:
    global phase
    event = json.loads(Path(sys.argv[1]).read_text("utf-8"))
    web_adapter = sys.argv[2] == "web-adapter"
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    for name in imported_by(Path("app.py")) + (["uvicorn.main"] if web_adapter else []):
        importlib.import_module(name)
    phase = "init"
    app = importlib.import_module("app")
    phase = "restore"
    restore_ms = snapshot_and_restore(web_adapter)
    if web_adapter:
        from mangum import Mangum

        handler = Mangum(app.app, lifespan="off")
    else:
        handler = app.handler
    statuses, bodies, took = [], [], []
    for number in range(1, warm + 1):
        phase = f"warm{number}"
        started = time.perf_counter()
        response = handler(event, Context()) or {}
        took.append((time.perf_counter() - started) * 1000)
        statuses.append(response.get("statusCode", 200))
        bodies.append((response.get("body") or "")[:300] if "statusCode" in response else "")
    phase = "after"  # anything the answers left running (a settle in the background) shows here
    time.sleep(0.3)
    print(
        json.dumps(
            {
                "calls": {
                    "records": records,
                    "statuses": statuses,
                    "bodies": bodies,
                    "ms": took,
                    "restore_ms": restore_ms,
                    "hooks_ran": restore_ms is not None,
                    "threads_alive": [t.name for t in threading.enumerate()],
                }
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
