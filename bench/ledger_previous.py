"""The DynamoDB client the ledger used before boto3 (a stdlib client with its own SigV4, deleted from the package),
loaded from git history so that bench.ledger measures it beside boto3 in the same run. Only the benchmark reads it.

Imports nothing heavy at the top: the first-use child process imports this module before it starts its clock.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from tempfile import TemporaryDirectory
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "layers/core/airelay/usage/dynamo_api.py"
# module name -> path: loaded inside the package, so their relative imports (..errors, .ledger) resolve
MODULES = {
    "airelay.usage.previous_ledger": "layers/core/airelay/usage/ledger.py",
    "airelay.usage.dynamo_api": CLIENT,
    "airelay.usage.previous_dynamodb": "layers/core/airelay/usage/dynamodb.py",
}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def commit() -> str:
    """The last commit whose tree holds the previous client (the parent of the commit that deleted it)."""
    last = git("rev-list", "-n", "1", "HEAD", "--", CLIENT).strip()
    if not last:
        raise RuntimeError(f"{CLIENT} is in no commit of this history")
    held = subprocess.run(["git", "cat-file", "-e", f"{last}:{CLIENT}"], cwd=ROOT, capture_output=True).returncode == 0
    return last if held else git("rev-parse", f"{last}^").strip()


def write_sources(folder: Path) -> str:
    """Writes the previous client and the ledger adapter that used it into `folder`; returns their commit."""
    found = commit()
    for name, path in MODULES.items():
        source = git("show", f"{found}:{path}").replace("from .ledger import", "from .previous_ledger import")
        (folder / f"{name.rsplit('.', 1)[1]}.py").write_text(source, "utf-8")
    return found


def load(folder: Path) -> SimpleNamespace:
    """Imports the modules written by write_sources(): DynamoLedger (the adapter), the port's Hold of its day,
    DynamoApi and Credentials."""
    loaded = {}
    for name in MODULES:
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, folder / f"{name.rsplit('.', 1)[1]}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        loaded[name] = sys.modules[name]
    client, adapter = loaded["airelay.usage.dynamo_api"], loaded["airelay.usage.previous_dynamodb"]
    return SimpleNamespace(
        DynamoLedger=adapter.DynamoLedger,
        Hold=loaded["airelay.usage.previous_ledger"].Hold,
        DynamoApi=client.DynamoApi,
        Credentials=client.Credentials,
    )


def hold(key: str, limit: int = 1000):
    """A Hold of the previous ledger's port (load() must have run)."""
    from decimal import Decimal

    return sys.modules["airelay.usage.previous_ledger"].Hold(key, Decimal(limit))


def first_use(runs: int = 7) -> dict:
    """A fresh process's ledger INIT and first metered calls against dynalite: boto3 now, the previous client before
    (median of `runs` each, alternating)."""
    from tests.support.aws import create_table_from_template, dynalite_server, local_clients  # boto3, moto

    variants = ("boto3", "previous client")
    samples = {variant: [] for variant in variants}
    with TemporaryDirectory() as workdir, dynalite_server() as endpoint:
        commit = write_sources(Path(workdir))
        table = create_table_from_template(local_clients(endpoint).dynamodb, "UsageTable", "bench-first-use")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "USAGE_"))},
            "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT / "layers" / "core", ROOT)),
            "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        for _ in range(runs):
            for variant in variants:
                child = subprocess.run(
                    [sys.executable, "-c", FIRST_CALL_CHILD, variant, workdir, table],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                samples[variant].append(json.loads(child.stdout.splitlines()[-1]))
    medians = {
        variant: {key: statistics.median(s[key] for s in values) for key in values[0]}
        for variant, values in samples.items()
    }
    return {"runs": runs, "previous_commit": commit, "median_ms": medians}


def first_use_line(first: dict | None) -> str:
    if not first or "previous client" not in first.get("median_ms", {}):
        return ""
    parts = [
        f"{variant}: INIT {m['init_ms']:.1f} ms, first reserve+settle {m['first_ms']:.1f} ms, "
        f"second {m['second_ms']:.1f} ms"
        for variant, m in first["median_ms"].items()
    ]
    return f"A fresh process on dynalite (median of {first['runs']}) — " + "; ".join(parts) + "."


# A fresh process: what every function imports anyway, then (timed) the ledger's INIT, the first metered call
# (reserve + settle) and a second one. argv: variant ("boto3" | "previous client"), sources folder, table.
FIRST_CALL_CHILD = """
import json, sys, time
from datetime import UTC, datetime
from decimal import Decimal
import airelay.usage.meter, http.client, ssl
from airelay.usage.ledger import TOTAL, USD, Hold, UsageRow, identity_key
from bench.ledger_previous import load

variant, folder, table = sys.argv[1:4]

def metered_call(ledger, n):
    day, amount = datetime.now(UTC).date().isoformat(), Decimal("0.0006")
    row = UsageRow(f"first-{variant}-{n}-{time.time_ns()}", "bench", datetime.now(UTC).isoformat(), day,
        "ip:first", "chat", "openai", "openai/gpt-4o-mini", 40, 0, 20, Decimal("0.000018"), 3, "ok", False)
    if variant == "boto3":
        holds = [Hold(day, key, USD, amount, Decimal(1000)) for key in (TOTAL, identity_key("ip:first"))]
        ledger.reserve(row.call_id, holds)
        ledger.settle(row, holds)
    else:
        ledger.reserve(day, [previous.Hold(key, Decimal(1000)) for key in (TOTAL, identity_key("ip:first"))], amount)
        ledger.settle(row, amount)

started = time.perf_counter()
if variant == "boto3":
    from airelay import aws
    aws.prepare("dynamodb")  # what airelay.usage does at import when USAGE_TABLE is set
    from airelay.usage.dynamodb import DynamoLedger
else:
    previous = load(__import__("pathlib").Path(folder))
init = time.perf_counter()
ledger = DynamoLedger(table, aws.clients()) if variant == "boto3" else previous.DynamoLedger(table, previous.DynamoApi())
metered_call(ledger, 1)
first = time.perf_counter()
metered_call(ledger, 2)
second = time.perf_counter()
print(json.dumps({"init_ms": (init - started) * 1000, "first_ms": (first - init) * 1000,
                  "second_ms": (second - first) * 1000}))
"""
