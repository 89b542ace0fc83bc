"""Cold start per function: import, INIT and the first answer after INIT, measured on the code at the start of
issue 12 (BASE) and on the current tree side by side in one run; then the package sizes and .pyc (coldstart_build).

    python -m bench.coldstart [--runs 5] [--quick] [--base 6b7207a] [--no-build]

What is measured, exactly:
- Two trees: BASE checked out with `git archive` into a temporary directory (the classify model copied in: it is
  never committed) and the working tree; both compiled to .pyc first, as the builds ship them.
- One measurement = a new process of .venv's python3.12 (the same packages for both trees, from the dev lock) with
  PYTHONPATH = function folder + that tree's layers/core, the current directory at the function folder, and the
  function's environment from that tree's template.yaml (parameters at their defaults), where AWS would be
  pointed at stand-ins on 127.0.0.1: dynalite for DynamoDB (the usage table, made from the template), a moto
  server for S3 (the FAQ bucket: each tree's FAQ index, built by that tree's `python -m airelay.faq build`, and
  the example source for the indexer), the fake upstream for the chat model (OPENAI_BASE_URL, a key in OPENAI_API_KEY instead
  of SSM). The functions the Lambda Web Adapter serves (chat, OpenAI-compatible) run without the adapter's
  variables and are called through Mangum, as the local API does (the adapter's loopback hop is not measured). A
  function the BASE template does not declare (the OpenAI-compatible one came later) is measured on the current
  tree only.
- In that process, in order: **import** = importing every module the function's app.py imports (for the chat
  and OpenAI-compatible functions also `uvicorn.main`, which run.sh's `python -m uvicorn` imports), with whatever those modules make when
  imported; **INIT** = the whole INIT phase: the imports, then app.py itself, everything the app builds at import;
  **restore** (current tree) = the SnapStart hooks as Lambda runs them
  around a snapshot, the before-snapshot hooks then the after-restore ones (from snapshot_restore_py's registry for
  the Mangum functions, airelay.snapstart's for the Web Adapter's, which the adapter POSTs); **first answer** = the
  handler called with the function's event from events/ until it returns, 200 expected; **warm answer** = the same
  event once more. Each answer's CPU time (this process only) is reported beside it (both trees): the rest of its
  wall time is waiting for the stand-ins (dynalite, moto, the fake upstream: other processes on the same cores)
  or for a core.
- Interpreter start-up and Lambda's runtime are not included. Runs alternate between the trees and functions;
  the tables show medians. With SnapStart, import and INIT happen when a version is published; a cold start
  costs the restore and the first answer. Target: the first answer <= 50 ms for every function (current tree).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from . import coldstart_build, report
from .coldstart_report import TREES, text
from .template_functions import code_folder, function_specs, served_by_web_adapter

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
BASE = "6b7207a"  # main when issue 12 was started
TARGET_FIRST_MS = 50.0
EVENTS = {
    "ChatFunction": "chat_buffered",
    "SentimentFunction": "sentiment_ko",
    "ClassifyFunction": "classify_base64",
    "FaqFunction": "faq_question",
    "FaqIndexerFunction": "faq_source_put",
    "UsageFunction": "usage_by_model",
    "OpenAIFunction": "openai_chat",
}
FAQ_SOURCE = "layers/core/airelay/data/faq/shop_faq.yaml"
CHILD = Path(__file__).with_name("coldstart_child.py")


def checkout(commit: str, folder: Path) -> Path:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    model = ROOT / "functions" / "classify" / "model"
    shutil.copytree(model, folder / "functions" / "classify" / "model", dirs_exist_ok=True)
    return folder


def compile_tree(tree: Path) -> None:
    for part in ("layers/core", "functions"):
        subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(tree / part)], check=True)


def template_env(tree: Path, spec_name: str) -> dict[str, str]:
    specs = {s["name"]: s for s in function_specs(tree / "template.yaml")}
    env = dict(specs[spec_name]["env"])
    for name in list(env):
        if name == "AWS_LAMBDA_EXEC_WRAPPER" or name.startswith("AWS_LWA_"):
            del env[name]  # called through Mangum, as the local API calls it
    return env


@contextlib.contextmanager
def stand_ins(trees: dict[str, Path]):
    """dynalite (DynamoDB), moto (S3) and the fake upstream on 127.0.0.1; yields the environment each tree's processes
    get."""
    import boto3

    from tests.support.aws import create_table_from_template, dynalite_server, moto_server
    from tests.support.upstream import FakeUpstream

    with contextlib.ExitStack() as stack:
        monkeypatch = stack.enter_context(_monkeypatch())
        endpoint = stack.enter_context(moto_server(monkeypatch))
        dynamodb = stack.enter_context(dynalite_server())
        upstream = stack.enter_context(FakeUpstream())
        env = {name: os.environ[name] for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        env |= {"AWS_ENDPOINT_URL_DYNAMODB": dynamodb}
        env |= {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_SESSION_TOKEN": "bench"}
        env |= {"OPENAI_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "sk-bench", "OPENAI_API_KEY_PARAM": ""}
        sample = template_env(trees["after"], "FaqFunction")
        upload = json.loads((ROOT / "events" / f"{EVENTS['FaqIndexerFunction']}.json").read_text("utf-8"))
        bucket = upload["Records"][0]["s3"]["bucket"]["name"]  # the FAQ bucket of every function here
        create_table_from_template(boto3.client("dynamodb", endpoint_url=dynamodb), "UsageTable", sample["USAGE_TABLE"])
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="source/shop_faq.yaml", Body=(ROOT / FAQ_SOURCE).read_bytes())
        per_tree = {}
        for name, tree in trees.items():
            index_url = f"s3://{bucket}/index/{name}/faq-index.bin"
            build = [str(PYTHON), "-m", "airelay.faq", "build", str(tree / FAQ_SOURCE), "--to", index_url]
            path_env = {"PYTHONPATH": str(tree / "layers" / "core")}
            subprocess.run(build, cwd=tree, env={**os.environ, **env, **path_env}, check=True, capture_output=True)
            per_tree[name] = {**env, "FAQ_INDEX_URL": index_url, "UPSTREAM_MAX_RETRIES": "0"}
        yield per_tree, {"moto": endpoint, "dynalite": dynamodb, "upstream": upstream.base_url}


@contextlib.contextmanager
def _monkeypatch():
    import pytest

    with pytest.MonkeyPatch.context() as monkeypatch:
        yield monkeypatch


def declared(tree: Path, name: str) -> bool:
    return any(spec["name"] == name for spec in function_specs(tree / "template.yaml"))


def function_environment(tree: Path, name: str, env: dict[str, str], *more_paths: Path) -> dict[str, str]:
    """A function's process environment, as Lambda gives it: its template environment with `env` over it, the
    function's folder and the layer (then `more_paths`) on PYTHONPATH, the runtime's own variables."""
    function_dir = tree / "functions" / code_folder(tree / "template.yaml", name)
    paths = [function_dir, tree / "layers" / "core", *more_paths]
    return {
        **template_env(tree, name),
        **env,
        "PYTHONPATH": os.pathsep.join(map(str, paths)),
        "LAMBDA_TASK_ROOT": str(function_dir),
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "en_US.UTF-8",
    }


def measure_once(tree: Path, name: str, env: dict[str, str]) -> dict:
    function_dir = tree / "functions" / code_folder(tree / "template.yaml", name)
    web_adapter = served_by_web_adapter(tree / "template.yaml", name)
    child_env = function_environment(tree, name, env)
    if name == "FaqIndexerFunction":  # writes its index beside the FAQ function's, not over it
        child_env["FAQ_INDEX_URL"] = env["FAQ_INDEX_URL"].replace("/index/", "/index/built-")
    event = caller_of_its_own(ROOT / "events" / f"{EVENTS[name]}.json", Path(tempfile.gettempdir()))
    done = subprocess.run(
        [str(PYTHON), str(CHILD), str(event), "web-adapter" if web_adapter else "runtime"],
        cwd=function_dir,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"coldstart"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} in {tree.name}: {(done.stderr or done.stdout)[-1500:]}")
    measured = json.loads(lines[-1])["coldstart"]
    if not measured["airelay"].startswith(str(tree)):
        raise RuntimeError(f"{name} in {tree.name} imported airelay from {measured['airelay']}")
    return measured


_callers = itertools.count(1)


def caller_of_its_own(event_file: Path, folder: Path) -> Path:
    """The event from another source address each time: every measurement is a new anonymous visitor, so that the
    visitors' requests per minute (20 at the template's defaults) never refuse the measured answers."""
    event = json.loads(event_file.read_text("utf-8"))
    identity = (event.get("requestContext") or {}).get("identity")
    if identity is None:  # not an API event (the FAQ indexer's S3 event)
        return event_file
    number = next(_callers)
    identity["sourceIp"] = f"198.18.{number // 250}.{number % 250 + 1}"
    path = folder / f"airelay-coldstart-event-{os.getpid()}.json"
    path.write_text(json.dumps(event), "utf-8")
    return path


PHASES = ("import_ms", "init_ms", "restore_ms", "first_ms", "warm_ms", "first_cpu_ms", "warm_cpu_ms")


def measure(trees: dict[str, Path], names: list[str], envs: dict, runs: int) -> tuple[dict, dict, dict, set]:
    samples = {t: {n: {p: [] for p in PHASES} for n in names} for t in trees}
    late = {t: {} for t in trees}  # the packages each first answer imported
    errors: dict = {}
    absent = {(tree, name) for tree in trees for name in names if not declared(trees[tree], name)}
    for number in range(runs):
        for name in names:
            for tree in TREES if number % 2 == 0 else TREES[::-1]:
                if (tree, name) in errors or (tree, name) in absent:
                    continue
                try:
                    measured = measure_once(trees[tree], name, envs[tree])
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    errors[(tree, name)] = str(error)
                    continue
                for phase in PHASES:
                    if measured.get(phase) is not None:
                        samples[tree][name][phase].append(measured[phase])
                late[tree][name] = measured["first_import_packages"]
                if measured["status"] != 200:
                    errors[(tree, name)] = f"answered {measured['status']}: {measured['body'][:300]}"
        print(f"  cold start: run {number + 1}/{runs} done", flush=True)
    return samples, errors, late, absent


def summarize(names: list[str], samples: dict, errors: dict, late: dict, absent: set) -> list[dict]:
    rows = []
    for name in names:
        row = {"function": name, "event": EVENTS[name]}
        for tree in TREES:
            for phase in PHASES:
                values = samples[tree][name][phase]
                row[f"{tree}_{phase}"] = round(statistics.median(values), 1) if values else None
            row[f"{tree}_error"] = errors.get((tree, name))
            row[f"{tree}_declared"] = (tree, name) not in absent
            row[f"{tree}_first_imported"] = late[tree].get(name, [])
        first = row["after_first_ms"]
        row["target_ms"] = TARGET_FIRST_MS
        row["passed"] = None if first is None or row["after_error"] else first <= TARGET_FIRST_MS
        rows.append(row)
    return rows


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measurements per function and tree (default 5)")
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--base", default=BASE, help=f"the commit to compare with (default {BASE})")
    parser.add_argument("--no-build", action="store_true", help="skip the sam builds (package sizes, .pyc)")
    parser.add_argument("--only", nargs="+", choices=sorted(EVENTS), help="these functions only")
    args, _ = parser.parse_known_args(argv)
    runs = 3 if args.quick else args.runs
    names = [n for n in EVENTS if not args.only or n in args.only]
    meta = report.machine()
    with tempfile.TemporaryDirectory(prefix="airelay-coldstart-") as tmp:
        trees = {"before": checkout(args.base, Path(tmp) / "before"), "after": ROOT}
        for tree in trees.values():
            compile_tree(tree)
        with stand_ins(trees) as (envs, _):
            samples, errors, late, absent = measure(trees, names, envs, runs)
    document = {
        "benchmark": "coldstart",
        "meta": meta,
        "runs": runs,
        "base": args.base,
        "functions": summarize(names, samples, errors, late, absent),
        "samples_ms": {tree: samples[tree] for tree in TREES},
    }
    if not args.no_build:
        try:
            document["build"] = coldstart_build.run(["--quick"] if args.quick else [])
        except Exception as error:  # the sizes need the SAM CLI and PyPI; the cold start above stands without them
            document["build_error"] = f"{type(error).__name__}: {error}"
    meta["load_after"] = report.load_average()
    report.RESULTS.mkdir(exist_ok=True)
    stamp = meta["date_utc"].replace("-", "").replace(":", "")
    data = json.dumps(document, indent=2) + "\n"
    for name in (f"coldstart-{stamp}.json", "coldstart-latest.json"):
        (report.RESULTS / name).write_text(data)
    return document


def main(argv: list[str] | None = None) -> int:
    document = run(argv or [])
    print(text(document))
    return 0 if all(r["passed"] for r in document["functions"]) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
