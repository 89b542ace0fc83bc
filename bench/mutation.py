"""python -m bench.mutation [--only TARGET ...]: mutation testing of the code that refuses callers and limits spend
(`make mutation`, never part of `make test`). docs/mutation.md explains the choices and the survivors.

cosmic-ray's operators make the mutants; each one is written into a copy of the package (.airelay/mutation/src,
first on PYTHONPATH), and the target's own fast tests run against it in a child forked from a process that has
already imported pytest and the heavy libraries, so a mutant costs its tests' time, not an interpreter start.
A mutant is killed when its tests fail (or overrun three times their clean time), and survives when they pass.
Survivors are written to bench/results/mutation.md with their verdict from bench/mutation_verdicts.yaml; the run
fails while a survivor has no verdict there.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "layers/core/airelay"
WORK = ROOT / ".airelay/mutation"
RESULTS = ROOT / "bench/results"
VERDICTS = ROOT / "bench/mutation_verdicts.yaml"
PYTEST = ["-x", "-q", "-p", "no:cacheprovider", "--no-header"]


@dataclass(frozen=True)
class Target:
    name: str
    files: tuple[str, ...]  # under airelay/
    tests: tuple[str, ...]  # pytest arguments, fastest and most telling first (-x stops at the first failure)
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file -> the functions to mutate in it
    deselect: str = ""  # a pytest -k expression of tests to leave out

    def pytest_args(self) -> list[str]:
        left_out = " or ".join(filter(None, ("dynamodb or dynalite or moto", self.deselect)))
        return [*PYTEST, "-k", f"not ({left_out})", *self.tests]


TARGETS = (
    Target(
        "ledger",
        ("usage/ledger.py", "usage/sqlite.py"),
        ("tests/integration/test_ledger_contract.py", "tests/integration/test_budget_promises.py"),
    ),
    Target(
        "budgets",
        ("usage/meter.py", "usage/pricing.py", "usage/__init__.py"),
        (
            "tests/unit/test_pricing.py",
            "tests/integration/test_budget_promises.py",
            "tests/integration/test_unpriced_models.py",
            "tests/functional/test_usage_function.py",
        ),
    ),
    Target(
        "web",
        ("web.py", "identity.py", "auth.py"),
        (
            "tests/unit/test_app_front.py",
            "tests/unit/test_web.py",
            "tests/integration/test_sign_in.py",
            "tests/integration/test_caller_identity.py",
            "tests/integration/test_origins_and_body_limits.py",
        ),
        # the same middleware answers for every function: the model-backed ones add minutes, not checks
        deselect="sentiment or classify",
    ),
    Target(
        "images", ("images/fetch.py",), ("tests/unit/test_image_addresses.py", "tests/integration/test_image_fetch.py")
    ),
    Target(
        "faq",
        ("faq/service.py", "faq/index.py"),
        (
            "tests/unit/test_faq_service.py",
            "tests/unit/test_faq_index.py",
            "tests/unit/test_faq_accuracy.py",
            "tests/functional/test_faq_function.py",
            "tests/integration/test_faq_dev_set.py",
        ),
        only={"faq/index.py": ("match", "_scores", "normalise", "top_indices", "sign_codes", "shortlist")},
    ),
)

# Selective mutation: one replacement per arithmetic operator and the boundary and negation of each comparison,
# instead of every operator for every operator (which multiplies the mutants by ten and adds no new test demand).
BINARY = {
    "Add": "Sub",
    "Sub": "Add",
    "Mul": "Div",
    "Div": "Mul",
    "FloorDiv": "Mul",
    "Mod": "FloorDiv",
    "Pow": "Mul",
    "LShift": "RShift",
    "RShift": "LShift",
    "BitOr": "BitAnd",
    "BitAnd": "BitOr",
    "BitXor": "BitOr",
}
COMPARISON = {
    "Lt": ("LtE", "GtE"),
    "LtE": ("Lt", "Gt"),
    "Gt": ("GtE", "LtE"),
    "GtE": ("Gt", "Lt"),
    "Eq": ("NotEq",),
    "NotEq": ("Eq",),
    "Is": ("IsNot",),
    "IsNot": ("Is",),
    "In": ("NotIn",),
    "NotIn": ("In",),
}
PRELOAD = ("pytest", "fastapi", "starlette.testclient", "httpx", "pydantic", "numpy", "yaml", "anyio", "boto3", "jwt")


def kept(operator: str) -> bool:
    kind, _, pair = operator.removeprefix("core/").partition("_")
    if kind == "ReplaceBinaryOperator":
        source, target = pair.split("_")
        return BINARY.get(source) == target
    if kind == "ReplaceComparisonOperator":
        source, target = pair.split("_")
        return target in COMPARISON.get(source, ())
    if kind == "ReplaceUnaryOperator":
        return pair.startswith("Delete_") or pair == "USub_UAdd"
    return kind not in ("VariableReplacer", "VariableInserter")


def skipped_spans(source: str, only: tuple[str, ...]) -> tuple[list, list]:
    """Annotations (never evaluated: every module has `from __future__ import annotations`) and, with `only`, the
    line ranges of the functions to mutate."""
    tree = ast.parse(source)
    annotations, wanted = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.returns:
                annotations.append(node.returns)
            args = node.args
            annotations += [a.annotation for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.annotation]
            annotations += [a.annotation for a in (args.vararg, args.kwarg) if a and a.annotation]
            if node.name in only:
                wanted.append((node.lineno, node.end_lineno))
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    spans = [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in annotations]
    return spans, wanted


def mutants(path: Path, only: tuple[str, ...]) -> list[dict]:
    from cosmic_ray import plugins
    from cosmic_ray.ast import ast_nodes, get_ast_from_path

    spans, wanted = skipped_spans(path.read_text(), only)
    module = get_ast_from_path(path)
    found = []
    for name in plugins.operator_names():
        operator_class = plugins.get_operator(name)
        if operator_class.arguments() or not kept(name):
            continue
        operator = operator_class()
        positions = [start for node in ast_nodes(module) for start, _ in operator.mutation_positions(node)]
        for occurrence, start in enumerate(positions):
            if any(a <= start <= b for a, b in spans) or (only and not any(a <= start[0] <= b for a, b in wanted)):
                continue
            found.append({"operator": name, "occurrence": occurrence, "line": start[0]})
    return sorted(found, key=lambda m: (m["line"], m["operator"], m["occurrence"]))


def run_tests(args: list[str], timeout: float, log: Path) -> tuple[int, float]:
    """pytest in a forked child (its own process group, killed with everything it started); -9 on a timeout."""
    sys.stdout.flush()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        os.setpgid(0, 0)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1)
        os.dup2(out, 2)
        try:
            import pytest

            code = int(pytest.main(args))
        except BaseException:
            code = 99
        os._exit(code)
    code = None
    while code is None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
        elif time.monotonic() - started > timeout:
            code = -9
        else:
            time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if code == -9:
        os.waitpid(pid, 0)
    return code, time.monotonic() - started


def diff_of(original: str, mutated: str, name: str) -> list[str]:
    lines = difflib.unified_diff(original.splitlines(), mutated.splitlines(), f"a/{name}", f"b/{name}", n=0)
    return [line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def run_target(target: Target, copy: Path) -> dict:
    from cosmic_ray import plugins
    from cosmic_ray.mutating import use_mutation

    log = WORK / f"{target.name}.log"
    code, clean = run_tests(target.pytest_args(), 1800, log)
    if code != 0:
        raise SystemExit(f"{target.name}: the tests fail without any mutant (exit {code}); see {log}")
    timeout = 3 * clean + 10
    todo = [(name, m) for name in target.files for m in mutants(copy / name, target.only.get(name, ()))]
    print(f"[{target.name}] {len(todo)} mutants; clean tests {clean:.1f} s, timeout {timeout:.0f} s", flush=True)
    results, started = [], time.monotonic()
    for n, (name, mutant) in enumerate(todo, 1):
        operator = plugins.get_operator(mutant["operator"])()
        with use_mutation(copy / name, operator, mutant["occurrence"]) as (original, mutated):
            if mutated is None:
                continue
            code, seconds = run_tests(target.pytest_args(), timeout, log)
        outcome = "survived" if code == 0 else "timeout" if code == -9 else "killed"
        results.append({"file": f"airelay/{name}", **mutant, "outcome": outcome, "exit": code, "seconds": seconds})
        if outcome == "survived":
            results[-1]["diff"] = diff_of(original, mutated, f"airelay/{name}")
        survived = sum(r["outcome"] == "survived" for r in results)
        left = (time.monotonic() - started) / n * (len(todo) - n)
        print(
            f"[{target.name}] {n}/{len(todo)} {name}:{mutant['line']} {mutant['operator'][5:]} {outcome} "
            f"({seconds:.1f} s) | survived {survived} | about {left / 60:.0f} min left",
            flush=True,
        )
    return {"target": asdict(target), "clean_seconds": clean, "seconds": time.monotonic() - started, "mutants": results}


def prepare() -> Path:
    """The package copied to WORK, first on the path of this process and of every process the tests start."""
    shutil.rmtree(WORK / "src", ignore_errors=True)
    shutil.copytree(PACKAGE, WORK / "src/airelay", ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(WORK / "src"), os.environ.get("PYTHONPATH"))))
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of the same size and second must not reuse a .pyc
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(WORK / "src"))
    for module in PRELOAD:
        __import__(module)
    assert "airelay" not in sys.modules
    return WORK / "src/airelay"


def main(argv: list[str] | None = None) -> int:
    from bench.mutation_report import write_report

    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=[t.name for t in TARGETS], help="targets to run (default: all)")
    parser.add_argument("--report", action="store_true", help="only rewrite the report from the stored results")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    if not args.report:
        copy = prepare()
        for target in TARGETS:
            if not args.only or target.name in args.only:
                result = run_target(target, copy)
                (WORK / f"{target.name}.json").write_text(json.dumps(result, indent=1))
    stored = [json.loads(p.read_text()) for t in TARGETS if (p := WORK / f"{t.name}.json").exists()]
    return write_report(stored, VERDICTS, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
