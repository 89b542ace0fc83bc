"""One client contract: docs/openapi.json is the document every function's FastAPI app makes (`make openapi`), and
web/client's request and response types (src/api-types.ts) are what openapi-typescript makes of it."""

from __future__ import annotations

import os
import subprocess
import sys

from .stack import CLEARED, ROOT

CLIENT = ROOT / "web" / "client"
GENERATED = CLIENT / "src" / "api-types.ts"


def test_the_committed_openapi_document_is_what_the_functions_declare():
    # GIVEN the code as it is, and a shell without the settings a developer may have set
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    # WHEN the merged document is made again and compared with docs/openapi.json
    result = subprocess.run(
        [sys.executable, "-m", "local.openapi", "--check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    # THEN it is the same (else: make openapi)
    assert result.returncode == 0, result.stderr


def test_the_client_types_are_generated_from_the_committed_document(tmp_path):
    # GIVEN docs/openapi.json WHEN openapi-typescript (web/client's pinned one) turns it into TypeScript again
    fresh = tmp_path / "api-types.ts"
    result = subprocess.run(
        [
            str(CLIENT / "node_modules" / ".bin" / "openapi-typescript"),
            "../../docs/openapi.json",
            "--default-non-nullable=false",  # as web/client's `generate` script
            "-o",
            str(fresh),
        ],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # THEN it is byte for byte the committed file (else: make openapi)
    assert fresh.read_text("utf-8") == GENERATED.read_text("utf-8"), "src/api-types.ts is stale: run `make openapi`"


def test_the_client_sources_repeat_no_field_of_the_document():
    # GIVEN the hand-written sources WHEN one names a field of the JSON answers THEN it comes from api-types.ts
    hand_written = [p for p in (CLIENT / "src").glob("*.ts") if p != GENERATED]
    for field in ("tokens_used", "matched_question", "remaining_usd", "cost_krw"):
        assert not [p.name for p in hand_written if f"{field}:" in p.read_text("utf-8")], field
