"""What a SnapStart restore reads from SSM: the secrets the current settings name (the visitor token and tool proof
secrets), after the provider keys; and within Lambda's 10 s for the after-restore hooks ("If an after-restore runtime
hook runs for longer than 10 seconds, the Restore phase times out": SnapStartTimeoutException, the invocation fails)
when SSM hangs. One read that times out costs the SDK's attempts x the read timeout (3 x 2 s at the defaults);
here each read adds that to a virtual clock."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace

from airelay import aws, snapstart, web
from airelay.providers import registry
from airelay.settings import get_settings

SDK_ATTEMPTS = 3  # botocore's standard retry mode for SSM
RESTORE_HOOK_LIMIT_S = 10.0


def test_a_restore_while_ssm_hangs_stays_within_lambdas_restore_hook_limit(monkeypatch):
    monkeypatch.setenv("VISITOR_TOKEN_SECRET_PARAM", "/airelay/visitor-token-secret")
    monkeypatch.setenv("TOOL_PROOF_SECRET_PARAM", "/airelay/tool-proof-secret")
    monkeypatch.setenv("CHAT_TOOLS", "assistant=search_faq")
    get_settings.cache_clear()
    monkeypatch.setattr(registry, "_providers", {})
    # GIVEN the chat function's INIT read both secrets (visitor tokens on, ChatTools on)
    monkeypatch.setattr(aws, "parameter", lambda name: "s" * 40)
    asyncio.run(web.read_secrets(get_settings()))
    # WHEN an environment is restored while every SSM read times out
    clock = [0.0]

    def hanging(name: str) -> str:
        clock[0] += SDK_ATTEMPTS * get_settings().aws_read_timeout_s
        raise TimeoutError("Read timeout on endpoint URL")

    monkeypatch.setattr(aws, "parameter", hanging)
    snapstart.after_restore()
    # THEN the hook still ends within Lambda's limit (the request that needs a secret reads it, or answers 503)
    assert clock[0] < RESTORE_HOOK_LIMIT_S, f"after_restore waited {clock[0]:.0f} s on SSM"
    get_settings.cache_clear()


def test_a_restore_reads_the_secrets_the_current_settings_name(monkeypatch):
    monkeypatch.setattr(registry, "_providers", {})
    reads: list[str] = []
    monkeypatch.setattr(aws, "parameter", lambda name: reads.append(name) or "s" * 40)
    # GIVEN an app made with the visitor secret in SSM (a local API in a test)
    asyncio.run(web.read_secrets(replace(get_settings(), visitor_token_secret_param="/airelay/old-visitor-secret")))
    assert reads == ["/airelay/old-visitor-secret"]
    # WHEN a container whose settings name no secret is restored
    monkeypatch.delenv("VISITOR_TOKEN_SECRET_PARAM", raising=False)
    get_settings.cache_clear()
    reads.clear()
    snapstart.after_restore()
    # THEN the restore reads no parameter its settings do not name
    assert reads == []


def test_the_faq_indexer_reads_no_secret_at_a_restore(monkeypatch):
    # GIVEN the FAQ indexer (no app behind the API: airelay.web never imported), which gets VISITOR_TOKEN_SECRET_PARAM
    # from the template's Globals but neither needs it nor may read it
    monkeypatch.delitem(sys.modules, "airelay.web")
    monkeypatch.setenv("VISITOR_TOKEN_SECRET_PARAM", "/airelay/visitor-token-secret")
    get_settings.cache_clear()
    monkeypatch.setattr(registry, "_providers", {})
    reads: list[str] = []
    monkeypatch.setattr(aws, "parameter", lambda name: reads.append(name) or "s" * 40)
    # WHEN it is restored
    snapstart.after_restore()
    # THEN it reads no parameter
    assert reads == []
    get_settings.cache_clear()


def test_a_chat_without_tools_never_reads_the_tool_proof_secret(monkeypatch):
    # GIVEN the chat function deployed with ToolProofSecretParameterName but no ChatTools: the template then grants no
    # read of it, and no request makes or checks a proof
    monkeypatch.setenv("TOOL_PROOF_SECRET_PARAM", "/airelay/tool-proof-secret")
    monkeypatch.setenv("VISITOR_TOKEN_SECRET_PARAM", "/airelay/visitor-token-secret")
    monkeypatch.delenv("CHAT_TOOLS", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(registry, "_providers", {})
    reads: list[str] = []
    monkeypatch.setattr(aws, "parameter", lambda name: reads.append(name) or "s" * 40)
    # WHEN its INIT reads the secrets ahead and an environment is restored
    asyncio.run(web.read_secrets(get_settings()))
    snapstart.after_restore()
    # THEN only the visitor token secret was read, at INIT and at the restore (an AccessDenied warning each time before)
    assert reads == ["/airelay/visitor-token-secret"] * 2
    get_settings.cache_clear()
