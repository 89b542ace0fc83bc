"""Client-side tools (run in the browser: useChat's onToolCall + addToolOutput) and the proofs that keep a posted
conversation honest without server state.

A client tool is a name, a description and an input schema, with no run here: a step that calls one ends with
finish reason `tool-calls`, and useChat posts the conversation again with the output. What the server said about
each call travels with the message as a `data-tool-proof` part (stored by useChat, posted back): HMACs keyed by the
chat id and the assistant message id, `call` over the call id, the tool's name, its input and the answer's step it
was made in, and for a call settled here (a server-run tool, an input error) `outcome` over those and its result.
A posted call whose `call` proof fails was not issued here for this message (forged, or replayed from another chat or
turn); a settled call whose outcome differs from its `outcome` proof was changed by the client. The signed step is how
a continued answer knows how many of CHAT_MAX_STEPS it has used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from functools import cache

import anyio
from pydantic import BaseModel

from .. import aws
from ..errors import ProviderUnavailable
from ..settings import Settings, get_settings
from .base import Tool, ToolContext, ToolResult

if get_settings().tool_proof_secret_param:  # read through Powertools Parameters: its SSM client is made at INIT
    aws.prepare("ssm")


class ClientTool(Tool):
    """A tool the browser runs. Instances are declared like any tool (TOOLS_MODULE), with `client_side` set."""

    client_side = True

    def __init__(self, name: str, description: str, input_model: type[BaseModel]) -> None:
        self.name = name
        self.description = description
        self.Input = input_model

    async def run(self, arguments: BaseModel, context: ToolContext) -> ToolResult:
        raise RuntimeError(f"{self.name} runs in the browser, not here")


def is_client_side(tool: Tool | None) -> bool:
    return bool(getattr(tool, "client_side", False))


def plain(value: object) -> object:
    """JSON as a JavaScript client gives it back: every number is a double there, written without a fraction when it
    is integral (an integer past 2**53 comes back rounded, one past a double's range and a non-finite float as null)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return None
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() else number
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@cache
def process_secret() -> bytes:
    """Without a configured secret (local use), one per process: proofs then hold within this process only."""
    return secrets.token_bytes(32)


async def proof_secret(settings: Settings) -> bytes:
    """TOOL_PROOF_SECRET; else the SSM SecureString TOOL_PROOF_SECRET_PARAM names (as on AWS, cached 5 minutes);
    else one per process."""
    if settings.tool_proof_secret:
        return settings.tool_proof_secret.encode()
    if not settings.tool_proof_secret_param:
        return process_secret()
    try:
        secret = await anyio.to_thread.run_sync(aws.parameter, settings.tool_proof_secret_param)
    except Exception:
        raise ProviderUnavailable("Tool calls cannot be signed right now.") from None
    if len(secret) < 32:
        raise ProviderUnavailable("Tool calls cannot be signed right now.")
    return secret.encode()


class Proofs:
    """Signs and checks what the server said about the tool calls of one assistant message of one chat."""

    def __init__(self, secret: bytes, chat_id: str, message_id: str) -> None:
        self.key = hmac.new(secret, json.dumps([chat_id, message_id]).encode(), hashlib.sha256).digest()

    def sign(self, call_id: str, name: str, tool_input: object, outcome: dict | None, step: int) -> str:
        signed = json.dumps(
            [call_id, name, plain(tool_input), plain(outcome), step],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hmac.new(self.key, signed.encode(), hashlib.sha256).hexdigest()[:32]

    def of(self, call_id: str, name: str, tool_input: object, outcome: dict | None, step: int) -> dict:
        """`call`: this server issued the call, with this input, in this message, in this step of the answer;
        `outcome`: and it had this result."""
        proofs: dict = {"call": self.sign(call_id, name, tool_input, None, step), "step": step}
        if outcome is not None:
            proofs["outcome"] = self.sign(call_id, name, tool_input, outcome, step)
        return proofs

    def holds(self, proof: object, call_id: str, name: str, tool_input: object, outcome: dict | None, step) -> bool:
        # a proof is hex: other text (which compare_digest refuses to compare) was not issued here
        if not isinstance(proof, str) or not proof.isascii() or type(step) is not int:
            return False
        return hmac.compare_digest(proof, self.sign(call_id, name, tool_input, outcome, step))
