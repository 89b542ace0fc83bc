"""python -m bench.mutation [--only TARGET ...]: mutation testing of the code that refuses callers and limits spend
(`make mutation`, never part of `make test`). docs/mutation.md explains the choices and the survivors.

cosmic-ray's operators make the mutants; each one is written into a copy of the package (.airelay/mutation/src<N>,
one per parallel job, first on PYTHONPATH), and the target's own fast tests run against it in a child forked from a
process that has already imported pytest and the heavy libraries, so a mutant costs its tests' time, not an
interpreter start.
A mutant is killed when its tests fail (or overrun three times their clean time), and survives when they pass.
Survivors are written to bench/results/mutation.md with their verdict from bench/mutation_verdicts.yaml; the run
fails while a survivor has no verdict there.
"""

from __future__ import annotations

import argparse
import compileall
import difflib
import importlib.util
import json
import os
import py_compile
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .mutation_operators import mutants
from .mutation_targets import TARGETS, Target

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "layers/core/airelay"
WORK = Path(os.environ.get("MUTATION_WORK", ROOT / ".airelay/mutation"))  # results and the copies
RESULTS = ROOT / "bench/results"
VERDICTS = ROOT / "bench/mutation_verdicts.yaml"

# Imported by this process before it forks, so no test child pays for them (pytest's plugins hypothesis and
# schemathesis alone take seconds). A wider list (everything the tests import) broke sniffio's detection of asyncio
# in the children.
PRELOAD = (
    *("pytest", "hypothesis", "schemathesis", "fastapi", "starlette", "pydantic", "httpx", "numpy", "yaml"),
    *("boto3", "botocore", "jwt", "cryptography", "uvicorn", "aws_lambda_powertools"),
)


@dataclass
class Slot:
    """One test run at a time, against its own copy of the package (mutants are written into the copy)."""

    number: int
    copy: Path
    pid: int = 0
    started: float = 0.0
    job: tuple | None = None

    def start(self, args: list[str]) -> None:
        """pytest in a forked child, in its own process group (killed with everything it started)."""
        sys.stdout.flush()
        self.started = time.monotonic()
        self.pid = os.fork()
        if self.pid:
            return
        os.setpgid(0, 0)
        out = os.open(WORK / f"slot{self.number}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        src = str(self.copy.parent)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (src, os.environ.get("PYTHONPATH"))))
        sys.path.insert(0, src)
        try:
            import pytest

            code = int(pytest.main([*args, "--basetemp", str(WORK / f"tmp{self.number}")]))
        except BaseException:
            code = 99
        os._exit(code)

    def poll(self, timeout: float) -> int | None:
        """The exit code once the child is done (-9 when it overran `timeout` and was killed), else None."""
        done, status = os.waitpid(self.pid, os.WNOHANG)
        code = os.waitstatus_to_exitcode(status) if done else None
        if code is None and time.monotonic() - self.started > timeout:
            code = -9
        if code is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if code == -9:
                os.waitpid(self.pid, 0)
        return code

    def wait(self, timeout: float) -> int:
        while (code := self.poll(timeout)) is None:
            time.sleep(0.05)
        return code


def diff_of(original: str, mutated: str, name: str) -> list[str]:
    lines = difflib.unified_diff(original.splitlines(), mutated.splitlines(), f"a/{name}", f"b/{name}", n=0)
    return [line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def mutate(slot: Slot, name: str, mutant: dict) -> tuple[str, str] | None:
    """Writes the mutant into the slot's copy (its .pyc removed, so the tests compile the mutated source)."""
    from cosmic_ray import plugins
    from cosmic_ray.mutating import apply_mutation

    path = slot.copy / name
    Path(importlib.util.cache_from_source(str(path))).unlink(missing_ok=True)
    original = path.read_text()
    try:
        original, mutated = apply_mutation(path, plugins.get_operator(mutant["operator"])(), mutant["occurrence"])
    except Exception:  # cosmic-ray's ExceptionReplacer cannot rewrite `except (A, B)`: no mutant, file untouched
        path.write_text(original)
        return None
    if mutated is None:
        return None
    return original, mutated


def restore(slot: Slot, name: str, original: str) -> None:
    path = slot.copy / name
    path.write_text(original)
    py_compile.compile(str(path), doraise=True)


def run_target(target: Target, slots: list[Slot], again: dict | None = None) -> dict:
    """Every mutant of the target; with `again` (a stored result), only its survivors, the other verdicts kept."""
    args = target.pytest_args()
    slots[0].start(args)
    code = slots[0].wait(1800)
    clean = time.monotonic() - slots[0].started
    if code != 0:
        raise SystemExit(f"{target.name}: the tests fail without any mutant (exit {code}); see {WORK}/slot0.log")
    timeout = 3 * clean + 10
    todo = [(name, m) for name in target.files for m in mutants(slots[0].copy / name, target.only.get(name, ()))]
    kept_results = []
    if again:
        survived = {(r["file"], r["operator"], r["occurrence"]) for r in again["mutants"] if r["outcome"] == "survived"}
        todo = [(name, m) for name, m in todo if (f"airelay/{name}", m["operator"], m["occurrence"]) in survived]
        kept_results = [r for r in again["mutants"] if r["outcome"] != "survived"]
    print(f"[{target.name}] {len(todo)} mutants; clean tests {clean:.1f} s, timeout {timeout:.0f} s", flush=True)
    results, started, queue = [], time.monotonic(), list(todo)
    while queue or any(s.job for s in slots):
        for slot in slots:
            if slot.job is None and queue:
                name, mutant = queue.pop(0)
                changed = mutate(slot, name, mutant)
                if changed:
                    slot.job = (name, mutant, *changed)
                    slot.start(args)
            if slot.job is None or (code := slot.poll(timeout)) is None:
                continue
            name, mutant, original, mutated = slot.job
            slot.job = None
            restore(slot, name, original)
            outcome = "survived" if code == 0 else "timeout" if code == -9 else "killed"
            seconds = time.monotonic() - slot.started
            results.append({"file": f"airelay/{name}", **mutant, "outcome": outcome, "exit": code, "seconds": seconds})
            if outcome == "survived":
                results[-1]["diff"] = diff_of(original, mutated, f"airelay/{name}")
            partial = {"target": asdict(target), "clean_seconds": clean, "partial": len(todo) - len(results)}
            partial |= {"seconds": time.monotonic() - started, "mutants": [*kept_results, *results]}
            (WORK / f"{target.name}.json").write_text(json.dumps(partial, indent=1))  # a stopped run keeps its verdicts
            survived, n = sum(r["outcome"] == "survived" for r in results), len(results)
            left = (time.monotonic() - started) / n * (len(todo) - n)
            print(
                f"[{target.name}] {n}/{len(todo)} {name}:{mutant['line']} {mutant['operator'][5:]} {outcome} "
                f"({seconds:.1f} s) | survived {survived} | about {left / 60:.0f} min left",
                flush=True,
            )
        time.sleep(0.05)
    results = sorted([*kept_results, *results], key=lambda r: (r["file"], r["line"], r["operator"], r["occurrence"]))
    seconds = time.monotonic() - started + (again["seconds"] if again else 0)
    return {"target": asdict(target), "clean_seconds": clean, "seconds": seconds, "mutants": results}


def prepare(jobs: int) -> list[Slot]:
    """A compiled copy of the package per slot; this process imports the heavy libraries (never airelay) once."""
    slots = []
    for number in range(jobs):
        copy = WORK / f"src{number}/airelay"
        shutil.rmtree(copy.parent, ignore_errors=True)
        shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(copy, quiet=1)
        slots.append(Slot(number, copy))
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of the same size and second must not leave a .pyc
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.dont_write_bytecode = True
    for name in PRELOAD:
        __import__(name)
    assert "airelay" not in sys.modules
    return slots


def main(argv: list[str] | None = None) -> int:
    from bench.mutation_report import write_report

    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=[t.name for t in TARGETS], help="targets to run (default: all)")
    parser.add_argument("--survivors", action="store_true", help="run only the stored survivors again")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default: 2)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the stored results")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.report:
        slots = prepare(args.jobs)
        for target in TARGETS:
            if not args.only or target.name in args.only:
                stored = WORK / f"{target.name}.json"
                again = json.loads(stored.read_text()) if args.survivors and stored.exists() else None
                result = run_target(target, slots, again)
                (WORK / f"{target.name}.json").write_text(json.dumps(result, indent=1))
    stored = [json.loads(p.read_text()) for t in TARGETS if (p := WORK / f"{t.name}.json").exists()]
    return write_report(stored, VERDICTS, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
