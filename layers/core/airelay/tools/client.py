"""Client-side tools (run in the browser: useChat's onToolCall + addToolOutput) and the proofs that keep a posted
conversation honest without server state.

A client tool is a name, a description and an input schema, with no run here: a step that calls one ends with
finish reason `tool-calls`, and useChat posts the conversation again with the output. What the server said about
each call travels with the message as a `data-tool-proof` part (stored by useChat, posted back): HMACs keyed by the
chat id and the assistant message id, `call` over the call id, the tool's name and its input, and for a call settled
here (a server-run tool, an input error) `outcome` over those and its result. A posted call whose `call` proof fails
was not issued here for this message (forged, or replayed from another chat or turn); a settled call whose outcome
differs from its `outcome` proof was changed by the client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from functools import cache

from pydantic import BaseModel

from ..settings import Settings
from .base import Tool, ToolContext, ToolResult


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
    """JSON as a JavaScript client gives it back: a float with an integral value is an integer there."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@cache
def process_secret() -> bytes:
    """Without TOOL_PROOF_SECRET (local use), one per process: proofs then hold within this process only."""
    return secrets.token_bytes(32)


class Proofs:
    """Signs and checks what the server said about the tool calls of one assistant message of one chat."""

    def __init__(self, settings: Settings, chat_id: str, message_id: str) -> None:
        secret = settings.tool_proof_secret.encode() or process_secret()
        self.key = hmac.new(secret, json.dumps([chat_id, message_id]).encode(), hashlib.sha256).digest()

    def sign(self, call_id: str, name: str, tool_input: object, outcome: dict | None) -> str:
        signed = json.dumps(
            [call_id, name, plain(tool_input), plain(outcome)],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hmac.new(self.key, signed.encode(), hashlib.sha256).hexdigest()[:32]

    def of(self, call_id: str, name: str, tool_input: object, outcome: dict | None) -> dict[str, str]:
        """`call`: this server issued the call, with this input, in this message; `outcome`: and it had this result."""
        proofs = {"call": self.sign(call_id, name, tool_input, None)}
        if outcome is not None:
            proofs["outcome"] = self.sign(call_id, name, tool_input, outcome)
        return proofs

    def holds(self, proof: object, call_id: str, name: str, tool_input: object, outcome: dict | None) -> bool:
        return isinstance(proof, str) and hmac.compare_digest(proof, self.sign(call_id, name, tool_input, outcome))
