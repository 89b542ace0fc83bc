"""Cold start: how long each function's entry module takes to import in a fresh interpreter, from a `sam build`
with .pyc files compiled at build time against the same build without them, and each function's package size.

    run by bench/coldstart.py after its cold start per function (python -m bench.coldstart [--no-build])

What is measured, exactly:
- Two `sam build`s of template.yaml into a temporary directory (the Makefiles in each CodeUri, see
  layers/core/Makefile): one for arm64, the deployed architecture, whose sizes are reported, and one with
  AIRELAY_ARCH=x86_64, the same packages with x86_64 wheels, because this machine cannot import arm64 native
  code (numpy, onnxruntime, pydantic-core, ...). Both compile every module with
  `compileall --invalidation-mode unchecked-hash`.
- "without .pyc": a copy of the x86_64 build with every __pycache__ removed, i.e. what SAM's python3.12 builder
  ships (it ships no .pyc, and Lambda's read-only /var/task cannot keep any it writes).
- One measurement = a new `python3.12 -S` process (no site-packages of this machine: only the build is importable)
  with PYTHONPATH = function folder + layer's python/ + what Lambda's runtime provides (boto3, from
  layers/core/requirements-runtime.txt; as Lambda orders /var/task, /opt/python and /var/runtime),
  PYTHONDONTWRITEBYTECODE=1 (no run leaves .pyc behind for the next), the function's environment from
  template.yaml (Globals + its own, parameters at their defaults, e.g. USAGE_TABLE set, so the DynamoDB ledger's
  boto3 client is made at import, as on Lambda), the region and keys Lambda sets, and the current directory at the
  function folder; it times `import app` (for the chat function, `import uvicorn.main` then `import app`: what
  `python -m uvicorn app:app` in run.sh imports before it listens). Interpreter start-up and Lambda's own runtime
  are not included.
- Runs alternate between the two builds and the functions; the report shows the median of each.
- On Lambda the numbers differ (an arm64 core whose share grows with MemorySize, files read from the package);
  the ratio between the two builds is the point, and the 300 ms target is checked on this machine's medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.python312 import find_python312

from . import report
from .coldstart_imports import LAYER, VARIANTS, measure, runtime_packages
from .template_functions import REGION, ROOT, function_specs

SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
TARGET_MS = 300.0
TARGET_FUNCTIONS = ("SentimentFunction", "FaqFunction", "UsageFunction")
LAMBDA_LIMIT_BYTES = 250 * 1024 * 1024


def sam_build(build_dir: Path, arch: str, py312: Path) -> float:
    if not SAM.exists():
        raise RuntimeError(f"SAM CLI not found at {SAM.relative_to(ROOT)}: run `make .tools/sam/bin/sam`")
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": REGION,
        "AIRELAY_ARCH": arch,
        "PATH": f"{py312.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(SAM), "build", "--build-dir", str(build_dir), "--no-cached", "--parallel"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sam build ({arch}) failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started


def strip_pyc(source: Path, target: Path) -> None:
    """A copy of the build (hard links, so it costs no space) without any __pycache__ folder."""
    subprocess.run(["cp", "-al", str(source), str(target)], check=True)
    for cache in sorted(target.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)


def tree_bytes(folder: Path, suffix: str | None = None) -> int:
    return sum(
        f.stat().st_size
        for f in folder.rglob("*")
        if f.is_file() and not f.is_symlink() and (suffix is None or f.name.endswith(suffix))
    )


def sizes(build: Path, specs: list[dict]) -> dict:
    layer, layer_pyc = tree_bytes(build / LAYER), tree_bytes(build / LAYER, ".pyc")
    out = {}
    for spec in specs:
        function, pyc = tree_bytes(build / spec["name"]), tree_bytes(build / spec["name"], ".pyc")
        out[spec["name"]] = {
            "function_bytes": function,
            "layer_bytes": layer,
            "total_bytes": function + layer,
            "pyc_bytes": pyc + layer_pyc,
            "under_limit": function + layer < LAMBDA_LIMIT_BYTES,
        }
    return out


def summarize(specs: list[dict], measured: dict, package_sizes: dict) -> list[dict]:
    rows = []
    for spec in specs:
        name = spec["name"]
        row = {
            "function": name,
            "modules": " + ".join(spec["modules"]),
            **package_sizes[name],
            "error": measured["errors"].get(name),
        }
        for variant in VARIANTS:
            values = measured["samples"][name][variant]
            row[f"{variant}_ms"] = round(statistics.median(values), 1) if values else None
            row[f"{variant}_runs"] = len(values)
            row[f"{variant}_modules"] = measured["modules"][name].get(variant)
        a, b = row["without_pyc_ms"], row["with_pyc_ms"]
        row["speedup"] = round(a / b, 2) if a and b else None
        row["target_ms"] = TARGET_MS if name in TARGET_FUNCTIONS else None
        row["passed"] = None if row["target_ms"] is None or b is None else b <= TARGET_MS
        rows.append(row)
    return rows


HEADERS = (
    "function",
    "imports",
    "without .pyc ms",
    "with .pyc ms",
    "speedup",
    "target",
    "result",
    "package MB (function + layer)",
    "of which .pyc MB",
)


def table_rows(rows: list[dict]) -> list[tuple[str, ...]]:
    out = []
    for r in rows:

        def ms(v):
            return "-" if v is None else f"{v:.0f}"

        mb = f"{r['total_bytes'] / 1e6:.1f} ({r['function_bytes'] / 1e6:.1f} + {r['layer_bytes'] / 1e6:.1f})"
        out.append(
            (
                r["function"],
                r["modules"],
                ms(r["without_pyc_ms"]),
                ms(r["with_pyc_ms"]),
                "-" if r["speedup"] is None else f"{r['speedup']:.1f}x",
                "-" if r["target_ms"] is None else f"<= {r['target_ms']:g} ms",
                report.judged(r["passed"]) if r["target_ms"] else "",
                mb,
                f"{r['pyc_bytes'] / 1e6:.1f}",
            )
        )
    return out


def text(document: dict) -> str:
    lines = [
        f"cold start (import of the entry module, median of {document['runs']} runs per build; "
        f"load {document['meta']['load_before']} -> {document['meta'].get('load_after')})",
        *report.aligned(HEADERS, table_rows(document["functions"])),
    ]
    lines += [f"  {r['function']}: {r['error'].splitlines()[0]}" for r in document["functions"] if r["error"]]
    lines.append(
        f"  sam build: arm64 {document['build_s']['arm64']:.0f} s, x86_64 {document['build_s']['x86_64']:.0f} s;"
        f" sizes are of the arm64 build, unzipped (Lambda's limit: 250 MiB = {LAMBDA_LIMIT_BYTES / 1e6:.1f} MB)"
    )
    return "\n".join(lines)


def run(argv: list[str]) -> dict:
    """The measurement; bench/coldstart.py reports it beside the cold start of each function."""
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="imports per function and build (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args, _ = parser.parse_known_args(argv)
    runs = 3 if args.quick else args.runs
    py312 = find_python312()
    meta = report.machine()
    specs = function_specs()
    with tempfile.TemporaryDirectory(prefix="airelay-coldstart-") as tmp:
        work = Path(tmp)
        build_s = {}
        for arch, folder in (("x86_64", "x86_64"), ("aarch64", "arm64")):
            print(f"cold start: sam build for {folder} ...", flush=True)
            build_s[folder] = round(sam_build(work / folder, arch, py312), 1)
        strip_pyc(work / "x86_64", work / "x86_64-without-pyc")
        builds = {"with_pyc": work / "x86_64", "without_pyc": work / "x86_64-without-pyc"}
        measured = measure(py312, builds, runtime_packages(work / "runtime", py312), specs, runs)
        package_sizes = sizes(work / "arm64", specs)
    meta["load_after"] = report.load_average()
    return {
        "meta": meta,
        "runs": runs,
        "python": str(py312),
        "build_s": build_s,
        "functions": summarize(specs, measured, package_sizes),
        "samples_ms": measured["samples"],
    }
