"""One cold start of one function, run by bench/coldstart.py in a fresh process in the function's folder:

    python coldstart_child.py EVENT_FILE runtime|web-adapter

Prints one line {"coldstart": {...}} with import_ms, init_ms, restore_ms (None where the code has no SnapStart
hooks), first_ms, warm_ms and this process's CPU time in each answer (first_cpu_ms, warm_cpu_ms), the first answer's
status and the start of its body, and the modules the first answer imported (work that INIT left to it).
"""

import ast
import importlib
import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path


def imported_by(path: Path) -> list[str]:
    """The modules a file imports at its top level, submodules named by `from package import name` included."""
    names = []
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if importlib.util.find_spec(node.module) and is_module(full):
                    names.append(full)
    return names


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


class Context:
    function_name = "bench"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def snapshot_and_restore(web_adapter: bool) -> float | None:
    """The hooks as Lambda runs them around a snapshot; the time of the after-restore ones (None: no hooks)."""
    if web_adapter:  # the adapter POSTs to the app, which runs airelay.snapstart's hooks
        snapstart = sys.modules.get("airelay.snapstart")
        if snapstart is None:
            return None
        before, after = [(snapstart.before_snapshot, (), {})], [(snapstart.after_restore, (), {})]
    else:
        registry = sys.modules.get("snapshot_restore_py")
        if registry is None or not registry.get_after_restore():
            return None
        before, after = registry.get_before_snapshot(), registry.get_after_restore()
    for func, args, kwargs in reversed(before):
        func(*args, **kwargs)
    started = time.perf_counter()
    for func, args, kwargs in after:
        func(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def answer(handler, event: dict) -> tuple[float, float, dict]:
    """Wall time and this process's CPU time of one answer: the rest of the wall time is spent waiting for the peers
    (moto, the fake upstream) or for a core on a loaded machine."""
    started, cpu = time.perf_counter(), time.process_time()
    response = handler(event, Context())
    return (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000, response or {}


def main() -> None:
    event = json.loads(Path(sys.argv[1]).read_text("utf-8"))
    web_adapter = sys.argv[2] == "web-adapter"
    started = time.perf_counter()
    for name in imported_by(Path("app.py")) + (["uvicorn.main"] if web_adapter else []):
        importlib.import_module(name)
    imported = time.perf_counter()
    app = importlib.import_module("app")
    initialized = time.perf_counter()
    restore_ms = snapshot_and_restore(web_adapter)
    if web_adapter:
        from mangum import Mangum

        handler = Mangum(app.app, lifespan="off")
    else:
        handler = app.handler
    loaded = set(sys.modules)
    first_ms, first_cpu_ms, response = answer(handler, event)
    late = sorted(set(sys.modules) - loaded)  # imported by the first answer: work INIT left to it
    warm_ms, warm_cpu_ms, _ = answer(handler, event)
    status = response.get("statusCode", 200)  # the indexer's handler answers with a summary, not HTTP
    body = response.get("body") if "statusCode" in response else json.dumps(response, default=str)
    result = {
        "import_ms": (imported - started) * 1000,
        "init_ms": (initialized - started) * 1000,  # the whole INIT: the imports, then app.py itself
        "restore_ms": restore_ms,
        "first_ms": first_ms,
        "warm_ms": warm_ms,
        "first_cpu_ms": first_cpu_ms,
        "warm_cpu_ms": warm_cpu_ms,
        "status": status,
        "body": (body or "")[:500],
        "first_imports": len(late),
        "first_import_packages": sorted({name.split(".")[0] for name in late} | {n for n in late if "airelay" in n}),
        "airelay": str(Path(sys.modules["airelay"].__file__).parent),
    }
    print(json.dumps({"coldstart": result}), flush=True)


if __name__ == "__main__":
    main()
