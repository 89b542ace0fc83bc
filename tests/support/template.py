"""template.yaml as the template tests read it: the SAM CLI's tools run on it (validate, cfn-lint, the translator,
`sam build`), its YAML read with CloudFormation's short-form tags, and the rule functions of its Rules evaluated;
and the fixtures `raw`, `translated` and `built`, which a test module imports to use.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.python312 import find_python312

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
SAM_VENV = REPO / ".tools" / "sam"
SAM = SAM_VENV / "bin" / "sam"
CFN_LINT = SAM_VENV / "bin" / "cfn-lint"
SAM_PYTHON = SAM_VENV / "bin" / "python"
REGION = "us-east-1"
ROUTES = {("POST", "/api/chat"), ("POST", "/api/chat/stream")}
ROUTES |= {("POST", "/api/sentiment"), ("POST", "/api/image/classify"), ("POST", "/api/image/classify/upload")}
ROUTES |= {("POST", "/api/faq"), ("GET", "/api/usage")}
V1_ROUTES = {("POST", "/v1/chat/completions"), ("POST", "/v1/responses"), ("POST", "/v1/embeddings")}
V1_ROUTES |= {("GET", "/v1/models")}
ROUTES |= V1_ROUTES
FUNCTIONS = (
    "ChatFunction",
    "SentimentFunction",
    "ClassifyFunction",
    "FaqFunction",
    "FaqIndexerFunction",
    "UsageFunction",
    "OpenAIFunction",
    "KeyAuthorizerFunction",
)


def require_sam() -> Path:
    if not SAM.exists() or not CFN_LINT.exists():
        pytest.fail(f"SAM CLI not found at {SAM}: run `make .tools/sam/bin/sam` first", pytrace=False)
    return SAM


def python312() -> Path:
    try:
        return find_python312()
    except RuntimeError as missing:
        pytest.fail(f"{missing} (needed by `sam build`)", pytrace=False)


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    base = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": REGION}
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as their long form."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def evaluate_rule(expr, params: dict):
    """The few rule functions template.yaml uses, evaluated the way CloudFormation does."""
    if isinstance(expr, str):
        return expr
    if isinstance(expr, list):
        return [evaluate_rule(e, params) for e in expr]
    ((fn, arg),) = expr.items()
    if fn == "Ref":
        return params[arg]
    args = [evaluate_rule(a, params) for a in arg]
    if fn == "Fn::Equals":
        return args[0] == args[1]
    if fn == "Fn::Not":
        return not args[0]
    if fn == "Fn::Contains":
        return args[1] in args[0]
    raise AssertionError(f"rule function {fn} is not evaluated by this test")


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


@pytest.fixture(scope="module")
def translated() -> dict:
    """The CloudFormation template SAM produces (aws-sam-translator from the SAM venv)."""
    require_sam()
    script = (
        "import json, sys\n"
        "from samtranslator.translator.transform import transform\n"
        "from samtranslator.yaml_helper import yaml_parse\n"
        "class NoManagedPolicies:\n"
        "    def load(self): return {}\n"
        "tpl = yaml_parse(open(sys.argv[1]).read())\n"
        "for res in tpl['Resources'].values():\n"
        "    props = res.get('Properties', {})\n"
        "    for key in ('CodeUri', 'ContentUri'):\n"
        "        if isinstance(props.get(key), str):\n"
        "            props[key] = 's3://bucket/' + props[key].strip('/')\n"
        "print(json.dumps(transform(tpl, {}, NoManagedPolicies()), default=str))\n"
    )
    result = run([SAM_PYTHON, "-c", script, TEMPLATE])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One `sam build` per session, into a temp dir (never .aws-sam/ in the repo)."""
    require_sam()
    interpreter = python312()
    build_dir = tmp_path_factory.mktemp("sam-build")
    path = f"{interpreter.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # --no-cached: samconfig.toml asks for cached builds, which keep their
    # dependency folders in .aws-sam/deps inside the repo.
    result = run([SAM, "build", "--build-dir", build_dir, "--no-cached"], env={"PATH": path}, timeout=900)
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    return build_dir


def api_paths(translated: dict) -> dict:
    return translated["Resources"]["AirelayApi"]["Properties"]["Body"]["paths"]
