"""The import half of `bench.coldstart_build`: how long a function's entry modules take to import from a build, each
time in a new `python3.12 -S` process that sees only the function folder, the layer and what Lambda's runtime adds
(boto3), with the function's environment from template.yaml; runs alternate between the builds with and without
.pyc and between the functions, and a function whose import fails is reported with its error and not run again.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .template_functions import REGION, ROOT

LAYER = "CoreLayer"
VARIANTS = ("without_pyc", "with_pyc")

CHILD = """\
import importlib, json, sys, time
started = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
elapsed = time.perf_counter() - started
print(json.dumps({"ms": elapsed * 1000, "modules": len(sys.modules)}))
"""


def import_once(py312: Path, build: Path, runtime: Path, spec: dict) -> dict:
    function_dir = build / spec["name"]
    env = {
        **spec["env"],
        "PYTHONPATH": os.pathsep.join(map(str, (function_dir, build / LAYER / "python", runtime))),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAMBDA_TASK_ROOT": str(function_dir),
        "AWS_LAMBDA_FUNCTION_NAME": spec["name"],
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec["memory_mb"]),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # the keys Lambda sets: without them boto3 would look for an instance role on the network at INIT
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
    }
    done = subprocess.run(
        [str(py312), "-S", "-c", CHILD, *spec["modules"]],
        cwd=function_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {spec['modules']} for {spec['name']} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def runtime_packages(folder: Path, py312: Path) -> Path:
    """What Lambda's python3.12 runtime provides beside the function and the layer (boto3: /var/runtime there),
    for this machine's architecture."""
    requirements = ROOT / "layers" / "core" / "requirements-runtime.txt"
    pip = [str(py312), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(folder)]
    subprocess.run([*pip, "-r", str(requirements)], check=True, capture_output=True)
    return folder


def measure(py312: Path, builds: dict[str, Path], runtime: Path, specs: list[dict], runs: int) -> dict:
    samples: dict = {spec["name"]: {v: [] for v in VARIANTS} for spec in specs}
    modules: dict = {spec["name"]: {} for spec in specs}
    errors: dict = {}
    for number in range(runs):
        for spec in specs:
            if spec["name"] in errors:
                continue
            order = VARIANTS if number % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                try:
                    measured = import_once(py312, builds[variant], runtime, spec)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    errors[spec["name"]] = str(error)
                    break
                samples[spec["name"]][variant].append(measured["ms"])
                modules[spec["name"]][variant] = measured["modules"]
        print(f"  cold start: run {number + 1}/{runs} done", flush=True)
    return {"samples": samples, "modules": modules, "errors": errors}
